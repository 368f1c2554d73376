//! `ReplaceField$Key` / `ReplaceField$Value`: keeps (`include`), drops
//! (`exclude`) and renames (`renames=old:new,...`) top-level fields. The
//! keys before Kafka 2.6, `whitelist` and `blacklist`, are still read.

use std::collections::HashMap;

use crate::config::{split_list, Config};
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{Schema, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::{field_value, require_map, require_struct, struct_like, SchemaCache, Side};
use super::Transform;

const PURPOSE: &str = "field replacement";

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "exclude",
                ConfigType::List,
                Importance::Medium,
                "Fields to exclude. This takes precedence over the fields to include.",
            )
            .default(""),
        )
        .define(
            ConfigKey::new(
                "include",
                ConfigType::List,
                Importance::Medium,
                "Fields to include. If specified, only these fields will be used.",
            )
            .default(""),
        )
        .define(
            ConfigKey::new(
                "renames",
                ConfigType::List,
                Importance::Medium,
                "Field rename mappings.",
            )
            .default("")
            .validator(|v| parse_renames(v).map(|_| ())),
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
        .define(
            ConfigKey::new(
                "blacklist",
                ConfigType::List,
                Importance::Low,
                "Deprecated. Use exclude instead.",
            )
            .default(""),
        )
        .define(
            ConfigKey::new(
                "whitelist",
                ConfigType::List,
                Importance::Low,
                "Deprecated. Use include instead.",
            )
            .default(""),
        )
}

/// `old:new,...` as a map; each mapping must have exactly one colon.
fn parse_renames(text: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for mapping in split_list(text) {
        let parts: Vec<&str> = mapping.split(':').collect();
        match parts.as_slice() {
            [from, to] if !from.is_empty() && !to.is_empty() => {
                out.insert(from.to_string(), to.to_string());
            }
            _ => return Err(format!("Invalid rename mapping: {mapping}")),
        }
    }
    Ok(out)
}

pub struct ReplaceField {
    side: Side,
    rules: Rules,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

struct Rules {
    exclude: Vec<String>,
    include: Vec<String>,
    renames: HashMap<String, String>,
}

impl Rules {
    /// Kafka's `filter`: not excluded, and included when an include list
    /// is given.
    fn keeps(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name)
            && (self.include.is_empty() || self.include.iter().any(|i| i == name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames.get(name).map(String::as_str).unwrap_or(name)
    }

    fn schema(&self, schema: &Schema) -> Result<Schema> {
        let fields = schema
            .fields
            .iter()
            .filter(|f| self.keeps(&f.name))
            .map(|f| (self.renamed(&f.name).to_string(), f.schema.clone()))
            .collect();
        struct_like(schema, fields)
    }
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(ReplaceField::new(config, side)?))
}

impl ReplaceField {
    pub fn new(config: &Config, side: Side) -> Result<ReplaceField> {
        // The current key wins; the deprecated one is read when it is unset.
        let list = |key: &str, deprecated: &str| {
            if config.contains(key) {
                config.list(key)
            } else {
                config.list(deprecated)
            }
        };
        let renames_text = config.get("renames").unwrap_or("");
        let renames = parse_renames(renames_text)
            .map_err(|message| ConnectError::config("renames", renames_text, message))?;
        Ok(ReplaceField {
            side,
            rules: Rules {
                exclude: list("exclude", "blacklist"),
                include: list("include", "whitelist"),
                renames,
            },
            replace_null_with_default: config.bool_or("replace.null.with.default", true)?,
            cache: SchemaCache::new(),
        })
    }
}

impl Transform for ReplaceField {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        match schema {
            None => {
                let map = require_map(value, PURPOSE)?;
                let kept = map
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let name = k.as_str()?;
                        self.rules
                            .keeps(name)
                            .then(|| (Value::from(self.rules.renamed(name)), v))
                    })
                    .collect();
                self.side.put(&mut record, None, Value::Map(kept));
            }
            Some(schema) => {
                let old = require_struct(value, PURPOSE)?;
                let rules = &self.rules;
                let new_schema = self.cache.get_or_try_insert(&schema, |s| rules.schema(s))?;
                // The new schema's fields are the kept ones, in order.
                let Struct {
                    schema: old_schema,
                    values,
                } = old;
                let values = old_schema
                    .fields
                    .iter()
                    .zip(values)
                    .filter(|(field, _)| rules.keeps(&field.name))
                    .map(|(field, v)| field_value(&field.schema, v, self.replace_null_with_default))
                    .collect();
                let updated = Struct {
                    schema: new_schema.clone(),
                    values,
                };
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
    use crate::data::SchemaType;
    use crate::transforms::util::primitive;

    fn map(pairs: &[(&str, i64)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (Value::from(*k), Value::Int64(*v)))
                .collect(),
        )
    }

    fn record(schema: Option<crate::data::SchemaRef>, value: Value) -> ConnectRecord {
        ConnectRecord::new("t", None, Value::Null, schema, value)
    }

    #[test]
    fn schemaless_include_exclude_and_rename() {
        // Confluent's ReplaceField (Apache Kafka) page, docs.confluent.io,
        // "Rename a Field": renames=foo:c1,bar:c2 turns
        // {"foo":22,"bar":"baz"} into {"c1":22,"c2":"baz"}; here with a
        // field excluded and one kept too.
        let cfg = Config::from_pairs([("exclude", "drop"), ("renames", "foo:c1,bar:c2")]);
        let mut t = ReplaceField::new(&cfg, Side::Value).unwrap();
        let out = t
            .apply(record(
                None,
                map(&[("foo", 1), ("bar", 2), ("drop", 3), ("keep", 4)]),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, map(&[("c1", 1), ("c2", 2), ("keep", 4)]));

        let cfg = Config::from_pairs([("include", "a,b"), ("exclude", "b")]);
        let mut t = ReplaceField::new(&cfg, Side::Value).unwrap();
        let out = t
            .apply(record(None, map(&[("a", 1), ("b", 2), ("c", 3)])))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, map(&[("a", 1)]));
    }

    #[test]
    fn deprecated_whitelist_and_blacklist_still_work() {
        let cfg = Config::from_pairs([("whitelist", "a,b"), ("blacklist", "b")]);
        let mut t = ReplaceField::new(&cfg, Side::Key).unwrap();
        let mut r = record(None, Value::Null);
        r.key = map(&[("a", 1), ("b", 2), ("c", 3)]);
        assert_eq!(t.apply(r).unwrap().unwrap().key, map(&[("a", 1)]));
    }

    #[test]
    fn structs_get_the_filtered_renamed_schema() {
        let schema = Schema::structure(
            Some("row"),
            vec![
                ("id".into(), primitive(SchemaType::Int64, false)),
                ("secret".into(), primitive(SchemaType::String, true)),
                (
                    "name".into(),
                    Schema {
                        default: Some(Value::from("anon")),
                        ..Schema::optional_of(SchemaType::String)
                    }
                    .into_ref(),
                ),
            ],
        )
        .into_ref();
        let mut s = Struct::new(schema.clone());
        s.put("id", Value::Int64(7));
        s.put("secret", Value::from("x"));
        let cfg = Config::from_pairs([("exclude", "secret"), ("renames", "name:user_name")]);
        let mut t = ReplaceField::new(&cfg, Side::Value).unwrap();
        let out = t
            .apply(record(Some(schema), Value::Struct(s)))
            .unwrap()
            .unwrap();
        let out_schema = out.value_schema.as_ref().unwrap();
        let names: Vec<&str> = out_schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "user_name"]);
        assert_eq!(out_schema.name.as_deref(), Some("row"));
        assert_eq!(out.value.field("id"), Some(&Value::Int64(7)));
        // A null with a default reads as the default (replace.null.with.default).
        assert_eq!(out.value.field("user_name"), Some(&Value::from("anon")));
    }

    #[test]
    fn renaming_onto_a_kept_field_is_an_error() {
        let schema = Schema::structure(
            None,
            vec![
                ("a".into(), primitive(SchemaType::Int64, false)),
                ("b".into(), primitive(SchemaType::Int64, false)),
            ],
        )
        .into_ref();
        let mut t =
            ReplaceField::new(&Config::from_pairs([("renames", "a:b")]), Side::Value).unwrap();
        let r = record(Some(schema.clone()), Value::Struct(Struct::new(schema)));
        let err = t.apply(r).unwrap_err().to_string();
        assert!(err.contains("field name duplication b"), "{err}");
    }

    #[test]
    fn bad_renames_are_refused_when_built() {
        let cfg = Config::from_pairs([("renames", "a:b:c")]);
        let err = ReplaceField::new(&cfg, Side::Value)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "Invalid value \"a:b:c\" for configuration renames: Invalid rename mapping: a:b:c"
        );
        assert!(ReplaceField::new(&Config::from_pairs([("renames", "ab")]), Side::Value).is_err());
    }
}
