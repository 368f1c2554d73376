//! `ExtractField$Key` / `ExtractField$Value`: replaces the key or value
//! with one of its fields (and the schema with that field's schema).
//!
//! `field.syntax.version=V1` (the default) reads `field` as one
//! top-level name; `V2` (KIP-821, Kafka 3.8) as a dotted path into nested
//! structs or maps, a segment holding dots written in backticks
//! (`` a.`b.c`.d ``).

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{Field, Schema, SchemaRef, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::{field_value, java_class_name, Side};
use super::Transform;

const PURPOSE: &str = "field extraction";

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "field",
            ConfigType::String,
            Importance::Medium,
            "Field name to extract.",
        ))
        .define(
            ConfigKey::new(
                "field.syntax.version",
                ConfigType::String,
                Importance::High,
                "Defines the version of the syntax to access fields. If set to `V1`, then the field paths are limited to access the elements at the root level of the struct or map. If set to `V2`, the syntax will support accessing nested elements.",
            )
            .default("V1")
            .one_of(&["V1", "V2"]),
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

pub struct ExtractField {
    side: Side,
    /// The configured text, for error messages.
    field: String,
    /// The path's segments; one for V1.
    path: Vec<String>,
    replace_null_with_default: bool,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(ExtractField::new(config, side)?))
}

impl ExtractField {
    pub fn new(config: &Config, side: Side) -> Result<ExtractField> {
        let field = config.get("field").unwrap_or("").to_string();
        if field.trim().is_empty() {
            return Err(ConnectError::config(
                "field",
                "null",
                "Missing required configuration \"field\" which has no default value.",
            ));
        }
        let version = config.choice_or("field.syntax.version", &["v1", "v2"], "V1")?;
        let path = if version == "v2" {
            parse_path(&field).map_err(|m| ConnectError::config("field", &field, m))?
        } else {
            vec![field.clone()]
        };
        Ok(ExtractField {
            side,
            field,
            path,
            replace_null_with_default: config.bool_or("replace.null.with.default", true)?,
        })
    }

    fn unknown_field(&self) -> ConnectError {
        ConnectError::Transform(format!("Unknown field: {}", self.field))
    }

    /// The field at the path in a struct schema.
    fn schema_field<'a>(&self, mut schema: &'a Schema) -> Result<&'a Field> {
        let (last, parents) = self.path.split_last().expect("a path has a segment");
        for name in parents {
            let f = schema.field(name).ok_or_else(|| self.unknown_field())?;
            schema = &f.schema;
        }
        schema.field(last).ok_or_else(|| self.unknown_field())
    }
}

/// A V2 path: dot-separated segments, a segment in backticks may hold
/// dots (a backtick inside one is written twice).
fn parse_path(text: &str) -> Result<Vec<String>, String> {
    let mut segments = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut segment = String::new();
        if chars.peek() == Some(&'`') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("Unterminated backtick in field path {text}")),
                    Some('`') if chars.peek() == Some(&'`') => {
                        chars.next();
                        segment.push('`');
                    }
                    Some('`') => break,
                    Some(c) => segment.push(c),
                }
            }
            if !matches!(chars.peek(), None | Some('.')) {
                return Err(format!(
                    "Expected '.' after a quoted segment in field path {text}"
                ));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                segment.push(c);
                chars.next();
            }
        }
        if segment.is_empty() {
            return Err(format!("Empty segment in field path {text}"));
        }
        segments.push(segment);
        match chars.next() {
            None => return Ok(segments),
            Some(_) => continue,
        }
    }
}

impl Transform for ExtractField {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let (schema, value) = self.side.take(&mut record);
        match schema {
            None => {
                let mut current = value;
                for name in &self.path {
                    current = match current {
                        Value::Null => Value::Null,
                        Value::Map(entries) => entries
                            .into_iter()
                            .find(|(k, _)| k.as_str() == Some(name))
                            .map(|(_, v)| v)
                            .unwrap_or(Value::Null),
                        other => {
                            return Err(ConnectError::Transform(format!(
                                "Only Map objects supported in absence of schema for [{PURPOSE}], found: {}",
                                java_class_name(&other)
                            )))
                        }
                    };
                }
                self.side.put(&mut record, None, current);
            }
            Some(schema) => {
                if schema.kind != crate::data::SchemaType::Struct {
                    return Err(ConnectError::Transform(format!(
                        "Only Struct objects supported for [{PURPOSE}], found: {}",
                        java_class_name(&value)
                    )));
                }
                let field_schema: SchemaRef = self.schema_field(&schema)?.schema.clone();
                let mut current = value;
                for name in &self.path {
                    current = match current {
                        Value::Null => Value::Null,
                        Value::Struct(mut s) => {
                            let field = s.schema.field(name).ok_or_else(|| self.unknown_field())?;
                            let v = std::mem::replace(&mut s.values[field.index], Value::Null);
                            field_value(&field.schema, v, self.replace_null_with_default)
                        }
                        other => {
                            return Err(ConnectError::Transform(format!(
                                "Only Struct objects supported for [{PURPOSE}], found: {}",
                                java_class_name(&other)
                            )))
                        }
                    };
                }
                self.side.put(&mut record, Some(field_schema), current);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SchemaType, Struct};
    use crate::transforms::util::primitive;

    fn extract(pairs: &[(&str, &str)], side: Side) -> ExtractField {
        ExtractField::new(&Config::from_pairs(pairs.iter().copied()), side).unwrap()
    }

    #[test]
    fn schemaless_keys_give_the_field() {
        let mut t = extract(&[("field", "id")], Side::Key);
        let mut r = ConnectRecord::new("t", None, Value::Null, None, Value::Null);
        r.key = Value::Map(vec![(Value::from("id"), Value::Int64(3))]);
        assert_eq!(t.apply(r).unwrap().unwrap().key, Value::Int64(3));
        // A missing field or a null key gives null.
        let mut r = ConnectRecord::new("t", None, Value::Map(vec![]), None, Value::Null);
        r = t.apply(r).unwrap().unwrap();
        assert_eq!(r.key, Value::Null);
        assert_eq!(t.apply(r).unwrap().unwrap().key, Value::Null);
    }

    #[test]
    fn struct_values_give_the_field_and_its_schema() {
        let schema = Schema::structure(
            None,
            vec![("name".into(), primitive(SchemaType::String, false))],
        )
        .into_ref();
        let mut s = Struct::new(schema.clone());
        s.put("name", Value::from("ada"));
        let mut t = extract(&[("field", "name")], Side::Value);
        let r = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(schema.clone()),
            Value::Struct(s),
        );
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.value, Value::from("ada"));
        assert_eq!(out.value_schema.unwrap().kind, SchemaType::String);

        let mut missing = extract(&[("field", "nope")], Side::Value);
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Null);
        assert_eq!(
            missing.apply(r).unwrap_err().to_string(),
            "transformation failed: Unknown field: nope"
        );
    }

    #[test]
    fn v2_paths_reach_nested_fields() {
        let inner = Schema::structure(
            None,
            vec![("a.b".into(), primitive(SchemaType::Int32, false))],
        )
        .into_ref();
        let outer = Schema::structure(None, vec![("x".into(), inner.clone())]).into_ref();
        let mut i = Struct::new(inner);
        i.put("a.b", Value::Int32(7));
        let mut o = Struct::new(outer.clone());
        o.put("x", Value::Struct(i));
        let mut t = extract(
            &[("field", "x.`a.b`"), ("field.syntax.version", "V2")],
            Side::Value,
        );
        let r = ConnectRecord::new("t", None, Value::Null, Some(outer), Value::Struct(o));
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.value, Value::Int32(7));

        let mut t = extract(
            &[("field", "a.b"), ("field.syntax.version", "V2")],
            Side::Value,
        );
        let nested = Value::Map(vec![(
            Value::from("a"),
            Value::Map(vec![(Value::from("b"), Value::from("deep"))]),
        )]);
        let r = ConnectRecord::new("t", None, Value::Null, None, nested);
        assert_eq!(t.apply(r).unwrap().unwrap().value, Value::from("deep"));
    }

    #[test]
    fn paths_and_versions_are_checked_when_built() {
        assert_eq!(parse_path("a.`b.c`.d").unwrap(), ["a", "b.c", "d"]);
        assert_eq!(parse_path("`a``b`").unwrap(), ["a`b"]);
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("`a").is_err());
        let bad = Config::from_pairs([("field", "a"), ("field.syntax.version", "V3")]);
        assert!(ExtractField::new(&bad, Side::Value).is_err());
        assert!(ExtractField::new(&Config::default(), Side::Value).is_err());
    }

    #[test]
    fn a_string_value_is_an_error_naming_its_class() {
        let mut t = extract(&[("field", "id")], Side::Value);
        let r = ConnectRecord::new("t", None, Value::Null, None, Value::from("x"));
        assert!(t
            .apply(r)
            .unwrap_err()
            .to_string()
            .ends_with("Only Map objects supported in absence of schema for [field extraction], found: java.lang.String"));
    }
}
