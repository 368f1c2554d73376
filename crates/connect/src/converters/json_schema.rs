//! The schema format of Kafka's `JsonConverter` (the `"schema"` half of
//! its envelope), both ways:
//!
//! ```json
//! {"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],
//!  "optional":false,"name":"x","version":1,"parameters":{"k":"v"}}
//! ```
//!
//! Keys are written in the order Kafka's `JsonConverter.asJsonSchema`
//! writes them (type, fields/items/keys/values, optional, name, version,
//! doc, parameters, default; a struct field's `field` last), and read with
//! its rules and its error messages (`asConnectSchema`).

use std::collections::BTreeMap;

use super::conversion;
use super::json::{to_connect_value, to_json, JsonOptions};
use super::json_text::Json;
use crate::data::{Field, Schema, SchemaRef, SchemaType};
use crate::error::Result;

/// A type's name in Kafka's JSON schema format (its `JsonSchema`
/// constants): Connect's names, except `float` and `double` for
/// float32 and float64.
fn type_name(kind: SchemaType) -> &'static str {
    match kind {
        SchemaType::Float32 => "float",
        SchemaType::Float64 => "double",
        other => other.name(),
    }
}

/// Connect schema → Kafka's JSON schema; `None` (schemaless) is JSON null.
pub fn to_json_schema(schema: Option<&Schema>, opts: &JsonOptions) -> Result<Json> {
    let Some(schema) = schema else {
        return Ok(Json::Null);
    };
    let mut out = vec![("type".to_string(), Json::str(type_name(schema.kind)))];
    match schema.kind {
        SchemaType::Array => {
            let items = child(schema.value_schema.as_deref(), "Array", "element")?;
            out.push(("items".into(), to_json_schema(Some(items), opts)?));
        }
        SchemaType::Map => {
            let keys = child(schema.key_schema.as_deref(), "Map", "key")?;
            let values = child(schema.value_schema.as_deref(), "Map", "value")?;
            out.push(("keys".into(), to_json_schema(Some(keys), opts)?));
            out.push(("values".into(), to_json_schema(Some(values), opts)?));
        }
        SchemaType::Struct => {
            let mut fields = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                let Json::Object(mut members) = to_json_schema(Some(&f.schema), opts)? else {
                    unreachable!("a schema is written as an object")
                };
                members.push(("field".into(), Json::str(&f.name)));
                fields.push(Json::Object(members));
            }
            out.push(("fields".into(), Json::Array(fields)));
        }
        _ => {}
    }
    out.push(("optional".into(), Json::Bool(schema.optional)));
    if let Some(name) = &schema.name {
        out.push(("name".into(), Json::str(name)));
    }
    if let Some(version) = schema.version {
        out.push(("version".into(), Json::int(version.into())));
    }
    if let Some(doc) = &schema.doc {
        out.push(("doc".into(), Json::str(doc)));
    }
    if !schema.parameters.is_empty() {
        let params = schema
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), Json::str(v)))
            .collect();
        out.push(("parameters".into(), Json::Object(params)));
    }
    if let Some(default) = &schema.default {
        if !default.is_null() {
            out.push(("default".into(), to_json(Some(schema), default, opts)?));
        }
    }
    Ok(Json::Object(out))
}

fn child<'a>(schema: Option<&'a Schema>, kind: &str, what: &str) -> Result<&'a Schema> {
    schema.ok_or_else(|| conversion(format!("{kind} schema has no {what} schema")))
}

/// Kafka's JSON schema → Connect schema; JSON null is `None` (schemaless).
pub fn to_connect_schema(json: &Json, opts: &JsonOptions) -> Result<Option<SchemaRef>> {
    if matches!(json, Json::Null) {
        return Ok(None);
    }
    let Some(type_name) = json.get("type").and_then(Json::as_str) else {
        return Err(conversion("Schema must contain 'type' field"));
    };
    let required = |key: &str, message: &str| {
        json.get(key)
            .filter(|j| !matches!(j, Json::Null))
            .ok_or_else(|| conversion(message))
    };
    let nested =
        |j: &Json, message: &str| to_connect_schema(j, opts)?.ok_or_else(|| conversion(message));
    let mut schema = match type_name {
        "array" => {
            let items = required("items", "Array schema did not specify the element type")?;
            Schema::array(nested(
                items,
                "Array schema did not specify the element type",
            )?)
        }
        "map" => {
            let keys = required("keys", "Map schema did not specify the key type")?;
            let values = required("values", "Map schema did not specify the value type")?;
            Schema::map(
                nested(keys, "Map schema did not specify the key type")?,
                nested(values, "Map schema did not specify the value type")?,
            )
        }
        "struct" => {
            let Some(Json::Array(fields)) = json.get("fields") else {
                return Err(conversion(
                    "Struct schema's \"fields\" argument is not an array.",
                ));
            };
            let mut out: Vec<Field> = Vec::with_capacity(fields.len());
            for f in fields {
                let Some(name) = f.get("field").and_then(Json::as_str) else {
                    return Err(conversion(
                        "Struct schema's field name not specified properly",
                    ));
                };
                if out.iter().any(|o| o.name == name) {
                    return Err(conversion(format!(
                        "Cannot create field because of field name duplication {name}"
                    )));
                }
                let schema = nested(f, "Struct schema's field type not specified")?;
                out.push(Field {
                    name: name.to_string(),
                    index: out.len(),
                    schema,
                });
            }
            Schema {
                fields: out,
                ..Schema::of(SchemaType::Struct)
            }
        }
        // Kafka's names; float32/float64 as Fjord wrote them before.
        "float" | "float32" => Schema::of(SchemaType::Float32),
        "double" | "float64" => Schema::of(SchemaType::Float64),
        other => match SchemaType::from_name(other).filter(|t| t.is_primitive()) {
            Some(kind) if other == kind.name() => Schema::of(kind),
            _ => return Err(conversion(format!("Unknown schema type: {other}"))),
        },
    };
    schema.optional = json.get("optional").and_then(Json::as_bool) == Some(true);
    schema.name = json.get("name").and_then(Json::as_str).map(str::to_string);
    schema.version = json
        .get("version")
        .filter(|v| v.is_integral())
        .and_then(Json::as_i64)
        .and_then(|v| i32::try_from(v).ok());
    schema.doc = json.get("doc").and_then(Json::as_str).map(str::to_string);
    if let Some(params) = json.get("parameters") {
        let Json::Object(members) = params else {
            return Err(conversion("Schema parameters must be a JSON object."));
        };
        let mut out = BTreeMap::new();
        for (k, v) in members {
            let Some(v) = v.as_str() else {
                return Err(conversion("Schema parameters must have string values."));
            };
            out.insert(k.clone(), v.to_string());
        }
        schema.parameters = out;
    }
    match json.get("default") {
        Some(default) if !matches!(default, Json::Null) => {
            // A struct default refers to the schema without its default
            // (the schema cannot contain itself).
            let without = schema.clone().into_ref();
            let value = to_connect_value(Some(&without), default, opts)?;
            schema.default = Some(value);
        }
        _ => {}
    }
    Ok(Some(schema.into_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{logical, Value};

    fn opts() -> JsonOptions {
        JsonOptions::default()
    }

    #[test]
    fn kafkas_example_schema_is_written_in_kafkas_key_order() {
        // The struct schema of the brief's example, as Kafka's
        // JsonConverter.asJsonSchema writes it.
        let schema = Schema {
            version: Some(1),
            ..Schema::structure(
                Some("x"),
                vec![("id".into(), Schema::of(SchemaType::Int32).into_ref())],
            )
        }
        .with_parameter("k", "v");
        let text = to_json_schema(Some(&schema), &opts()).unwrap().to_text();
        assert_eq!(
            text,
            r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"x","version":1,"parameters":{"k":"v"}}"#
        );
        let back = to_connect_schema(&Json::parse(text.as_bytes()).unwrap(), &opts())
            .unwrap()
            .unwrap();
        assert_eq!(*back, schema);
    }

    #[test]
    fn nested_schemas_with_defaults_and_docs_round_trip() {
        let decimal = Schema::of(SchemaType::Bytes)
            .with_name(logical::DECIMAL)
            .with_parameter(logical::DECIMAL_SCALE, "2");
        let inner = Schema::structure(
            Some("inner"),
            vec![(
                "tags".into(),
                Schema::array(Schema::of(SchemaType::String).into_ref())
                    .with_optional(true)
                    .into_ref(),
            )],
        );
        let schema = Schema::structure(
            Some("outer"),
            vec![
                (
                    "counts".into(),
                    Schema::map(
                        Schema::of(SchemaType::Int32).into_ref(),
                        Schema::of(SchemaType::Int64).into_ref(),
                    )
                    .into_ref(),
                ),
                ("inner".into(), inner.into_ref()),
                (
                    "price".into(),
                    Schema {
                        default: Some(Value::Bytes(vec![0x04, 0x01])),
                        ..decimal
                    }
                    .into_ref(),
                ),
                (
                    "level".into(),
                    Schema {
                        default: Some(Value::Int16(3)),
                        doc: Some("how deep".into()),
                        ..Schema::optional_of(SchemaType::Int16)
                    }
                    .into_ref(),
                ),
            ],
        );
        let json = to_json_schema(Some(&schema), &opts()).unwrap();
        let back = to_connect_schema(&json, &opts()).unwrap().unwrap();
        assert_eq!(*back, schema);
        assert_eq!(to_connect_schema(&Json::Null, &opts()).unwrap(), None);
    }

    #[test]
    fn bad_schemas_get_kafkas_messages() {
        let cases = [
            (r#"{"optional":true}"#, "Schema must contain 'type' field"),
            (r#"{"type":"int128"}"#, "Unknown schema type: int128"),
            (
                r#"{"type":"array"}"#,
                "Array schema did not specify the element type",
            ),
            (
                r#"{"type":"map","keys":{"type":"string"}}"#,
                "Map schema did not specify the value type",
            ),
            (
                r#"{"type":"struct","fields":{}}"#,
                "Struct schema's \"fields\" argument is not an array.",
            ),
            (
                r#"{"type":"struct","fields":[{"type":"int8"}]}"#,
                "Struct schema's field name not specified properly",
            ),
            (
                r#"{"type":"string","parameters":{"a":1}}"#,
                "Schema parameters must have string values.",
            ),
        ];
        for (text, message) in cases {
            let err = to_connect_schema(&Json::parse(text.as_bytes()).unwrap(), &opts())
                .unwrap_err()
                .to_string();
            assert!(err.contains(message), "{text}: {err}");
        }
    }
}
