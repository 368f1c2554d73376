//! Avro schemas: parsing, validation, canonical form and Avro's schema
//! resolution rules (as Java Avro's `SchemaCompatibility`, which Confluent
//! uses), over our own model on `serde_json`.
//!
//! Named types defined by referenced schemas are parsed first into the same
//! name table, so the schema may use them by name.

mod canonical;
pub mod compat;
mod model;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use serde_json::Value;

use super::{ResolvedReference, SchemaError, SchemaType};
use model::{NamedType, Node};
use parse::{Names, Parser};

/// A parsed, validated Avro schema.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    /// The registered text, as given.
    text: String,
    root: Node,
    /// Every named type: those of the references first, then the schema's.
    types: Vec<NamedType>,
}

impl AvroSchema {
    pub fn parse(text: &str, refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        let mut names = Names::default();
        parse_references(refs, &mut names)?;
        let json: Value = serde_json::from_str(text)
            .map_err(|e| SchemaError::invalid(format!("Invalid Avro schema JSON: {e}")))?;
        let root = Parser::new(&mut names, false).parse(&json)?;
        parse::validate_defaults(&names.types)?;
        Ok(AvroSchema {
            text: text.trim().to_string(),
            root,
            types: names.types,
        })
    }

    /// See `canonical.rs`.
    pub fn canonical(&self) -> String {
        canonical::node_json(&self.root, &self.types, &mut HashSet::new()).to_string()
    }

    pub fn text(&self) -> String {
        self.text.clone()
    }

    /// The full name of the top-level named type, if it is one.
    pub fn name(&self) -> Option<&str> {
        match &self.root {
            Node::Named(i) => Some(&self.types[*i].name),
            _ => None,
        }
    }
}

/// Parses the references' schemas into `names`. The caller resolves them
/// transitively but their order may not follow their dependencies, so a
/// reference that uses a name not yet defined is retried after the others.
fn parse_references(refs: &[ResolvedReference], names: &mut Names) -> Result<(), SchemaError> {
    let mut pending: Vec<(&ResolvedReference, Value)> = Vec::new();
    for r in refs {
        if r.kind != SchemaType::Avro {
            return Err(SchemaError::invalid(format!(
                "Reference {} is a {} schema, not AVRO",
                r.name, r.kind
            )));
        }
        let json = serde_json::from_str(&r.schema).map_err(|e| {
            SchemaError::invalid(format!(
                "Invalid Avro schema JSON in reference {}: {e}",
                r.name
            ))
        })?;
        pending.push((r, json));
    }
    while !pending.is_empty() {
        let mut progress = false;
        let mut last_err = None;
        let mut still = Vec::new();
        for (r, json) in pending {
            // A failed attempt must not leave half its names behind.
            let mark = names.types.len();
            match Parser::new(names, true).parse(&json) {
                Ok(_) => progress = true,
                Err(e) => {
                    for t in names.types.drain(mark..) {
                        names.index.remove(&t.name);
                    }
                    last_err = Some(SchemaError::invalid(format!(
                        "In reference {}: {e}",
                        r.name
                    )));
                    still.push((r, json));
                }
            }
        }
        if !progress {
            return Err(last_err.expect("a pending reference failed"));
        }
        pending = still;
    }
    Ok(())
}
