//! `InsertHeader` (adds `header` with the text `value.literal`) and
//! `DropHeaders` (removes every header named in `headers`).
//!
//! Headers are raw bytes here; Kafka Connect's default header converter
//! (`SimpleHeaderConverter`) writes a literal as its text, so the header
//! holds the literal's UTF-8 bytes.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};
use crate::record::{ConnectRecord, Header};

use super::util::Side;
use super::Transform;

pub fn insert_header_config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "header",
            ConfigType::String,
            Importance::High,
            "The name of the header.",
        ))
        .define(ConfigKey::new(
            "value.literal",
            ConfigType::String,
            Importance::High,
            "The literal value that is to be set as the header value on all records.",
        ))
}

pub fn drop_headers_config_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "headers",
        ConfigType::List,
        Importance::High,
        "The name of the headers to be removed.",
    ))
}

fn missing(key: &str) -> ConnectError {
    ConnectError::config(
        key,
        "null",
        format!("Missing required configuration \"{key}\" which has no default value."),
    )
}

pub struct InsertHeader {
    header: String,
    value: Vec<u8>,
}

pub fn build_insert_header(config: &Config, _side: Side) -> Result<Box<dyn Transform>> {
    let header = config.string("header").ok_or_else(|| missing("header"))?;
    let value = config
        .get("value.literal")
        .ok_or_else(|| missing("value.literal"))?;
    Ok(Box::new(InsertHeader {
        header: header.to_string(),
        value: value.as_bytes().to_vec(),
    }))
}

impl Transform for InsertHeader {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        record.headers.push(Header {
            key: self.header.clone(),
            value: Some(self.value.clone()),
        });
        Ok(Some(record))
    }
}

pub struct DropHeaders {
    headers: Vec<String>,
}

pub fn build_drop_headers(config: &Config, _side: Side) -> Result<Box<dyn Transform>> {
    let headers = config.list("headers");
    if headers.is_empty() {
        return Err(missing("headers"));
    }
    Ok(Box::new(DropHeaders { headers }))
}

impl Transform for DropHeaders {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        record.headers.retain(|h| !self.headers.contains(&h.key));
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;

    fn header(key: &str, value: &str) -> Header {
        Header {
            key: key.into(),
            value: Some(value.as_bytes().to_vec()),
        }
    }

    #[test]
    fn insert_header_adds_the_literal() {
        let cfg = Config::from_pairs([("header", "source"), ("value.literal", "db-1")]);
        let mut t = build_insert_header(&cfg, Side::Value).unwrap();
        let r = ConnectRecord::new("t", None, Value::Null, None, Value::Null);
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.headers, vec![header("source", "db-1")]);
        assert!(build_insert_header(&Config::from_pairs([("header", "h")]), Side::Value).is_err());
    }

    #[test]
    fn drop_headers_removes_every_named_header() {
        let cfg = Config::from_pairs([("headers", "a, b")]);
        let mut t = build_drop_headers(&cfg, Side::Value).unwrap();
        let mut r = ConnectRecord::new("t", None, Value::Null, None, Value::Null);
        r.headers = vec![
            header("a", "1"),
            header("c", "2"),
            header("b", "3"),
            header("a", "4"),
        ];
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.headers, vec![header("c", "2")]);
        assert!(build_drop_headers(&Config::default(), Side::Value).is_err());
    }
}
