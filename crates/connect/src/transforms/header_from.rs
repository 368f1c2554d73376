//! `HeaderFrom$Key` / `HeaderFrom$Value`: copies (`operation=copy`) or
//! moves (`operation=move`, removing them from the key or value) the
//! fields `fields` into the headers `headers`, pairwise.
//!
//! Headers are bytes here, so each value is written as Kafka Connect's
//! default header converter (`SimpleHeaderConverter`, through
//! `Values.convertToString`) writes it: a string as itself, a number or
//! boolean as Java prints it, bytes in Base64, a list as `[1,2]`, a map or
//! struct as `{"a":1,"b":"x"}` (strings inside quoted), a null as no value.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{Schema, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::{ConnectRecord, Header};

use super::cast::to_java_string;
use super::util::{
    field_value, map_get, require_map, require_struct, struct_like, SchemaCache, Side,
};
use super::Transform;

const PURPOSE: &str = "header from";

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "fields",
            ConfigType::List,
            Importance::High,
            "Field names in the record whose values are to be copied or moved to headers.",
        ))
        .define(ConfigKey::new(
            "headers",
            ConfigType::List,
            Importance::High,
            "Header names, in the same order as the field names listed in the fields configuration property.",
        ))
        .define(
            ConfigKey::new(
                "operation",
                ConfigType::String,
                Importance::High,
                "Either move if the fields are to be moved to the headers (removed from the key/value), or copy if the fields are to be copied to the headers (retained in the key/value).",
            )
            .one_of(&["move", "copy"]),
        )
        .define(
            ConfigKey::new(
                "replace.null.with.default",
                ConfigType::Boolean,
                Importance::Medium,
                "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used.",
            )
            .default("true"),
        )
}

pub struct HeaderFrom {
    side: Side,
    /// (field, header) pairs.
    pairs: Vec<(String, String)>,
    moving: bool,
    replace_null_with_default: bool,
    /// Schemas without the moved fields.
    cache: SchemaCache,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(HeaderFrom::new(config, side)?))
}

impl HeaderFrom {
    pub fn new(config: &Config, side: Side) -> Result<HeaderFrom> {
        let fields = config.list("fields");
        let headers = config.list("headers");
        for (key, list) in [("fields", &fields), ("headers", &headers)] {
            if list.is_empty() {
                return Err(ConnectError::config(
                    key,
                    "null",
                    format!("Missing required configuration \"{key}\" which has no default value."),
                ));
            }
        }
        if fields.len() != headers.len() {
            return Err(ConnectError::config(
                "headers",
                config.get("headers").unwrap_or(""),
                "'fields' config must have the same number of elements as 'headers' config.",
            ));
        }
        let operation = config.required("operation")?;
        let moving = match operation {
            "move" => true,
            "copy" => false,
            other => {
                return Err(ConnectError::config(
                    "operation",
                    other,
                    "String must be one of: move, copy",
                ))
            }
        };
        Ok(HeaderFrom {
            side,
            pairs: fields.into_iter().zip(headers).collect(),
            moving,
            replace_null_with_default: config.bool_or("replace.null.with.default", true)?,
            cache: SchemaCache::new(),
        })
    }

    fn moves(&self, field: &str) -> bool {
        self.moving && self.pairs.iter().any(|(f, _)| f == field)
    }
}

impl Transform for HeaderFrom {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        let mut added = Vec::with_capacity(self.pairs.len());
        match schema {
            None => {
                let map = require_map(value, PURPOSE)?;
                for (field, header) in &self.pairs {
                    let v = map_get(&map, field).unwrap_or(&Value::Null);
                    added.push(header_of(header, v, None)?);
                }
                let kept = if self.moving {
                    map.into_iter()
                        .filter(|(k, _)| !k.as_str().is_some_and(|k| self.moves(k)))
                        .collect()
                } else {
                    map
                };
                self.side.put(&mut record, None, Value::Map(kept));
            }
            Some(schema) => {
                let s = require_struct(value, PURPOSE)?;
                for (field, header) in &self.pairs {
                    let f = s.schema.field(field).ok_or_else(|| {
                        ConnectError::Transform(format!("Field does not exist: {field}"))
                    })?;
                    let v = field_value(
                        &f.schema,
                        s.values[f.index].clone(),
                        self.replace_null_with_default,
                    );
                    added.push(header_of(header, &v, Some(&f.schema))?);
                }
                if self.moving {
                    let pairs = &self.pairs;
                    let kept_schema = self.cache.get_or_try_insert(&schema, |input| {
                        let fields = input
                            .fields
                            .iter()
                            .filter(|f| !pairs.iter().any(|(p, _)| *p == f.name))
                            .map(|f| (f.name.clone(), f.schema.clone()))
                            .collect();
                        struct_like(input, fields)
                    })?;
                    let Struct {
                        schema: old_schema,
                        values,
                    } = s;
                    let values = old_schema
                        .fields
                        .iter()
                        .zip(values)
                        .filter(|(f, _)| !self.moves(&f.name))
                        .map(|(_, v)| v)
                        .collect();
                    let kept = Struct {
                        schema: kept_schema.clone(),
                        values,
                    };
                    self.side
                        .put(&mut record, Some(kept_schema), Value::Struct(kept));
                } else {
                    self.side.put(&mut record, Some(schema), Value::Struct(s));
                }
            }
        }
        record.headers.extend(added);
        Ok(Some(record))
    }
}

fn header_of(name: &str, value: &Value, schema: Option<&Schema>) -> Result<Header> {
    let value = if value.is_null() {
        None
    } else {
        let mut text = String::new();
        render(&mut text, value, schema, false)?;
        Some(text.into_bytes())
    };
    Ok(Header {
        key: name.to_string(),
        value,
    })
}

/// `Values.convertToString`'s rendering; `embedded` is inside a list, map
/// or struct, where strings (and Base64 bytes) are quoted.
fn render(out: &mut String, value: &Value, schema: Option<&Schema>, embedded: bool) -> Result<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::String(s) if embedded => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Value::Bytes(_) if embedded && schema.and_then(|s| s.logical_name()).is_none() => {
            out.push('"');
            out.push_str(&to_java_string(value, schema)?);
            out.push('"');
        }
        Value::Array(items) => {
            let element = schema.and_then(|s| s.value_schema.as_deref());
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(out, item, element, true)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let keys = schema.and_then(|s| s.key_schema.as_deref());
            let values = schema.and_then(|s| s.value_schema.as_deref());
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(out, k, keys, true)?;
                out.push(':');
                render(out, v, values, true)?;
            }
            out.push('}');
        }
        Value::Struct(s) => {
            out.push('{');
            for (i, (field, v)) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(out, &Value::from(field.name.as_str()), None, true)?;
                out.push(':');
                render(out, v, Some(&field.schema), true)?;
            }
            out.push('}');
        }
        scalar => out.push_str(&to_java_string(scalar, schema)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaType;
    use crate::transforms::util::primitive;

    fn header(key: &str, value: Option<&str>) -> Header {
        Header {
            key: key.into(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    fn build_with(pairs: &[(&str, &str)], side: Side) -> HeaderFrom {
        HeaderFrom::new(&Config::from_pairs(pairs.iter().copied()), side).unwrap()
    }

    #[test]
    fn schemaless_fields_move_to_headers() {
        let mut t = build_with(
            &[
                ("fields", "id,tags,gone"),
                ("headers", "h_id,h_tags,h_gone"),
                ("operation", "move"),
            ],
            Side::Value,
        );
        let value = Value::Map(vec![
            (Value::from("id"), Value::Int64(7)),
            (
                Value::from("tags"),
                Value::Array(vec![Value::from("a\"b"), Value::Float64(1.5)]),
            ),
            (Value::from("keep"), Value::Boolean(true)),
        ]);
        let r = ConnectRecord::new("t", None, Value::Null, None, value);
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(
            out.value,
            Value::Map(vec![(Value::from("keep"), Value::Boolean(true))])
        );
        assert_eq!(
            out.headers,
            vec![
                header("h_id", Some("7")),
                header("h_tags", Some("[\"a\\\"b\",1.5]")),
                header("h_gone", None),
            ]
        );
    }

    #[test]
    fn struct_fields_copy_and_move_with_the_schema() {
        let inner = Schema::structure(
            None,
            vec![("n".into(), primitive(SchemaType::Int32, false))],
        )
        .into_ref();
        let schema = Schema::structure(
            Some("row"),
            vec![
                ("id".into(), primitive(SchemaType::String, false)),
                ("inner".into(), inner.clone()),
            ],
        )
        .into_ref();
        let mut i = Struct::new(inner);
        i.put("n", Value::Int32(3));
        let mut s = Struct::new(schema.clone());
        s.put("id", Value::from("x-1"));
        s.put("inner", Value::Struct(i));
        let record = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(schema.clone()),
            Value::Struct(s),
        );

        let mut copy = build_with(
            &[
                ("fields", "id,inner"),
                ("headers", "id,inner"),
                ("operation", "copy"),
            ],
            Side::Value,
        );
        let copied = copy.apply(record.clone()).unwrap().unwrap();
        assert_eq!(copied.value, record.value);
        assert_eq!(
            copied.headers,
            vec![
                header("id", Some("x-1")),
                header("inner", Some("{\"n\":3}"))
            ]
        );

        let mut moving = build_with(
            &[("fields", "id"), ("headers", "key"), ("operation", "move")],
            Side::Value,
        );
        let moved = moving.apply(record).unwrap().unwrap();
        let ms = moved.value_schema.clone().unwrap();
        let names: Vec<&str> = ms.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["inner"]);
        assert_eq!(ms.name.as_deref(), Some("row"));
        assert_eq!(moved.headers, vec![header("key", Some("x-1"))]);
    }

    #[test]
    fn bad_settings_are_refused_when_built() {
        let bad = |pairs: &[(&str, &str)]| match HeaderFrom::new(
            &Config::from_pairs(pairs.iter().copied()),
            Side::Value,
        ) {
            Err(ConnectError::Config { key, .. }) => key,
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted"),
        };
        assert_eq!(
            bad(&[("fields", "a,b"), ("headers", "a"), ("operation", "copy")]),
            "headers"
        );
        assert_eq!(
            bad(&[("fields", "a"), ("headers", "a"), ("operation", "swap")]),
            "operation"
        );
        assert_eq!(bad(&[("fields", "a"), ("headers", "a")]), "operation");
        assert_eq!(bad(&[("headers", "a"), ("operation", "copy")]), "fields");
    }
}
