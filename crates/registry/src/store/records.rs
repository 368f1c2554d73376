//! The records of the `_schemas` topic, in Confluent Schema Registry's JSON
//! layouts, so a topic written by either registry reads in the other.
//!
//! Keys carry a `keytype` tag (SCHEMA, CONFIG, MODE, DELETE_SUBJECT,
//! CLEAR_SUBJECT, NOOP) and a `magic` number; values are the state for that
//! key. A null value (a tombstone) permanently deletes the key, and
//! compaction keeps only each key's latest value.

use serde::{Deserialize, Serialize};

use crate::schema::{CompatibilityLevel, Reference, SchemaType};

/// Magic of SCHEMA keys, as Confluent writes them (other keys use 0).
pub const SCHEMA_KEY_MAGIC: i32 = 1;

/// A record key. Key types this registry does not know (Confluent's CONTEXT,
/// KEK, ...) fail to parse and are skipped by the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype")]
pub enum RecordKey {
    #[serde(rename = "SCHEMA")]
    Schema {
        subject: String,
        version: i32,
        #[serde(default)]
        magic: i32,
    },
    /// Compatibility level; `subject: null` is the global level.
    #[serde(rename = "CONFIG")]
    Config {
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        magic: i32,
    },
    /// Mode; `subject: null` is the global mode.
    #[serde(rename = "MODE")]
    Mode {
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        magic: i32,
    },
    /// A subject's soft delete: every version up to the value's `version`.
    #[serde(rename = "DELETE_SUBJECT")]
    DeleteSubject {
        subject: String,
        #[serde(default)]
        magic: i32,
    },
    /// Confluent writes it after a permanent subject delete; nothing to apply.
    #[serde(rename = "CLEAR_SUBJECT")]
    ClearSubject {
        subject: String,
        #[serde(default)]
        magic: i32,
    },
    /// A barrier: a new writer writes one and reads up to it, so it has seen
    /// every earlier write before it assigns ids.
    #[serde(rename = "NOOP")]
    Noop {
        #[serde(default)]
        magic: i32,
    },
}

impl RecordKey {
    pub fn schema(subject: &str, version: i32) -> RecordKey {
        RecordKey::Schema {
            subject: subject.to_string(),
            version,
            magic: SCHEMA_KEY_MAGIC,
        }
    }

    pub fn config(subject: Option<&str>) -> RecordKey {
        RecordKey::Config {
            subject: subject.map(str::to_string),
            magic: 0,
        }
    }

    pub fn mode(subject: Option<&str>) -> RecordKey {
        RecordKey::Mode {
            subject: subject.map(str::to_string),
            magic: 0,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("record keys serialize")
    }
}

/// A SCHEMA record's value: one version of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    /// Absent for Avro, as Confluent writes it.
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<SchemaType>,
    #[serde(default)]
    pub references: Vec<Reference>,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
}

impl SchemaValue {
    pub fn kind(&self) -> SchemaType {
        self.schema_type.unwrap_or_default()
    }
}

/// A CONFIG record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: Option<CompatibilityLevel>,
}

/// A registry mode (global or per subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    #[default]
    Readwrite,
    Readonly,
    /// Registrations carry their own id and version (migrations).
    Import,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Readwrite => "READWRITE",
            Mode::Readonly => "READONLY",
            Mode::Import => "IMPORT",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s.to_ascii_uppercase().as_str() {
            "READWRITE" => Some(Mode::Readwrite),
            "READONLY" => Some(Mode::Readonly),
            "IMPORT" => Some(Mode::Import),
            _ => None,
        }
    }
}

/// A MODE record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    pub mode: Mode,
}

/// A DELETE_SUBJECT record's value: versions up to `version` are deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    pub subject: String,
    pub version: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_use_confluents_layout() {
        assert_eq!(
            String::from_utf8(RecordKey::schema("t-value", 3).to_bytes()).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"t-value","version":3,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8(RecordKey::config(None).to_bytes()).unwrap(),
            r#"{"keytype":"CONFIG","subject":null,"magic":0}"#
        );
        // Confluent's own records parse, unknown key types do not.
        let k: RecordKey = serde_json::from_str(r#"{"magic":0,"keytype":"NOOP"}"#).unwrap();
        assert_eq!(k, RecordKey::Noop { magic: 0 });
        let k: RecordKey =
            serde_json::from_str(r#"{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}"#)
                .unwrap();
        assert!(matches!(k, RecordKey::DeleteSubject { .. }));
        assert!(serde_json::from_str::<RecordKey>(r#"{"keytype":"KEK","magic":0}"#).is_err());
    }

    #[test]
    fn schema_values_round_trip_and_omit_avro_type() {
        let v = SchemaValue {
            subject: "s".into(),
            version: 1,
            id: 7,
            schema_type: None,
            references: vec![],
            schema: "\"string\"".into(),
            deleted: false,
        };
        let text = serde_json::to_string(&v).unwrap();
        assert!(!text.contains("schemaType"), "{text}");
        assert_eq!(serde_json::from_str::<SchemaValue>(&text).unwrap(), v);
        let json: SchemaValue = serde_json::from_str(
            r#"{"subject":"j","version":2,"id":3,"schemaType":"JSON","schema":"{}","deleted":true}"#,
        )
        .unwrap();
        assert_eq!(json.kind(), SchemaType::Json);
        assert!(json.deleted);
    }
}
