//! Structural checks of a JSON Schema document: every keyword we interpret
//! has the right JSON type and every `$ref` resolves. Unknown keywords are
//! allowed (JSON Schema ignores them).

use serde_json::{Map, Value};

use super::JsonSchema;
use crate::schema::SchemaError;

const TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// Keywords whose value is one schema.
const ONE_SCHEMA: &[&str] = &[
    "additionalProperties",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
];
/// Keywords whose value is a non-empty array of schemas.
const SCHEMA_ARRAYS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value is an object of schemas.
const SCHEMA_MAPS: &[&str] = &["properties", "patternProperties", "definitions", "$defs"];
const NON_NEGATIVE_INTS: &[&str] = &[
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
];
const NUMBERS: &[&str] = &["minimum", "maximum", "multipleOf"];

fn invalid(path: &str, msg: impl std::fmt::Display) -> SchemaError {
    SchemaError::invalid(format!("{path}: {msg}"))
}

pub(super) fn schema(s: &JsonSchema, doc: usize, v: &Value, path: &str) -> Result<(), SchemaError> {
    match v {
        Value::Bool(_) => Ok(()),
        Value::Object(m) => object(s, doc, m, path),
        other => Err(invalid(
            path,
            format!("a schema must be an object or a boolean, found {other}"),
        )),
    }
}

fn object(
    s: &JsonSchema,
    doc: usize,
    m: &Map<String, Value>,
    path: &str,
) -> Result<(), SchemaError> {
    if let Some(r) = m.get("$ref") {
        let Some(r) = r.as_str() else {
            return Err(invalid(path, "$ref must be a string"));
        };
        if s.resolve(doc, r).is_none() {
            return Err(invalid(path, format!("$ref {r} does not resolve")));
        }
    }
    match m.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts))
            if !ts.is_empty()
                && ts
                    .iter()
                    .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
        Some(other) => return Err(invalid(path, format!("invalid type {other}"))),
    }
    for key in ONE_SCHEMA {
        if let Some(sub) = m.get(*key) {
            schema(s, doc, sub, &format!("{path}/{key}"))?;
        }
    }
    for key in SCHEMA_ARRAYS {
        if let Some(sub) = m.get(*key) {
            match sub {
                Value::Array(a) if !a.is_empty() => {
                    for (i, x) in a.iter().enumerate() {
                        schema(s, doc, x, &format!("{path}/{key}/{i}"))?;
                    }
                }
                _ => {
                    return Err(invalid(
                        path,
                        format!("{key} must be a non-empty array of schemas"),
                    ))
                }
            }
        }
    }
    for key in SCHEMA_MAPS {
        if let Some(sub) = m.get(*key) {
            let Value::Object(props) = sub else {
                return Err(invalid(path, format!("{key} must be an object")));
            };
            for (name, x) in props {
                schema(s, doc, x, &format!("{path}/{key}/{name}"))?;
            }
        }
    }
    match m.get("items") {
        None => {}
        Some(Value::Array(a)) => {
            for (i, x) in a.iter().enumerate() {
                schema(s, doc, x, &format!("{path}/items/{i}"))?;
            }
        }
        Some(x) => schema(s, doc, x, &format!("{path}/items"))?,
    }
    if let Some(req) = m.get("required") {
        if !req
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err(invalid(path, "required must be an array of strings"));
        }
    }
    if let Some(e) = m.get("enum") {
        if !e.is_array() {
            return Err(invalid(path, "enum must be an array"));
        }
    }
    if let Some(Value::Object(deps)) = m.get("dependencies") {
        for (name, d) in deps {
            match d {
                Value::Array(a) if a.iter().all(Value::is_string) => {}
                Value::Array(_) => {
                    return Err(invalid(path, "dependencies arrays hold property names"))
                }
                x => schema(s, doc, x, &format!("{path}/dependencies/{name}"))?,
            }
        }
    }
    for key in NON_NEGATIVE_INTS {
        if let Some(x) = m.get(*key) {
            if x.as_u64().is_none() && !x.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0) {
                return Err(invalid(
                    path,
                    format!("{key} must be a non-negative integer"),
                ));
            }
        }
    }
    for key in NUMBERS {
        if let Some(x) = m.get(*key) {
            if !x.is_number() {
                return Err(invalid(path, format!("{key} must be a number")));
            }
        }
    }
    if m.get("multipleOf")
        .and_then(Value::as_f64)
        .is_some_and(|f| f <= 0.0)
    {
        return Err(invalid(path, "multipleOf must be greater than 0"));
    }
    for key in ["exclusiveMinimum", "exclusiveMaximum"] {
        // A number (draft 6+) or a boolean (draft 4).
        if let Some(x) = m.get(key) {
            if !x.is_number() && !x.is_boolean() {
                return Err(invalid(path, format!("{key} must be a number")));
            }
        }
    }
    for key in [
        "pattern",
        "format",
        "title",
        "description",
        "$id",
        "$schema",
    ] {
        if let Some(x) = m.get(key) {
            if !x.is_string() {
                return Err(invalid(path, format!("{key} must be a string")));
            }
        }
    }
    Ok(())
}
