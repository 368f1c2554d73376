//! The Avro schema model: named types live in an arena so that recursive
//! types (a record whose field refers back to it) are plain indexes.

use std::collections::BTreeMap;

use serde_json::Value;

/// Attributes Avro keeps but does not interpret (`logicalType`,
/// `precision`, `connect.name`, ...), sorted so the canonical form is stable.
pub(crate) type Props = BTreeMap<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
}

impl Prim {
    pub(crate) fn from_name(name: &str) -> Option<Prim> {
        Some(match name {
            "null" => Prim::Null,
            "boolean" => Prim::Boolean,
            "int" => Prim::Int,
            "long" => Prim::Long,
            "float" => Prim::Float,
            "double" => Prim::Double,
            "bytes" => Prim::Bytes,
            "string" => Prim::String,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Prim::Null => "null",
            Prim::Boolean => "boolean",
            Prim::Int => "int",
            Prim::Long => "long",
            Prim::Float => "float",
            Prim::Double => "double",
            Prim::Bytes => "bytes",
            Prim::String => "string",
        }
    }
}

/// One schema position. Named types are referenced by their arena index.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Primitive { kind: Prim, props: Props },
    Array { items: Box<Node>, props: Props },
    Map { values: Box<Node>, props: Props },
    Union(Vec<Node>),
    Named(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct NamedType {
    /// Full name (namespace.name).
    pub name: String,
    /// Full names this type was known by.
    pub aliases: Vec<String>,
    pub doc: Option<String>,
    pub props: Props,
    pub kind: NamedKind,
    /// Defined by a referenced schema: printed by name only in the
    /// canonical form, as Confluent does.
    pub from_reference: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum NamedKind {
    Record {
        fields: Vec<Field>,
        error: bool,
    },
    Enum {
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        size: u64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub doc: Option<String>,
    pub default: Option<Value>,
    pub order: Option<String>,
    pub ty: Node,
    pub props: Props,
}

impl NamedType {
    /// The unqualified name: Avro compares record/enum/fixed names without
    /// their namespace during resolution.
    pub(crate) fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }
}

/// Avro's upper-case type name, as used in Confluent's messages.
pub(crate) fn type_name(node: &Node, types: &[NamedType]) -> &'static str {
    match node {
        Node::Primitive { kind, .. } => match kind {
            Prim::Null => "NULL",
            Prim::Boolean => "BOOLEAN",
            Prim::Int => "INT",
            Prim::Long => "LONG",
            Prim::Float => "FLOAT",
            Prim::Double => "DOUBLE",
            Prim::Bytes => "BYTES",
            Prim::String => "STRING",
        },
        Node::Array { .. } => "ARRAY",
        Node::Map { .. } => "MAP",
        Node::Union(_) => "UNION",
        Node::Named(i) => match types[*i].kind {
            NamedKind::Record { .. } => "RECORD",
            NamedKind::Enum { .. } => "ENUM",
            NamedKind::Fixed { .. } => "FIXED",
        },
    }
}
