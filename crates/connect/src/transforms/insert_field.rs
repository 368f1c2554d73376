//! `InsertField$Key` / `InsertField$Value`: adds the record's topic,
//! partition, offset, timestamp and/or a static string to the key or
//! value. A field name ending in `!` makes the field required, `?` (or
//! nothing) optional; the suffix is not part of the name.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{logical, Schema, SchemaRef, SchemaType, Struct, Value};
use crate::error::Result;
use crate::record::ConnectRecord;

use super::util::{
    field_value, map_put, primitive, require_map, require_sink_offset, require_struct, struct_like,
    SchemaCache, Side,
};
use super::Transform;

const PURPOSE: &str = "field insertion";

pub fn config_def() -> ConfigDef {
    let key = |name: &str, doc: &str| {
        ConfigKey::new(name, ConfigType::String, Importance::Medium, doc).default("")
    };
    ConfigDef::new()
        .define(key(
            "topic.field",
            "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional (the default).",
        ))
        .define(key(
            "partition.field",
            "Field name for Kafka partition. Suffix with ! to make this a required field, or ? to keep it optional (the default).",
        ))
        .define(key(
            "offset.field",
            "Field name for Kafka offset - only applicable to sink connectors. Suffix with ! to make this a required field, or ? to keep it optional (the default).",
        ))
        .define(key(
            "timestamp.field",
            "Field name for record timestamp. Suffix with ! to make this a required field, or ? to keep it optional (the default).",
        ))
        .define(key(
            "static.field",
            "Field name for static data field. Suffix with ! to make this a required field, or ? to keep it optional (the default).",
        ))
        .define(key("static.value", "Static field value, if field name configured."))
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

/// A field to insert: its name and whether its schema is optional.
#[derive(Debug, Clone, PartialEq)]
struct InsertionSpec {
    name: String,
    optional: bool,
}

impl InsertionSpec {
    /// Kafka's `InsertionSpec.parse`: `name!` required, `name?` or `name`
    /// optional; blank means not configured.
    fn parse(config: &Config, key: &str) -> Option<InsertionSpec> {
        let spec = config.string(key)?;
        Some(if let Some(name) = spec.strip_suffix('!') {
            InsertionSpec {
                name: name.to_string(),
                optional: false,
            }
        } else if let Some(name) = spec.strip_suffix('?') {
            InsertionSpec {
                name: name.to_string(),
                optional: true,
            }
        } else {
            InsertionSpec {
                name: spec.to_string(),
                optional: true,
            }
        })
    }
}

pub struct InsertField {
    side: Side,
    fields: Insertions,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

/// The configured fields.
struct Insertions {
    topic: Option<InsertionSpec>,
    partition: Option<InsertionSpec>,
    offset: Option<InsertionSpec>,
    timestamp: Option<InsertionSpec>,
    static_field: Option<InsertionSpec>,
    static_value: Option<String>,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(InsertField::new(config, side)?))
}

impl InsertField {
    pub fn new(config: &Config, side: Side) -> Result<InsertField> {
        Ok(InsertField {
            side,
            fields: Insertions {
                topic: InsertionSpec::parse(config, "topic.field"),
                partition: InsertionSpec::parse(config, "partition.field"),
                offset: InsertionSpec::parse(config, "offset.field"),
                timestamp: InsertionSpec::parse(config, "timestamp.field"),
                static_field: InsertionSpec::parse(config, "static.field"),
                static_value: config.get("static.value").map(str::to_string),
            },
            replace_null_with_default: config.bool_or("replace.null.with.default", true)?,
            cache: SchemaCache::new(),
        })
    }
}

impl Insertions {
    /// The (field, value) pairs this record gets, in Kafka's order.
    fn values(&self, record: &ConnectRecord, with_schema: bool) -> Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        if let Some(f) = &self.topic {
            out.push((f.name.clone(), Value::from(record.topic.as_str())));
        }
        if let (Some(f), Some(p)) = (&self.partition, record.partition) {
            out.push((f.name.clone(), Value::Int32(p)));
        }
        if let Some(f) = &self.offset {
            out.push((
                f.name.clone(),
                Value::Int64(require_sink_offset(record, PURPOSE)?),
            ));
        }
        if let (Some(f), Some(ts)) = (&self.timestamp, record.timestamp) {
            out.push((f.name.clone(), Value::Int64(ts)));
        }
        if let (Some(f), Some(v)) = (&self.static_field, &self.static_value) {
            out.push((f.name.clone(), Value::from(v.as_str())));
        } else if let (Some(f), true) = (&self.static_field, with_schema) {
            // With a schema the field exists even without a value.
            out.push((f.name.clone(), Value::Null));
        }
        Ok(out)
    }

    fn updated_schema(&self, schema: &Schema) -> Result<Schema> {
        let mut fields: Vec<(String, SchemaRef)> = schema
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.schema.clone()))
            .collect();
        if let Some(f) = &self.topic {
            fields.push((f.name.clone(), primitive(SchemaType::String, f.optional)));
        }
        if let Some(f) = &self.partition {
            fields.push((f.name.clone(), primitive(SchemaType::Int32, f.optional)));
        }
        if let Some(f) = &self.offset {
            fields.push((f.name.clone(), primitive(SchemaType::Int64, f.optional)));
        }
        if let Some(f) = &self.timestamp {
            let ts = Schema::of(SchemaType::Int64)
                .with_name(logical::TIMESTAMP)
                .with_optional(f.optional);
            fields.push((f.name.clone(), ts.into_ref()));
        }
        if let Some(f) = &self.static_field {
            fields.push((f.name.clone(), primitive(SchemaType::String, f.optional)));
        }
        struct_like(schema, fields)
    }
}

impl Transform for InsertField {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        // A tombstone stays one (Kafka passes a null key or value through).
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        match self.side.schema(&record).cloned() {
            None => {
                let insertions = self.fields.values(&record, false)?;
                let (_, value) = self.side.take(&mut record);
                let mut map = require_map(value, PURPOSE)?;
                for (k, v) in insertions {
                    map_put(&mut map, &k, v);
                }
                self.side.put(&mut record, None, Value::Map(map));
            }
            Some(schema) => {
                let insertions = self.fields.values(&record, true)?;
                let (_, value) = self.side.take(&mut record);
                let old = require_struct(value, PURPOSE)?;
                let fields = &self.fields;
                let new_schema = self
                    .cache
                    .get_or_try_insert(&schema, |s| fields.updated_schema(s))?;
                let mut updated = Struct::new(new_schema.clone());
                let Struct {
                    schema: old_schema,
                    values,
                } = old;
                for (field, v) in old_schema.fields.iter().zip(values) {
                    updated.values[field.index] =
                        field_value(&field.schema, v, self.replace_null_with_default);
                }
                for (k, v) in insertions {
                    updated.put(&k, v);
                }
                self.side
                    .put(&mut record, Some(new_schema), Value::Struct(updated));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::KafkaOrigin;

    fn sink_record(value_schema: Option<SchemaRef>, value: Value) -> ConnectRecord {
        let mut r = ConnectRecord::new("orders", None, Value::Null, value_schema, value);
        r.partition = Some(3);
        r.timestamp = Some(1_700_000_000_000);
        r.origin = Some(KafkaOrigin {
            topic: "orders".into(),
            partition: 3,
            offset: 42,
        });
        r
    }

    // The example of Kafka's documentation (connect_transforms):
    // transforms.InsertSource.type=...InsertField$Value,
    // static.field=data_source, static.value=test-file-source.
    fn config() -> Config {
        Config::from_pairs([
            ("topic.field", "topic!"),
            ("partition.field", "partition"),
            ("offset.field", "offset?"),
            ("timestamp.field", "ts"),
            ("static.field", "data_source"),
            ("static.value", "test-file-source"),
        ])
    }

    #[test]
    fn schemaless_values_get_the_fields() {
        let mut t = InsertField::new(&config(), Side::Value).unwrap();
        let value = Value::Map(vec![(Value::from("id"), Value::Int64(1))]);
        let out = t.apply(sink_record(None, value)).unwrap().unwrap();
        assert_eq!(out.value.field("id"), Some(&Value::Int64(1)));
        assert_eq!(out.value.field("topic"), Some(&Value::from("orders")));
        assert_eq!(out.value.field("partition"), Some(&Value::Int32(3)));
        assert_eq!(out.value.field("offset"), Some(&Value::Int64(42)));
        assert_eq!(
            out.value.field("ts"),
            Some(&Value::Int64(1_700_000_000_000))
        );
        assert_eq!(
            out.value.field("data_source"),
            Some(&Value::from("test-file-source"))
        );
    }

    #[test]
    fn struct_values_get_fields_and_a_cached_schema() {
        let schema = Schema::structure(
            Some("order"),
            vec![("id".into(), primitive(SchemaType::Int64, false))],
        )
        .into_ref();
        let mut s = Struct::new(schema.clone());
        s.put("id", Value::Int64(1));
        let mut t = InsertField::new(&config(), Side::Value).unwrap();
        let out = t
            .apply(sink_record(Some(schema.clone()), Value::Struct(s.clone())))
            .unwrap()
            .unwrap();
        let out_schema = out.value_schema.clone().unwrap();
        assert_eq!(out_schema.name.as_deref(), Some("order"));
        let names: Vec<&str> = out_schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["id", "topic", "partition", "offset", "ts", "data_source"]
        );
        assert!(!out_schema.field("topic").unwrap().schema.optional);
        assert!(out_schema.field("offset").unwrap().schema.optional);
        assert_eq!(
            out_schema.field("ts").unwrap().schema.name.as_deref(),
            Some(logical::TIMESTAMP)
        );
        assert_eq!(out.value.field("offset"), Some(&Value::Int64(42)));
        let again = t
            .apply(sink_record(Some(schema), Value::Struct(s)))
            .unwrap()
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &out_schema,
            again.value_schema.as_ref().unwrap()
        ));
    }

    #[test]
    fn inserting_a_field_the_struct_has_is_an_error() {
        let schema = Schema::structure(
            None,
            vec![("topic".into(), primitive(SchemaType::String, false))],
        )
        .into_ref();
        let cfg = Config::from_pairs([("topic.field", "topic")]);
        let mut t = InsertField::new(&cfg, Side::Value).unwrap();
        let r = sink_record(Some(schema.clone()), Value::Struct(Struct::new(schema)));
        let err = t.apply(r).unwrap_err().to_string();
        assert!(err.contains("field name duplication topic"), "{err}");
        // Without a schema the entry is replaced, as a Java map's put does.
        let r = sink_record(
            None,
            Value::Map(vec![(Value::from("topic"), Value::from("x"))]),
        );
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(
            out.value,
            Value::Map(vec![(Value::from("topic"), Value::from("orders"))])
        );
    }

    #[test]
    fn the_offset_of_a_source_record_is_an_error() {
        let mut t = InsertField::new(&config(), Side::Value).unwrap();
        let mut r = sink_record(None, Value::Map(vec![]));
        r.origin = None;
        let err = t.apply(r).unwrap_err().to_string();
        assert!(
            err.contains("Only SinkRecord supported for [field insertion]"),
            "{err}"
        );
    }

    #[test]
    fn keys_tombstones_and_wrong_shapes() {
        let cfg = Config::from_pairs([("topic.field", "t")]);
        let mut t = InsertField::new(&cfg, Side::Key).unwrap();
        let mut r = sink_record(None, Value::Null);
        r.key = Value::Map(vec![]);
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.key.field("t"), Some(&Value::from("orders")));
        // A tombstone passes unchanged.
        let mut v = InsertField::new(&cfg, Side::Value).unwrap();
        let tomb = sink_record(None, Value::Null);
        assert_eq!(v.apply(tomb.clone()).unwrap(), Some(tomb));
        let err = v
            .apply(sink_record(None, Value::from("text")))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with(
            "Only Map objects supported in absence of schema for [field insertion], found: java.lang.String"
        ));
    }
}
