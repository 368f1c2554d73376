//! Serializers and deserializers in the Confluent wire format, for Fjord's
//! own producers and consumers (the auction website writes Avro bids with
//! these) and for anyone embedding `fjord-registry`.
//!
//! - [`wire`]: the header bytes (magic, schema id or GUID, Protobuf message
//!   indexes). Pure.
//! - [`avro`], [`json`], [`protobuf`]: one serializer and one deserializer
//!   per format, over a shared [`RegistryClient`](crate::client::RegistryClient)
//!   whose cache keeps the registry off the hot path.
//! - [`SubjectNameStrategy`]: which subject a topic's keys or values are
//!   registered under.
//!
//! A serializer registers its schema on first use (Confluent's
//! `auto.register.schemas=true`) or, with `use_registered_only`, only looks
//! it up; either way the id is asked for once and then kept.

pub mod avro;
pub mod json;
pub mod protobuf;
pub mod wire;

use std::sync::{Arc, OnceLock};

use crate::client::{ClientError, RegistryClient, Schema};
use crate::schema::SchemaType;
use wire::SchemaRef;

pub use avro::{AvroDeserializer, AvroSerializer};
pub use json::{JsonDeserializer, JsonSerializer};
pub use protobuf::{ProtobufDeserializer, ProtobufMessage, ProtobufSerializer};

/// Why a value could not be serialized or deserialized.
#[derive(Debug, thiserror::Error)]
pub enum SerdeError {
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error(transparent)]
    Registry(#[from] ClientError),
    #[error("invalid {kind} schema: {reason}")]
    InvalidSchema { kind: SchemaType, reason: String },
    #[error("{schema} is a {actual} schema; this deserializer reads {expected}")]
    WrongSchemaType {
        schema: SchemaRef,
        expected: SchemaType,
        actual: SchemaType,
    },
    #[error("cannot serialize the value with {kind} schema of subject '{subject}': {reason}")]
    Serialize {
        kind: SchemaType,
        subject: String,
        reason: String,
    },
    #[error("cannot deserialize data written with {schema}: {reason}")]
    Deserialize { schema: SchemaRef, reason: String },
    #[error("the value does not match the JSON schema: {0}")]
    Validation(String),
    #[error("subject name strategy {strategy:?} needs a record name, and the schema has none")]
    NoRecordName { strategy: SubjectNameStrategy },
}

pub type Result<T, E = SerdeError> = std::result::Result<T, E>;

/// Which subject a topic's keys or values use (Confluent's
/// `key.subject.name.strategy` / `value.subject.name.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value`: one schema lineage per topic.
    #[default]
    TopicName,
    /// The record's full name: one lineage per record type, across topics.
    RecordName,
    /// `<topic>-<record full name>`: several record types in one topic.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The subject for `topic`'s keys (`is_key`) or values whose schema's
    /// record (full) name is `record_name`.
    pub fn subject(self, topic: &str, is_key: bool, record_name: Option<&str>) -> Result<String> {
        let record = || record_name.ok_or(SerdeError::NoRecordName { strategy: self });
        Ok(match self {
            SubjectNameStrategy::TopicName => {
                format!("{topic}-{}", if is_key { "key" } else { "value" })
            }
            SubjectNameStrategy::RecordName => record()?.to_string(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{}", record()?),
        })
    }
}

impl std::str::FromStr for SubjectNameStrategy {
    type Err = String;

    /// Confluent's class names (with or without the package) or short forms.
    fn from_str(s: &str) -> Result<Self, String> {
        let short = s.rsplit('.').next().unwrap_or(s);
        match short.to_ascii_lowercase().as_str() {
            "topicnamestrategy" | "topic" => Ok(SubjectNameStrategy::TopicName),
            "recordnamestrategy" | "record" => Ok(SubjectNameStrategy::RecordName),
            "topicrecordnamestrategy" | "topic-record" | "topicrecord" => {
                Ok(SubjectNameStrategy::TopicRecordName)
            }
            _ => Err(format!(
                "unknown subject name strategy '{s}': use TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy"
            )),
        }
    }
}

/// Fetches the schema `r` names, checking its format.
fn fetch_schema(
    client: &RegistryClient,
    r: SchemaRef,
    expected: SchemaType,
) -> Result<Arc<Schema>> {
    let schema = match r {
        SchemaRef::Id(id) => client.schema_by_id(id)?,
        SchemaRef::Guid(g) => client.schema_by_guid(&g)?,
    };
    if schema.schema_type != expected {
        return Err(SerdeError::WrongSchemaType {
            schema: r,
            expected,
            actual: schema.schema_type,
        });
    }
    Ok(schema)
}

/// What a serializer needs to name its schema in the wire header: the
/// registry, the subject, the schema as registered and its id once known.
/// The Avro, JSON and Protobuf serializers follow the same rule, so they
/// share this.
struct WriterSchema {
    client: Arc<RegistryClient>,
    subject: String,
    registered: Schema,
    /// Register on first use (true), or only look the schema up.
    auto_register: bool,
    id: OnceLock<i32>,
}

impl WriterSchema {
    fn new(client: Arc<RegistryClient>, subject: String, registered: Schema) -> WriterSchema {
        WriterSchema {
            client,
            subject,
            registered,
            auto_register: true,
            id: OnceLock::new(),
        }
    }

    /// The schema's id under the subject, asked of the registry once and
    /// then kept: registered when `auto_register` (Confluent's
    /// `auto.register.schemas=true`), otherwise only looked up.
    fn id(&self) -> Result<i32> {
        if let Some(id) = self.id.get() {
            return Ok(*id);
        }
        let fetched = if self.auto_register {
            self.client.register(&self.subject, &self.registered)?
        } else {
            self.client.lookup(&self.subject, &self.registered)?.id
        };
        Ok(*self.id.get_or_init(|| fetched))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_name_strategies() {
        use SubjectNameStrategy::*;
        assert_eq!(
            TopicName.subject("bids", false, None).unwrap(),
            "bids-value"
        );
        assert_eq!(
            TopicName.subject("bids", true, Some("x.Bid")).unwrap(),
            "bids-key"
        );
        assert_eq!(
            RecordName
                .subject("bids", false, Some("auction.Bid"))
                .unwrap(),
            "auction.Bid"
        );
        assert_eq!(
            TopicRecordName
                .subject("bids", false, Some("auction.Bid"))
                .unwrap(),
            "bids-auction.Bid"
        );
        assert!(matches!(
            RecordName.subject("bids", false, None),
            Err(SerdeError::NoRecordName { .. })
        ));
        assert_eq!(
            "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy".parse(),
            Ok(TopicRecordName)
        );
        assert!("Nope".parse::<SubjectNameStrategy>().is_err());
    }
}
