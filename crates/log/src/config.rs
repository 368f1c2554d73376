//! Topic-level log configuration, under Kafka's own key names.
//!
//! A [`LogConfig`] is always valid: every value went through [`KEYS`]'s
//! parser, so the typed accessors never fail. The overrides a topic was
//! created or altered with are kept verbatim (as validated strings) so the
//! broker can persist them (`serde`) and `describe()` can tell which values
//! came from the topic and which are defaults.

use std::collections::BTreeMap;

use crate::batch::TimestampType;
use crate::error::{LogError, Result};

/// What happens to old data: `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Delete whole segments by retention.ms / retention.bytes.
    Delete,
    /// Keep the latest record per key (compaction).
    Compact,
    /// Both: compact, and also delete by retention.
    CompactDelete,
}

impl CleanupPolicy {
    /// The value as Kafka spells it in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }

    /// Whether the cleaner compacts segments under this policy.
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Whether retention deletes segments under this policy.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
}

/// Where a described config value comes from (Kafka's ConfigSource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on this topic (create-time config or AlterConfigs).
    DynamicTopic,
    /// The built-in default.
    Default,
}

impl ConfigSource {
    /// The DescribeConfigs wire code (DYNAMIC_TOPIC_CONFIG=1, DEFAULT_CONFIG=5).
    pub fn kafka_code(self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::Default => 5,
        }
    }
}

/// One row of `describe()`, shaped like a DescribeConfigs result entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub documentation: String,
}

/// The kinds of values the known keys take, with their valid ranges.
#[derive(Clone, Copy)]
enum Kind {
    /// A signed integer in [min, max].
    Long { min: i64, max: i64 },
    /// A ratio in [0, 1].
    Ratio,
    /// One of a fixed list of words.
    OneOf(&'static [&'static str]),
    /// cleanup.policy: a comma-separated list of delete/compact.
    Cleanup,
    /// true/false.
    Bool,
}

/// A known topic config: name, Kafka default, valid values, documentation.
struct KeyDef {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    doc: &'static str,
}

const I32_MAX: i64 = i32::MAX as i64;
const COMPRESSION: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Every topic config key Fjord knows, with Kafka 3.9's defaults. Keys that
/// Fjord stores but does not act on say so in their documentation.
const KEYS: &[KeyDef] = &[
    KeyDef { name: "cleanup.policy", default: "delete", kind: Kind::Cleanup,
        doc: "delete: drop old segments by retention; compact: keep the latest record per key; or both" },
    KeyDef { name: "compression.type", default: "producer", kind: Kind::OneOf(COMPRESSION),
        doc: "Final compression; Fjord stores batches as the producer sent them (producer)" },
    KeyDef { name: "confluent.key.schema.validation", default: "false", kind: Kind::Bool,
        doc: "Refuse records whose key lacks a schema id registered under <topic>-key (broker schema_validation)" },
    KeyDef { name: "confluent.value.schema.validation", default: "false", kind: Kind::Bool,
        doc: "Refuse records whose value lacks a schema id registered under <topic>-value (broker schema_validation)" },
    KeyDef { name: "delete.retention.ms", default: "86400000", kind: Kind::Long { min: 0, max: i64::MAX },
        doc: "How long delete markers (tombstones) are kept on compacted topics" },
    KeyDef { name: "file.delete.delay.ms", default: "60000", kind: Kind::Long { min: 0, max: i64::MAX },
        doc: "Informative: Fjord deletes segment files immediately" },
    KeyDef { name: "flush.messages", default: "9223372036854775807", kind: Kind::Long { min: 1, max: i64::MAX },
        doc: "Informative: Fjord fsyncs acks=all batches before acknowledging and others on the background flusher" },
    KeyDef { name: "flush.ms", default: "9223372036854775807", kind: Kind::Long { min: 0, max: i64::MAX },
        doc: "Informative: see flush.messages" },
    KeyDef { name: "index.interval.bytes", default: "4096", kind: Kind::Long { min: 0, max: I32_MAX },
        doc: "Bytes of log between two entries of the sparse offset index" },
    KeyDef { name: "max.compaction.lag.ms", default: "9223372036854775807", kind: Kind::Long { min: 1, max: i64::MAX },
        doc: "Longest time a record stays ineligible for compaction" },
    KeyDef { name: "max.message.bytes", default: "1048588", kind: Kind::Long { min: 0, max: I32_MAX },
        doc: "Largest record batch (after compression) the topic accepts" },
    KeyDef { name: "message.timestamp.type", default: "CreateTime", kind: Kind::OneOf(&["CreateTime", "LogAppendTime"]),
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock" },
    KeyDef { name: "min.cleanable.dirty.ratio", default: "0.5", kind: Kind::Ratio,
        doc: "Share of uncompacted log that makes a compacted topic eligible for cleaning" },
    KeyDef { name: "min.compaction.lag.ms", default: "0", kind: Kind::Long { min: 0, max: i64::MAX },
        doc: "Shortest time a record stays uncompacted" },
    KeyDef { name: "min.insync.replicas", default: "1", kind: Kind::Long { min: 1, max: I32_MAX },
        doc: "Replicas that must acknowledge an acks=all write; a single node has one" },
    KeyDef { name: "preallocate", default: "false", kind: Kind::Bool,
        doc: "Informative: Fjord does not preallocate segment files" },
    KeyDef { name: "retention.bytes", default: "-1", kind: Kind::Long { min: -1, max: i64::MAX },
        doc: "Largest size the partition may grow to before old segments are deleted; -1 means unlimited" },
    KeyDef { name: "retention.ms", default: "604800000", kind: Kind::Long { min: -1, max: i64::MAX },
        doc: "How long a segment is kept after its newest record; -1 means forever" },
    KeyDef { name: "segment.bytes", default: "1073741824", kind: Kind::Long { min: 14, max: I32_MAX },
        doc: "Size at which the active segment is rolled" },
    KeyDef { name: "segment.index.bytes", default: "10485760", kind: Kind::Long { min: 4, max: I32_MAX },
        doc: "Informative: Fjord's indexes grow as needed" },
    KeyDef { name: "segment.jitter.ms", default: "0", kind: Kind::Long { min: 0, max: i64::MAX },
        doc: "Informative: Fjord rolls without jitter" },
    KeyDef { name: "segment.ms", default: "604800000", kind: Kind::Long { min: 1, max: i64::MAX },
        doc: "Age at which the active segment is rolled even if not full" },
    KeyDef { name: "unclean.leader.election.enable", default: "false", kind: Kind::Bool,
        doc: "Informative: a single node has no other replica to elect" },
];

/// Topic configs that Kafka 3.9 still accepts but no longer acts on (they
/// went with the old message formats). Tools and client test suites still
/// set them (librdkafka's test 0092 sets message.format.version), so they
/// are accepted and ignored with a warning rather than refused as unknown;
/// they are not stored, so DescribeConfigs does not list them.
const DEPRECATED_IGNORED: &[&str] = &[
    "message.format.version",
    "message.downconversion.enable",
    "message.timestamp.difference.max.ms",
];

fn key_def(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}

/// Validates `value` for `def` and returns its canonical spelling.
fn validate(def: &KeyDef, value: &str) -> Result<String> {
    let bad = |reason: String| LogError::InvalidConfig {
        key: def.name.to_string(),
        reason,
    };
    let v = value.trim();
    match def.kind {
        Kind::Long { min, max } => {
            let n: i64 = v
                .parse()
                .map_err(|_| bad(format!("'{value}' is not an integer")))?;
            if n < min || n > max {
                return Err(bad(format!("{n} is outside [{min}, {max}]")));
            }
            Ok(n.to_string())
        }
        Kind::Ratio => {
            let f: f64 = v
                .parse()
                .map_err(|_| bad(format!("'{value}' is not a number")))?;
            if !(0.0..=1.0).contains(&f) {
                return Err(bad(format!("{f} is outside [0, 1]")));
            }
            Ok(v.to_string())
        }
        Kind::OneOf(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(v))
            .map(|w| w.to_string())
            .ok_or_else(|| bad(format!("'{value}' is not one of {}", words.join(", ")))),
        Kind::Cleanup => parse_cleanup(v)
            .map(|p| p.as_str().to_string())
            .ok_or_else(|| {
                bad(format!(
                    "'{value}' is not delete, compact or compact,delete"
                ))
            }),
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" => Ok("true".into()),
            "false" => Ok("false".into()),
            _ => Err(bad(format!("'{value}' is not true or false"))),
        },
    }
}

fn parse_cleanup(v: &str) -> Option<CleanupPolicy> {
    let (mut delete, mut compact) = (false, false);
    for word in v.split(',').map(str::trim) {
        match word.to_ascii_lowercase().as_str() {
            "delete" => delete = true,
            "compact" => compact = true,
            _ => return None,
        }
    }
    match (compact, delete) {
        (true, true) => Some(CleanupPolicy::CompactDelete),
        (true, false) => Some(CleanupPolicy::Compact),
        (false, true) => Some(CleanupPolicy::Delete),
        (false, false) => None,
    }
}

/// A validated set of topic configs.
///
/// Typed copies of the values the log acts on are cached beside the string
/// map, so hot paths (append checks max.message.bytes) do not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Effective value of every known key, canonical spelling.
    values: BTreeMap<&'static str, String>,
    /// The keys set explicitly on this topic, as validated strings.
    overrides: BTreeMap<String, String>,
    cleanup_policy: CleanupPolicy,
    retention_ms: i64,
    retention_bytes: i64,
    segment_bytes: u64,
    segment_ms: i64,
    max_message_bytes: usize,
    index_interval_bytes: u64,
    timestamp_type: TimestampType,
    min_insync_replicas: i32,
    delete_retention_ms: i64,
    min_compaction_lag_ms: i64,
    min_cleanable_dirty_ratio: f64,
    /// Not a topic config: the broker's producer.id.expiration.ms, carried
    /// here because recovery and expiry both need it and every partition's
    /// config derives from the broker's defaults. Never described, never
    /// set by a topic override.
    producer_id_expiration_ms: i64,
}

/// Kafka's producer.id.expiration.ms default: one day.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

impl Default for LogConfig {
    /// Kafka's defaults for every key.
    fn default() -> LogConfig {
        let mut config = LogConfig {
            values: BTreeMap::new(),
            overrides: BTreeMap::new(),
            cleanup_policy: CleanupPolicy::Delete,
            retention_ms: 0,
            retention_bytes: 0,
            segment_bytes: 0,
            segment_ms: 0,
            max_message_bytes: 0,
            index_interval_bytes: 0,
            timestamp_type: TimestampType::CreateTime,
            min_insync_replicas: 1,
            delete_retention_ms: 0,
            min_compaction_lag_ms: 0,
            min_cleanable_dirty_ratio: 0.5,
            producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        };
        for def in KEYS {
            config.apply(def, def.default.to_string());
        }
        config
    }
}

impl LogConfig {
    /// `base` with `overrides` applied on top. Every key must be known and
    /// every value valid, or nothing is applied. The base's own overrides
    /// are kept (a later key wins), so sources stay right when layering.
    pub fn with_overrides(
        base: &LogConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig> {
        let mut config = base.clone();
        for (key, value) in overrides {
            if DEPRECATED_IGNORED.contains(&key.as_str()) {
                tracing::warn!(config = %key, %value, "deprecated topic config accepted and ignored");
                continue;
            }
            let def = key_def(key).ok_or_else(|| LogError::InvalidConfig {
                key: key.clone(),
                reason: "unknown topic config".into(),
            })?;
            let canonical = validate(def, value)?;
            config.overrides.insert(key.clone(), canonical.clone());
            config.apply(def, canonical);
        }
        Ok(config)
    }

    /// Convenience for one override: `LogConfig::default().with("segment.bytes", "1024")`.
    pub fn with(&self, key: &str, value: &str) -> Result<LogConfig> {
        let mut map = BTreeMap::new();
        map.insert(key.to_string(), value.to_string());
        LogConfig::with_overrides(self, &map)
    }

    /// This config with idle producers forgotten after `ms` (Kafka's
    /// broker setting producer.id.expiration.ms; see
    /// [`LogConfig::producer_id_expiration_ms`]).
    pub fn with_producer_id_expiration_ms(mut self, ms: i64) -> LogConfig {
        self.producer_id_expiration_ms = ms;
        self
    }

    /// The keys set on this topic (not defaults), canonical spelling.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// The overrides as JSON, for the broker's topic metadata.
    pub fn overrides_json(&self) -> String {
        // A BTreeMap<String, String> always serializes.
        serde_json::to_string(&self.overrides).unwrap_or_else(|_| "{}".into())
    }

    /// Parses overrides saved by [`LogConfig::overrides_json`] onto `base`.
    pub fn from_overrides_json(base: &LogConfig, json: &str) -> Result<LogConfig> {
        let map: BTreeMap<String, String> =
            serde_json::from_str(json).map_err(|e| LogError::InvalidConfig {
                key: "<overrides>".into(),
                reason: format!("not a JSON object of strings: {e}"),
            })?;
        LogConfig::with_overrides(base, &map)
    }

    /// Every known key with its value and source, for DescribeConfigs.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        KEYS.iter()
            .map(|def| ConfigEntry {
                name: def.name.to_string(),
                value: self.values.get(def.name).cloned().unwrap_or_default(),
                source: if self.overrides.contains_key(def.name) {
                    ConfigSource::DynamicTopic
                } else {
                    ConfigSource::Default
                },
                read_only: false,
                sensitive: false,
                documentation: def.doc.to_string(),
            })
            .collect()
    }

    /// Whether `name` is a topic config Fjord knows.
    pub fn is_known_key(name: &str) -> bool {
        key_def(name).is_some()
    }

    /// The effective value of a key as a string.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Records an already validated value and refreshes the typed cache.
    fn apply(&mut self, def: &'static KeyDef, value: String) {
        let long = || value.parse::<i64>().unwrap_or(0);
        match def.name {
            "cleanup.policy" => {
                self.cleanup_policy = parse_cleanup(&value).unwrap_or(CleanupPolicy::Delete)
            }
            "retention.ms" => self.retention_ms = long(),
            "retention.bytes" => self.retention_bytes = long(),
            "segment.bytes" => self.segment_bytes = long() as u64,
            "segment.ms" => self.segment_ms = long(),
            "max.message.bytes" => self.max_message_bytes = long() as usize,
            "index.interval.bytes" => self.index_interval_bytes = long() as u64,
            "message.timestamp.type" => {
                self.timestamp_type = if value == "LogAppendTime" {
                    TimestampType::LogAppendTime
                } else {
                    TimestampType::CreateTime
                }
            }
            "min.insync.replicas" => self.min_insync_replicas = long() as i32,
            "delete.retention.ms" => self.delete_retention_ms = long(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = long(),
            "min.cleanable.dirty.ratio" => {
                self.min_cleanable_dirty_ratio = value.parse().unwrap_or(0.5)
            }
            _ => {}
        }
        self.values.insert(def.name, value);
    }

    pub fn cleanup_policy(&self) -> CleanupPolicy {
        self.cleanup_policy
    }
    /// -1 means keep forever.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }
    /// -1 means unlimited.
    pub fn retention_bytes(&self) -> i64 {
        self.retention_bytes
    }
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }
    pub fn segment_ms(&self) -> i64 {
        self.segment_ms
    }
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }
    pub fn index_interval_bytes(&self) -> u64 {
        self.index_interval_bytes
    }
    pub fn message_timestamp_type(&self) -> TimestampType {
        self.timestamp_type
    }
    pub fn min_insync_replicas(&self) -> i32 {
        self.min_insync_replicas
    }
    pub fn delete_retention_ms(&self) -> i64 {
        self.delete_retention_ms
    }
    pub fn min_compaction_lag_ms(&self) -> i64 {
        self.min_compaction_lag_ms
    }
    pub fn min_cleanable_dirty_ratio(&self) -> f64 {
        self.min_cleanable_dirty_ratio
    }
    /// How long a producer with no open transaction keeps its idempotence
    /// state after its last batch's timestamp (a broker-wide setting, kept
    /// by every config layered on the broker's defaults).
    pub fn producer_id_expiration_ms(&self) -> i64 {
        self.producer_id_expiration_ms
    }
    /// Longest a record may stay uncompacted (i64::MAX: no limit).
    pub fn max_compaction_lag_ms(&self) -> i64 {
        self.get("max.compaction.lag.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX)
    }
    /// compression.type as configured. Fjord stores batches as producers
    /// compressed them; the cleaner keeps each rewritten batch's codec.
    pub fn compression_type(&self) -> &str {
        self.get("compression.type").unwrap_or("producer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka() {
        let c = LogConfig::default();
        assert_eq!(c.retention_ms(), 604_800_000);
        assert_eq!(c.retention_bytes(), -1);
        assert_eq!(c.segment_bytes(), 1_073_741_824);
        assert_eq!(c.segment_ms(), 604_800_000);
        assert_eq!(c.max_message_bytes(), 1_048_588);
        assert_eq!(c.index_interval_bytes(), 4096);
        assert_eq!(c.cleanup_policy(), CleanupPolicy::Delete);
        assert_eq!(c.message_timestamp_type(), TimestampType::CreateTime);
        assert_eq!(c.get("flush.ms"), Some("9223372036854775807"));
        assert!(c.overrides().is_empty());
        assert_eq!(c.producer_id_expiration_ms(), 86_400_000);
    }

    #[test]
    fn producer_id_expiration_is_kept_by_topic_overrides_and_not_described() {
        let broker = LogConfig::default().with_producer_id_expiration_ms(5_000);
        let topic = broker.with("retention.ms", "1000").unwrap();
        assert_eq!(topic.producer_id_expiration_ms(), 5_000);
        let json = topic.overrides_json();
        let back = LogConfig::from_overrides_json(&broker, &json).unwrap();
        assert_eq!(back.producer_id_expiration_ms(), 5_000);
        assert!(!json.contains("producer"), "not a topic override: {json}");
        assert!(topic
            .describe()
            .iter()
            .all(|e| !e.name.contains("producer.id")));
        assert!(!LogConfig::is_known_key("producer.id.expiration.ms"));
    }

    #[test]
    fn overrides_validate_and_describe_sources() {
        let mut m = BTreeMap::new();
        m.insert("retention.ms".to_string(), "1000".to_string());
        m.insert("cleanup.policy".to_string(), "delete, compact".to_string());
        let c = LogConfig::with_overrides(&LogConfig::default(), &m).unwrap();
        assert_eq!(c.retention_ms(), 1000);
        assert_eq!(c.cleanup_policy(), CleanupPolicy::CompactDelete);
        let d = c.describe();
        let r = d.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!(
            (r.value.as_str(), r.source),
            ("1000", ConfigSource::DynamicTopic)
        );
        let s = d.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(s.source, ConfigSource::Default);
        assert_eq!(c.overrides()["cleanup.policy"], "compact,delete");
        let back =
            LogConfig::from_overrides_json(&LogConfig::default(), &c.overrides_json()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let d = LogConfig::default();
        for (k, v) in [
            ("no.such.key", "1"),
            ("retention.ms", "-2"),
            ("retention.ms", "soon"),
            ("segment.bytes", "3000000000"),
            ("cleanup.policy", "shred"),
            ("message.timestamp.type", "Now"),
            ("min.cleanable.dirty.ratio", "1.5"),
        ] {
            match d.with(k, v) {
                Err(LogError::InvalidConfig { key, .. }) => assert_eq!(key, k),
                other => panic!("{k}={v} gave {other:?}"),
            }
        }
        assert!(LogConfig::is_known_key("max.message.bytes"));
        assert!(!LogConfig::is_known_key("log.retention.hours"));
    }

    #[test]
    fn deprecated_message_format_configs_are_accepted_and_ignored() {
        let d = LogConfig::default();
        for k in DEPRECATED_IGNORED {
            let c = d.with(k, "0.10.0").unwrap();
            assert_eq!(c, d, "{k} changes nothing");
            assert!(
                c.describe().iter().all(|e| e.name != *k),
                "{k} is not listed"
            );
        }
        // Next to a real setting, the real one still applies.
        let mut both = BTreeMap::new();
        both.insert("message.format.version".to_string(), "2.8".to_string());
        both.insert("retention.ms".to_string(), "1000".to_string());
        let c = LogConfig::with_overrides(&d, &both).unwrap();
        assert_eq!(c.retention_ms(), 1000);
        assert_eq!(c.overrides().len(), 1);
    }
}
