//! `MaskField$Key` / `MaskField$Value`: replaces the listed fields with
//! their type's "empty" value (0, 0.0, false, "", an empty list or map,
//! the epoch for dates) or, with `replacement`, with that text parsed as
//! the field's type. The schema is unchanged.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{logical, Schema, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::{java_class_name, require_map, require_struct, Side};
use super::Transform;

const PURPOSE: &str = "mask fields";

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "fields",
                ConfigType::List,
                Importance::High,
                "Names of fields to mask.",
            )
            .validator(|v| {
                if v.split(',').all(|f| f.trim().is_empty()) {
                    Err("Empty list".to_string())
                } else {
                    Ok(())
                }
            }),
        )
        .define(
            ConfigKey::new(
                "replacement",
                ConfigType::String,
                Importance::Low,
                "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only).",
            )
            .default(""),
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

pub struct MaskField {
    side: Side,
    fields: Vec<String>,
    replacement: Option<String>,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(MaskField::new(config, side)?))
}

impl MaskField {
    pub fn new(config: &Config, side: Side) -> Result<MaskField> {
        let fields = config.list("fields");
        if fields.is_empty() {
            return Err(ConnectError::config(
                "fields",
                config.get("fields").unwrap_or("null"),
                "Missing required configuration \"fields\" which has no default value.",
            ));
        }
        // Checked so a bad value is refused as Kafka refuses it; it changes
        // nothing here, since a null field is left null, masked or not.
        config.bool_or("replace.null.with.default", true)?;
        Ok(MaskField {
            side,
            fields,
            // Kafka refuses an empty replacement; unset and blank alike mean
            // "mask with the type's empty value" here.
            replacement: config.string("replacement").map(str::to_string),
        })
    }

    fn masks(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f == name)
    }
}

impl Transform for MaskField {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        let replacement = self.replacement.as_deref();
        let updated = match &schema {
            None => {
                let mut map = require_map(value, PURPOSE)?;
                for (k, v) in map.iter_mut() {
                    if k.as_str().is_some_and(|k| self.masks(k)) {
                        *v = masked(std::mem::replace(v, Value::Null), None, replacement)?;
                    }
                }
                Value::Map(map)
            }
            Some(_) => {
                let mut s = require_struct(value, PURPOSE)?;
                let schema = s.schema.clone();
                for field in &schema.fields {
                    if self.masks(&field.name) {
                        let v = std::mem::replace(&mut s.values[field.index], Value::Null);
                        s.values[field.index] = masked(v, Some(&field.schema), replacement)?;
                    }
                }
                Value::Struct(s)
            }
        };
        self.side.put(&mut record, schema, updated);
        Ok(Some(record))
    }
}

/// The masked value: the type's empty value, or `replacement` parsed as
/// the value's type.
fn masked(value: Value, schema: Option<&Schema>, replacement: Option<&str>) -> Result<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let is_decimal = schema.and_then(|s| s.name.as_deref()) == Some(logical::DECIMAL);
    let Some(r) = replacement else {
        return Ok(match value {
            Value::Boolean(_) => Value::Boolean(false),
            Value::Int8(_) => Value::Int8(0),
            Value::Int16(_) => Value::Int16(0),
            Value::Int32(_) => Value::Int32(0),
            Value::Int64(_) => Value::Int64(0),
            Value::Float32(_) => Value::Float32(0.0),
            Value::Float64(_) => Value::Float64(0.0),
            Value::String(_) => Value::String(String::new()),
            // Decimal zero: the unscaled value 0 in one byte.
            Value::Bytes(_) if is_decimal => Value::Bytes(vec![0]),
            Value::Bytes(_) => Value::Bytes(Vec::new()),
            Value::Array(_) => Value::Array(Vec::new()),
            Value::Map(_) => Value::Map(Vec::new()),
            other => {
                return Err(ConnectError::Transform(format!(
                    "Cannot mask value of type: class {}",
                    java_class_name(&other)
                )))
            }
        });
    };
    let number_error = || {
        ConnectError::Transform(format!(
            "Unable to convert {r} (class java.lang.String) to number"
        ))
    };
    let r_trim = r.trim();
    Ok(match value {
        Value::Int8(_) => Value::Int8(r_trim.parse().map_err(|_| number_error())?),
        Value::Int16(_) => Value::Int16(r_trim.parse().map_err(|_| number_error())?),
        Value::Int32(_) => Value::Int32(r_trim.parse().map_err(|_| number_error())?),
        Value::Int64(_) => Value::Int64(r_trim.parse().map_err(|_| number_error())?),
        Value::Float32(_) => Value::Float32(r_trim.parse().map_err(|_| number_error())?),
        Value::Float64(_) => Value::Float64(r_trim.parse().map_err(|_| number_error())?),
        Value::String(_) => Value::String(r.to_string()),
        other => {
            return Err(ConnectError::Transform(format!(
                "Cannot mask value of type class {} with custom replacement.",
                java_class_name(&other)
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SchemaType, Struct};
    use crate::transforms::util::primitive;

    fn schemaless(value: Value) -> ConnectRecord {
        ConnectRecord::new("t", None, Value::Null, None, value)
    }

    fn entries(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        )
    }

    #[test]
    fn schemaless_fields_mask_to_their_types_empty_value() {
        let cfg = Config::from_pairs([("fields", "i,f,b,s,l,m,keep")]);
        let mut t = MaskField::new(&cfg, Side::Value).unwrap();
        let value = entries(vec![
            ("i", Value::Int64(5)),
            ("f", Value::Float64(1.5)),
            ("b", Value::Boolean(true)),
            ("s", Value::from("secret")),
            ("l", Value::Array(vec![Value::Int64(1)])),
            ("m", entries(vec![("x", Value::Int64(1))])),
            ("other", Value::from("kept")),
        ]);
        let out = t.apply(schemaless(value)).unwrap().unwrap().value;
        assert_eq!(
            out,
            entries(vec![
                ("i", Value::Int64(0)),
                ("f", Value::Float64(0.0)),
                ("b", Value::Boolean(false)),
                ("s", Value::from("")),
                ("l", Value::Array(vec![])),
                ("m", Value::Map(vec![])),
                ("other", Value::from("kept")),
            ])
        );
    }

    #[test]
    fn struct_fields_mask_with_a_replacement_and_keep_the_schema() {
        let schema = Schema::structure(
            None,
            vec![
                ("string_field".into(), primitive(SchemaType::String, false)),
                ("n".into(), primitive(SchemaType::Int32, true)),
                ("d".into(), primitive(SchemaType::Float32, true)),
            ],
        )
        .into_ref();
        let mut s = Struct::new(schema.clone());
        s.put("string_field", Value::from("john@example.com"));
        s.put("n", Value::Int32(77));
        let cfg = Config::from_pairs([("fields", "string_field,n,d"), ("replacement", "42")]);
        let mut t = MaskField::new(&cfg, Side::Value).unwrap();
        let r = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(schema.clone()),
            Value::Struct(s),
        );
        let out = t.apply(r).unwrap().unwrap();
        assert!(std::sync::Arc::ptr_eq(
            out.value_schema.as_ref().unwrap(),
            &schema
        ));
        assert_eq!(out.value.field("string_field"), Some(&Value::from("42")));
        assert_eq!(out.value.field("n"), Some(&Value::Int32(42)));
        // Nulls stay null.
        assert_eq!(out.value.field("d"), Some(&Value::Null));
    }

    #[test]
    fn replacements_that_do_not_fit_are_transform_errors() {
        let cfg = Config::from_pairs([("fields", "n"), ("replacement", "PII")]);
        let mut t = MaskField::new(&cfg, Side::Value).unwrap();
        let err = t
            .apply(schemaless(entries(vec![("n", Value::Int64(1))])))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("Unable to convert PII (class java.lang.String) to number"),
            "{err}"
        );
        let cfg = Config::from_pairs([("fields", "b"), ("replacement", "x")]);
        let mut t = MaskField::new(&cfg, Side::Key).unwrap();
        let mut r = schemaless(Value::Null);
        r.key = entries(vec![("b", Value::Boolean(true))]);
        let err = t.apply(r).unwrap_err().to_string();
        assert!(
            err.contains("Cannot mask value of type class java.lang.Boolean"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_field_list_is_refused() {
        assert!(MaskField::new(&Config::default(), Side::Value).is_err());
    }
}
