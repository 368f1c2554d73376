//! `SetSchemaMetadata$Key` / `SetSchemaMetadata$Value`: sets the schema's
//! name (`schema.name`) and/or version (`schema.version`); a struct value
//! is given the renamed schema too. A record without a schema is an error,
//! as in Kafka.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::Value;
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::{SchemaCache, Side};
use super::Transform;

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "schema.name",
                ConfigType::String,
                Importance::High,
                "Schema name to set.",
            )
            .default(""),
        )
        .define(
            ConfigKey::new(
                "schema.version",
                ConfigType::Int,
                Importance::High,
                "Schema version to set.",
            )
            .default(""),
        )
}

pub struct SetSchemaMetadata {
    side: Side,
    name: Option<String>,
    version: Option<i32>,
    cache: SchemaCache,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    let name = config.string("schema.name").map(str::to_string);
    let version = match config.string("schema.version") {
        None => None,
        Some(_) => Some(config.i32_or("schema.version", 0)?),
    };
    if name.is_none() && version.is_none() {
        return Err(ConnectError::config(
            "schema.name",
            "",
            "Neither schema name nor version configured",
        ));
    }
    Ok(Box::new(SetSchemaMetadata {
        side,
        name,
        version,
        cache: SchemaCache::new(),
    }))
}

impl Transform for SetSchemaMetadata {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let (schema, value) = self.side.take(&mut record);
        let Some(schema) = schema else {
            return Err(ConnectError::Transform(
                "Schema required for [updating schema metadata]".to_string(),
            ));
        };
        let (name, version) = (&self.name, self.version);
        let updated = self.cache.get_or_try_insert(&schema, |s| {
            let mut out = s.clone();
            if let Some(n) = name {
                out.name = Some(n.clone());
            }
            if version.is_some() {
                out.version = version;
            }
            Ok(out)
        })?;
        let value = match value {
            Value::Struct(mut s) => {
                s.schema = updated.clone();
                Value::Struct(s)
            }
            other => other,
        };
        self.side.put(&mut record, Some(updated), value);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Schema, SchemaType, Struct};

    #[test]
    fn the_schema_and_its_struct_are_renamed() {
        let cfg = Config::from_pairs([
            ("schema.name", "com.example.Order"),
            ("schema.version", "3"),
        ]);
        let mut t = build(&cfg, Side::Value).unwrap();
        let schema = Schema::structure(
            Some("old"),
            vec![("id".into(), Schema::of(SchemaType::Int64).into_ref())],
        )
        .into_ref();
        let r = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(schema.clone()),
            Value::Struct(Struct::new(schema)),
        );
        let out = t.apply(r).unwrap().unwrap();
        let s = out.value_schema.clone().unwrap();
        assert_eq!(
            (s.name.as_deref(), s.version),
            (Some("com.example.Order"), Some(3))
        );
        match &out.value {
            Value::Struct(v) => assert!(std::sync::Arc::ptr_eq(&v.schema, &s)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_schemaless_record_and_an_empty_config_are_errors() {
        let mut t = build(&Config::from_pairs([("schema.version", "1")]), Side::Key).unwrap();
        let r = ConnectRecord::new("t", None, Value::from("k"), None, Value::Null);
        assert!(t.apply(r).is_err());
        assert!(build(&Config::default(), Side::Value).is_err());
        assert!(build(&Config::from_pairs([("schema.version", "x")]), Side::Value).is_err());
    }
}
