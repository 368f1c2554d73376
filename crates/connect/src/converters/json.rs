//! `org.apache.kafka.connect.json.JsonConverter`.
//!
//! With `schemas.enable=true` (the default) every message is an envelope
//! `{"schema": <Kafka's JSON schema>, "payload": <the value>}` (see
//! [`json_schema`](super::json_schema)); with `false` it is the bare value,
//! read without a schema (objects become maps with string keys, integers
//! `Int64`, other numbers `Float64`). Bytes are base64 text; a Decimal is
//! base64 of its unscaled bytes, or a JSON number with
//! `decimal.format=NUMERIC`; Date, Time and Timestamp are their integers.
//! A map whose keys are not strings is an array of `[key, value]` pairs.
//!
//! Values are checked against their schema both ways, with Kafka's
//! messages where Kafka has one; where Kafka's Jackson reads a mistyped
//! value leniently (an int32 field holding `"abc"` reads as 0), this
//! refuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use base64::Engine as _;

use super::json_schema::{to_connect_schema, to_json_schema};
use super::json_text::Json;
use super::{conversion, decimal, Converter};
use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{logical, Schema, SchemaRef, SchemaType, Struct, Value};
use crate::error::Result;

/// Kafka's message when `schemas.enable=true` meets data without the
/// envelope.
pub const ENVELOPE_ERROR: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// How values are written and read, shared with the JSON Schema converter.
#[derive(Debug, Clone, Copy)]
pub struct JsonOptions {
    /// Decimals as JSON numbers (`decimal.format=NUMERIC`) instead of
    /// base64 of their unscaled bytes.
    pub decimal_numeric: bool,
    /// A null with a schema default reads and writes as the default
    /// (`replace.null.with.default`).
    pub replace_null_with_default: bool,
    /// Maps with non-string keys as `{"key":k,"value":v}` objects (the
    /// JSON Schema converter) instead of `[k, v]` pairs (JsonConverter).
    pub map_entries_as_objects: bool,
}

impl Default for JsonOptions {
    fn default() -> JsonOptions {
        JsonOptions {
            decimal_numeric: false,
            replace_null_with_default: true,
            map_entries_as_objects: false,
        }
    }
}

/// JsonConverter's settings, with Kafka's names and defaults.
pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "schemas.enable",
                ConfigType::Boolean,
                Importance::High,
                "Include schemas within each of the serialized values and keys.",
            )
            .default("true"),
        )
        .define(
            ConfigKey::new(
                "schemas.cache.size",
                ConfigType::Int,
                Importance::High,
                "The maximum number of schemas that can be cached in this converter instance.",
            )
            .default("1000"),
        )
        .define(
            ConfigKey::new(
                "decimal.format",
                ConfigType::String,
                Importance::Low,
                "Controls which format this converter will serialize decimals in. This value is \
                 case insensitive and can be either 'BASE64' (default) or 'NUMERIC'",
            )
            .default("BASE64")
            .one_of(&["BASE64", "NUMERIC"]),
        )
        .define(
            ConfigKey::new(
                "replace.null.with.default",
                ConfigType::Boolean,
                Importance::Low,
                "Whether to replace fields that have a default value and that are null to the \
                 default value. When set to true, the default value is used, otherwise null is \
                 used.",
            )
            .default("true"),
        )
}

/// `JsonConverter`.
pub struct JsonConverter {
    schemas_enabled: bool,
    opts: JsonOptions,
    cache_size: usize,
    /// Schemas read, by their JSON text: records of a topic share one
    /// `Arc` and the schema is parsed once.
    schemas: Mutex<HashMap<String, SchemaRef>>,
    /// Schemas written, as envelope text, by the address of the Connect
    /// schema (a source's records share one `Arc`); the weak reference
    /// tells a live entry from a reused address.
    written: Mutex<HashMap<usize, (Weak<Schema>, String)>>,
}

impl JsonConverter {
    pub fn new(settings: &Config) -> Result<JsonConverter> {
        let format = settings.choice_or("decimal.format", &["base64", "numeric"], "BASE64")?;
        Ok(JsonConverter {
            schemas_enabled: settings.bool_or("schemas.enable", true)?,
            opts: JsonOptions {
                decimal_numeric: format == "numeric",
                replace_null_with_default: settings.bool_or("replace.null.with.default", true)?,
                map_entries_as_objects: false,
            },
            cache_size: settings.i32_or("schemas.cache.size", 1000)?.max(0) as usize,
            schemas: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
        })
    }

    fn schema_of(&self, json: &Json) -> Result<Option<SchemaRef>> {
        if matches!(json, Json::Null) {
            return Ok(None);
        }
        let key = json.to_text();
        if let Some(s) = self.schemas.lock().unwrap().get(&key) {
            return Ok(Some(s.clone()));
        }
        let schema = to_connect_schema(json, &self.opts)?;
        if let Some(s) = &schema {
            let mut cache = self.schemas.lock().unwrap();
            if cache.len() >= self.cache_size {
                cache.clear();
            }
            if self.cache_size > 0 {
                cache.insert(key, s.clone());
            }
        }
        Ok(schema)
    }

    /// The envelope's `"schema"` text for `schema`, built once per schema.
    fn schema_text(&self, schema: Option<&SchemaRef>) -> Result<String> {
        let Some(schema) = schema else {
            return Ok("null".to_string());
        };
        let key = Arc::as_ptr(schema) as usize;
        if let Some((weak, text)) = self.written.lock().unwrap().get(&key) {
            if weak.upgrade().is_some_and(|s| Arc::ptr_eq(&s, schema)) {
                return Ok(text.clone());
            }
        }
        let text = to_json_schema(Some(schema), &self.opts)?.to_text();
        let mut cache = self.written.lock().unwrap();
        if cache.len() >= self.cache_size {
            cache.clear();
        }
        if self.cache_size > 0 {
            cache.insert(key, (Arc::downgrade(schema), text.clone()));
        }
        Ok(text)
    }
}

impl Converter for JsonConverter {
    fn to_connect(&self, _topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)> {
        // A tombstone (and an empty message) is a null without a schema.
        let Some(data) = data.filter(|d| !d.is_empty()) else {
            return Ok((None, Value::Null));
        };
        let json = Json::parse(data).map_err(|e| {
            conversion(format!(
                "Converting byte[] to Kafka Connect data failed due to serialization error: {e}"
            ))
        })?;
        if !self.schemas_enabled {
            return Ok((None, to_connect_value(None, &json, &self.opts)?));
        }
        let (schema, payload) = match &json {
            Json::Object(members) if members.len() == 2 => {
                match (json.get("schema"), json.get("payload")) {
                    (Some(s), Some(p)) => (s, p),
                    _ => return Err(conversion(ENVELOPE_ERROR)),
                }
            }
            _ => return Err(conversion(ENVELOPE_ERROR)),
        };
        let schema = self.schema_of(schema)?;
        let value = to_connect_value(schema.as_ref(), payload, &self.opts)?;
        Ok((schema, value))
    }

    fn from_connect(
        &self,
        _topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>> {
        if schema.is_none() && value.is_null() {
            return Ok(None);
        }
        let payload = to_json(schema.map(|s| &**s), value, &self.opts)?.to_text();
        if !self.schemas_enabled {
            return Ok(Some(payload.into_bytes()));
        }
        let schema_text = self.schema_text(schema)?;
        let envelope = format!("{{\"schema\":{schema_text},\"payload\":{payload}}}");
        Ok(Some(envelope.into_bytes()))
    }
}

/// The Java class Kafka's messages name for a value of this variant.
pub(crate) fn java_class(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "class java.lang.Boolean",
        Value::Int8(_) => "class java.lang.Byte",
        Value::Int16(_) => "class java.lang.Short",
        Value::Int32(_) => "class java.lang.Integer",
        Value::Int64(_) => "class java.lang.Long",
        Value::Float32(_) => "class java.lang.Float",
        Value::Float64(_) => "class java.lang.Double",
        Value::String(_) => "class java.lang.String",
        Value::Bytes(_) => "class [B",
        Value::Array(_) => "class java.util.ArrayList",
        Value::Map(_) => "class java.util.HashMap",
        Value::Struct(_) => "class org.apache.kafka.connect.data.Struct",
    }
}

fn is_decimal(schema: &Schema) -> bool {
    schema.name.as_deref() == Some(logical::DECIMAL)
}

/// Whether a struct value's schema is the schema it is written with: the
/// same name and fields (defaults aside: a struct default holds the
/// schema without its default).
pub(crate) fn same_struct(a: &Schema, b: &Schema) -> bool {
    a.name == b.name
        && a.fields.len() == b.fields.len()
        && a.fields.iter().zip(&b.fields).all(|(x, y)| {
            x.name == y.name
                && (x.schema == y.schema
                    || (x.schema.kind == SchemaType::Struct && same_struct(&x.schema, &y.schema)))
        })
}

/// A Connect value as JSON (Kafka's `convertToJson`). A null without a
/// schema is JSON null (the caller turns a top-level one into no bytes).
pub fn to_json(schema: Option<&Schema>, value: &Value, opts: &JsonOptions) -> Result<Json> {
    if value.is_null() {
        let Some(schema) = schema else {
            return Ok(Json::Null);
        };
        if opts.replace_null_with_default {
            if let Some(default) = schema.default.as_ref().filter(|d| !d.is_null()) {
                return to_json(Some(schema), default, opts);
            }
        }
        if schema.optional {
            return Ok(Json::Null);
        }
        return Err(conversion(
            "Conversion error: null value for field that is required and has no default value",
        ));
    }
    if let Some(schema) = schema.filter(|s| is_decimal(s)) {
        let Value::Bytes(unscaled) = value else {
            return Err(conversion(format!(
                "Invalid type for Decimal, expected BigDecimal but was {}",
                java_class(value)
            )));
        };
        let scale = decimal::scale_of(schema).map_err(conversion)?;
        return Ok(if opts.decimal_numeric {
            Json::Number(decimal::to_text(unscaled, scale))
        } else {
            Json::String(B64.encode(unscaled))
        });
    }
    let kind = match schema {
        Some(s) => s.kind,
        None => value.inferred_type().expect("null handled above"),
    };
    let mismatch = || {
        conversion(format!(
            "Invalid type for {}: {}",
            kind.name().to_ascii_uppercase(),
            java_class(value)
        ))
    };
    fn element(s: Option<&SchemaRef>) -> Option<&Schema> {
        s.map(|s| &**s)
    }
    Ok(match (kind, value) {
        (SchemaType::Boolean, Value::Boolean(b)) => Json::Bool(*b),
        (SchemaType::Int8, Value::Int8(v)) => Json::int((*v).into()),
        (SchemaType::Int16, Value::Int16(v)) => Json::int((*v).into()),
        (SchemaType::Int32, Value::Int32(v)) => Json::int((*v).into()),
        (SchemaType::Int64, Value::Int64(v)) => Json::int(*v),
        (SchemaType::Float32, Value::Float32(v)) => Json::float32(*v),
        (SchemaType::Float64, Value::Float64(v)) => Json::float(*v),
        (SchemaType::String, Value::String(s)) => Json::str(s),
        (SchemaType::Bytes, Value::Bytes(b)) => Json::String(B64.encode(b)),
        (SchemaType::Array, Value::Array(items)) => {
            let items_schema = schema.and_then(|s| element(s.value_schema.as_ref()));
            Json::Array(
                items
                    .iter()
                    .map(|v| to_json(items_schema, v, opts))
                    .collect::<Result<_>>()?,
            )
        }
        (SchemaType::Map, Value::Map(entries)) => {
            let (ks, vs) = match schema {
                Some(s) => (
                    element(s.key_schema.as_ref()),
                    element(s.value_schema.as_ref()),
                ),
                None => (None, None),
            };
            let object_mode = match ks {
                Some(k) => k.kind == SchemaType::String,
                None => entries.iter().all(|(k, _)| matches!(k, Value::String(_))),
            };
            if object_mode {
                let mut members = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let Value::String(k) = k else {
                        return Err(conversion(format!(
                            "Invalid type for STRING: {}",
                            java_class(k)
                        )));
                    };
                    members.push((k.clone(), to_json(vs, v, opts)?));
                }
                Json::Object(members)
            } else {
                let mut pairs = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let (k, v) = (to_json(ks, k, opts)?, to_json(vs, v, opts)?);
                    pairs.push(if opts.map_entries_as_objects {
                        Json::Object(vec![("key".into(), k), ("value".into(), v)])
                    } else {
                        Json::Array(vec![k, v])
                    });
                }
                Json::Array(pairs)
            }
        }
        (SchemaType::Struct, Value::Struct(s)) => {
            if let Some(schema) = schema {
                if !same_struct(schema, &s.schema) {
                    return Err(conversion("Mismatching schema."));
                }
            }
            let mut members = Vec::with_capacity(s.values.len());
            for (field, v) in s.iter() {
                members.push((field.name.clone(), to_json(Some(&field.schema), v, opts)?));
            }
            Json::Object(members)
        }
        _ => return Err(mismatch()),
    })
}

/// JSON as a Connect value of `schema` (Kafka's `convertToConnect`);
/// without a schema, JSON's own shapes.
pub fn to_connect_value(
    schema: Option<&SchemaRef>,
    json: &Json,
    opts: &JsonOptions,
) -> Result<Value> {
    let Some(schema) = schema else {
        return Ok(schemaless(json));
    };
    if matches!(json, Json::Null) {
        if opts.replace_null_with_default {
            if let Some(default) = schema.default.as_ref().filter(|d| !d.is_null()) {
                return Ok(default.clone());
            }
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        return Err(conversion(format!(
            "Invalid null value for required {} field",
            schema.kind.name().to_ascii_uppercase()
        )));
    }
    let expected = |what: &str| {
        conversion(format!(
            "Expected {what} for a {} schema but found {}: {}",
            schema.kind.name(),
            json.node_type(),
            clip(&json.to_text())
        ))
    };
    if is_decimal(schema) {
        let scale = decimal::scale_of(schema).map_err(conversion)?;
        return Ok(Value::Bytes(match json {
            Json::Number(n) => decimal::from_text(n, scale).map_err(conversion)?,
            Json::String(s) => decimal::minimal(&base64(s)?),
            _ => return Err(expected("a number or base64 text")),
        }));
    }
    let int = |min: i64, max: i64| -> Result<i64> {
        let v = json
            .as_i64()
            .or_else(|| json.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| expected("an integer"))?;
        if v < min || v > max {
            return Err(conversion(format!(
                "{v} is out of range for a {} schema",
                schema.kind.name()
            )));
        }
        Ok(v)
    };
    Ok(match schema.kind {
        SchemaType::Boolean => Value::Boolean(json.as_bool().ok_or_else(|| expected("a boolean"))?),
        SchemaType::Int8 => Value::Int8(int(i8::MIN.into(), i8::MAX.into())? as i8),
        SchemaType::Int16 => Value::Int16(int(i16::MIN.into(), i16::MAX.into())? as i16),
        SchemaType::Int32 => Value::Int32(int(i32::MIN.into(), i32::MAX.into())? as i32),
        SchemaType::Int64 => Value::Int64(int(i64::MIN, i64::MAX)?),
        SchemaType::Float32 => {
            Value::Float32(json.as_f64().ok_or_else(|| expected("a number"))? as f32)
        }
        SchemaType::Float64 => Value::Float64(json.as_f64().ok_or_else(|| expected("a number"))?),
        SchemaType::String => Value::String(
            json.as_str()
                .ok_or_else(|| expected("a string"))?
                .to_string(),
        ),
        SchemaType::Bytes => Value::Bytes(base64(
            json.as_str().ok_or_else(|| expected("base64 text"))?,
        )?),
        SchemaType::Array => {
            let Json::Array(items) = json else {
                return Err(expected("an array"));
            };
            let items_schema = schema.value_schema.as_ref();
            Value::Array(
                items
                    .iter()
                    .map(|j| to_connect_value(items_schema, j, opts))
                    .collect::<Result<_>>()?,
            )
        }
        SchemaType::Map => to_connect_map(schema, json, opts)?,
        SchemaType::Struct => {
            if !matches!(json, Json::Object(_)) {
                return Err(conversion(format!(
                    "Structs should be encoded as JSON objects, but found {}",
                    json.node_type()
                )));
            }
            let mut s = Struct::new(schema.clone());
            for field in &schema.fields {
                let j = json.get(&field.name).unwrap_or(&Json::Null);
                s.values[field.index] = to_connect_value(Some(&field.schema), j, opts)?;
            }
            Value::Struct(s)
        }
    })
}

fn to_connect_map(schema: &Schema, json: &Json, opts: &JsonOptions) -> Result<Value> {
    let ks = schema.key_schema.as_ref();
    let vs = schema.value_schema.as_ref();
    let string_keys = ks.is_none_or(|k| k.kind == SchemaType::String);
    let mut out = Vec::new();
    match json {
        Json::Object(members) if string_keys => {
            for (k, v) in members {
                out.push((Value::String(k.clone()), to_connect_value(vs, v, opts)?));
            }
        }
        Json::Array(entries) if !string_keys => {
            for entry in entries {
                let (k, v) = match entry {
                    Json::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    Json::Array(pair) => {
                        return Err(conversion(format!(
                            "Found invalid map entry, expected length 2 but found :{}",
                            pair.len()
                        )))
                    }
                    Json::Object(_) if opts.map_entries_as_objects => (
                        entry.get("key").unwrap_or(&Json::Null),
                        entry.get("value").unwrap_or(&Json::Null),
                    ),
                    other => {
                        return Err(conversion(format!(
                            "Found invalid map entry instead of array tuple: {}",
                            other.node_type()
                        )))
                    }
                };
                out.push((
                    to_connect_value(ks, k, opts)?,
                    to_connect_value(vs, v, opts)?,
                ));
            }
        }
        other => {
            return Err(conversion(format!(
                "Maps with {} keys should be encoded as JSON {}, but found {}",
                if string_keys { "string" } else { "non-string" },
                if string_keys { "objects" } else { "arrays" },
                other.node_type()
            )))
        }
    }
    Ok(Value::Map(out))
}

/// JSON read without a schema: Kafka's shapes.
fn schemaless(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match json.as_i64().filter(|_| json.is_integral()) {
            Some(i) => Value::Int64(i),
            None => Value::Float64(n.parse().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(schemaless).collect()),
        Json::Object(members) => Value::Map(
            members
                .iter()
                .map(|(k, v)| (Value::String(k.clone()), schemaless(v)))
                .collect(),
        ),
    }
}

fn base64(text: &str) -> Result<Vec<u8>> {
    B64.decode(text)
        .map_err(|e| conversion(format!("Invalid bytes field: {e}")))
}

/// The first 100 characters of JSON text, for messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// A converter built for tests and examples from `key=value` pairs.
#[cfg(test)]
pub(crate) fn converter(pairs: &[(&str, &str)]) -> JsonConverter {
    JsonConverter::new(&Config::from_pairs(pairs.iter().copied())).unwrap()
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
