//! Schema formats and compatibility rules. Pure: no IO.
//!
//! [`parse`] turns a registration's schema text (plus its resolved
//! references) into a [`ParsedSchema`]; [`ParsedSchema::canonical`] decides
//! whether two registrations are the same schema (same id); and
//! [`check_compatibility`] applies a subject's [`CompatibilityLevel`]
//! against its earlier versions, answering Confluent's error type names.
//!
//! Each format lives in its own module (`avro/`, `json/`, `protobuf/`) and
//! exposes the same two things: a parsed schema type and a
//! "can `reader` read what `writer` wrote" check. The dispatch over formats
//! is in this file (`match kind`) and in `compat.rs`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod avro;
mod compat;
pub mod json;
pub mod protobuf;

pub use compat::check_compatibility;

/// The format of a schema. Confluent's `schemaType` field; absent means AVRO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    #[default]
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchemaType {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "AVRO" => Ok(SchemaType::Avro),
            "JSON" => Ok(SchemaType::Json),
            "PROTOBUF" => Ok(SchemaType::Protobuf),
            other => Err(SchemaError::UnknownSchemaType(other.to_string())),
        }
    }
}

/// A registration's reference to a schema of another subject (Confluent JSON
/// field names: `name`, `subject`, `version`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    /// For Avro the full name of the referenced type, for JSON Schema the
    /// URL `$ref` uses, for Protobuf the import path.
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A reference's schema text, resolved (transitively) by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedReference {
    pub name: String,
    pub kind: SchemaType,
    pub schema: String,
}

/// A subject's compatibility level (Confluent's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    None,
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CompatibilityLevel {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Confluent accepts the level in any case ("backward" too).
        Ok(match s.to_ascii_uppercase().as_str() {
            "NONE" => CompatibilityLevel::None,
            "BACKWARD" => CompatibilityLevel::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityLevel::BackwardTransitive,
            "FORWARD" => CompatibilityLevel::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityLevel::ForwardTransitive,
            "FULL" => CompatibilityLevel::Full,
            "FULL_TRANSITIVE" => CompatibilityLevel::FullTransitive,
            _ => return Err(SchemaError::UnknownCompatibilityLevel(s.to_string())),
        })
    }
}

/// Why a schema text or a level name was refused. Every variant is client
/// input: the HTTP layer answers 422 (error code 42201 for an invalid schema).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("Invalid schema: {0}")]
    Invalid(String),
    #[error("Unknown schema type: {0}")]
    UnknownSchemaType(String),
    #[error("Invalid compatibility level: {0}")]
    UnknownCompatibilityLevel(String),
    #[error("Schema type {0} is not supported yet")]
    Unsupported(SchemaType),
}

impl SchemaError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        SchemaError::Invalid(msg.into())
    }
}

/// One reason a schema is incompatible with an earlier version, in
/// Confluent's terms (`errorType`, `description`, `additionalInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incompatibility {
    pub error_type: String,
    pub description: String,
    pub additional_info: String,
}

/// A schema parsed and validated, ready for comparison.
#[derive(Debug, Clone)]
pub struct ParsedSchema {
    inner: Inner,
}

/// The per-format model. The Protobuf arm is added by `protobuf/`.
#[derive(Debug, Clone)]
enum Inner {
    Avro(avro::AvroSchema),
    Json(json::JsonSchema),
    Protobuf(protobuf::ProtobufSchema),
}

/// Parses and validates `text` as a schema of format `kind`; `refs` are the
/// registration's references with their schema texts.
pub fn parse(
    kind: SchemaType,
    text: &str,
    refs: &[ResolvedReference],
) -> Result<ParsedSchema, SchemaError> {
    let inner = match kind {
        SchemaType::Avro => Inner::Avro(avro::AvroSchema::parse(text, refs)?),
        SchemaType::Json => Inner::Json(json::JsonSchema::parse(text, refs)?),
        SchemaType::Protobuf => Inner::Protobuf(protobuf::ProtobufSchema::parse(text, refs)?),
    };
    Ok(ParsedSchema { inner })
}

impl ParsedSchema {
    pub fn kind(&self) -> SchemaType {
        match &self.inner {
            Inner::Avro(_) => SchemaType::Avro,
            Inner::Json(_) => SchemaType::Json,
            Inner::Protobuf(_) => SchemaType::Protobuf,
        }
    }

    /// Normalised form: two registrations with equal canonical forms are the
    /// same schema (same id).
    pub fn canonical(&self) -> String {
        match &self.inner {
            Inner::Avro(s) => s.canonical(),
            Inner::Json(s) => s.canonical(),
            Inner::Protobuf(s) => s.canonical(),
        }
    }

    /// The text the registry stores and returns (for Protobuf registered as a
    /// base64 FileDescriptorProto: the equivalent .proto text).
    pub fn text(&self) -> String {
        match &self.inner {
            Inner::Avro(s) => s.text(),
            Inner::Json(s) => s.text(),
            Inner::Protobuf(s) => s.text(),
        }
    }

    /// Protobuf only: base64 FileDescriptorProto (GET ...?format=serialized).
    pub fn serialized(&self) -> Option<String> {
        match &self.inner {
            Inner::Avro(_) | Inner::Json(_) => None,
            Inner::Protobuf(s) => Some(s.serialized()),
        }
    }

    /// The Avro model, for the serde layer.
    pub fn as_avro(&self) -> Option<&avro::AvroSchema> {
        match &self.inner {
            Inner::Avro(s) => Some(s),
            _ => None,
        }
    }

    /// The JSON Schema model, for the serde layer.
    pub fn as_json(&self) -> Option<&json::JsonSchema> {
        match &self.inner {
            Inner::Json(s) => Some(s),
            _ => None,
        }
    }

    /// The Protobuf model (message indexes, descriptors), for the serde layer.
    pub fn as_protobuf(&self) -> Option<&protobuf::ProtobufSchema> {
        match &self.inner {
            Inner::Protobuf(s) => Some(s),
            _ => None,
        }
    }
}

/// The incompatibilities met when `reader` reads data written with `writer`
/// (empty when it can). Backward checks pass (new, old), forward (old, new);
/// `reader_is_new` tells the descriptions which one is "the new schema".
fn reader_incompatibilities(
    reader: &ParsedSchema,
    writer: &ParsedSchema,
    reader_is_new: bool,
) -> Vec<Incompatibility> {
    match (&reader.inner, &writer.inner) {
        (Inner::Avro(r), Inner::Avro(w)) => avro::compat::check(r, w, reader_is_new),
        (Inner::Json(r), Inner::Json(w)) => json::compat::check(r, w, reader_is_new),
        (Inner::Protobuf(r), Inner::Protobuf(w)) => protobuf::compat::check(r, w),
        _ => vec![Incompatibility {
            error_type: "TYPE_MISMATCH".to_string(),
            description: format!(
                "Incompatible because of different schema type: {} and {}",
                reader.kind(),
                writer.kind()
            ),
            additional_info: String::new(),
        }],
    }
}
