//! JSON Schema compatibility (Confluent's JSON Schema diff).

use super::JsonSchema;
use crate::schema::Incompatibility;

pub fn check(
    _reader: &JsonSchema,
    _writer: &JsonSchema,
    _reader_is_new: bool,
) -> Vec<Incompatibility> {
    Vec::new()
}
