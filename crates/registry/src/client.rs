//! A client of the schema registry's REST API (Confluent's, which Fjord's
//! registry serves): register, look up, fetch by id or GUID, versions,
//! compatibility checks, deletes.
//!
//! Blocking (ureq), so it runs anywhere; async callers wrap a call in
//! `spawn_blocking` or call it from a blocking thread. One client is meant to
//! be shared (`Arc<RegistryClient>`): its cache makes sure a hot path asks
//! the registry once per schema — ids, GUIDs and `(subject, version)` are
//! immutable, so their answers are kept for the client's life; only
//! "latest", lists and deletes always go to the registry.
//!
//! The registry's error bodies (`{"error_code": 40401, "message": ...}`)
//! become [`ClientError::Registry`] with a typed [`RegistryErrorKind`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::serde::de::DeserializeOwned;
use ::serde::{Deserialize, Serialize};

use crate::schema::{Reference, SchemaType};

mod error;

pub use error::{ClientError, RegistryErrorKind, Result};

/// The registry's default address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8081";
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A schema as registered: its text, format and references.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// Absent in the registry's answers for Avro.
    #[serde(default)]
    pub schema_type: SchemaType,
    pub schema: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

impl Schema {
    pub fn new(schema_type: SchemaType, text: impl Into<String>) -> Schema {
        Schema {
            schema_type,
            schema: text.into(),
            references: Vec::new(),
        }
    }

    pub fn with_references(mut self, references: Vec<Reference>) -> Schema {
        self.references = references;
        self
    }
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredSchema {
    pub subject: String,
    pub id: i32,
    pub version: i32,
    #[serde(flatten)]
    pub schema: Schema,
}

/// Which version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Latest,
    Number(i32),
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Number(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Version, String> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(Version::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(Version::Number(n)),
            _ => Err(format!(
                "'{s}' is not a version: use a number from 1 up, or 'latest'"
            )),
        }
    }
}

/// The answer to a compatibility check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Compatibility {
    pub is_compatible: bool,
    /// With `verbose`: one line per reason it is not compatible.
    #[serde(default)]
    pub messages: Vec<String>,
}

/// A subject and version that use a schema id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
}

/// What the client keeps: only answers that can never change.
#[derive(Default)]
struct Cache {
    by_id: HashMap<i32, Arc<Schema>>,
    by_guid: HashMap<[u8; 16], Arc<Schema>>,
    /// (subject, schema) -> id, from register and look-up.
    ids: HashMap<(String, Schema), i32>,
    versions: HashMap<(String, i32), Arc<RegisteredSchema>>,
}

pub struct RegistryClient {
    /// Base URL without a trailing slash.
    base: String,
    agent: ureq::Agent,
    cache: Mutex<Cache>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("url", &self.base)
            .finish()
    }
}

impl RegistryClient {
    /// A client of the registry at `url` (e.g. `http://127.0.0.1:8081`).
    /// Makes no request.
    pub fn new(url: &str) -> RegistryClient {
        RegistryClient::with_timeout(url, Duration::from_secs(30))
    }

    /// Like [`new`](Self::new), with a limit on each whole request.
    pub fn with_timeout(url: &str, timeout: Duration) -> RegistryClient {
        let agent = ureq::Agent::config_builder()
            // Error bodies carry Confluent's error codes: read them.
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        RegistryClient {
            base: url.trim_end_matches('/').to_string(),
            agent,
            cache: Mutex::new(Cache::default()),
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Registers `schema` under `subject` (or finds it there) and returns
    /// its id. Cached per (subject, schema).
    pub fn register(&self, subject: &str, schema: &Schema) -> Result<i32> {
        let key = (subject.to_string(), schema.clone());
        if let Some(id) = self.cache.lock().unwrap().ids.get(&key) {
            return Ok(*id);
        }
        #[derive(Deserialize)]
        struct Registered {
            id: i32,
        }
        let path = format!("/subjects/{}/versions", enc(subject));
        let r: Registered = self.send("POST", &path, &[], Some(schema))?;
        let mut cache = self.cache.lock().unwrap();
        cache.ids.insert(key, r.id);
        cache
            .by_id
            .entry(r.id)
            .or_insert_with(|| Arc::new(schema.clone()));
        Ok(r.id)
    }

    /// The version of `subject` that holds `schema`, without registering.
    pub fn lookup(&self, subject: &str, schema: &Schema) -> Result<RegisteredSchema> {
        let path = format!("/subjects/{}", enc(subject));
        let r: RegisteredSchema = self.send("POST", &path, &[], Some(schema))?;
        self.cache
            .lock()
            .unwrap()
            .ids
            .insert((subject.to_string(), schema.clone()), r.id);
        Ok(r)
    }

    /// The schema with id `id` (cached).
    pub fn schema_by_id(&self, id: i32) -> Result<Arc<Schema>> {
        if let Some(s) = self.cache.lock().unwrap().by_id.get(&id) {
            return Ok(s.clone());
        }
        let s: Schema = self.send("GET", &format!("/schemas/ids/{id}"), &[], None::<&()>)?;
        let s = Arc::new(s);
        self.cache.lock().unwrap().by_id.insert(id, s.clone());
        Ok(s)
    }

    /// The schema with GUID `guid` (cached). Registries that do not serve
    /// GUIDs answer [`ClientError::GuidUnsupported`].
    pub fn schema_by_guid(&self, guid: &[u8; 16]) -> Result<Arc<Schema>> {
        if let Some(s) = self.cache.lock().unwrap().by_guid.get(guid) {
            return Ok(s.clone());
        }
        let path = format!("/schemas/guids/{}", crate::serde::wire::format_guid(guid));
        let s: Schema = self
            .send("GET", &path, &[], None::<&()>)
            .map_err(|e| match e.kind() {
                Some(RegistryErrorKind::NotFound) => ClientError::GuidUnsupported {
                    url: self.base.clone(),
                },
                _ => e,
            })?;
        let s = Arc::new(s);
        self.cache.lock().unwrap().by_guid.insert(*guid, s.clone());
        Ok(s)
    }

    /// The subjects and versions that use schema id `id`.
    pub fn id_versions(&self, id: i32) -> Result<Vec<SubjectVersion>> {
        self.send(
            "GET",
            &format!("/schemas/ids/{id}/versions"),
            &[],
            None::<&()>,
        )
    }

    /// One version of `subject`; numbered versions are cached, `latest` never.
    pub fn version(&self, subject: &str, version: Version) -> Result<Arc<RegisteredSchema>> {
        if let Version::Number(n) = version {
            let key = (subject.to_string(), n);
            if let Some(s) = self.cache.lock().unwrap().versions.get(&key) {
                return Ok(s.clone());
            }
        }
        let path = format!("/subjects/{}/versions/{version}", enc(subject));
        let r: RegisteredSchema = self.send("GET", &path, &[], None::<&()>)?;
        let r = Arc::new(r);
        let mut cache = self.cache.lock().unwrap();
        cache
            .versions
            .insert((r.subject.clone(), r.version), r.clone());
        cache
            .by_id
            .entry(r.id)
            .or_insert_with(|| Arc::new(r.schema.clone()));
        Ok(r)
    }

    /// The latest version of `subject` (always asks the registry).
    pub fn latest_version(&self, subject: &str) -> Result<Arc<RegisteredSchema>> {
        self.version(subject, Version::Latest)
    }

    /// Subject names, optionally with soft-deleted ones and by prefix.
    pub fn subjects(&self, deleted: bool, prefix: Option<&str>) -> Result<Vec<String>> {
        let mut query = vec![("deleted", deleted.to_string())];
        if let Some(p) = prefix {
            query.push(("subjectPrefix", p.to_string()));
        }
        self.send("GET", "/subjects", &query, None::<&()>)
    }

    /// The version numbers of `subject`.
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}/versions", enc(subject));
        self.send(
            "GET",
            &path,
            &[("deleted", deleted.to_string())],
            None::<&()>,
        )
    }

    /// Deletes a subject (soft, or `permanent` after a soft delete); returns
    /// the versions deleted.
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        self.delete(subject, &format!("/subjects/{}", enc(subject)), permanent)
    }

    /// Deletes one version of a subject; returns its number.
    pub fn delete_version(&self, subject: &str, version: Version, permanent: bool) -> Result<i32> {
        let path = format!("/subjects/{}/versions/{version}", enc(subject));
        self.delete(subject, &path, permanent)
    }

    /// Whether `schema` could be registered as a new version of `subject`
    /// (against `version`; the subject's compatibility level decides which
    /// others). `verbose` asks for the reasons.
    pub fn check_compatibility(
        &self,
        subject: &str,
        version: Version,
        schema: &Schema,
        verbose: bool,
    ) -> Result<Compatibility> {
        let path = format!(
            "/compatibility/subjects/{}/versions/{version}",
            enc(subject)
        );
        self.send(
            "POST",
            &path,
            &[("verbose", verbose.to_string())],
            Some(schema),
        )
    }

    /// The schema formats the registry accepts.
    pub fn schema_types(&self) -> Result<Vec<String>> {
        self.send("GET", "/schemas/types", &[], None::<&()>)
    }

    /// The schema texts of `schema`'s references, transitively, each before
    /// the schemas that refer to it (the order format parsers want).
    pub fn resolve_references(
        &self,
        schema: &Schema,
    ) -> Result<Vec<(Reference, Arc<RegisteredSchema>)>> {
        let mut out: Vec<(Reference, Arc<RegisteredSchema>)> = Vec::new();
        self.resolve_into(&schema.references, &mut out, 0)?;
        Ok(out)
    }

    fn resolve_into(
        &self,
        refs: &[Reference],
        out: &mut Vec<(Reference, Arc<RegisteredSchema>)>,
        depth: usize,
    ) -> Result<()> {
        // A reference cycle cannot be registered; bound the walk anyway.
        if depth > 32 {
            return Err(ClientError::BadResponse {
                url: self.base.clone(),
                reason: "schema references nest deeper than 32 levels".into(),
            });
        }
        for r in refs {
            if out.iter().any(|(seen, _)| seen.name == r.name) {
                continue;
            }
            let v = self.version(&r.subject, Version::Number(r.version))?;
            self.resolve_into(&v.schema.references, out, depth + 1)?;
            out.push((r.clone(), v));
        }
        Ok(())
    }

    /// A DELETE of `path` (`subject` or one of its versions); the subject's cached
    /// ids and versions go with it.
    fn delete<T: DeserializeOwned>(&self, subject: &str, path: &str, permanent: bool) -> Result<T> {
        let out = self.send(
            "DELETE",
            path,
            &[("permanent", permanent.to_string())],
            None::<&()>,
        )?;
        self.forget_subject(subject);
        Ok(out)
    }

    fn forget_subject(&self, subject: &str) {
        let mut cache = self.cache.lock().unwrap();
        cache.ids.retain(|(s, _), _| s != subject);
        cache.versions.retain(|(s, _), _| s != subject);
    }

    /// One request; a 2xx body is parsed as `T`, anything else as
    /// Confluent's error body.
    fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let url = format!("{}{}", self.base, path);
        let unreachable = |e: ureq::Error| ClientError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        };
        let result = match method {
            "GET" | "DELETE" => {
                let mut req = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                req.header("Accept", CONTENT_TYPE).call()
            }
            _ => {
                let mut req = self.agent.post(&url);
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                let req = req
                    .header("Accept", CONTENT_TYPE)
                    .header("Content-Type", CONTENT_TYPE);
                match body {
                    Some(b) => {
                        let json = serde_json::to_vec(b).map_err(|e| ClientError::BadResponse {
                            url: url.clone(),
                            reason: format!("cannot encode the request: {e}"),
                        })?;
                        req.send(&json[..])
                    }
                    None => req.send_empty(),
                }
            }
        };
        let mut resp = result.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::BadResponse {
                url: url.clone(),
                reason: format!("reading the body: {e}"),
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| ClientError::BadResponse {
                url,
                reason: format!(
                    "HTTP {status} body is not what {method} {path} answers: {e}: {}",
                    clip(&text)
                ),
            });
        }
        #[derive(Deserialize)]
        struct ErrorBody {
            error_code: i32,
            #[serde(default)]
            message: String,
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => Err(ClientError::Registry {
                kind: RegistryErrorKind::from_code(b.error_code, status),
                code: b.error_code,
                status,
                message: b.message,
            }),
            Err(_) => Err(ClientError::Registry {
                kind: RegistryErrorKind::from_code(i32::from(status), status),
                code: i32::from(status),
                status,
                message: format!("HTTP {status} from {method} {path}: {}", clip(&text)),
            }),
        }
    }
}

/// The first 200 characters of a body, for error messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Percent-encodes a path segment (subject names may hold '/', ' ', ...).
fn enc(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_percent_encoded() {
        assert_eq!(enc("bids-value"), "bids-value");
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(enc("é"), "%C3%A9");
    }

    #[test]
    fn versions_parse() {
        assert_eq!("latest".parse(), Ok(Version::Latest));
        assert_eq!("-1".parse(), Ok(Version::Latest));
        assert_eq!("3".parse(), Ok(Version::Number(3)));
        assert!("0".parse::<Version>().is_err());
        assert!("x".parse::<Version>().is_err());
    }

    #[test]
    fn schema_json_uses_confluent_names() {
        let s: Schema = serde_json::from_str(r#"{"schema":"\"string\""}"#).unwrap();
        assert_eq!(s.schema_type, SchemaType::Avro);
        let s = Schema::new(SchemaType::Protobuf, "syntax = \"proto3\";");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["schemaType"], "PROTOBUF");
        assert!(json.get("references").is_none());
    }

    #[test]
    fn an_unreachable_registry_is_a_clear_error() {
        // Port 9 (discard) on loopback: nothing listens in the test sandbox.
        let c = RegistryClient::with_timeout("http://127.0.0.1:9", Duration::from_secs(5));
        let err = c.schema_by_id(1).unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    }
}
