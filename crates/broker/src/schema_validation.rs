//! Broker-side schema validation (Confluent Server's
//! `confluent.value.schema.validation` / `confluent.key.schema.validation`
//! topic configs, default false).
//!
//! When a topic turns it on, every record's value (key) must start with the
//! schema registry wire header — magic byte 0 and a 4-byte big-endian
//! schema id — and the id must be registered under the topic's subject
//! (`<topic>-value` / `<topic>-key`, TopicNameStrategy). Otherwise the whole
//! produce for that partition is refused with INVALID_RECORD, naming each
//! bad record (Produce v8+ `record_errors`).
//!
//! The broker learns ids without any HTTP: it reads its own `_schemas`
//! partition (Confluent's key/value JSON layout, written by the registry)
//! incrementally, from where it stopped, each time a validated produce
//! arrives — so an id the registry has just handed out (its write is in
//! the log before the client hears the id) is always known here.
//!
//! Invariants a reader must keep:
//! - this is the one place the broker decodes records on the produce path,
//!   and only for topics with validation on: [`Validation::for_topic`] looks
//!   the config up first and answers `None` for every other topic;
//! - a null value (key) — a tombstone, a keyless record — is not checked;
//! - soft-deleted versions no longer validate (their subject no longer
//!   offers them to new writers); permanently deleted ones are forgotten;
//! - the GUID framing (magic 1) is refused: the broker knows ids only.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use fjord_log::records::{parse_records, records_section};
use fjord_log::{BatchHeader, LogConfig};
use serde::Deserialize;
use uuid::Uuid;

use crate::broker::Broker;

/// Topic config: validate record values.
pub const VALUE_CONFIG: &str = "confluent.value.schema.validation";
/// Topic config: validate record keys.
pub const KEY_CONFIG: &str = "confluent.key.schema.validation";
/// The registry's topic.
pub const SCHEMAS_TOPIC: &str = "_schemas";
/// How much of `_schemas` one read takes.
const READ_CHUNK: usize = 1 << 20;

/// What a topic asks to be validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validation {
    key: bool,
    value: bool,
}

/// Why a partition's records were refused: the message, and per bad record
/// its index in the request (records counted across the partition's
/// batches) with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub record_errors: Vec<(i32, String)>,
}

impl Validation {
    /// What `config` asks for; `None` when validation is off (the common
    /// case, decided by two map look-ups).
    pub fn from_config(config: &LogConfig) -> Option<Validation> {
        let on = |k| config.get(k) == Some("true");
        let v = Validation {
            key: on(KEY_CONFIG),
            value: on(VALUE_CONFIG),
        };
        (v.key || v.value).then_some(v)
    }

    /// What topic `name` asks for; `None` for unknown topics (the append
    /// reports those) and topics without validation. Until some topic turns
    /// validation on, this is one atomic load.
    pub fn for_topic(broker: &Broker, name: &str) -> Option<Validation> {
        if !broker.topics.schema_ids.enabled.load(Ordering::Relaxed) {
            return None;
        }
        Validation::from_config(&broker.topics.get(name)?.config)
    }

    /// The refusal of `records` as Produce `(error, message)` and per-record
    /// errors: the produce handler's one call into this module.
    pub fn refuse(broker: &Broker, topic: &str, records: &[u8]) -> Option<Refusal> {
        Validation::for_topic(broker, topic)?
            .check(broker, topic, records)
            .err()
    }

    /// Checks every record of `records` (the partition's batches as the
    /// client sent them). Bytes that are not well-formed batches (header,
    /// length) pass here: the append refuses them with its own error. A
    /// well-formed batch whose records cannot be read (a codec that does
    /// not decompress, a record that overruns its batch) is refused: what
    /// cannot be checked must not pass as checked.
    pub fn check(&self, broker: &Broker, topic: &str, records: &[u8]) -> Result<(), Refusal> {
        let ids = &broker.topics.schema_ids;
        ids.catch_up(broker);
        let key_subject = format!("{topic}-key");
        let value_subject = format!("{topic}-value");
        let mut errors = Vec::new();
        let mut index = 0i32;
        let mut pos = 0;
        while pos < records.len() {
            let Ok(h) = BatchHeader::parse(&records[pos..]) else {
                return Ok(());
            };
            let Some(batch) = records.get(pos..pos + h.total_len()) else {
                return Ok(());
            };
            pos += h.total_len();
            if h.is_control() {
                continue;
            }
            let unreadable = |e: fjord_log::LogError| Refusal {
                message: format!(
                    "schema validation failed for topic '{topic}': the records of the batch \
                     at record {index} cannot be read ({e})"
                ),
                record_errors: Vec::new(),
            };
            let (_, section) = records_section(&h, batch).map_err(unreadable)?;
            let parsed = parse_records(&section, h.records_count).map_err(unreadable)?;
            for r in parsed {
                let checks = [
                    (self.key, "key", r.key, &key_subject),
                    (self.value, "value", r.value, &value_subject),
                ];
                for (on, what, bytes, subject) in checks {
                    if let (true, Some(bytes)) = (on, bytes) {
                        if let Err(reason) = ids.check(subject, bytes) {
                            errors.push((index, format!("{what}: {reason}")));
                        }
                    }
                }
                index += 1;
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        let first = &errors[0];
        Err(Refusal {
            message: format!(
                "schema validation failed for topic '{topic}' ({} of {index} records refused; \
                 record {}: {})",
                errors.len(),
                first.0,
                first.1
            ),
            record_errors: errors,
        })
    }
}

/// One version as `_schemas` records it.
#[derive(Debug, Clone, Copy)]
struct VersionEntry {
    id: i32,
    deleted: bool,
}

#[derive(Default)]
struct State {
    /// The `_schemas` topic read so far (recreated topic: start again).
    topic_id: Option<Uuid>,
    /// Next offset of `_schemas` partition 0 to read.
    next_offset: i64,
    subjects: HashMap<String, BTreeMap<i32, VersionEntry>>,
}

/// The schema ids registered per subject, learned from `_schemas`.
#[derive(Default)]
pub struct SchemaIds {
    /// Set once any topic has had validation on (never cleared: a stale
    /// true costs only a config look-up); while false, produce skips this
    /// module with one atomic load.
    enabled: AtomicBool,
    state: Mutex<State>,
}

#[derive(Deserialize)]
struct Key {
    keytype: String,
    subject: Option<String>,
    version: Option<i32>,
}

#[derive(Deserialize)]
struct SchemaValue {
    id: i32,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
struct SubjectUpTo {
    version: i32,
}

impl SchemaIds {
    /// Called for every topic published to the catalogue.
    pub fn note_topic_config(&self, config: &LogConfig) {
        if Validation::from_config(config).is_some() {
            self.enabled.store(true, Ordering::Relaxed);
        }
    }

    /// Whether `data` is framed with an id registered under `subject`.
    fn check(&self, subject: &str, data: &[u8]) -> Result<(), String> {
        let id = match data {
            [0, a, b, c, d, ..] => i32::from_be_bytes([*a, *b, *c, *d]),
            [1, ..] => {
                return Err(
                    "framed with a schema GUID (magic byte 1); schema validation needs a schema id (magic byte 0)"
                        .to_string(),
                )
            }
            [] => return Err("empty, no schema registry header".to_string()),
            [0, ..] => {
                return Err(format!(
                    "{} bytes, too short for a schema registry header (magic byte 0 + 4-byte schema id)",
                    data.len()
                ))
            }
            [m, ..] => {
                return Err(format!(
                    "does not start with a schema registry header (magic byte {m:#04x}, expected 0x00)"
                ))
            }
        };
        let state = self.state.lock().unwrap();
        let known = state
            .subjects
            .get(subject)
            .is_some_and(|vs| vs.values().any(|v| v.id == id && !v.deleted));
        if known {
            Ok(())
        } else {
            Err(format!(
                "schema id {id} is not registered under subject '{subject}'"
            ))
        }
    }

    /// Reads whatever `_schemas` gained since the last call.
    fn catch_up(&self, broker: &Broker) {
        let Some(topic) = broker.topics.get(SCHEMAS_TOPIC) else {
            return;
        };
        let Some(part) = topic.partitions.first() else {
            return;
        };
        let mut state = self.state.lock().unwrap();
        if state.topic_id != Some(topic.id) {
            *state = State {
                topic_id: Some(topic.id),
                ..State::default()
            };
        }
        loop {
            // Only durable schema records, as the registry's readers see them.
            let end = part.high_watermark();
            if state.next_offset >= end {
                return;
            }
            let from = state.next_offset.max(part.log_start_offset());
            let slice = match part.read_uncommitted(from, READ_CHUNK, true) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "schema validation: reading _schemas failed");
                    return;
                }
            };
            if slice.bytes.is_empty() {
                state.next_offset = end;
                return;
            }
            let read_to = state.apply_batches(&slice.bytes, from);
            if read_to <= state.next_offset {
                // No progress (a batch we cannot parse): skip to the end
                // rather than spin; the registry's own reader reports it.
                state.next_offset = end;
                return;
            }
            state.next_offset = read_to;
        }
    }
}

impl State {
    /// Applies the records at or past `from` in `bytes` (whole stored
    /// batches); returns the offset after the last batch read.
    fn apply_batches(&mut self, bytes: &[u8], from: i64) -> i64 {
        let mut next = from;
        let mut pos = 0;
        while pos < bytes.len() {
            let Ok(h) = BatchHeader::parse(&bytes[pos..]) else {
                break;
            };
            let Some(batch) = bytes.get(pos..pos + h.total_len()) else {
                break;
            };
            pos += h.total_len();
            next = next.max(h.last_offset() + 1);
            if h.is_control() {
                continue;
            }
            let Ok((_, section)) = records_section(&h, batch) else {
                continue;
            };
            let Ok(records) = parse_records(&section, h.records_count) else {
                continue;
            };
            for r in records.iter().filter(|r| r.offset(&h) >= from) {
                if let Some(key) = r.key {
                    self.apply(key, r.value);
                }
            }
        }
        next
    }

    /// One `_schemas` record. Unknown or malformed records are skipped: the
    /// topic is the registry's, and validation only needs SCHEMA records.
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Ok(key) = serde_json::from_slice::<Key>(key) else {
            return;
        };
        let Some(subject) = key.subject else {
            return;
        };
        match (key.keytype.as_str(), value) {
            ("SCHEMA", Some(v)) => {
                let (Some(version), Ok(v)) =
                    (key.version, serde_json::from_slice::<SchemaValue>(v))
                else {
                    return;
                };
                self.subjects.entry(subject).or_default().insert(
                    version,
                    VersionEntry {
                        id: v.id,
                        deleted: v.deleted,
                    },
                );
            }
            // A tombstone: the version was permanently deleted.
            ("SCHEMA", None) => {
                if let (Some(version), Some(vs)) = (key.version, self.subjects.get_mut(&subject)) {
                    vs.remove(&version);
                }
            }
            // Soft delete of a whole subject, up to a version.
            ("DELETE_SUBJECT", Some(v)) => {
                if let (Ok(up), Some(vs)) = (
                    serde_json::from_slice::<SubjectUpTo>(v),
                    self.subjects.get_mut(&subject),
                ) {
                    for (_, e) in vs.range_mut(..=up.version) {
                        e.deleted = true;
                    }
                }
            }
            // Permanent delete of a subject, up to a version.
            ("CLEAR_SUBJECT", Some(v)) => {
                if let (Ok(up), Some(vs)) = (
                    serde_json::from_slice::<SubjectUpTo>(v),
                    self.subjects.get_mut(&subject),
                ) {
                    vs.retain(|version, _| *version > up.version);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(subject: &str, version: i32) -> Vec<u8> {
        format!(r#"{{"keytype":"SCHEMA","subject":"{subject}","version":{version},"magic":1}}"#)
            .into_bytes()
    }

    fn value(subject: &str, version: i32, id: i32, deleted: bool) -> Vec<u8> {
        format!(
            r#"{{"subject":"{subject}","version":{version},"id":{id},"schema":"\"string\"","deleted":{deleted}}}"#
        )
        .into_bytes()
    }

    fn ids_with(records: &[(Vec<u8>, Option<Vec<u8>>)]) -> SchemaIds {
        let ids = SchemaIds::default();
        {
            let mut s = ids.state.lock().unwrap();
            for (k, v) in records {
                s.apply(k, v.as_deref());
            }
        }
        ids
    }

    #[test]
    fn registered_ids_pass_others_are_named() {
        let ids = ids_with(&[
            (key("t-value", 1), Some(value("t-value", 1, 7, false))),
            (key("u-value", 1), Some(value("u-value", 1, 8, false))),
        ]);
        assert_eq!(ids.check("t-value", &[0, 0, 0, 0, 7, 1, 2]), Ok(()));
        let e = ids.check("t-value", &[0, 0, 0, 0, 8]).unwrap_err();
        assert!(
            e.contains("schema id 8 is not registered under subject 't-value'"),
            "{e}"
        );
        assert!(ids
            .check("t-value", b"{\"a\":1}")
            .unwrap_err()
            .contains("magic byte 0x7b"));
        assert!(ids
            .check("t-value", &[0, 0, 7])
            .unwrap_err()
            .contains("too short"));
        assert!(ids.check("t-value", &[1; 17]).unwrap_err().contains("GUID"));
        assert!(ids.check("t-value", &[]).unwrap_err().contains("empty"));
    }

    #[test]
    fn deletes_are_followed() {
        let ids = ids_with(&[
            (key("t-value", 1), Some(value("t-value", 1, 7, false))),
            (key("t-value", 2), Some(value("t-value", 2, 9, false))),
            (key("t-value", 1), Some(value("t-value", 1, 7, true))),
        ]);
        assert!(
            ids.check("t-value", &[0, 0, 0, 0, 7]).is_err(),
            "soft deleted"
        );
        assert!(ids.check("t-value", &[0, 0, 0, 0, 9]).is_ok());
        {
            let mut s = ids.state.lock().unwrap();
            s.apply(&key("t-value", 2), None);
        }
        assert!(
            ids.check("t-value", &[0, 0, 0, 0, 9]).is_err(),
            "permanently deleted"
        );
        let ids = ids_with(&[
            (key("t-value", 1), Some(value("t-value", 1, 7, false))),
            (
                br#"{"keytype":"DELETE_SUBJECT","subject":"t-value","magic":0}"#.to_vec(),
                Some(br#"{"subject":"t-value","version":1}"#.to_vec()),
            ),
        ]);
        assert!(ids.check("t-value", &[0, 0, 0, 0, 7]).is_err());
    }

    #[test]
    fn other_records_are_ignored() {
        let ids = ids_with(&[
            (br#"{"keytype":"NOOP","magic":0}"#.to_vec(), None),
            (
                br#"{"keytype":"CONFIG","subject":null,"magic":0}"#.to_vec(),
                Some(br#"{"compatibilityLevel":"NONE"}"#.to_vec()),
            ),
            (b"not json".to_vec(), Some(b"x".to_vec())),
            (key("t-value", 1), Some(b"not json".to_vec())),
        ]);
        assert!(!ids.state.lock().unwrap().subjects.contains_key("t-value"));
    }

    #[test]
    fn validation_is_off_by_default() {
        let config = LogConfig::default();
        assert_eq!(Validation::from_config(&config), None);
        let config = config.with(VALUE_CONFIG, "true").unwrap();
        assert_eq!(
            Validation::from_config(&config),
            Some(Validation {
                key: false,
                value: true
            })
        );
    }
}
