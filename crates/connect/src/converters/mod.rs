//! Converters between Kafka's bytes and Connect's data model
//! (`key.converter`, `value.converter`).
//!
//! A worker builds one converter for keys and one for values per
//! connector with [`build_converter`], from the class name users put in
//! `key.converter` / `value.converter` and the settings under that prefix
//! (`value.converter.schemas.enable=false` arrives as
//! `schemas.enable=false`). Source tasks' records go through
//! [`Converter::from_connect`] on their way to Kafka; records read for
//! sink tasks go through [`Converter::to_connect`].
//!
//! - [`json`]: `JsonConverter`, with or without the schema envelope
//!   ([`json_schema`] holds its schema format, [`json_text`] its JSON
//!   reader and writer, which keep key order and exact decimals).
//! - [`simple`]: `StringConverter`, `ByteArrayConverter` and the number
//!   converters.
//! - [`avro`] (mapping in [`avro_data`]), [`json_schema_converter`],
//!   [`protobuf`] (mapping in [`protobuf_data`], encoding in
//!   [`protobuf_codec`]): Confluent's registry converters, over Fjord's
//!   registry client ([`registry`] holds what they share).
//!
//! Invariants: `None` bytes (a tombstone, a null key) read as
//! `Value::Null` with every converter, and a null written without a
//! schema is `None` bytes; with a schema, JsonConverter writes the null
//! out (`{"schema":...,"payload":null}`, or `null`) as Kafka's does, the
//! others write `None`. A Decimal is `Value::Bytes` holding the unscaled
//! value as minimal big-endian two's complement (what Java's
//! `BigInteger.toByteArray` gives), so round trips compare equal.

pub mod avro;
pub mod avro_data;
pub mod decimal;
pub mod json;
pub mod json_schema;
pub mod json_schema_converter;
pub mod json_text;
pub mod protobuf;
pub mod protobuf_codec;
pub mod protobuf_data;
pub mod registry;
pub mod simple;

#[cfg(test)]
mod robustness_tests;

use crate::config::Config;
use crate::config_def::ConfigDef;
use crate::data::{SchemaRef, Value};
use crate::error::{ConnectError, Result};

/// `org.apache.kafka.connect.storage.Converter`: turns a topic's key or
/// value bytes into a Connect schema and value, and back.
///
/// The registry converters ([`avro`], [`json_schema_converter`],
/// [`protobuf`]) make blocking HTTP calls the first time they meet a
/// schema, then cache. On a multi-thread tokio runtime they wait through
/// `block_in_place`, so async tasks may call them directly; on a
/// current-thread runtime they block its thread: call them from
/// `spawn_blocking` there.
pub trait Converter: Send + Sync {
    /// Bytes read from `topic` as (schema, value). `None` data (a
    /// tombstone, or a null key) gives `Value::Null`; the schema is then
    /// whatever Kafka's converter of the same class gives (None, or the
    /// converter's fixed optional schema).
    fn to_connect(&self, topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)>;

    /// The bytes to write to `topic` for `value` described by `schema`
    /// (None: schemaless). `Ok(None)` is a null key or value.
    // Named after Kafka's `fromConnectData`, which the runtime's readers
    // know; it converts the arguments, not `self`.
    #[allow(clippy::wrong_self_convention)]
    fn from_connect(
        &self,
        topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>>;
}

/// Kafka's and Confluent's class names for the built-in converters.
pub mod class {
    pub const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";
    pub const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
    pub const BYTE_ARRAY: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";
    pub const BOOLEAN: &str = "org.apache.kafka.connect.converters.BooleanConverter";
    pub const SHORT: &str = "org.apache.kafka.connect.converters.ShortConverter";
    pub const INTEGER: &str = "org.apache.kafka.connect.converters.IntegerConverter";
    pub const LONG: &str = "org.apache.kafka.connect.converters.LongConverter";
    pub const FLOAT: &str = "org.apache.kafka.connect.converters.FloatConverter";
    pub const DOUBLE: &str = "org.apache.kafka.connect.converters.DoubleConverter";
    pub const AVRO: &str = "io.confluent.connect.avro.AvroConverter";
    pub const JSON_SCHEMA: &str = "io.confluent.connect.json.JsonSchemaConverter";
    pub const PROTOBUF: &str = "io.confluent.connect.protobuf.ProtobufConverter";

    /// Every class [`build_converter`](super::build_converter) accepts.
    pub const SUPPORTED: &[&str] = &[
        JSON,
        STRING,
        BYTE_ARRAY,
        BOOLEAN,
        SHORT,
        INTEGER,
        LONG,
        FLOAT,
        DOUBLE,
        AVRO,
        JSON_SCHEMA,
        PROTOBUF,
    ];
}

/// The converter `class` (a fully qualified class name, or its simple
/// name such as `JsonConverter`) with `settings` (the keys under
/// `key.converter.` or `value.converter.`, prefix removed); `is_key` says
/// which side of the record it converts (subject names, and Kafka's
/// `converter.type`).
pub fn build_converter(class: &str, settings: &Config, is_key: bool) -> Result<Box<dyn Converter>> {
    let class = class.trim();
    Ok(match resolve_class(class) {
        Some(class::JSON) => Box::new(json::JsonConverter::new(settings)?),
        Some(class::STRING) => Box::new(simple::StringConverter::new(settings)?),
        Some(class::BYTE_ARRAY) => Box::new(simple::ByteArrayConverter),
        Some(
            c @ (class::BOOLEAN
            | class::SHORT
            | class::INTEGER
            | class::LONG
            | class::FLOAT
            | class::DOUBLE),
        ) => Box::new(simple::NumberConverter::for_class(c)),
        Some(class::AVRO) => Box::new(avro::AvroConverter::new(settings, is_key)?),
        Some(class::JSON_SCHEMA) => Box::new(json_schema_converter::JsonSchemaConverter::new(
            settings, is_key,
        )?),
        Some(class::PROTOBUF) => Box::new(protobuf::ProtobufConverter::new(settings, is_key)?),
        _ => {
            return Err(ConnectError::config(
                "converter",
                class,
                format!(
                    "Class {class} could not be found. Supported converters: {}",
                    class::SUPPORTED.join(", ")
                ),
            ))
        }
    })
}

/// The settings converter `class` declares (for the validate endpoint and
/// `GET /connector-plugins?connectorsOnly=false`); None for an unknown
/// class.
pub fn config_def_for(class: &str) -> Option<ConfigDef> {
    Some(match resolve_class(class.trim())? {
        class::JSON => json::config_def(),
        class::STRING => simple::string_config_def(),
        class::AVRO | class::JSON_SCHEMA | class::PROTOBUF => registry::config_def(),
        _ => ConfigDef::new(),
    })
}

/// The supported class a user's name means: the full name, or the simple
/// name after the last dot.
fn resolve_class(name: &str) -> Option<&'static str> {
    let all = class::SUPPORTED.iter();
    all.clone()
        .find(|c| **c == name)
        .or_else(|| all.clone().find(|c| c.rsplit('.').next() == Some(name)))
        .copied()
}

/// A conversion failure with Kafka's wording.
pub(crate) fn conversion(message: impl Into<String>) -> ConnectError {
    ConnectError::Conversion(message.into())
}

/// An error's own message, without the variant's prefix, for wrapping in
/// another conversion message.
pub(crate) fn message_of(e: ConnectError) -> String {
    match e {
        ConnectError::Conversion(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_found_by_full_or_simple_name() {
        let none = Config::default();
        for c in [
            class::JSON,
            "JsonConverter",
            class::STRING,
            class::BYTE_ARRAY,
            class::LONG,
        ] {
            assert!(build_converter(c, &none, false).is_ok(), "{c}");
        }
        assert!(config_def_for(class::JSON)
            .unwrap()
            .key("schemas.enable")
            .is_some());
        assert!(config_def_for("nope").is_none());
    }

    #[test]
    fn an_unknown_class_is_refused_with_the_supported_list() {
        let err = build_converter("com.example.Nope", &Config::default(), false)
            .err()
            .unwrap();
        assert!(matches!(err, ConnectError::Config { .. }));
        let text = err.to_string();
        assert!(text.contains("com.example.Nope"), "{text}");
        assert!(text.contains(class::AVRO), "{text}");
        // The registry converters need the registry's address.
        let err = build_converter(class::PROTOBUF, &Config::default(), false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("schema.registry.url"), "{err}");
    }
}
