//! Confluent's `AvroData` mapping between Connect schemas and values and
//! Avro's, with no I/O:
//!
//! | Connect                        | Avro                                      |
//! |--------------------------------|-------------------------------------------|
//! | struct named `a.b.C`           | record `C` in namespace `a.b`             |
//! | unnamed struct                 | record `io.confluent.connect.avro.ConnectDefault` |
//! | optional X                     | union `["null", X]` (field default null)  |
//! | int8, int16                    | int with `"connect.type"`                 |
//! | Decimal, Date, Time, Timestamp | bytes `decimal`, int `date`, int `time-millis`, long `timestamp-millis` |
//! | map with string keys           | map                                       |
//! | map with other keys            | array of `MapEntry` records (key, value)  |
//! | string (from an enum)          | enum (symbols in `io.confluent.connect.avro.Enum.*` parameters) |
//! | bytes (from a fixed)           | fixed (`connect.fixed.size`)              |
//!
//! Connect-only facts (a schema's name, version, doc and parameters) ride
//! in `connect.*` properties, as Confluent writes them, so a Connect schema
//! survives the trip through the registry unchanged.
//!
//! A union of several non-null types is a struct named
//! `io.confluent.connect.avro.Union` with one optional field per branch,
//! as Confluent maps it. The serializer picks a written union's branch by
//! the value's shape, so a union of two types one value fits (`int` and
//! `long`) writes the first.

use std::collections::{BTreeMap, HashMap};

use apache_avro::types::Value as Avro;

use super::conversion;
use super::decimal;
use super::json_text::Json;
use crate::data::{logical, Field, Schema, SchemaRef, SchemaType, Struct, Value};
use crate::error::Result;

const NAMESPACE: &str = "io.confluent.connect.avro";
const DEFAULT_NAME: &str = "ConnectDefault";
const MAP_ENTRY: &str = "MapEntry";
pub const ENUM: &str = "io.confluent.connect.avro.Enum";
pub const FIXED_SIZE: &str = "connect.fixed.size";
/// The struct name Confluent gives a union of several types: one optional
/// field per branch, named after the branch's type (`int`, `string`) or
/// its simple name (records, enums, fixed), at most one field set.
pub const UNION: &str = "io.confluent.connect.avro.Union";
/// A nullable union's parameter: where its `null` branch is, when not
/// first (so the union is written back as it was read).
pub const UNION_NULL: &str = "io.confluent.connect.avro.Union.null";
pub const DECIMAL_PRECISION: &str = "connect.decimal.precision";
/// Confluent's precision for a Decimal schema that does not state one.
const DEFAULT_PRECISION: u32 = 64;

/// Connect → Avro schema text (JSON), and the record full name for the
/// subject name strategies (None unless the schema is a record).
pub fn avro_schema(schema: &Schema) -> Result<(String, Option<String>)> {
    let mut names = HashMap::new();
    let json = to_avro(schema, &mut names, true)?;
    let record = match &json {
        Json::Object(_) if json.get("type").and_then(Json::as_str) == Some("record") => {
            let name = json.get("name").and_then(Json::as_str).unwrap_or_default();
            Some(match json.get("namespace").and_then(Json::as_str) {
                Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
                _ => name.to_string(),
            })
        }
        _ => None,
    };
    Ok((json.to_text(), record))
}

/// Named types already written (full name → definition text), so a
/// struct used twice is referenced by name the second time.
type Names = HashMap<String, String>;

fn to_avro(schema: &Schema, names: &mut Names, with_optional: bool) -> Result<Json> {
    if is_union(schema) {
        let mut branches = Vec::with_capacity(schema.fields.len() + 1);
        for f in &schema.fields {
            branches.push(to_avro_required(&f.schema, names)?);
        }
        if let Some(at) = union_null(schema) {
            branches.insert(at.min(branches.len()), Json::str("null"));
        }
        return Ok(Json::Array(branches));
    }
    let inner = to_avro_required(schema, names)?;
    if !(with_optional && schema.optional) {
        return Ok(inner);
    }
    Ok(match &schema.default {
        Some(d) if !d.is_null() => Json::Array(vec![inner, Json::str("null")]),
        _ => Json::Array(vec![Json::str("null"), inner]),
    })
}

fn is_union(schema: &Schema) -> bool {
    schema.kind == SchemaType::Struct && schema.name.as_deref() == Some(UNION)
}

/// A union struct's `null` branch position (None: not nullable).
fn union_null(schema: &Schema) -> Option<usize> {
    schema.optional.then(|| {
        schema
            .parameters
            .get(UNION_NULL)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    })
}

/// Splits a Connect name into Avro's (name, namespace), replacing what
/// Avro names cannot hold with `_`.
fn split_name(full: &str) -> (String, String) {
    let scrub = |part: &str| {
        let s: String = part
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
            format!("_{s}")
        } else {
            s
        }
    };
    match full.rsplit_once('.') {
        Some((ns, name)) => (
            scrub(name),
            ns.split('.').map(scrub).collect::<Vec<_>>().join("."),
        ),
        None => (scrub(full), String::new()),
    }
}

/// Defines named type `base` (in `namespace`) built by `body`, or refers to
/// it when an identical one is already defined; internal names
/// (`ConnectDefault`, `MapEntry`) get a number when taken by another shape.
fn named(
    names: &mut Names,
    base: &str,
    namespace: &str,
    numbered: bool,
    body: impl Fn(&str) -> Vec<(String, Json)>,
) -> Result<Json> {
    for n in 1.. {
        let name = if n == 1 {
            base.to_string()
        } else {
            format!("{base}{n}")
        };
        let full = if namespace.is_empty() {
            name.clone()
        } else {
            format!("{namespace}.{name}")
        };
        let mut members = body(&name);
        if !namespace.is_empty() {
            members.insert(2, ("namespace".into(), Json::str(namespace)));
        }
        let def = Json::Object(members);
        let text = def.to_text();
        match names.get(&full) {
            None => {
                names.insert(full, text);
                return Ok(def);
            }
            Some(existing) if *existing == text => return Ok(Json::str(full)),
            Some(_) if numbered => continue,
            Some(_) => {
                return Err(conversion(format!(
                    "Avro schema name {full} is used by two different Connect schemas"
                )))
            }
        }
    }
    unreachable!("some number is free")
}

fn to_avro_required(schema: &Schema, names: &mut Names) -> Result<Json> {
    let mut props: Vec<(String, Json)> = Vec::new();
    let logical_name = schema.name.as_deref();
    let type_name = match schema.kind {
        SchemaType::Boolean => "boolean",
        SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 => "int",
        SchemaType::Int64 => "long",
        SchemaType::Float32 => "float",
        SchemaType::Float64 => "double",
        SchemaType::String => "string",
        SchemaType::Bytes => "bytes",
        SchemaType::Array | SchemaType::Map | SchemaType::Struct => "",
    };
    if matches!(schema.kind, SchemaType::Int8 | SchemaType::Int16) {
        props.push(("connect.type".into(), Json::str(schema.kind.name())));
    }
    // Facts Avro has no place for ride in connect.* properties.
    let connect_props = |props: &mut Vec<(String, Json)>, with_name: bool| {
        if let Some(v) = schema.version {
            props.push(("connect.version".into(), Json::int(v.into())));
        }
        if let Some(doc) = &schema.doc {
            props.push(("connect.doc".into(), Json::str(doc)));
        }
        if !schema.parameters.is_empty() {
            let p = schema
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), Json::str(v)))
                .collect();
            props.push(("connect.parameters".into(), Json::Object(p)));
        }
        if with_name {
            if let Some(n) = &schema.name {
                props.push(("connect.name".into(), Json::str(n)));
            }
        }
    };
    let json = match schema.kind {
        SchemaType::Struct => {
            let (name, namespace) = match &schema.name {
                Some(n) => split_name(n),
                None => {
                    // Numbered in the order Confluent's AvroData meets them
                    // (outermost first): reserve the name before the fields.
                    let name = (1..)
                        .map(|k| match k {
                            1 => DEFAULT_NAME.to_string(),
                            k => format!("{DEFAULT_NAME}{k}"),
                        })
                        .find(|n| !names.contains_key(&format!("{NAMESPACE}.{n}")))
                        .expect("some number is free");
                    names.insert(format!("{NAMESPACE}.{name}"), String::new());
                    (name, NAMESPACE.to_string())
                }
            };
            let mut fields = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                let mut field = vec![
                    ("name".into(), Json::str(&f.name)),
                    ("type".into(), to_avro(&f.schema, names, true)?),
                ];
                match &f.schema.default {
                    Some(d) if !d.is_null() => {
                        field.push(("default".into(), default_json(&f.schema, d)?))
                    }
                    // A null default must be the union's first branch.
                    _ if f.schema.optional
                        && (!is_union(&f.schema) || union_null(&f.schema) == Some(0)) =>
                    {
                        field.push(("default".into(), Json::Null))
                    }
                    _ => {}
                }
                if let Some(doc) = &f.schema.doc {
                    field.push(("doc".into(), Json::str(doc)));
                }
                fields.push(Json::Object(field));
            }
            let renamed = schema.name.as_deref().is_some_and(|n| {
                let (name, ns) = split_name(n);
                let full = if ns.is_empty() {
                    name
                } else {
                    format!("{ns}.{name}")
                };
                full != n
            });
            connect_props(&mut props, renamed);
            if schema.name.is_none() {
                // The name reserved above: defined here, never referenced.
                names.remove(&format!("{NAMESPACE}.{name}"));
            }
            return named(names, &name, &namespace, false, |n| {
                let mut m = vec![
                    ("type".into(), Json::str("record")),
                    ("name".into(), Json::str(n)),
                    ("fields".into(), Json::Array(fields.clone())),
                ];
                m.extend(props.iter().cloned());
                m
            });
        }
        SchemaType::Array => {
            let items = schema
                .value_schema
                .as_deref()
                .ok_or_else(|| conversion("Array schema has no element schema"))?;
            vec![
                ("type".into(), Json::str("array")),
                ("items".into(), to_avro(items, names, true)?),
            ]
        }
        SchemaType::Map => {
            let (Some(keys), Some(values)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(conversion("Map schema has no key or value schema"));
            };
            if keys.kind == SchemaType::String && !keys.optional {
                vec![
                    ("type".into(), Json::str("map")),
                    ("values".into(), to_avro(values, names, true)?),
                ]
            } else {
                let (k, v) = (to_avro(keys, names, true)?, to_avro(values, names, true)?);
                let field = |name: &str, t: &Json, optional: bool| {
                    let mut f = vec![("name".into(), Json::str(name)), ("type".into(), t.clone())];
                    if optional {
                        f.push(("default".into(), Json::Null));
                    }
                    Json::Object(f)
                };
                let entry = named(names, MAP_ENTRY, NAMESPACE, true, |n| {
                    vec![
                        ("type".into(), Json::str("record")),
                        ("name".into(), Json::str(n)),
                        (
                            "fields".into(),
                            Json::Array(vec![
                                field("key", &k, keys.optional),
                                field("value", &v, values.optional),
                            ]),
                        ),
                        ("connect.internal.type".into(), Json::str(MAP_ENTRY)),
                    ]
                })?;
                vec![("type".into(), Json::str("array")), ("items".into(), entry)]
            }
        }
        _ if logical_name == Some(logical::DECIMAL) => {
            let scale = decimal::scale_of(schema).map_err(conversion)?;
            vec![
                ("type".into(), Json::str("bytes")),
                ("scale".into(), Json::int(scale.into())),
                ("precision".into(), Json::int(precision_of(schema).into())),
                ("logicalType".into(), Json::str("decimal")),
            ]
        }
        _ if schema.parameters.contains_key(ENUM) && schema.kind == SchemaType::String => {
            let full = &schema.parameters[ENUM];
            let (name, ns) = split_name(full);
            let prefix = format!("{ENUM}.");
            let symbols: Vec<Json> = schema
                .parameters
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|_| Json::str(v)))
                .collect();
            connect_props(&mut props, false);
            return named(names, &name, &ns, false, |n| {
                let mut m = vec![
                    ("type".into(), Json::str("enum")),
                    ("name".into(), Json::str(n)),
                    ("symbols".into(), Json::Array(symbols.clone())),
                ];
                m.extend(props.iter().cloned());
                m
            });
        }
        SchemaType::Bytes if schema.parameters.contains_key(FIXED_SIZE) => {
            let size: i64 = schema.parameters[FIXED_SIZE]
                .trim()
                .parse()
                .map_err(|_| conversion("connect.fixed.size is not a number"))?;
            let full = schema.name.as_deref().unwrap_or("Fixed");
            let (name, ns) = split_name(full);
            connect_props(&mut props, false);
            return named(names, &name, &ns, false, |n| {
                let mut m = vec![
                    ("type".into(), Json::str("fixed")),
                    ("name".into(), Json::str(n)),
                    ("size".into(), Json::int(size)),
                ];
                m.extend(props.iter().cloned());
                m
            });
        }
        _ => {
            let mut m = vec![("type".into(), Json::str(type_name))];
            match (logical_name, schema.kind) {
                (Some(logical::DATE), SchemaType::Int32) => {
                    m.push(("logicalType".into(), Json::str("date")))
                }
                (Some(logical::TIME), SchemaType::Int32) => {
                    m.push(("logicalType".into(), Json::str("time-millis")))
                }
                (Some(logical::TIMESTAMP), SchemaType::Int64) => {
                    m.push(("logicalType".into(), Json::str("timestamp-millis")))
                }
                _ => {}
            }
            m
        }
    };
    let mut members = json;
    members.extend(props);
    connect_props(&mut members, true);
    if members.len() == 1 {
        return Ok(members.remove(0).1);
    }
    Ok(Json::Object(members))
}

/// A Decimal's precision (Confluent's `connect.decimal.precision`, 64
/// when absent).
fn precision_of(schema: &Schema) -> u32 {
    schema
        .parameters
        .get(DECIMAL_PRECISION)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(DEFAULT_PRECISION)
}

/// The byte length apache-avro wants for a decimal of this precision.
fn len_for_precision(precision: u32) -> usize {
    (1..)
        .find(|len: &usize| {
            ((8 * len - 1) as f64 * std::f64::consts::LOG10_2).floor() >= precision as f64
        })
        .expect("some length holds any precision")
}

/// A default value in Avro's JSON encoding (bytes as ISO-8859-1 text).
fn default_json(schema: &Schema, value: &Value) -> Result<Json> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int8(v) => Json::int((*v).into()),
        Value::Int16(v) => Json::int((*v).into()),
        Value::Int32(v) => Json::int((*v).into()),
        Value::Int64(v) => Json::int(*v),
        Value::Float32(v) => Json::float32(*v),
        Value::Float64(v) => Json::float(*v),
        Value::String(s) => Json::str(s),
        Value::Bytes(b) => Json::String(b.iter().map(|&c| c as char).collect()),
        Value::Array(items) => {
            let items_schema = schema.value_schema.as_deref().unwrap_or(schema);
            Json::Array(
                items
                    .iter()
                    .map(|v| default_json(items_schema, v))
                    .collect::<Result<_>>()?,
            )
        }
        Value::Map(entries) => {
            let vs = schema.value_schema.as_deref().unwrap_or(schema);
            let mut members = Vec::new();
            for (k, v) in entries {
                let Value::String(k) = k else {
                    return Err(conversion(
                        "a map default with non-string keys has no Avro form",
                    ));
                };
                members.push((k.clone(), default_json(vs, v)?));
            }
            Json::Object(members)
        }
        Value::Struct(s) => Json::Object(
            s.iter()
                .map(|(f, v)| Ok((f.name.clone(), default_json(&f.schema, v)?)))
                .collect::<Result<_>>()?,
        ),
    })
}

/// Connect value → Avro value for the schema [`avro_schema`] wrote (the
/// serializer resolves it into unions and logical types).
pub fn avro_value(schema: &Schema, value: &Value) -> Result<Avro> {
    let mismatch = || {
        conversion(format!(
            "Invalid type for {}: {}",
            schema.kind.name().to_ascii_uppercase(),
            super::json::java_class(value)
        ))
    };
    Ok(match (schema.kind, value) {
        (_, Value::Null) => {
            if !schema.optional {
                return Err(conversion(format!(
                    "Found null value for non-optional {} schema",
                    schema.kind.name().to_ascii_uppercase()
                )));
            }
            Avro::Null
        }
        (SchemaType::Boolean, Value::Boolean(b)) => Avro::Boolean(*b),
        (SchemaType::Int8, Value::Int8(v)) => Avro::Int((*v).into()),
        (SchemaType::Int16, Value::Int16(v)) => Avro::Int((*v).into()),
        (SchemaType::Int32, Value::Int32(v)) => Avro::Int(*v),
        (SchemaType::Int64, Value::Int64(v)) => Avro::Long(*v),
        (SchemaType::Float32, Value::Float32(v)) => Avro::Float(*v),
        (SchemaType::Float64, Value::Float64(v)) => Avro::Double(*v),
        (SchemaType::String, Value::String(s)) => Avro::String(s.clone()),
        (SchemaType::Bytes, Value::Bytes(b))
            if schema.name.as_deref() == Some(logical::DECIMAL) =>
        {
            // apache-avro wants as many bytes as the precision could need.
            let len = len_for_precision(precision_of(schema));
            Avro::Bytes(decimal::sign_extend(&decimal::minimal(b), len))
        }
        (SchemaType::Bytes, Value::Bytes(b)) => Avro::Bytes(b.clone()),
        (SchemaType::Array, Value::Array(items)) => {
            let es = schema.value_schema.as_deref().ok_or_else(mismatch)?;
            Avro::Array(
                items
                    .iter()
                    .map(|v| avro_value(es, v))
                    .collect::<Result<_>>()?,
            )
        }
        (SchemaType::Map, Value::Map(entries)) => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(mismatch());
            };
            if ks.kind == SchemaType::String && !ks.optional {
                let mut map = HashMap::with_capacity(entries.len());
                for (k, v) in entries {
                    let Value::String(k) = k else {
                        return Err(conversion("Map key is not a string"));
                    };
                    map.insert(k.clone(), avro_value(vs, v)?);
                }
                Avro::Map(map)
            } else {
                Avro::Array(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            Ok(Avro::Record(vec![
                                ("key".into(), avro_value(ks, k)?),
                                ("value".into(), avro_value(vs, v)?),
                            ]))
                        })
                        .collect::<Result<_>>()?,
                )
            }
        }
        // A union is written as its one set branch; the serializer's
        // resolution picks the branch that value fits.
        (SchemaType::Struct, Value::Struct(s)) if is_union(schema) => {
            match s.iter().find(|(_, v)| !v.is_null()) {
                Some((f, v)) => avro_value(&f.schema, v)?,
                None if schema.optional => Avro::Null,
                None => return Err(conversion(format!("{UNION} value with no branch set"))),
            }
        }
        (SchemaType::Struct, Value::Struct(s)) => Avro::Record(
            schema
                .fields
                .iter()
                .map(|f| {
                    let v = s.get(&f.name).unwrap_or(&Value::Null);
                    let v = match (&f.schema.default, v) {
                        (Some(d), Value::Null) => d,
                        _ => v,
                    };
                    Ok((f.name.clone(), avro_value(&f.schema, v)?))
                })
                .collect::<Result<_>>()?,
        ),
        _ => return Err(mismatch()),
    })
}

#[cfg(test)]
pub(crate) fn len_for(precision: u32) -> usize {
    len_for_precision(precision)
}

/// Avro value → Connect value of `schema` (from [`connect_schema`]).
pub fn connect_value(schema: &SchemaRef, value: Avro) -> Result<Value> {
    let bad = |v: &Avro| {
        conversion(format!(
            "Avro value {v:?} does not fit the {} schema",
            schema.kind.name()
        ))
    };
    let int = |v: i64| -> Result<Value> {
        Ok(match schema.kind {
            SchemaType::Int8 => Value::Int8(i8::try_from(v).map_err(|_| bad(&Avro::Long(v)))?),
            SchemaType::Int16 => Value::Int16(i16::try_from(v).map_err(|_| bad(&Avro::Long(v)))?),
            SchemaType::Int32 => Value::Int32(i32::try_from(v).map_err(|_| bad(&Avro::Long(v)))?),
            _ => Value::Int64(v),
        })
    };
    Ok(match value {
        Avro::Union(i, inner) if is_union(schema) && !matches!(*inner, Avro::Null) => {
            let i = i as usize;
            let field = match union_null(schema) {
                Some(at) if i > at => i - 1,
                _ => i,
            };
            let f = schema
                .fields
                .get(field)
                .ok_or_else(|| conversion(format!("union branch {i} is not in {UNION}")))?;
            let mut s = Struct::new(schema.clone());
            s.values[f.index] = connect_value(&f.schema, *inner)?;
            Value::Struct(s)
        }
        Avro::Union(_, inner) => return connect_value(schema, *inner),
        Avro::Null => Value::Null,
        Avro::Boolean(b) => Value::Boolean(b),
        Avro::Int(v) | Avro::Date(v) | Avro::TimeMillis(v) => int(v.into())?,
        Avro::Long(v)
        | Avro::TimeMicros(v)
        | Avro::TimestampMillis(v)
        | Avro::TimestampMicros(v)
        | Avro::TimestampNanos(v)
        | Avro::LocalTimestampMillis(v)
        | Avro::LocalTimestampMicros(v)
        | Avro::LocalTimestampNanos(v) => int(v)?,
        Avro::Float(v) => Value::Float32(v),
        Avro::Double(v) => Value::Float64(v),
        Avro::Bytes(b) | Avro::Fixed(_, b) => {
            if schema.name.as_deref() == Some(logical::DECIMAL) {
                Value::Bytes(decimal::minimal(&b))
            } else {
                Value::Bytes(b)
            }
        }
        Avro::Decimal(d) => {
            let b = Vec::<u8>::try_from(&d).map_err(|e| conversion(e.to_string()))?;
            Value::Bytes(decimal::minimal(&b))
        }
        Avro::String(s) | Avro::Enum(_, s) => Value::String(s),
        Avro::Uuid(u) => Value::String(u.to_string()),
        Avro::Array(items) if schema.kind == SchemaType::Map => {
            let (Some(ks), Some(vs)) = (&schema.key_schema, &schema.value_schema) else {
                return Err(bad(&Avro::Null));
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Avro::Record(mut fields) = item else {
                    return Err(conversion("a map entry is not a record"));
                };
                let take = |fields: &mut Vec<(String, Avro)>, name: &str| {
                    fields
                        .iter()
                        .position(|(n, _)| n == name)
                        .map(|i| fields.swap_remove(i).1)
                        .unwrap_or(Avro::Null)
                };
                let k = take(&mut fields, "key");
                let v = take(&mut fields, "value");
                out.push((connect_value(ks, k)?, connect_value(vs, v)?));
            }
            Value::Map(out)
        }
        Avro::Array(items) => {
            let es = schema
                .value_schema
                .as_ref()
                .ok_or_else(|| bad(&Avro::Null))?;
            Value::Array(
                items
                    .into_iter()
                    .map(|v| connect_value(es, v))
                    .collect::<Result<_>>()?,
            )
        }
        Avro::Map(map) => {
            let vs = schema
                .value_schema
                .as_ref()
                .ok_or_else(|| bad(&Avro::Null))?;
            // Avro maps have no order; sorted keys make reads repeatable.
            let mut entries: Vec<(String, Avro)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((Value::String(k), connect_value(vs, v)?)))
                    .collect::<Result<_>>()?,
            )
        }
        Avro::Record(fields) => {
            if schema.kind != SchemaType::Struct {
                return Err(bad(&Avro::Null));
            }
            let mut s = Struct::new(schema.clone());
            for (name, v) in fields {
                if let Some(f) = schema.field(&name) {
                    s.values[f.index] = connect_value(&f.schema, v)?;
                }
            }
            Value::Struct(s)
        }
        other => {
            return Err(conversion(format!(
                "Avro values like {other:?} have no Connect form"
            )))
        }
    })
}

#[path = "avro_schema_in.rs"]
mod schema_in;
pub use schema_in::connect_schema;

/// Shared by the schema reader: the Connect facts in `connect.*` props.
fn apply_connect_props(json: &Json, schema: &mut Schema) -> Result<()> {
    if let Some(v) = json.get("connect.version").and_then(Json::as_i64) {
        schema.version = i32::try_from(v).ok();
    }
    if let Some(doc) = json.get("connect.doc").and_then(Json::as_str) {
        schema.doc = Some(doc.to_string());
    }
    if let Some(Json::Object(params)) = json.get("connect.parameters") {
        let mut out = BTreeMap::new();
        for (k, v) in params {
            let v = v
                .as_str()
                .ok_or_else(|| conversion("connect.parameters must have string values"))?;
            out.insert(k.clone(), v.to_string());
        }
        schema.parameters = out;
    }
    if let Some(name) = json.get("connect.name").and_then(Json::as_str) {
        schema.name = Some(name.to_string());
    }
    Ok(())
}

/// Struct fields from (name, schema) pairs, indexed in order.
fn fields_of(pairs: Vec<(String, SchemaRef)>) -> Vec<Field> {
    pairs
        .into_iter()
        .enumerate()
        .map(|(index, (name, schema))| Field {
            name,
            index,
            schema,
        })
        .collect()
}

#[cfg(test)]
#[path = "avro_tests.rs"]
mod tests;
