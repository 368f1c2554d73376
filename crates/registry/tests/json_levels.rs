//! JSON Schema evolution through the public API at each level.

use fjord_registry::schema::{check_compatibility, parse, CompatibilityLevel as L, SchemaType};
use serde_json::json;

fn types(level: L, old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let old = parse(SchemaType::Json, &old.to_string(), &[]).unwrap();
    let new = parse(SchemaType::Json, &new.to_string(), &[]).unwrap();
    check_compatibility(level, &new, &[(1, &old)])
        .into_iter()
        .map(|(_, i)| i.error_type)
        .collect()
}

#[test]
fn open_content_model_levels() {
    let v1 = json!({"type": "object", "properties": {"item": {"type": "string"}}});
    let v2 = json!({"type": "object", "properties": {
        "item": {"type": "string"}, "price": {"type": "number"}}});
    // Adding a property to an open model: old data may hold any "price".
    assert_eq!(
        types(L::Backward, &v1, &v2),
        ["PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"]
    );
    assert!(types(L::Forward, &v1, &v2).is_empty());
    assert_eq!(
        types(L::Full, &v1, &v2),
        ["PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"]
    );
    assert!(types(L::None, &v1, &v2).is_empty());
}

#[test]
fn closed_content_model_levels() {
    let v1 = json!({"type": "object", "additionalProperties": false,
        "properties": {"item": {"type": "string"}}});
    let v2 = json!({"type": "object", "additionalProperties": false,
        "properties": {"item": {"type": "string"}, "price": {"type": "number"}}});
    assert!(types(L::Backward, &v1, &v2).is_empty());
    assert_eq!(
        types(L::Forward, &v1, &v2),
        ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"]
    );
    let v3 = json!({"type": "object", "additionalProperties": false,
        "properties": {"item": {"type": "string"}, "price": {"type": "number"}},
        "required": ["price"]});
    assert_eq!(
        types(L::Backward, &v1, &v3),
        ["REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"]
    );
}

#[test]
fn transitive_json() {
    let text =
        |ty: &str| json!({"type": "object", "properties": {"price": {"type": ty}}}).to_string();
    let v1 = parse(SchemaType::Json, &text("integer"), &[]).unwrap();
    let v2 = parse(SchemaType::Json, &text("number"), &[]).unwrap();
    let v3 = parse(SchemaType::Json, &text("integer"), &[]).unwrap();
    let history = [(1, &v1), (2, &v2)];
    // number -> integer narrows against v2; v1 was integer already.
    let latest = check_compatibility(L::Backward, &v3, &history);
    assert_eq!(latest.len(), 1);
    assert_eq!(
        (latest[0].0, latest[0].1.error_type.as_str()),
        (2, "TYPE_NARROWED")
    );
    assert!(check_compatibility(L::ForwardTransitive, &v3, &history).is_empty());
}
