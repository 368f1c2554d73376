//! `fjord schema register|list|get|check|delete`: the schema registry from
//! the command line, over its REST API (Fjord's registry or any
//! Confluent-compatible one), through `fjord_registry::client`.
//!
//! Output is plain text for people by default and one JSON document with
//! `--json`. Registry errors keep Confluent's error code in the message; an
//! incompatible `check` exits non-zero after printing the reasons.

use std::io::Read;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use fjord_registry::client::{RegisteredSchema, RegistryClient, Schema, Version};
use fjord_registry::schema::{Reference, SchemaType};
use serde_json::json;

/// Arguments of `fjord schema`.
#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Schema registry URL.
    #[arg(
        long,
        global = true,
        default_value = fjord_registry::client::DEFAULT_URL,
        env = "FJORD_SCHEMA_REGISTRY"
    )]
    registry: String,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Subcommand, Debug)]
enum SchemaCommand {
    /// Register a schema under a subject (or find it there) and print its id
    /// and version.
    Register(RegisterArgs),
    /// List subjects.
    List(ListArgs),
    /// Show a subject's version (default: latest), or a schema by --id.
    Get(GetArgs),
    /// Check whether a schema could be registered as a subject's next
    /// version, with the reasons when it could not (exit status 1).
    Check(CheckArgs),
    /// Delete a subject or one of its versions (soft; --permanent after a
    /// soft delete).
    Delete(DeleteArgs),
    /// Serialize JSON values (one per stdin line) in the registry wire format
    /// with a subject's schema; prints each as hex, one per line.
    Encode(EncodeArgs),
    /// Deserialize hex-encoded wire-format values (one per stdin line) with
    /// the schemas they name; prints each as JSON, one per line.
    Decode,
}

#[derive(Args, Debug)]
struct EncodeArgs {
    /// Subject to register the schema under (or find it in).
    subject: String,
    #[command(flatten)]
    source: SchemaSource,
    /// Protobuf: the encoded message bytes come as hex on stdin, and this
    /// names the message (e.g. `0` or `1,0`) [default: 0].
    #[arg(long, value_name = "I,J,...", value_delimiter = ',')]
    message_indexes: Vec<i32>,
}

/// Schema format on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Avro,
    Json,
    Protobuf,
}

impl From<Format> for SchemaType {
    fn from(f: Format) -> SchemaType {
        match f {
            Format::Avro => SchemaType::Avro,
            Format::Json => SchemaType::Json,
            Format::Protobuf => SchemaType::Protobuf,
        }
    }
}

/// A schema to send: file, format and references.
#[derive(Args, Debug)]
struct SchemaSource {
    /// Schema file (`-` for stdin).
    #[arg(long, short = 'f', value_name = "FILE")]
    file: String,
    /// Schema format [default: from the file extension (.avsc, .json,
    /// .proto), else avro].
    #[arg(long = "type", value_enum)]
    kind: Option<Format>,
    /// A reference to a schema of another subject, as
    /// NAME=SUBJECT:VERSION (the name is the Avro type name, the JSON
    /// Schema $ref URL or the .proto import path). Repeatable.
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION", value_parser = parse_reference)]
    references: Vec<Reference>,
}

#[derive(Args, Debug)]
struct RegisterArgs {
    /// Subject, e.g. `bids-value` (the value schema of topic `bids`).
    subject: String,
    #[command(flatten)]
    source: SchemaSource,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Include soft-deleted subjects.
    #[arg(long)]
    deleted: bool,
    /// Only subjects starting with this.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// Subject to show (or use --id).
    #[arg(required_unless_present = "id", conflicts_with = "id")]
    subject: Option<String>,
    /// Version number or `latest`.
    #[arg(long, default_value = "latest", value_parser = parse_version)]
    version: Version,
    /// Show the schema with this id, and the subjects that use it.
    #[arg(long, value_name = "N")]
    id: Option<i32>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Subject whose versions the schema is checked against.
    subject: String,
    #[command(flatten)]
    source: SchemaSource,
    /// The version to check against (a number or `latest`) [default: latest].
    #[arg(long, value_parser = parse_version)]
    version: Option<Version>,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// Subject to delete.
    subject: String,
    /// Delete only this version (a number or `latest`).
    #[arg(long, value_parser = parse_version)]
    version: Option<Version>,
    /// Delete for good (the subject or version must be soft-deleted first).
    #[arg(long)]
    permanent: bool,
}

fn parse_version(s: &str) -> Result<Version, String> {
    s.parse()
}

/// NAME=SUBJECT:VERSION; the subject may itself hold ':' (split at the last).
fn parse_reference(s: &str) -> Result<Reference, String> {
    let bad = || format!("'{s}' is not NAME=SUBJECT:VERSION");
    let (name, rest) = s.split_once('=').ok_or_else(bad)?;
    let (subject, version) = rest.rsplit_once(':').ok_or_else(bad)?;
    let version: i32 = version
        .parse()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| format!("'{version}' in '{s}' is not a version number (1 or more)"))?;
    if name.is_empty() || subject.is_empty() {
        return Err(bad());
    }
    Ok(Reference {
        name: name.to_string(),
        subject: subject.to_string(),
        version,
    })
}

pub fn run(args: SchemaArgs) -> Result<()> {
    let client = RegistryClient::new(&args.registry);
    let out = Output { json: args.json };
    let context = || format!("schema registry at {}", args.registry);
    match args.command {
        SchemaCommand::Register(a) => register(&client, &out, a).with_context(context),
        SchemaCommand::List(a) => list(&client, &out, a).with_context(context),
        SchemaCommand::Get(a) => get(&client, &out, a).with_context(context),
        SchemaCommand::Check(a) => check(&client, &out, a),
        SchemaCommand::Delete(a) => delete(&client, &out, a).with_context(context),
        SchemaCommand::Encode(a) => {
            crate::schema_codec::encode(client, a.subject, a.source.load()?, &a.message_indexes)
                .with_context(context)
        }
        SchemaCommand::Decode => crate::schema_codec::decode(client).with_context(context),
    }
}

struct Output {
    json: bool,
}

impl Output {
    fn print(&self, json: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{json:#}");
        } else {
            let t = text();
            print!("{t}");
            if !t.is_empty() && !t.ends_with('\n') {
                println!();
            }
        }
    }
}

impl SchemaSource {
    fn load(&self) -> Result<Schema> {
        let text = if self.file == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the schema from stdin")?;
            s
        } else {
            std::fs::read_to_string(&self.file)
                .with_context(|| format!("reading schema file {}", self.file))?
        };
        if text.trim().is_empty() {
            bail!("schema file {} is empty", self.file);
        }
        let kind = self.kind.map(SchemaType::from).unwrap_or_else(|| {
            match std::path::Path::new(&self.file)
                .extension()
                .and_then(|e| e.to_str())
            {
                Some("proto") => SchemaType::Protobuf,
                Some("json") => SchemaType::Json,
                _ => SchemaType::Avro,
            }
        });
        Ok(Schema::new(kind, text).with_references(self.references.clone()))
    }
}

fn register(client: &RegistryClient, out: &Output, a: RegisterArgs) -> Result<()> {
    let schema = a.source.load()?;
    let id = client
        .register(&a.subject, &schema)
        .with_context(|| format!("registering under '{}'", a.subject))?;
    // The registration answer carries only the id: find the version too.
    let version = client.lookup(&a.subject, &schema).ok().map(|r| r.version);
    out.print(
        json!({"subject": a.subject, "id": id, "version": version}),
        || match version {
            Some(v) => format!("registered '{}' version {v}, schema id {id}", a.subject),
            None => format!("registered '{}', schema id {id}", a.subject),
        },
    );
    Ok(())
}

fn list(client: &RegistryClient, out: &Output, a: ListArgs) -> Result<()> {
    let subjects = client
        .subjects(a.deleted, a.prefix.as_deref())
        .context("listing subjects")?;
    out.print(json!(subjects), || {
        subjects.iter().map(|s| format!("{s}\n")).collect()
    });
    Ok(())
}

fn get(client: &RegistryClient, out: &Output, a: GetArgs) -> Result<()> {
    if let Some(id) = a.id {
        let schema = client
            .schema_by_id(id)
            .with_context(|| format!("getting schema id {id}"))?;
        let users = client
            .id_versions(id)
            .with_context(|| format!("getting the subjects of schema id {id}"))?;
        out.print(
            json!({
                "id": id,
                "schemaType": schema.schema_type,
                "schema": schema.schema,
                "references": schema.references,
                "subjects": users,
            }),
            || {
                let mut t = format!("id:      {id}\ntype:    {}\n", schema.schema_type);
                for u in &users {
                    t += &format!("used by: {} version {}\n", u.subject, u.version);
                }
                t + &references_text(&schema.references) + "\n" + &pretty(&schema)
            },
        );
        return Ok(());
    }
    let subject = a.subject.expect("clap requires a subject without --id");
    let r = client
        .version(&subject, a.version)
        .with_context(|| format!("getting '{subject}' version {}", a.version))?;
    out.print(version_json(&r), || {
        format!(
            "subject: {}\nversion: {}\nid:      {}\ntype:    {}\n{}\n{}",
            r.subject,
            r.version,
            r.id,
            r.schema.schema_type,
            references_text(&r.schema.references),
            pretty(&r.schema)
        )
    });
    Ok(())
}

fn check(client: &RegistryClient, out: &Output, a: CheckArgs) -> Result<()> {
    let schema = a.source.load()?;
    // Without --version: the latest (what the non-transitive levels check).
    let against = a.version.unwrap_or(Version::Latest);
    let result = client
        .check_compatibility(&a.subject, against, &schema, true)
        .with_context(|| format!("checking against '{}' version {against}", a.subject))
        .with_context(|| format!("schema registry at {}", client.url()))?;
    out.print(
        json!({"subject": a.subject, "version": against.to_string(),
               "is_compatible": result.is_compatible, "messages": result.messages}),
        || {
            if result.is_compatible {
                format!("compatible with '{}' version {against}", a.subject)
            } else {
                let mut t = format!("NOT compatible with '{}' version {against}:\n", a.subject);
                for m in &result.messages {
                    t += &format!("  - {m}\n");
                }
                t
            }
        },
    );
    if !result.is_compatible {
        bail!("the schema is not compatible with '{}'", a.subject);
    }
    Ok(())
}

fn delete(client: &RegistryClient, out: &Output, a: DeleteArgs) -> Result<()> {
    let how = if a.permanent { "permanently" } else { "soft" };
    let versions = match a.version {
        Some(v) => vec![client
            .delete_version(&a.subject, v, a.permanent)
            .with_context(|| format!("deleting '{}' version {v}", a.subject))?],
        None => client
            .delete_subject(&a.subject, a.permanent)
            .with_context(|| format!("deleting '{}'", a.subject))?,
    };
    out.print(
        json!({"subject": a.subject, "deleted_versions": versions, "permanent": a.permanent}),
        || {
            let list: Vec<String> = versions.iter().map(i32::to_string).collect();
            format!(
                "deleted ({how}) '{}' version{} {}",
                a.subject,
                if versions.len() == 1 { "" } else { "s" },
                list.join(", ")
            )
        },
    );
    Ok(())
}

fn version_json(r: &RegisteredSchema) -> serde_json::Value {
    json!({
        "subject": r.subject,
        "version": r.version,
        "id": r.id,
        "schemaType": r.schema.schema_type,
        "schema": r.schema.schema,
        "references": r.schema.references,
    })
}

fn references_text(refs: &[Reference]) -> String {
    refs.iter()
        .map(|r| format!("ref:     {} = {}:{}\n", r.name, r.subject, r.version))
        .collect()
}

/// The schema text, indented when it is JSON (Avro, JSON Schema).
fn pretty(schema: &Schema) -> String {
    match schema.schema_type {
        SchemaType::Protobuf => schema.schema.clone(),
        _ => serde_json::from_str::<serde_json::Value>(&schema.schema)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| schema.schema.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r = parse_reference("com.acme.Item=items-value:2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.subject.as_str(), r.version),
            ("com.acme.Item", "items-value", 2)
        );
        let r = parse_reference("a.proto=ns:sub:1").unwrap();
        assert_eq!(r.subject, "ns:sub");
        for bad in ["x", "x=y", "x=y:0", "x=y:z", "=y:1", "x=:1"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }
}
