//! `Flatten$Key` / `Flatten$Value`: nested structs (or maps) become
//! top-level fields named by their path joined with `delimiter` (`.` by
//! default): `{"a": {"b": 1}}` becomes `{"a.b": 1}`. Arrays and maps
//! inside a struct are kept as they are. A field under an optional
//! struct becomes optional, and takes its default from the parent's
//! default when it has none of its own.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{Schema, SchemaRef, SchemaType, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::{java_class_name, require_map, require_struct, struct_like, SchemaCache, Side};
use super::Transform;

const PURPOSE: &str = "flattening";

pub fn config_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            "delimiter",
            ConfigType::String,
            Importance::Medium,
            "Delimiter to insert between field names from the input record when generating field names for the output record",
        )
        .default("."),
    )
}

pub struct Flatten {
    side: Side,
    delimiter: String,
    cache: SchemaCache,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(Flatten::new(config, side)?))
}

impl Flatten {
    pub fn new(config: &Config, side: Side) -> Result<Flatten> {
        Ok(Flatten {
            side,
            // The delimiter may be blank-looking (" "), so it is not trimmed.
            delimiter: config.get("delimiter").unwrap_or(".").to_string(),
            cache: SchemaCache::new(),
        })
    }
}

fn joined(prefix: &str, delimiter: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}{delimiter}{name}")
    }
}

fn flatten_map(
    entries: Vec<(Value, Value)>,
    prefix: &str,
    delimiter: &str,
    out: &mut Vec<(Value, Value)>,
) -> Result<bool> {
    let mut nested = false;
    for (k, v) in entries {
        let Some(key) = k.as_str() else {
            return Err(ConnectError::Transform(format!(
                "Flatten transformation only supports maps with String keys, found a key of type {} (under {prefix:?})",
                java_class_name(&k)
            )));
        };
        let name = joined(prefix, delimiter, key);
        match v {
            Value::Map(inner) => {
                flatten_map(inner, &name, delimiter, out)?;
                nested = true;
            }
            Value::Struct(_) => {
                return Err(ConnectError::Transform(format!(
                    "Flatten transformation does not support class {} for record without schemas (for field {name}).",
                    java_class_name(&v)
                )))
            }
            other => out.push((Value::String(name), other)),
        }
    }
    Ok(nested)
}

/// Keeps one entry per key, at its first place with its last value, as
/// Kafka's `HashMap.put` does when a nested `{"a": {"b": 1}}` and a
/// top-level `"a.b"` flatten to one name.
fn dedupe(entries: &mut Vec<(Value, Value)>) {
    let mut first: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
    for (k, v) in entries.drain(..) {
        let name = k.as_str().unwrap_or_default().to_string();
        match first.get(&name) {
            Some(&i) => out[i].1 = v,
            None => {
                first.insert(name, out.len());
                out.push((k, v));
            }
        }
    }
    *entries = out;
}

/// Adds `schema`'s fields, flattened, to `out`.
fn flatten_schema(
    schema: &Schema,
    prefix: &str,
    delimiter: &str,
    optional: bool,
    parent_default: Option<&Value>,
    out: &mut Vec<(String, SchemaRef)>,
) -> Result<()> {
    for field in &schema.fields {
        let name = joined(prefix, delimiter, &field.name);
        let field_optional = optional || field.schema.optional;
        let default = field
            .schema
            .default
            .as_ref()
            .or_else(|| match parent_default {
                Some(Value::Struct(s)) => s.get(&field.name).filter(|v| !v.is_null()),
                _ => None,
            });
        if field.schema.kind == SchemaType::Struct {
            flatten_schema(
                &field.schema,
                &name,
                delimiter,
                field_optional,
                default,
                out,
            )?;
            continue;
        }
        let flat = if field_optional == field.schema.optional
            && default == field.schema.default.as_ref()
        {
            field.schema.clone()
        } else {
            let mut s = (*field.schema).clone();
            s.optional = field_optional;
            s.default = default.cloned();
            s.into_ref()
        };
        out.push((name, flat));
    }
    Ok(())
}

/// Adds the struct's leaf values, in the flattened schema's order.
fn flatten_struct(value: Option<Struct>, schema: &Schema, out: &mut Vec<Value>) {
    let mut values = value.map(|s| s.values.into_iter());
    for field in &schema.fields {
        let v = values
            .as_mut()
            .and_then(|it| it.next())
            .unwrap_or(Value::Null);
        if field.schema.kind == SchemaType::Struct {
            let inner = match v {
                Value::Struct(s) => Some(s),
                _ => None,
            };
            flatten_struct(inner, &field.schema, out);
        } else {
            out.push(v);
        }
    }
}

impl Transform for Flatten {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        match schema {
            None => {
                let map = require_map(value, PURPOSE)?;
                let mut out = Vec::with_capacity(map.len());
                // Only a nested map's names can collide with others.
                if flatten_map(map, "", &self.delimiter, &mut out)? {
                    dedupe(&mut out);
                }
                self.side.put(&mut record, None, Value::Map(out));
            }
            Some(schema) => {
                let s = require_struct(value, PURPOSE)?;
                let delimiter = &self.delimiter;
                let flat_schema = self.cache.get_or_try_insert(&schema, |input| {
                    let mut fields = Vec::new();
                    flatten_schema(input, "", delimiter, false, None, &mut fields)?;
                    struct_like(input, fields)
                })?;
                let mut values = Vec::with_capacity(flat_schema.fields.len());
                let struct_schema = s.schema.clone();
                flatten_struct(Some(s), &struct_schema, &mut values);
                let flat = Struct {
                    schema: flat_schema.clone(),
                    values,
                };
                self.side
                    .put(&mut record, Some(flat_schema), Value::Struct(flat));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::primitive;

    fn entries(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        )
    }

    #[test]
    fn schemaless_maps_flatten_with_the_delimiter() {
        let mut t = Flatten::new(&Config::from_pairs([("delimiter", "_")]), Side::Value).unwrap();
        let value = entries(vec![
            ("id", Value::Int64(1)),
            (
                "address",
                entries(vec![
                    ("city", Value::from("Oslo")),
                    ("geo", entries(vec![("lat", Value::Float64(59.9))])),
                ]),
            ),
            ("tags", Value::Array(vec![Value::from("a")])),
            ("none", Value::Null),
        ]);
        let r = ConnectRecord::new("t", None, Value::Null, None, value);
        let out = t.apply(r).unwrap().unwrap().value;
        assert_eq!(
            out,
            entries(vec![
                ("id", Value::Int64(1)),
                ("address_city", Value::from("Oslo")),
                ("address_geo_lat", Value::Float64(59.9)),
                ("tags", Value::Array(vec![Value::from("a")])),
                ("none", Value::Null),
            ])
        );
    }

    fn nested_schema() -> (SchemaRef, SchemaRef) {
        let geo = Schema::structure(
            Some("geo"),
            vec![("lat".into(), primitive(SchemaType::Float64, false))],
        )
        .with_optional(true)
        .into_ref();
        let address = Schema::structure(
            Some("address"),
            vec![
                ("city".into(), primitive(SchemaType::String, false)),
                ("geo".into(), geo.clone()),
            ],
        )
        .into_ref();
        let row = Schema::structure(
            Some("row"),
            vec![
                ("id".into(), primitive(SchemaType::Int64, false)),
                ("address".into(), address.clone()),
            ],
        )
        .into_ref();
        (row, address)
    }

    #[test]
    fn structs_flatten_with_a_cached_schema() {
        let (row, address) = nested_schema();
        let mut a = Struct::new(address);
        a.put("city", Value::from("Oslo"));
        // geo is null: its leaves are null, and optional in the new schema.
        let mut s = Struct::new(row.clone());
        s.put("id", Value::Int64(1));
        s.put("address", Value::Struct(a));
        let mut t = Flatten::new(&Config::default(), Side::Value).unwrap();
        let r = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(row.clone()),
            Value::Struct(s.clone()),
        );
        let out = t.apply(r).unwrap().unwrap();
        let fs = out.value_schema.clone().unwrap();
        let names: Vec<&str> = fs.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "address.city", "address.geo.lat"]);
        assert_eq!(fs.name.as_deref(), Some("row"));
        assert!(!fs.field("address.city").unwrap().schema.optional);
        assert!(fs.field("address.geo.lat").unwrap().schema.optional);
        assert_eq!(out.value.field("address.city"), Some(&Value::from("Oslo")));
        assert_eq!(out.value.field("address.geo.lat"), Some(&Value::Null));
        let r = ConnectRecord::new("t", None, Value::Null, Some(row), Value::Struct(s));
        let again = t.apply(r).unwrap().unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &fs,
            again.value_schema.as_ref().unwrap()
        ));
    }

    #[test]
    fn schemaless_collisions_keep_the_last_value() {
        let mut t = Flatten::new(&Config::default(), Side::Value).unwrap();
        let value = entries(vec![
            ("a.b", Value::Int64(1)),
            ("a", entries(vec![("b", Value::Int64(2))])),
        ]);
        let r = ConnectRecord::new("t", None, Value::Null, None, value);
        let out = t.apply(r).unwrap().unwrap().value;
        assert_eq!(out, entries(vec![("a.b", Value::Int64(2))]));
    }

    #[test]
    fn duplicate_flattened_names_are_an_error() {
        let inner = Schema::structure(
            None,
            vec![("b".into(), primitive(SchemaType::Int32, false))],
        )
        .into_ref();
        let schema = Schema::structure(
            None,
            vec![
                ("a".into(), inner.clone()),
                ("a.b".into(), primitive(SchemaType::Int32, false)),
            ],
        )
        .into_ref();
        let mut t = Flatten::new(&Config::default(), Side::Key).unwrap();
        let mut r = ConnectRecord::new("t", Some(schema.clone()), Value::Null, None, Value::Null);
        r.key = Value::Struct(Struct::new(schema));
        let err = t.apply(r).unwrap_err().to_string();
        assert!(err.contains("field name duplication a.b"), "{err}");
    }

    #[test]
    fn tombstones_pass_and_scalars_are_refused() {
        let mut t = Flatten::new(&Config::default(), Side::Value).unwrap();
        let tomb = ConnectRecord::new("t", None, Value::Null, None, Value::Null);
        assert_eq!(t.apply(tomb.clone()).unwrap(), Some(tomb));
        let r = ConnectRecord::new("t", None, Value::Null, None, Value::Int64(1));
        assert!(t
            .apply(r)
            .unwrap_err()
            .to_string()
            .ends_with("Only Map objects supported in absence of schema for [flattening], found: java.lang.Long"));
    }
}
