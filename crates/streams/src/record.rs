//! Records as operators see them, and as a task emits them.

use std::sync::Arc;

use bytes::Bytes;

use crate::value::Value;
use crate::window::Window;

/// A record header: Kafka's (string key, nullable bytes value).
pub type Header = (String, Option<Bytes>);

/// Where a record was read: source topic, partition and offset, with the
/// bytes as they were stored, so a record routed to the late-data or
/// dead-letter topic goes there unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Shared with the runtime's other records of this topic.
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// A decoded record flowing through a topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Value,
    pub value: Value,
    /// Event time, epoch milliseconds: the record's timestamp, or a field
    /// of its value when the stream says so.
    pub timestamp: i64,
    pub headers: Vec<Header>,
    /// The input record this one comes from (shared by the records a
    /// flat-map makes of it).
    pub source: Option<Arc<Source>>,
    /// The window of a windowed aggregation's result: a sink writes the
    /// key as Kafka Streams writes windowed keys (`window::windowed_key`).
    pub window: Option<Window>,
    /// Set on a session window's result, whose keys carry the end too.
    pub session: bool,
    /// A table's change: the key's value before it (`Value::Null` for a
    /// key that was not there); `value` is the new one (`Null`: deleted).
    /// None on stream records.
    pub old: Option<Value>,
}

impl Record {
    /// A record with no headers and no source (tests, generated records).
    pub fn new(key: impl Into<Value>, value: impl Into<Value>, timestamp: i64) -> Record {
        Record {
            key: key.into(),
            value: value.into(),
            timestamp,
            headers: Vec::new(),
            source: None,
            old: None,
            window: None,
            session: false,
        }
    }
}

/// A record a task writes: to an output, late-data, dead-letter or
/// changelog topic. Encoded; the partition is the producer's to choose
/// (by key) unless set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Vec<Header>,
}

impl Output {
    /// The value of header `name`, as UTF-8 (test and tooling helper).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}
