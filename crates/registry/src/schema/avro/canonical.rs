//! The canonical form that decides whether two registrations are the same
//! schema. Like Confluent (which compares Avro's `Schema.toString()`), it
//! keeps everything significant to users — docs, defaults, aliases, field
//! order, logical types and other properties — and drops what is not:
//! whitespace, attribute order, and how a name was split between `name` and
//! `namespace` (names are written in full). Named types from references are
//! written by name only.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::model::{NamedKind, NamedType, Node, Props};

/// The JSON of `node`; a named type is written in full the first time it
/// appears (and not from a reference), by name afterwards.
pub(crate) fn node_json(node: &Node, types: &[NamedType], done: &mut HashSet<usize>) -> Value {
    match node {
        Node::Primitive { kind, props } => with_props(Value::String(kind.name().into()), props),
        Node::Array { items, props } => {
            let mut m = Map::new();
            m.insert("type".into(), "array".into());
            m.insert("items".into(), node_json(items, types, done));
            extend(&mut m, props);
            Value::Object(m)
        }
        Node::Map { values, props } => {
            let mut m = Map::new();
            m.insert("type".into(), "map".into());
            m.insert("values".into(), node_json(values, types, done));
            extend(&mut m, props);
            Value::Object(m)
        }
        Node::Union(branches) => {
            Value::Array(branches.iter().map(|b| node_json(b, types, done)).collect())
        }
        Node::Named(i) => {
            let t = &types[*i];
            if t.from_reference || !done.insert(*i) {
                return Value::String(t.name.clone());
            }
            named_json(t, types, done)
        }
    }
}

fn named_json(t: &NamedType, types: &[NamedType], done: &mut HashSet<usize>) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), t.name.clone().into());
    if !t.aliases.is_empty() {
        m.insert("aliases".into(), json!(t.aliases));
    }
    if let Some(doc) = &t.doc {
        m.insert("doc".into(), doc.clone().into());
    }
    match &t.kind {
        NamedKind::Record { fields, error } => {
            m.insert(
                "type".into(),
                if *error { "error" } else { "record" }.into(),
            );
            let fields: Vec<Value> = fields
                .iter()
                .map(|f| {
                    let mut fm = Map::new();
                    fm.insert("name".into(), f.name.clone().into());
                    fm.insert("type".into(), node_json(&f.ty, types, done));
                    if let Some(d) = &f.default {
                        fm.insert("default".into(), d.clone());
                    }
                    if let Some(doc) = &f.doc {
                        fm.insert("doc".into(), doc.clone().into());
                    }
                    if let Some(o) = &f.order {
                        fm.insert("order".into(), o.clone().into());
                    }
                    if !f.aliases.is_empty() {
                        fm.insert("aliases".into(), json!(f.aliases));
                    }
                    extend(&mut fm, &f.props);
                    Value::Object(fm)
                })
                .collect();
            m.insert("fields".into(), Value::Array(fields));
        }
        NamedKind::Enum { symbols, default } => {
            m.insert("type".into(), "enum".into());
            m.insert("symbols".into(), json!(symbols));
            if let Some(d) = default {
                m.insert("default".into(), d.clone().into());
            }
        }
        NamedKind::Fixed { size } => {
            m.insert("type".into(), "fixed".into());
            m.insert("size".into(), (*size).into());
        }
    }
    extend(&mut m, &t.props);
    Value::Object(m)
}

/// A primitive with no properties is written as its bare name.
fn with_props(name: Value, props: &Props) -> Value {
    if props.is_empty() {
        return name;
    }
    let mut m = Map::new();
    m.insert("type".into(), name);
    extend(&mut m, props);
    Value::Object(m)
}

fn extend(m: &mut Map<String, Value>, props: &Props) {
    for (k, v) in props {
        m.insert(k.clone(), v.clone());
    }
}
