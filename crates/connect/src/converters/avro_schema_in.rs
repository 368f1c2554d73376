//! Avro schema (JSON text) → Connect schema: the reading half of
//! [`avro_data`](super), with Avro's name rules (namespaces inherited by
//! nested types, named types referenced by name after their definition).

use std::collections::HashMap;

use super::{
    apply_connect_props, fields_of, DECIMAL_PRECISION, DEFAULT_NAME, ENUM, FIXED_SIZE, MAP_ENTRY,
    NAMESPACE, UNION, UNION_NULL,
};
use crate::converters::conversion;
use crate::converters::json_text::Json;
use crate::data::{logical, Schema, SchemaRef, SchemaType, Value};
use crate::error::Result;

/// The Connect schema of Avro schema `text`, whose named types may be
/// defined in `references` (schema texts, each before those using it).
pub fn connect_schema(text: &str, references: &[String]) -> Result<SchemaRef> {
    let parse = |t: &str| {
        Json::parse(t.as_bytes())
            .map_err(|e| conversion(format!("the registry's Avro schema is not JSON: {e}")))
    };
    let mut names = HashMap::new();
    for r in references {
        read(&parse(r)?, "", &mut names)?;
    }
    read(&parse(text)?, "", &mut names)
}

/// Named types seen so far, by full name.
type Names = HashMap<String, SchemaRef>;

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

/// A named type's full name and the namespace its children inherit.
fn name_of(json: &Json, enclosing: &str) -> Result<(String, String)> {
    let name = json
        .get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| conversion("an Avro named type has no name"))?;
    let ns = json
        .get("namespace")
        .and_then(Json::as_str)
        .unwrap_or(enclosing);
    let full = full_name(name, ns);
    let child_ns = full.rsplit_once('.').map_or("", |(ns, _)| ns).to_string();
    Ok((full, child_ns))
}

fn read(json: &Json, ns: &str, names: &mut Names) -> Result<SchemaRef> {
    match json {
        Json::String(t) => primitive(t)
            .map(|k| Schema::of(k).into_ref())
            .or_else(|| names.get(&full_name(t, ns)).cloned())
            .or_else(|| names.get(t.as_str()).cloned())
            .ok_or_else(|| conversion(format!("unknown Avro type {t:?}"))),
        Json::Array(branches) => {
            let non_null: Vec<&Json> = branches
                .iter()
                .filter(|b| b.as_str() != Some("null"))
                .collect();
            match non_null.as_slice() {
                [one] if branches.len() == 2 => {
                    let inner = read(one, ns, names)?;
                    let mut s = (*inner).clone();
                    s.optional = true;
                    Ok(s.into_ref())
                }
                [one] if branches.len() == 1 => read(one, ns, names),
                [] => Err(conversion(
                    "an Avro union of null alone has no Connect form",
                )),
                several => {
                    let null_at = branches.iter().position(|b| b.as_str() == Some("null"));
                    let mut fields: Vec<(String, SchemaRef)> = Vec::with_capacity(several.len());
                    for b in several {
                        let s = read(b, ns, names)?;
                        let name = branch_name(b, &s);
                        if fields.iter().any(|(n, _)| *n == name) {
                            return Err(conversion(format!(
                                "Avro union has two {name} branches: {}",
                                json.to_text()
                            )));
                        }
                        let mut s = (*s).clone();
                        s.optional = true;
                        fields.push((name, s.into_ref()));
                    }
                    let mut s = Schema {
                        name: Some(UNION.to_string()),
                        optional: null_at.is_some(),
                        fields: fields_of(fields),
                        ..Schema::of(SchemaType::Struct)
                    };
                    if let Some(at) = null_at.filter(|at| *at != 0) {
                        s = s.with_parameter(UNION_NULL, &at.to_string());
                    }
                    Ok(s.into_ref())
                }
            }
        }
        Json::Object(_) => read_object(json, ns, names),
        other => Err(conversion(format!(
            "not an Avro schema: {}",
            other.to_text()
        ))),
    }
}

/// A union branch's field name: a named type's simple name, otherwise the
/// Avro type's name (`int`, `array`).
fn branch_name(json: &Json, schema: &Schema) -> String {
    let named = |full: &str| full.rsplit('.').next().unwrap_or(full).to_string();
    match json {
        Json::String(t) if primitive(t).is_some() => t.clone(),
        Json::String(t) => named(t),
        _ => match json.get("type").and_then(Json::as_str) {
            Some("record" | "error" | "enum" | "fixed") => {
                named(json.get("name").and_then(Json::as_str).unwrap_or_default())
            }
            Some(t) => t.to_string(),
            None => schema.kind.name().to_string(),
        },
    }
}

fn primitive(name: &str) -> Option<SchemaType> {
    Some(match name {
        "boolean" => SchemaType::Boolean,
        "int" => SchemaType::Int32,
        "long" => SchemaType::Int64,
        "float" => SchemaType::Float32,
        "double" => SchemaType::Float64,
        "string" => SchemaType::String,
        "bytes" => SchemaType::Bytes,
        _ => return None,
    })
}

fn read_object(json: &Json, ns: &str, names: &mut Names) -> Result<SchemaRef> {
    let t = match json.get("type") {
        Some(Json::String(t)) => t.as_str(),
        // {"type": {...}} or {"type": [...]}: the inner schema.
        Some(inner) => return read(inner, ns, names),
        None => return Err(conversion("an Avro schema object has no type")),
    };
    let logical_type = json.get("logicalType").and_then(Json::as_str);
    let mut schema = match t {
        "record" | "error" => {
            let (full, child_ns) = name_of(json, ns)?;
            let Some(Json::Array(fields)) = json.get("fields") else {
                return Err(conversion(format!("Avro record {full} has no fields")));
            };
            let mut pairs = Vec::with_capacity(fields.len());
            for f in fields {
                let name = f
                    .get("name")
                    .and_then(Json::as_str)
                    .ok_or_else(|| conversion(format!("a field of {full} has no name")))?;
                let ftype = f
                    .get("type")
                    .ok_or_else(|| conversion(format!("field {full}.{name} has no type")))?;
                let mut fs = read(ftype, &child_ns, names)?;
                match f.get("default") {
                    Some(Json::Null) | None => {}
                    Some(d) => {
                        let mut with = (*fs).clone();
                        with.default = Some(default_value(&fs, d)?);
                        fs = with.into_ref();
                    }
                }
                if let Some(doc) = f.get("doc").and_then(Json::as_str) {
                    let mut with = (*fs).clone();
                    with.doc = Some(doc.to_string());
                    fs = with.into_ref();
                }
                pairs.push((name.to_string(), fs));
            }
            let is_default = full
                .strip_prefix(&format!("{NAMESPACE}.{DEFAULT_NAME}"))
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()));
            let mut s = Schema {
                name: (!is_default).then(|| full.clone()),
                fields: fields_of(pairs),
                ..Schema::of(SchemaType::Struct)
            };
            if let Some(doc) = json.get("doc").and_then(Json::as_str) {
                s.doc = Some(doc.to_string());
            }
            apply_connect_props(json, &mut s)?;
            let s = s.into_ref();
            names.insert(full, s.clone());
            return Ok(s);
        }
        "enum" => {
            let (full, _) = name_of(json, ns)?;
            let Some(Json::Array(symbols)) = json.get("symbols") else {
                return Err(conversion(format!("Avro enum {full} has no symbols")));
            };
            let mut s = Schema::of(SchemaType::String)
                .with_name(&full)
                .with_parameter(ENUM, &full);
            for sym in symbols.iter().filter_map(Json::as_str) {
                s = s.with_parameter(&format!("{ENUM}.{sym}"), sym);
            }
            apply_connect_props(json, &mut s)?;
            let s = s.into_ref();
            names.insert(full, s.clone());
            return Ok(s);
        }
        "fixed" => {
            let (full, _) = name_of(json, ns)?;
            let size = json.get("size").and_then(Json::as_i64).unwrap_or(0);
            let mut s = if logical_type == Some("decimal") {
                decimal_schema(json)
            } else {
                Schema::of(SchemaType::Bytes)
                    .with_name(&full)
                    .with_parameter(FIXED_SIZE, &size.to_string())
            };
            apply_connect_props(json, &mut s)?;
            let s = s.into_ref();
            names.insert(full, s.clone());
            return Ok(s);
        }
        "array" => {
            let items = json
                .get("items")
                .ok_or_else(|| conversion("an Avro array has no items"))?;
            let is_entry =
                |j: &Json| j.get("connect.internal.type").and_then(Json::as_str) == Some(MAP_ENTRY);
            let items_schema = read(items, ns, names)?;
            let entry_ref = items_schema
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(&format!("{NAMESPACE}.{MAP_ENTRY}")));
            if is_entry(items) || entry_ref {
                let (Some(k), Some(v)) = (items_schema.field("key"), items_schema.field("value"))
                else {
                    return Err(conversion("a MapEntry record needs key and value fields"));
                };
                Schema::map(k.schema.clone(), v.schema.clone())
            } else {
                Schema::array(items_schema)
            }
        }
        "map" => {
            let values = json
                .get("values")
                .ok_or_else(|| conversion("an Avro map has no values"))?;
            Schema::map(
                Schema::of(SchemaType::String).into_ref(),
                read(values, ns, names)?,
            )
        }
        "bytes" if logical_type == Some("decimal") => decimal_schema(json),
        "int" if logical_type == Some("date") => {
            Schema::of(SchemaType::Int32).with_name(logical::DATE)
        }
        "int" if logical_type == Some("time-millis") => {
            Schema::of(SchemaType::Int32).with_name(logical::TIME)
        }
        "long" if logical_type == Some("timestamp-millis") => {
            Schema::of(SchemaType::Int64).with_name(logical::TIMESTAMP)
        }
        "int" => match json.get("connect.type").and_then(Json::as_str) {
            Some("int8") => Schema::of(SchemaType::Int8),
            Some("int16") => Schema::of(SchemaType::Int16),
            _ => Schema::of(SchemaType::Int32),
        },
        other => match primitive(other) {
            Some(k) => Schema::of(k),
            None => return read(&Json::str(other), ns, names),
        },
    };
    apply_connect_props(json, &mut schema)?;
    Ok(schema.into_ref())
}

/// A Connect Decimal from an Avro decimal's scale and precision.
fn decimal_schema(json: &Json) -> Schema {
    let scale = json.get("scale").and_then(Json::as_i64).unwrap_or(0);
    let mut s = Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, &scale.to_string());
    if let Some(p) = json.get("precision").and_then(Json::as_i64) {
        s = s.with_parameter(DECIMAL_PRECISION, &p.to_string());
    }
    s
}

/// A field default in Avro's JSON encoding as a Connect value.
fn default_value(schema: &SchemaRef, json: &Json) -> Result<Value> {
    let bad = || {
        conversion(format!(
            "default {} does not fit a {} field",
            json.to_text(),
            schema.kind.name()
        ))
    };
    let int = || json.as_i64().ok_or_else(bad);
    Ok(match (schema.kind, json) {
        (_, Json::Null) => Value::Null,
        (SchemaType::Boolean, Json::Bool(b)) => Value::Boolean(*b),
        (SchemaType::Int8, _) => Value::Int8(int()?.try_into().map_err(|_| bad())?),
        (SchemaType::Int16, _) => Value::Int16(int()?.try_into().map_err(|_| bad())?),
        (SchemaType::Int32, _) => Value::Int32(int()?.try_into().map_err(|_| bad())?),
        (SchemaType::Int64, _) => Value::Int64(int()?),
        (SchemaType::Float32, _) => Value::Float32(json.as_f64().ok_or_else(bad)? as f32),
        (SchemaType::Float64, _) => Value::Float64(json.as_f64().ok_or_else(bad)?),
        (SchemaType::String, Json::String(s)) => Value::String(s.clone()),
        // Avro writes bytes defaults as ISO-8859-1 text.
        (SchemaType::Bytes, Json::String(s)) => Value::Bytes(s.chars().map(|c| c as u8).collect()),
        (SchemaType::Array, Json::Array(items)) => {
            let es = schema.value_schema.as_ref().ok_or_else(bad)?;
            Value::Array(
                items
                    .iter()
                    .map(|j| default_value(es, j))
                    .collect::<Result<_>>()?,
            )
        }
        (SchemaType::Map, Json::Object(members)) => {
            let vs = schema.value_schema.as_ref().ok_or_else(bad)?;
            Value::Map(
                members
                    .iter()
                    .map(|(k, j)| Ok((Value::String(k.clone()), default_value(vs, j)?)))
                    .collect::<Result<_>>()?,
            )
        }
        (SchemaType::Struct, Json::Object(_)) => {
            let mut s = crate::data::Struct::new(schema.clone());
            for f in &schema.fields {
                if let Some(j) = json.get(&f.name) {
                    s.values[f.index] = default_value(&f.schema, j)?;
                }
            }
            Value::Struct(s)
        }
        _ => return Err(bad()),
    })
}
