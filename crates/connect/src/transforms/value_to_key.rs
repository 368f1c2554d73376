//! `ValueToKey`: replaces the record key with a struct (or map) of the
//! listed fields of the value.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{Schema, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::{field_value, map_get, require_map, require_struct, SchemaCache, Side};
use super::Transform;

const PURPOSE: &str = "copying fields from value to key";

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "fields",
            ConfigType::List,
            Importance::High,
            "Field names on the record value to extract as the record key.",
        ))
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

pub struct ValueToKey {
    fields: Vec<String>,
    replace_null_with_default: bool,
    /// Key schemas by value schema.
    cache: SchemaCache,
}

pub fn build(config: &Config, _side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(ValueToKey::new(config)?))
}

impl ValueToKey {
    pub fn new(config: &Config) -> Result<ValueToKey> {
        let fields = config.list("fields");
        if fields.is_empty() {
            return Err(ConnectError::config(
                "fields",
                config.get("fields").unwrap_or("null"),
                "Missing required configuration \"fields\" which has no default value.",
            ));
        }
        Ok(ValueToKey {
            fields,
            replace_null_with_default: config.bool_or("replace.null.with.default", true)?,
            cache: SchemaCache::new(),
        })
    }
}

fn key_schema(fields: &[String], value_schema: &Schema) -> Result<Schema> {
    let mut key_fields = Vec::with_capacity(fields.len());
    for name in fields {
        let field = value_schema
            .field(name)
            .ok_or_else(|| ConnectError::Transform(format!("Field does not exist: {name}")))?;
        key_fields.push((name.clone(), field.schema.clone()));
    }
    Ok(Schema::structure(None, key_fields))
}

impl Transform for ValueToKey {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        match record.value_schema.clone() {
            None => {
                let value = std::mem::replace(&mut record.value, Value::Null);
                let map = require_map(value, PURPOSE)?;
                let key = self
                    .fields
                    .iter()
                    .map(|f| {
                        let v = map_get(&map, f).cloned().unwrap_or(Value::Null);
                        (Value::from(f.as_str()), v)
                    })
                    .collect();
                record.value = Value::Map(map);
                record.key_schema = None;
                record.key = Value::Map(key);
            }
            Some(schema) => {
                let value = std::mem::replace(&mut record.value, Value::Null);
                let s = require_struct(value, PURPOSE)?;
                let fields = &self.fields;
                let ks = self
                    .cache
                    .get_or_try_insert(&schema, |vs| key_schema(fields, vs))?;
                let mut key = Struct::new(ks.clone());
                for (i, name) in self.fields.iter().enumerate() {
                    let field = s.schema.field(name).ok_or_else(|| {
                        ConnectError::Transform(format!("Field does not exist: {name}"))
                    })?;
                    key.values[i] = field_value(
                        &field.schema,
                        s.values[field.index].clone(),
                        self.replace_null_with_default,
                    );
                }
                record.value = Value::Struct(s);
                record.key_schema = Some(ks);
                record.key = Value::Struct(key);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaType;
    use crate::transforms::util::primitive;

    #[test]
    fn schemaless_values_give_a_map_key() {
        let cfg = Config::from_pairs([("fields", "userId,city")]);
        let mut t = ValueToKey::new(&cfg).unwrap();
        let value = Value::Map(vec![
            (Value::from("userId"), Value::Int64(9)),
            (Value::from("city"), Value::from("Oslo")),
            (Value::from("other"), Value::Int64(1)),
        ]);
        let r = ConnectRecord::new("t", None, Value::from("old"), None, value.clone());
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(
            out.key,
            Value::Map(vec![
                (Value::from("userId"), Value::Int64(9)),
                (Value::from("city"), Value::from("Oslo")),
            ])
        );
        assert_eq!(out.value, value);
    }

    #[test]
    fn struct_values_give_a_struct_key() {
        let schema = Schema::structure(
            Some("user"),
            vec![
                ("id".into(), primitive(SchemaType::Int64, false)),
                ("name".into(), primitive(SchemaType::String, true)),
            ],
        )
        .into_ref();
        let mut s = Struct::new(schema.clone());
        s.put("id", Value::Int64(5));
        let mut t = ValueToKey::new(&Config::from_pairs([("fields", "id")])).unwrap();
        let r = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(schema.clone()),
            Value::Struct(s),
        );
        let out = t.apply(r).unwrap().unwrap();
        let ks = out.key_schema.as_ref().unwrap();
        assert_eq!(ks.fields.len(), 1);
        assert_eq!(ks.fields[0].schema.kind, SchemaType::Int64);
        assert_eq!(out.key.field("id"), Some(&Value::Int64(5)));

        let mut bad = ValueToKey::new(&Config::from_pairs([("fields", "nope")])).unwrap();
        let r = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(schema.clone()),
            Value::Struct(Struct::new(schema)),
        );
        assert_eq!(
            bad.apply(r).unwrap_err().to_string(),
            "transformation failed: Field does not exist: nope"
        );
    }

    #[test]
    fn a_value_that_is_not_a_struct_is_an_error() {
        let mut t = ValueToKey::new(&Config::from_pairs([("fields", "id")])).unwrap();
        let r = ConnectRecord::new("t", None, Value::Null, None, Value::Int64(1));
        let err = t.apply(r).unwrap_err().to_string();
        assert!(err.ends_with(
            "Only Map objects supported in absence of schema for [copying fields from value to key], found: java.lang.Long"
        ));
    }
}
