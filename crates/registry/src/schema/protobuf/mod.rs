//! Protobuf schemas, parsed at run time in both forms clients register:
//! `.proto` text (proto2, proto3) and the base64-encoded serialized
//! `FileDescriptorProto` that confluent-kafka's Python serializer sends.
//!
//! Both forms become one model, a linked `FileDescriptorProto` (type names
//! fully qualified, as protoc emits them), plus the linked files it imports.
//! Everything else derives from that model, which keeps the invariant the
//! registry relies on: the same schema registered as text or as a descriptor
//! has the same [`ProtobufSchema::canonical`] form, hence the same id.
//!
//! Imports resolve through the registration's references (a reference's
//! name is the import path) and, when absent there, through the built-in
//! files of `well_known.rs`.

use std::collections::HashMap;

use base64::Engine as _;
use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};

use super::{ResolvedReference, SchemaError, SchemaType};

pub mod compat;
mod lexer;
mod options;
mod parser;
mod printer;
mod resolve;
mod well_known;

/// What is wrong with a Protobuf schema; becomes [`SchemaError::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("line {line}, column {col}: {msg}")]
    Syntax {
        line: usize,
        col: usize,
        msg: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("import \"{0}\" is neither a schema reference nor a built-in file")]
    ImportNotFound(String),
    #[error("import cycle through \"{0}\"")]
    ImportCycle(String),
    #[error("not a .proto text, nor a base64 FileDescriptorProto: {0}")]
    BadDescriptor(String),
    #[error("in import \"{file}\": {source}")]
    InImport {
        file: String,
        #[source]
        source: Box<ProtoError>,
    },
}

impl From<ProtoError> for SchemaError {
    fn from(e: ProtoError) -> Self {
        SchemaError::Invalid(e.to_string())
    }
}

/// A parsed, linked Protobuf schema.
#[derive(Debug, Clone)]
pub struct ProtobufSchema {
    /// The schema's own file, linked (boxed: a descriptor is large and
    /// `ParsedSchema` is an enum over the formats).
    file: Box<FileDescriptorProto>,
    /// Every file it imports, transitively, linked; each after its own
    /// imports (the order a descriptor pool accepts them in).
    deps: Vec<FileDescriptorProto>,
    /// The text the registry stores: as registered for .proto text, printed
    /// from the descriptor for the base64 form.
    text: String,
}

/// The name the schema's own file gets when registered as text (which
/// carries no file name). Clients rename it anyway: confluent-kafka's Python
/// deserializer names a fetched file after the reference or subject.
const DEFAULT_FILE_NAME: &str = "default.proto";

impl ProtobufSchema {
    /// Parses `text` (.proto text or a base64 FileDescriptorProto) with the
    /// registration's references (transitively resolved by the caller).
    pub fn parse(text: &str, refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        Ok(Self::parse_proto(text, refs)?)
    }

    fn parse_proto(text: &str, refs: &[ResolvedReference]) -> Result<Self, ProtoError> {
        let (raw, from_descriptor) = read_file(DEFAULT_FILE_NAME, text)?;
        let mut loader = Loader {
            refs: refs
                .iter()
                .filter(|r| r.kind == SchemaType::Protobuf)
                .map(|r| (r.name.as_str(), r.schema.as_str()))
                .collect(),
            done: HashMap::new(),
            order: Vec::new(),
            loading: Vec::new(),
        };
        let file = Box::new(loader.link(raw)?);
        let deps = loader
            .order
            .iter()
            .map(|name| loader.done[name].clone())
            .collect();
        let text = if from_descriptor {
            let printed = printer::print(&file);
            // The registry stores the printed text and re-reads it on start:
            // a descriptor that does not survive the trip (names that are
            // not identifiers, a message field without a type...) is refused
            // now rather than breaking the registry later.
            let reread = Self::parse_proto(&printed, refs).map_err(|e| {
                ProtoError::BadDescriptor(format!("it does not describe a valid .proto file ({e})"))
            })?;
            if reread.canonical() != printed {
                return Err(ProtoError::BadDescriptor(
                    "it does not describe a valid .proto file (its printed form reads back differently)".into(),
                ));
            }
            printed
        } else {
            text.to_string()
        };
        Ok(ProtobufSchema { file, deps, text })
    }

    /// The normalised .proto text: formatting, comments, the input form and
    /// the spelling of type names (relative or qualified) do not show.
    pub fn canonical(&self) -> String {
        printer::print(&self.file)
    }

    /// The text the registry stores and returns.
    pub fn text(&self) -> String {
        self.text.clone()
    }

    /// Base64 of the serialized FileDescriptorProto (Confluent's
    /// `format=serialized`).
    pub fn serialized(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.file.encode_to_vec())
    }

    /// The schema's own file, linked.
    pub fn file_descriptor(&self) -> &FileDescriptorProto {
        &self.file
    }

    /// The schema's file and all its imports, imports first: what a
    /// descriptor pool (for example prost-reflect's) needs to decode
    /// messages of this schema.
    pub fn file_descriptor_set(&self) -> FileDescriptorSet {
        let mut file = self.deps.clone();
        file.push((*self.file).clone());
        FileDescriptorSet { file }
    }

    /// The full name (`pkg.Outer.Inner`) of the message that the wire
    /// format's message indexes designate: the first index picks a top-level
    /// message, each next one a message nested in the previous. An empty
    /// list means the first message (Confluent's `[0]` shorthand).
    pub fn message_name(&self, indexes: &[i32]) -> Option<String> {
        let first = *indexes.first().unwrap_or(&0);
        let mut msg = self.file.message_type.get(usize::try_from(first).ok()?)?;
        let mut name = qualify(self.file.package(), msg.name());
        for &i in indexes.iter().skip(1) {
            msg = msg.nested_type.get(usize::try_from(i).ok()?)?;
            name = format!("{name}.{}", msg.name());
        }
        Some(name)
    }

    /// The message indexes of the message `full_name` (with or without the
    /// package or a leading dot), for writing the wire format.
    pub fn message_indexes(&self, full_name: &str) -> Option<Vec<i32>> {
        let name = full_name.strip_prefix('.').unwrap_or(full_name);
        let package = self.file.package();
        let local = if package.is_empty() {
            name
        } else {
            name.strip_prefix(package)
                .and_then(|r| r.strip_prefix('.'))
                .unwrap_or(name)
        };
        let mut path = Vec::new();
        let mut level: &[DescriptorProto] = &self.file.message_type;
        for part in local.split('.') {
            let i = level.iter().position(|m| m.name() == part)?;
            path.push(i as i32);
            level = &level[i].nested_type;
        }
        Some(path)
    }
}

fn qualify(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_string()
    } else {
        format!("{package}.{name}")
    }
}

/// One file, unlinked: parsed from .proto text, or decoded from base64.
/// The flag says which form it was.
fn read_file(name: &str, text: &str) -> Result<(FileDescriptorProto, bool), ProtoError> {
    if looks_like_base64(text) {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| ProtoError::BadDescriptor(format!("invalid base64 ({e})")))?;
        let mut file = FileDescriptorProto::decode(bytes.as_slice())
            .map_err(|e| ProtoError::BadDescriptor(format!("invalid FileDescriptorProto ({e})")))?;
        if file.syntax.as_deref() == Some("editions") {
            return Err(ProtoError::Invalid(
                "protobuf editions are not supported (use syntax proto2 or proto3)".into(),
            ));
        }
        // Source positions are not part of the schema; proto2 is the
        // default whether said or not.
        file.source_code_info = None;
        if file.syntax.as_deref() == Some("proto2") {
            file.syntax = None;
        }
        if file.name().is_empty() {
            file.name = Some(name.to_string());
        }
        Ok((file, true))
    } else {
        Ok((parser::parse_file(name, text)?, false))
    }
}

/// A .proto file always holds a `;` or a brace; base64 never does. An empty
/// or all-whitespace text is an (empty) .proto file.
fn looks_like_base64(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=' || c.is_whitespace()
        })
}

/// Loads and links files depth first through their imports.
struct Loader<'a> {
    /// Import path -> schema text, from the references.
    refs: HashMap<&'a str, &'a str>,
    /// Linked files by import path.
    done: HashMap<String, FileDescriptorProto>,
    /// Import paths in the order they were linked (dependencies first).
    order: Vec<String>,
    /// The import chain being loaded, to report cycles.
    loading: Vec<String>,
}

impl Loader<'_> {
    fn load(&mut self, path: &str) -> Result<(), ProtoError> {
        if self.done.contains_key(path) {
            return Ok(());
        }
        if self.loading.iter().any(|p| p == path) {
            return Err(ProtoError::ImportCycle(path.to_string()));
        }
        let text = match self.refs.get(path) {
            Some(text) => *text,
            None => well_known::source(path)
                .ok_or_else(|| ProtoError::ImportNotFound(path.to_string()))?,
        };
        let in_import = |e: ProtoError| match e {
            // Already wrapped by a deeper import: keep the innermost file.
            e @ (ProtoError::InImport { .. }
            | ProtoError::ImportNotFound(_)
            | ProtoError::ImportCycle(_)) => e,
            e => ProtoError::InImport {
                file: path.to_string(),
                source: Box::new(e),
            },
        };
        self.loading.push(path.to_string());
        let (mut raw, _) = read_file(path, text).map_err(in_import)?;
        // The reference name is the import path, whatever the descriptor says.
        raw.name = Some(path.to_string());
        let linked = self.link(raw).map_err(in_import)?;
        self.loading.pop();
        self.done.insert(path.to_string(), linked);
        self.order.push(path.to_string());
        Ok(())
    }

    /// Loads `file`'s imports, then links it against them.
    fn link(&mut self, mut file: FileDescriptorProto) -> Result<FileDescriptorProto, ProtoError> {
        for dep in file.dependency.clone() {
            self.load(&dep)?;
        }
        let mut symbols = resolve::Symbols::default();
        let mut seen = Vec::new();
        for dep in &file.dependency {
            self.add_visible(dep, &mut symbols, &mut seen)?;
        }
        symbols.add_file(&file, true)?;
        resolve::link(&mut file, &symbols)?;
        resolve::check_file_enums(&file)?;
        Ok(file)
    }

    /// Adds the symbols of `path` and of everything it imports.
    fn add_visible(
        &self,
        path: &str,
        symbols: &mut resolve::Symbols,
        seen: &mut Vec<String>,
    ) -> Result<(), ProtoError> {
        if seen.iter().any(|s| s == path) {
            return Ok(());
        }
        seen.push(path.to_string());
        let file = &self.done[path];
        symbols.add_file(file, false)?;
        for dep in &file.dependency {
            self.add_visible(dep, symbols, seen)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
