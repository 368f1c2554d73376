//! Kafka Connect's predicates (`org.apache.kafka.connect.transforms.
//! predicates`): `TopicNameMatches` (the whole topic matches `pattern`),
//! `HasHeaderKey` (a header named `name` exists), `RecordIsTombstone`
//! (the value is null).

use regex::Regex;

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::regex_router::full_match;
use super::Predicate;

pub fn topic_name_matches_config_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            "pattern",
            ConfigType::String,
            Importance::Medium,
            "A Java regular expression for matching against the name of a record's topic.",
        )
        .validator(|v| full_match(v).map(|_| ())),
    )
}

pub fn has_header_key_config_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "name",
        ConfigType::String,
        Importance::Medium,
        "The header name.",
    ))
}

pub struct TopicNameMatches {
    pattern: Regex,
}

pub fn build_topic_name_matches(config: &Config) -> Result<Box<dyn Predicate>> {
    let pattern = config.get("pattern").unwrap_or("");
    if pattern.is_empty() {
        return Err(ConnectError::config(
            "pattern",
            "null",
            "Missing required configuration \"pattern\" which has no default value.",
        ));
    }
    let regex = full_match(pattern).map_err(|m| ConnectError::config("pattern", pattern, m))?;
    Ok(Box::new(TopicNameMatches { pattern: regex }))
}

impl Predicate for TopicNameMatches {
    fn test(&self, record: &ConnectRecord) -> bool {
        self.pattern.is_match(&record.topic)
    }
}

pub struct HasHeaderKey {
    name: String,
}

pub fn build_has_header_key(config: &Config) -> Result<Box<dyn Predicate>> {
    let name = config
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ConnectError::config(
                "name",
                "null",
                "Missing required configuration \"name\" which has no default value.",
            )
        })?;
    Ok(Box::new(HasHeaderKey {
        name: name.to_string(),
    }))
}

impl Predicate for HasHeaderKey {
    fn test(&self, record: &ConnectRecord) -> bool {
        record.headers.iter().any(|h| h.key == self.name)
    }
}

pub struct RecordIsTombstone;

pub fn build_record_is_tombstone(_config: &Config) -> Result<Box<dyn Predicate>> {
    Ok(Box::new(RecordIsTombstone))
}

impl Predicate for RecordIsTombstone {
    fn test(&self, record: &ConnectRecord) -> bool {
        record.value.is_null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;
    use crate::record::Header;

    fn record(topic: &str, value: Value) -> ConnectRecord {
        ConnectRecord::new(topic, None, Value::Null, None, value)
    }

    #[test]
    fn topic_name_matches_the_whole_name() {
        let p = build_topic_name_matches(&Config::from_pairs([("pattern", "foo-.*")])).unwrap();
        assert!(p.test(&record("foo-1", Value::Null)));
        assert!(!p.test(&record("a-foo-1", Value::Null)));
        let p = build_topic_name_matches(&Config::from_pairs([("pattern", "foo")])).unwrap();
        assert!(!p.test(&record("foobar", Value::Null)));
        assert!(build_topic_name_matches(&Config::from_pairs([("pattern", "(")])).is_err());
        assert!(build_topic_name_matches(&Config::default()).is_err());
    }

    #[test]
    fn has_header_key_looks_for_the_name() {
        let p = build_has_header_key(&Config::from_pairs([("name", "trace")])).unwrap();
        let mut r = record("t", Value::from("x"));
        assert!(!p.test(&r));
        r.headers.push(Header {
            key: "trace".into(),
            value: None,
        });
        assert!(p.test(&r));
        assert!(build_has_header_key(&Config::default()).is_err());
    }

    #[test]
    fn record_is_tombstone_tests_the_value() {
        let p = build_record_is_tombstone(&Config::default()).unwrap();
        assert!(p.test(&record("t", Value::Null)));
        assert!(!p.test(&record("t", Value::from("x"))));
    }
}
