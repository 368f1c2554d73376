//! Parsing and validating Avro schema JSON into the model, with Java Avro's
//! checks (Confluent parses with them on): valid names, no redefinition, no
//! undefined names, unique fields and symbols, well-formed unions, and
//! defaults that are valid for their field's type.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::model::{Field, NamedKind, NamedType, Node, Prim, Props};
use crate::schema::SchemaError;

/// Named types seen so far (from references, then the schema itself).
#[derive(Default)]
pub(crate) struct Names {
    pub types: Vec<NamedType>,
    pub index: HashMap<String, usize>,
}

pub(crate) struct Parser<'a> {
    names: &'a mut Names,
    from_reference: bool,
}

fn err(msg: impl Into<String>) -> SchemaError {
    SchemaError::invalid(msg)
}

/// Avro names: `[A-Za-z_][A-Za-z0-9_]*`.
fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_full_name(s: &str) -> bool {
    s.split('.').all(valid_name)
}

/// Resolves `name` against `namespace` the way Avro does: a dotted name is
/// already full; otherwise the enclosing namespace applies.
fn qualify(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() && !name.contains('.') => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn opt_str<'v>(m: &'v Map<String, Value>, key: &str) -> Result<Option<&'v str>, SchemaError> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(err(format!("\"{key}\" must be a string, found {other}"))),
    }
}

/// Everything in `m` except the keys Avro interprets for this kind of schema.
fn props_except(m: &Map<String, Value>, reserved: &[&str]) -> Props {
    m.iter()
        .filter(|(k, _)| !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl<'a> Parser<'a> {
    pub(crate) fn new(names: &'a mut Names, from_reference: bool) -> Self {
        Parser {
            names,
            from_reference,
        }
    }

    pub(crate) fn parse(&mut self, v: &Value) -> Result<Node, SchemaError> {
        self.node(v, None)
    }

    fn lookup(&self, name: &str, namespace: Option<&str>) -> Option<usize> {
        let full = qualify(name, namespace);
        self.names
            .index
            .get(&full)
            .or_else(|| self.names.index.get(name))
            .copied()
    }

    fn node(&mut self, v: &Value, ns: Option<&str>) -> Result<Node, SchemaError> {
        match v {
            Value::String(s) => self.named_or_primitive(s, ns, Props::new()),
            Value::Array(branches) => self.union(branches, ns),
            Value::Object(m) => self.object(m, ns),
            other => Err(err(format!("not a schema: {other}"))),
        }
    }

    fn named_or_primitive(
        &mut self,
        s: &str,
        ns: Option<&str>,
        props: Props,
    ) -> Result<Node, SchemaError> {
        if let Some(kind) = Prim::from_name(s) {
            return Ok(Node::Primitive { kind, props });
        }
        match self.lookup(s, ns) {
            Some(i) => Ok(Node::Named(i)),
            None => Err(err(format!("\"{s}\" is not a defined name"))),
        }
    }

    fn union(&mut self, branches: &[Value], ns: Option<&str>) -> Result<Node, SchemaError> {
        let mut nodes = Vec::with_capacity(branches.len());
        let mut seen = HashSet::new();
        for b in branches {
            let node = self.node(b, ns)?;
            let key = match &node {
                Node::Union(_) => return Err(err("Nested union: a union may not contain a union")),
                Node::Named(i) => self.names.types[*i].name.clone(),
                Node::Primitive { kind, .. } => kind.name().to_string(),
                Node::Array { .. } => "array".to_string(),
                Node::Map { .. } => "map".to_string(),
            };
            if !seen.insert(key.clone()) {
                return Err(err(format!("Duplicate in union: {key}")));
            }
            nodes.push(node);
        }
        Ok(Node::Union(nodes))
    }

    fn object(&mut self, m: &Map<String, Value>, ns: Option<&str>) -> Result<Node, SchemaError> {
        let ty = match m.get("type") {
            Some(Value::String(t)) => t.as_str(),
            // Java Avro accepts a nested schema or union as "type" here too.
            Some(nested @ (Value::Object(_) | Value::Array(_))) => return self.node(nested, ns),
            Some(other) => return Err(err(format!("\"type\" must be a string, found {other}"))),
            None => return Err(err(format!("No type: {}", Value::Object(m.clone())))),
        };
        match ty {
            "record" | "error" | "enum" | "fixed" => self.named(ty, m, ns),
            "array" => {
                let items = m
                    .get("items")
                    .ok_or_else(|| err("Array has no items type"))?;
                Ok(Node::Array {
                    items: Box::new(self.node(items, ns)?),
                    props: props_except(m, &["type", "items"]),
                })
            }
            "map" => {
                let values = m
                    .get("values")
                    .ok_or_else(|| err("Map has no values type"))?;
                Ok(Node::Map {
                    values: Box::new(self.node(values, ns)?),
                    props: props_except(m, &["type", "values"]),
                })
            }
            other => self.named_or_primitive(other, ns, props_except(m, &["type"])),
        }
    }

    fn named(
        &mut self,
        ty: &str,
        m: &Map<String, Value>,
        enclosing: Option<&str>,
    ) -> Result<Node, SchemaError> {
        let name = opt_str(m, "name")?.ok_or_else(|| err(format!("No name in schema: {ty}")))?;
        let namespace = match opt_str(m, "namespace")? {
            Some(ns) => Some(ns),
            None => enclosing,
        };
        let full = qualify(name, namespace);
        if !valid_full_name(&full) {
            return Err(err(format!("Illegal name: {full}")));
        }
        if Prim::from_name(&full).is_some() {
            return Err(err(format!("Illegal name (a primitive type): {full}")));
        }
        if self.names.index.contains_key(&full) {
            return Err(err(format!("Can't redefine: {full}")));
        }
        let own_ns = full.rsplit_once('.').map(|(ns, _)| ns.to_string());
        let aliases = match m.get("aliases") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) if valid_full_name(s) => Ok(qualify(s, own_ns.as_deref())),
                    other => Err(err(format!("Invalid alias: {other}"))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(err(format!("aliases must be an array, found {other}"))),
        };
        let doc = opt_str(m, "doc")?.map(str::to_string);
        let kind = match ty {
            "enum" => enum_kind(m)?,
            "fixed" => match m.get("size").and_then(Value::as_u64) {
                Some(size) if size <= i32::MAX as u64 => NamedKind::Fixed { size },
                _ => return Err(err(format!("Invalid fixed size for {full}"))),
            },
            // Fields are filled in below: they may refer to this record.
            _ => NamedKind::Record {
                fields: Vec::new(),
                error: ty == "error",
            },
        };
        let idx = self.names.types.len();
        self.names.types.push(NamedType {
            name: full.clone(),
            aliases,
            doc,
            props: props_except(
                m,
                &[
                    "type",
                    "name",
                    "namespace",
                    "aliases",
                    "doc",
                    "fields",
                    "symbols",
                    "default",
                    "size",
                ],
            ),
            kind,
            from_reference: self.from_reference,
        });
        self.names.index.insert(full.clone(), idx);
        if matches!(ty, "record" | "error") {
            let fields = self.fields(m, &full, own_ns.as_deref())?;
            if let NamedKind::Record { fields: f, .. } = &mut self.names.types[idx].kind {
                *f = fields;
            }
        }
        Ok(Node::Named(idx))
    }

    fn fields(
        &mut self,
        m: &Map<String, Value>,
        record: &str,
        ns: Option<&str>,
    ) -> Result<Vec<Field>, SchemaError> {
        let Some(Value::Array(raw)) = m.get("fields") else {
            return Err(err(format!("Record has no fields: {record}")));
        };
        let mut fields = Vec::with_capacity(raw.len());
        let mut seen = HashSet::new();
        for f in raw {
            let Value::Object(fm) = f else {
                return Err(err(format!("Field is not an object in {record}: {f}")));
            };
            let name =
                opt_str(fm, "name")?.ok_or_else(|| err(format!("No field name in {record}")))?;
            if !valid_name(name) {
                return Err(err(format!("Illegal field name: {name}")));
            }
            if !seen.insert(name.to_string()) {
                return Err(err(format!("Duplicate field {name} in record {record}")));
            }
            let ty = fm
                .get("type")
                .ok_or_else(|| err(format!("No field type: {name} in {record}")))?;
            let order = opt_str(fm, "order")?.map(str::to_string);
            if let Some(o) = &order {
                if !matches!(o.as_str(), "ascending" | "descending" | "ignore") {
                    return Err(err(format!("Illegal field order {o} for {name}")));
                }
            }
            let aliases = match fm.get("aliases") {
                None => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| match v.as_str() {
                        Some(s) => Ok(s.to_string()),
                        None => Err(err(format!("Invalid field alias: {v}"))),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => return Err(err(format!("aliases must be an array, found {other}"))),
            };
            fields.push(Field {
                name: name.to_string(),
                aliases,
                doc: opt_str(fm, "doc")?.map(str::to_string),
                default: fm.get("default").cloned(),
                order,
                ty: self.node(ty, ns)?,
                props: props_except(fm, &["name", "type", "doc", "default", "order", "aliases"]),
            });
        }
        Ok(fields)
    }
}

fn enum_kind(m: &Map<String, Value>) -> Result<NamedKind, SchemaError> {
    let Some(Value::Array(raw)) = m.get("symbols") else {
        return Err(err("Enum has no symbols"));
    };
    let mut symbols = Vec::with_capacity(raw.len());
    let mut seen = HashSet::new();
    for s in raw {
        let Some(s) = s.as_str().filter(|s| valid_name(s)) else {
            return Err(err(format!("Illegal enum symbol: {s}")));
        };
        if !seen.insert(s) {
            return Err(err(format!("Duplicate enum symbol: {s}")));
        }
        symbols.push(s.to_string());
    }
    let default = match m.get("default") {
        None => None,
        Some(Value::String(d)) if seen.contains(d.as_str()) => Some(d.clone()),
        Some(d) => {
            return Err(err(format!(
                "The Enum Default: {d} is not in the enum symbol set"
            )))
        }
    };
    Ok(NamedKind::Enum { symbols, default })
}

/// Checks every field default of every named type against its field type.
pub(crate) fn validate_defaults(types: &[NamedType]) -> Result<(), SchemaError> {
    for t in types {
        if let NamedKind::Record { fields, .. } = &t.kind {
            for f in fields {
                if let Some(d) = &f.default {
                    if !valid_value(&f.ty, d, types) {
                        return Err(err(format!(
                            "Invalid default for field {}: {} not a {}",
                            f.name,
                            d,
                            super::canonical::node_json(&f.ty, types, &mut HashSet::new())
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether `v` is a valid JSON encoding of a value of `node` (Avro's default
/// value rules; a union default may match any branch, as in Java Avro).
pub(crate) fn valid_value(node: &Node, v: &Value, types: &[NamedType]) -> bool {
    valid_at(node, v, types, 0)
}

/// Field defaults stand in for absent record fields, so a malicious schema
/// could make a default refer to itself: the depth cap ends that.
const MAX_DEFAULT_DEPTH: usize = 64;

fn valid_at(node: &Node, v: &Value, types: &[NamedType], depth: usize) -> bool {
    if depth > MAX_DEFAULT_DEPTH {
        return false;
    }
    let valid_value = |n: &Node, x: &Value, t: &[NamedType]| valid_at(n, x, t, depth + 1);
    match node {
        Node::Primitive { kind, .. } => match kind {
            Prim::Null => v.is_null(),
            Prim::Boolean => v.is_boolean(),
            Prim::Int => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            Prim::Long => v.is_i64() || v.as_u64().is_some_and(|n| i64::try_from(n).is_ok()),
            Prim::Float | Prim::Double => {
                v.is_number() || matches!(v.as_str(), Some("NaN" | "Infinity" | "-Infinity"))
            }
            Prim::Bytes | Prim::String => v.is_string(),
        },
        Node::Array { items, .. } => v
            .as_array()
            .is_some_and(|a| a.iter().all(|x| valid_value(items, x, types))),
        Node::Map { values, .. } => v
            .as_object()
            .is_some_and(|m| m.values().all(|x| valid_value(values, x, types))),
        Node::Union(branches) => branches.iter().any(|b| valid_value(b, v, types)),
        Node::Named(i) => match &types[*i].kind {
            NamedKind::Enum { symbols, .. } => {
                v.as_str().is_some_and(|s| symbols.iter().any(|x| x == s))
            }
            NamedKind::Fixed { .. } => v.is_string(),
            NamedKind::Record { fields, .. } => v.as_object().is_some_and(|m| {
                fields
                    .iter()
                    .all(|f| match m.get(&f.name).or(f.default.as_ref()) {
                        Some(x) => valid_value(&f.ty, x, types),
                        None => false,
                    })
            }),
        },
    }
}
