//! The record that flows through a connector pipeline: a source task
//! produces it (with its source position), a sink task receives it (with
//! where it came from in Kafka); converters and transforms sit between.

use crate::data::{SchemaRef, Value};

/// A record header as Kafka carries it: a key and raw bytes (or null).
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// Where a sink record was read from; kept through transforms that
/// rename its topic, for offsets and dead-letter context.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaOrigin {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A source record's position in its source system, as Kafka Connect
/// stores it in `connect-offsets`: a partition map (which file, which
/// table) and an offset map (how far in it).
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePosition {
    pub partition: serde_json::Map<String, serde_json::Value>,
    pub offset: serde_json::Map<String, serde_json::Value>,
}

/// `ConnectRecord`: a `SinkRecord` when `origin` is set, a `SourceRecord`
/// when `source` is.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRecord {
    pub topic: String,
    /// The Kafka partition; None lets the producer's partitioner choose.
    pub partition: Option<i32>,
    pub key_schema: Option<SchemaRef>,
    pub key: Value,
    pub value_schema: Option<SchemaRef>,
    pub value: Value,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub headers: Vec<Header>,
    pub origin: Option<KafkaOrigin>,
    pub source: Option<SourcePosition>,
}

impl ConnectRecord {
    /// A record for `topic` with this key and value (schemas as given).
    pub fn new(
        topic: impl Into<String>,
        key_schema: Option<SchemaRef>,
        key: Value,
        value_schema: Option<SchemaRef>,
        value: Value,
    ) -> ConnectRecord {
        ConnectRecord {
            topic: topic.into(),
            partition: None,
            key_schema,
            key,
            value_schema,
            value,
            timestamp: None,
            headers: Vec::new(),
            origin: None,
            source: None,
        }
    }

    /// A tombstone: a null value (with or without a schema).
    pub fn is_tombstone(&self) -> bool {
        self.value.is_null()
    }

    pub fn header(&self, key: &str) -> Option<&Header> {
        self.headers.iter().rev().find(|h| h.key == key)
    }
}
