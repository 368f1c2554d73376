//! JSON Schema compatibility (Confluent's JSON Schema diff).

use super::JsonSchema;
use crate::schema::Incompatibility;

pub fn check(_reader: &JsonSchema, _writer: &JsonSchema) -> Vec<Incompatibility> {
    Vec::new()
}
