//! `HoistField$Key` / `HoistField$Value`: wraps the key or value in a
//! struct (or map) with one field, `field`.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{Schema, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::{SchemaCache, Side};
use super::Transform;

pub fn config_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "field",
        ConfigType::String,
        Importance::Medium,
        "Field name for the single field that will be created in the resulting Struct or Map.",
    ))
}

pub struct HoistField {
    side: Side,
    field: String,
    cache: SchemaCache,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(HoistField::new(config, side)?))
}

impl HoistField {
    pub fn new(config: &Config, side: Side) -> Result<HoistField> {
        let field = config.string("field").ok_or_else(|| {
            ConnectError::config(
                "field",
                "null",
                "Missing required configuration \"field\" which has no default value.",
            )
        })?;
        Ok(HoistField {
            side,
            field: field.to_string(),
            cache: SchemaCache::new(),
        })
    }
}

impl Transform for HoistField {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let (schema, value) = self.side.take(&mut record);
        match schema {
            None => {
                let map = Value::Map(vec![(Value::from(self.field.as_str()), value)]);
                self.side.put(&mut record, None, map);
            }
            Some(schema) => {
                let name = &self.field;
                let wrapper = self.cache.get_or_try_insert(&schema, |_| {
                    Ok(Schema::structure(
                        None,
                        vec![(name.clone(), schema.clone())],
                    ))
                })?;
                let mut s = Struct::new(wrapper.clone());
                s.values[0] = value;
                self.side.put(&mut record, Some(wrapper), Value::Struct(s));
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
    fn schemaless_values_are_wrapped_in_a_map() {
        // Kafka's documentation (connect_transforms), the file source
        // example: HoistField$Value with field=line.
        let mut t = HoistField::new(&Config::from_pairs([("field", "line")]), Side::Value).unwrap();
        let r = ConnectRecord::new("t", None, Value::Null, None, Value::from("hello"));
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(
            out.value,
            Value::Map(vec![(Value::from("line"), Value::from("hello"))])
        );
    }

    #[test]
    fn keys_with_a_schema_are_wrapped_in_a_struct() {
        let mut t = HoistField::new(&Config::from_pairs([("field", "id")]), Side::Key).unwrap();
        let schema = primitive(SchemaType::Int64, false);
        let mut r = ConnectRecord::new(
            "t",
            Some(schema.clone()),
            Value::Int64(4),
            None,
            Value::Null,
        );
        r = t.apply(r).unwrap().unwrap();
        let ks = r.key_schema.clone().unwrap();
        assert_eq!(ks.kind, SchemaType::Struct);
        assert_eq!(ks.field("id").unwrap().schema.kind, SchemaType::Int64);
        assert_eq!(r.key.field("id"), Some(&Value::Int64(4)));
        let again = ConnectRecord::new("t", Some(schema), Value::Int64(5), None, Value::Null);
        let again = t.apply(again).unwrap().unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &ks,
            again.key_schema.as_ref().unwrap()
        ));
    }

    #[test]
    fn a_missing_field_is_refused() {
        assert!(HoistField::new(&Config::default(), Side::Value).is_err());
    }
}
