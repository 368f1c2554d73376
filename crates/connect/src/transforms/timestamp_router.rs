//! `TimestampRouter`: renames the topic to `topic.format` with `${topic}`
//! and `${timestamp}` (the record's timestamp in `timestamp.format`, a
//! Java `SimpleDateFormat` pattern, in UTC) substituted; for sinks that
//! write one table or index per day.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::java_time_format::JavaDateFormat;
use super::util::Side;
use super::Transform;

const DEFAULT_TOPIC_FORMAT: &str = "${topic}-${timestamp}";
const DEFAULT_TIMESTAMP_FORMAT: &str = "yyyyMMdd";

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "topic.format",
                ConfigType::String,
                Importance::High,
                "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and timestamp, respectively.",
            )
            .default(DEFAULT_TOPIC_FORMAT),
        )
        .define(
            ConfigKey::new(
                "timestamp.format",
                ConfigType::String,
                Importance::High,
                "Format string for the timestamp that is compatible with java.text.SimpleDateFormat.",
            )
            .default(DEFAULT_TIMESTAMP_FORMAT)
            .validator(|v| JavaDateFormat::new(v).map(|_| ())),
        )
}

pub struct TimestampRouter {
    topic_format: String,
    format: JavaDateFormat,
}

pub fn build(config: &Config, _side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(TimestampRouter::new(config)?))
}

impl TimestampRouter {
    pub fn new(config: &Config) -> Result<TimestampRouter> {
        let pattern = config.string_or("timestamp.format", DEFAULT_TIMESTAMP_FORMAT);
        let format = JavaDateFormat::new(pattern)
            .map_err(|m| ConnectError::config("timestamp.format", pattern, m))?;
        Ok(TimestampRouter {
            topic_format: config
                .string_or("topic.format", DEFAULT_TOPIC_FORMAT)
                .to_string(),
            format,
        })
    }
}

impl Transform for TimestampRouter {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let Some(ts) = record.timestamp else {
            return Err(ConnectError::Transform(format!(
                "Timestamp missing on record: topic={} partition={:?}",
                record.topic, record.partition
            )));
        };
        let formatted = self
            .format
            .format_millis(ts)
            .map_err(ConnectError::Transform)?;
        record.topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &formatted);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;

    fn record(ts: Option<i64>) -> ConnectRecord {
        let mut r = ConnectRecord::new("orders", None, Value::Null, None, Value::Null);
        r.timestamp = ts;
        r
    }

    #[test]
    fn defaults_append_the_day() {
        let mut t = TimestampRouter::new(&Config::default()).unwrap();
        // 2024-03-05T07:08:09Z
        let out = t.apply(record(Some(1_709_622_489_000))).unwrap().unwrap();
        assert_eq!(out.topic, "orders-20240305");
    }

    #[test]
    fn custom_formats() {
        // A monthly variant of the defaults, the timestamp first.
        let cfg = Config::from_pairs([
            ("topic.format", "${timestamp}_${topic}"),
            ("timestamp.format", "yyyy-MM"),
        ]);
        let mut t = TimestampRouter::new(&cfg).unwrap();
        let out = t.apply(record(Some(0))).unwrap().unwrap();
        assert_eq!(out.topic, "1970-01_orders");
    }

    #[test]
    fn a_record_without_a_timestamp_is_an_error() {
        let mut t = TimestampRouter::new(&Config::default()).unwrap();
        let err = t.apply(record(None)).unwrap_err().to_string();
        assert!(err.contains("Timestamp missing on record"), "{err}");
    }

    #[test]
    fn a_bad_pattern_is_refused_when_built() {
        let cfg = Config::from_pairs([("timestamp.format", "yyyy-bb")]);
        assert!(TimestampRouter::new(&cfg).is_err());
    }
}
