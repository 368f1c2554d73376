//! JSON Schema documents (draft-07 and 2020-12 keywords): parsing,
//! validation, canonical form, and compatibility as Confluent's JSON Schema
//! diff computes it (see `diff.rs`).
//!
//! A document is kept as JSON; `$ref`s are resolved while comparing, to a
//! JSON pointer in the same document (`#/definitions/X`, `#/$defs/X`) or to a
//! referenced schema by its reference name (`other.json`,
//! `other.json#/definitions/X`). Every `$ref` must resolve at parse time.

pub mod compat;
mod diff;
mod diff_combined;
mod diff_object;
mod diff_scalar;
#[cfg(test)]
mod tests;
mod validate;

use serde_json::Value;

use super::{ResolvedReference, SchemaError, SchemaType};

/// A parsed, validated JSON Schema with its referenced documents.
#[derive(Debug, Clone)]
pub struct JsonSchema {
    /// The registered text, as given.
    text: String,
    /// Document 0 is the schema; the rest are its references, by name.
    docs: Vec<Doc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub name: String,
    pub root: Value,
}

impl JsonSchema {
    pub fn parse(text: &str, refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        let mut docs = vec![Doc {
            name: String::new(),
            root: parse_json(text, "schema")?,
        }];
        for r in refs {
            if r.kind != SchemaType::Json {
                return Err(SchemaError::invalid(format!(
                    "Reference {} is a {} schema, not JSON",
                    r.name, r.kind
                )));
            }
            docs.push(Doc {
                name: r.name.clone(),
                root: parse_json(&r.schema, &r.name)?,
            });
        }
        let schema = JsonSchema {
            text: text.trim().to_string(),
            docs,
        };
        for doc in 0..schema.docs.len() {
            validate::schema(&schema, doc, &schema.docs[doc].root, "#")?;
        }
        Ok(schema)
    }

    /// The document with whitespace and key order normalised (keys sorted),
    /// so two registrations of the same JSON are the same schema.
    pub fn canonical(&self) -> String {
        self.docs[0].root.to_string()
    }

    pub fn text(&self) -> String {
        self.text.clone()
    }

    /// The schema document.
    pub fn document(&self) -> &Value {
        &self.docs[0].root
    }

    /// Resolves a `$ref` met in document `doc`: the target document and
    /// the schema it points at.
    pub(crate) fn resolve(&self, doc: usize, reference: &str) -> Option<(usize, &Value)> {
        let (file, fragment) = match reference.split_once('#') {
            Some((f, p)) => (f, p),
            None => (reference, ""),
        };
        let target = if file.is_empty() {
            doc
        } else {
            self.docs.iter().position(|d| {
                !d.name.is_empty()
                    && (d.name == file
                        || file.ends_with(&format!("/{}", d.name))
                        || d.name.ends_with(&format!("/{file}")))
            })?
        };
        let root = &self.docs[target].root;
        if fragment.is_empty() {
            return Some((target, root));
        }
        let pointer = fragment.replace("%25", "%").replace("%22", "\"");
        root.pointer(&pointer).map(|v| (target, v))
    }
}

fn parse_json(text: &str, what: &str) -> Result<Value, SchemaError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::invalid(format!("Invalid JSON in {what}: {e}")))?;
    match v {
        Value::Object(_) | Value::Bool(_) => Ok(v),
        other => Err(SchemaError::invalid(format!(
            "A JSON Schema is an object or a boolean, found {other}"
        ))),
    }
}
