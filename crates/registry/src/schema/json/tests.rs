//! JSON Schema: parsing and the compatibility diff, table-driven.

use serde_json::{json, Value};

use crate::schema::{
    check_compatibility, parse, CompatibilityLevel as L, ParsedSchema, ResolvedReference,
    SchemaError, SchemaType,
};

fn js(v: Value) -> ParsedSchema {
    parse(SchemaType::Json, &v.to_string(), &[]).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn errors(level: L, old: &ParsedSchema, new: &ParsedSchema) -> Vec<String> {
    check_compatibility(level, new, &[(1, old)])
        .into_iter()
        .map(|(_, i)| i.error_type)
        .collect()
}

fn obj(props: Value, required: &[&str], additional: Option<Value>) -> Value {
    let mut m = json!({"type": "object", "properties": props, "required": required});
    if let Some(a) = additional {
        m["additionalProperties"] = a;
    }
    m
}

const OK: &[&str] = &[];

#[test]
fn evolution_table() {
    let open = |p: Value, r: &[&str]| obj(p, r, None);
    let closed = |p: Value, r: &[&str]| obj(p, r, Some(json!(false)));
    let partial = |p: Value, r: &[&str]| obj(p, r, Some(json!({"type": "string"})));
    let a = json!({"a": {"type": "string"}});
    let ab = json!({"a": {"type": "string"}, "b": {"type": "integer"}});
    let cases: Vec<(&str, Value, Value, L, &[&str])> = vec![
        (
            "open: property added",
            open(a.clone(), &[]),
            open(ab.clone(), &[]),
            L::Backward,
            &["PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"],
        ),
        (
            "open: property removed",
            open(ab.clone(), &[]),
            open(a.clone(), &[]),
            L::Backward,
            OK,
        ),
        (
            "open: property removed, forward",
            open(ab.clone(), &[]),
            open(a.clone(), &[]),
            L::Forward,
            &["PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"],
        ),
        (
            "open: property with empty schema added",
            open(a.clone(), &[]),
            open(json!({"a": {"type": "string"}, "b": {}}), &[]),
            L::Full,
            OK,
        ),
        (
            "closed: optional property added",
            closed(a.clone(), &[]),
            closed(ab.clone(), &[]),
            L::Backward,
            OK,
        ),
        (
            "closed: required property added",
            closed(a.clone(), &[]),
            closed(ab.clone(), &["b"]),
            L::Backward,
            &["REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"],
        ),
        (
            "closed: required property with default added",
            closed(a.clone(), &[]),
            closed(
                json!({"a": {"type": "string"}, "b": {"type": "integer", "default": 0}}),
                &["b"],
            ),
            L::Backward,
            OK,
        ),
        (
            "closed: property removed",
            closed(ab.clone(), &[]),
            closed(a.clone(), &[]),
            L::Backward,
            &["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"],
        ),
        (
            "closed: optional property added, full",
            closed(a.clone(), &[]),
            closed(ab.clone(), &[]),
            L::Full,
            &["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"],
        ),
        (
            "partially open: string property added is covered",
            partial(a.clone(), &[]),
            partial(
                json!({"a": {"type": "string"}, "c": {"type": "string"}}),
                &[],
            ),
            L::Backward,
            OK,
        ),
        (
            "partially open: integer property added is not covered",
            partial(a.clone(), &[]),
            partial(ab.clone(), &[]),
            L::Backward,
            &[
                "TYPE_CHANGED",
                "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
            ],
        ),
        (
            "property type changed",
            open(a.clone(), &[]),
            open(json!({"a": {"type": "integer"}}), &[]),
            L::Backward,
            &["TYPE_CHANGED"],
        ),
        (
            "integer to number is extended",
            open(json!({"a": {"type": "integer"}}), &[]),
            open(json!({"a": {"type": "number"}}), &[]),
            L::Backward,
            OK,
        ),
        (
            "number to integer is narrowed",
            open(json!({"a": {"type": "number"}}), &[]),
            open(json!({"a": {"type": "integer"}}), &[]),
            L::Backward,
            &["TYPE_NARROWED"],
        ),
        (
            "type to a union with it",
            open(a.clone(), &[]),
            open(json!({"a": {"type": ["string", "null"]}}), &[]),
            L::Backward,
            OK,
        ),
        (
            "union to one of its types",
            open(json!({"a": {"type": ["string", "null"]}}), &[]),
            open(a.clone(), &[]),
            L::Backward,
            &["TYPE_CHANGED"],
        ),
        (
            "required added",
            open(ab.clone(), &[]),
            open(ab.clone(), &["b"]),
            L::Backward,
            &["REQUIRED_ATTRIBUTE_ADDED"],
        ),
        (
            "required removed",
            open(ab.clone(), &["b"]),
            open(ab.clone(), &[]),
            L::Backward,
            OK,
        ),
        (
            "closed content model opened",
            closed(a.clone(), &[]),
            open(a.clone(), &[]),
            L::Backward,
            OK,
        ),
        (
            "open content model closed",
            open(a.clone(), &[]),
            closed(a.clone(), &[]),
            L::Backward,
            &["ADDITIONAL_PROPERTIES_REMOVED"],
        ),
        (
            "enum extended",
            json!({"enum": ["A", "B"]}),
            json!({"enum": ["A", "B", "C"]}),
            L::Backward,
            OK,
        ),
        (
            "enum narrowed",
            json!({"enum": ["A", "B"]}),
            json!({"enum": ["A"]}),
            L::Backward,
            &["ENUM_ARRAY_NARROWED"],
        ),
        (
            "enum changed",
            json!({"enum": ["A", "B"]}),
            json!({"enum": ["A", "C"]}),
            L::Backward,
            &["ENUM_ARRAY_CHANGED"],
        ),
        (
            "const changed",
            json!({"const": 1}),
            json!({"const": 2}),
            L::Backward,
            &["ENUM_ARRAY_CHANGED"],
        ),
        (
            "const to enum",
            json!({"const": 1}),
            json!({"enum": [1, 2]}),
            L::Backward,
            &["TYPE_CHANGED"],
        ),
        (
            "maximum decreased",
            json!({"type": "number", "maximum": 10}),
            json!({"type": "number", "maximum": 5}),
            L::Backward,
            &["MAXIMUM_DECREASED"],
        ),
        (
            "maximum increased",
            json!({"type": "number", "maximum": 10}),
            json!({"type": "number", "maximum": 20}),
            L::Backward,
            OK,
        ),
        (
            "minimum added",
            json!({"type": "number"}),
            json!({"type": "number", "minimum": 0}),
            L::Backward,
            &["MINIMUM_ADDED"],
        ),
        (
            "minimum removed",
            json!({"type": "number", "minimum": 0}),
            json!({"type": "number"}),
            L::Backward,
            OK,
        ),
        (
            "maxLength decreased",
            json!({"type": "string", "maxLength": 10}),
            json!({"type": "string", "maxLength": 5}),
            L::Backward,
            &["MAX_LENGTH_DECREASED"],
        ),
        (
            "pattern added",
            json!({"type": "string"}),
            json!({"type": "string", "pattern": "^a"}),
            L::Backward,
            &["PATTERN_ADDED"],
        ),
        (
            "items changed",
            json!({"type": "array", "items": {"type": "string"}}),
            json!({"type": "array", "items": {"type": "integer"}}),
            L::Backward,
            &["TYPE_CHANGED"],
        ),
        (
            "items schema added",
            json!({"type": "array"}),
            json!({"type": "array", "items": {"type": "integer"}}),
            L::Backward,
            &["SCHEMA_ADDED"],
        ),
        (
            "maxItems added",
            json!({"type": "array"}),
            json!({"type": "array", "maxItems": 3}),
            L::Backward,
            &["MAX_ITEMS_ADDED"],
        ),
        (
            "tuple item added to a closed tuple",
            json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false}),
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": false}),
            L::Backward,
            OK,
        ),
        (
            "oneOf branch added",
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]}),
            L::Backward,
            OK,
        ),
        (
            "oneOf branch removed",
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"oneOf": [{"type": "string"}]}),
            L::Backward,
            &["SUM_TYPE_NARROWED"],
        ),
        (
            "allOf to anyOf",
            json!({"allOf": [{"type": "string"}]}),
            json!({"anyOf": [{"type": "string"}]}),
            L::Backward,
            OK,
        ),
        (
            "anyOf to allOf",
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"allOf": [{"type": "string"}, {"type": "integer"}]}),
            L::Backward,
            &["COMBINED_TYPE_CHANGED"],
        ),
        (
            "anything to the empty schema",
            json!({"type": "string"}),
            json!({}),
            L::Backward,
            OK,
        ),
        (
            "title and description changes",
            json!({"type": "string", "title": "a"}),
            json!({"type": "string", "title": "b", "description": "d"}),
            L::Full,
            OK,
        ),
        (
            "type changed, none",
            json!({"type": "string"}),
            json!({"type": "integer"}),
            L::None,
            OK,
        ),
    ];
    for (name, old, new, level, want) in cases {
        let got = errors(level, &js(old), &js(new));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn descriptions_and_paths() {
    let old = js(obj(json!({"a": {"type": "string"}}), &[], None));
    let new = js(obj(json!({"a": {"type": "integer"}}), &[], None));
    let found = check_compatibility(L::Backward, &new, &[(2, &old)]);
    assert_eq!(found.len(), 1);
    let (version, i) = &found[0];
    assert_eq!(*version, 2);
    assert_eq!(i.error_type, "TYPE_CHANGED");
    assert_eq!(i.additional_info, "#/properties/a");
    assert_eq!(
        i.description,
        "A type at path '#/properties/a' is different between the new schema and the old schema"
    );
}

#[test]
fn local_and_recursive_refs() {
    let tree = |leaf: &str| {
        js(json!({
            "$ref": "#/definitions/Node",
            "definitions": {"Node": {"type": "object", "properties": {
                "value": {"type": leaf},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}
            }}}
        }))
    };
    assert!(check_compatibility(L::Full, &tree("string"), &[(1, &tree("string"))]).is_empty());
    assert_eq!(
        errors(L::Backward, &tree("string"), &tree("integer")),
        ["TYPE_CHANGED"]
    );
    let defs = js(json!({"$defs": {"S": {"type": "string"}}, "type": "object",
        "properties": {"a": {"$ref": "#/$defs/S"}}}));
    let inline = js(obj(json!({"a": {"type": "string"}}), &[], None));
    assert!(check_compatibility(L::Full, &defs, &[(1, &inline)]).is_empty());
}

#[test]
fn references_to_other_subjects() {
    let address = |ty: &str| ResolvedReference {
        name: "address.json".into(),
        kind: SchemaType::Json,
        schema: json!({"type": "object", "properties": {"city": {"type": ty}}}).to_string(),
    };
    let text =
        json!({"type": "object", "properties": {"home": {"$ref": "address.json"}}}).to_string();
    let v1 = parse(SchemaType::Json, &text, &[address("string")]).unwrap();
    let v2 = parse(SchemaType::Json, &text, &[address("integer")]).unwrap();
    assert_eq!(errors(L::Backward, &v1, &v2), ["TYPE_CHANGED"]);
    assert!(matches!(
        parse(SchemaType::Json, &text, &[]),
        Err(SchemaError::Invalid(m)) if m.contains("address.json")
    ));
}

#[test]
fn invalid_schemas_are_refused() {
    for (name, text) in [
        ("not json", "{\"type\": "),
        ("empty", ""),
        ("a number", "3"),
        ("a string", "\"object\""),
        ("unknown type", r#"{"type": "strin"}"#),
        ("properties not an object", r#"{"properties": []}"#),
        (
            "property schema not a schema",
            r#"{"properties": {"a": 3}}"#,
        ),
        ("required not strings", r#"{"required": [1]}"#),
        ("empty oneOf", r#"{"oneOf": []}"#),
        (
            "negative maxLength",
            r#"{"type": "string", "maxLength": -1}"#,
        ),
        ("maximum not a number", r#"{"maximum": "10"}"#),
        (
            "dangling local ref",
            r##"{"$ref": "#/definitions/Missing"}"##,
        ),
        ("unknown external ref", r#"{"$ref": "other.json"}"#),
        ("enum not an array", r#"{"enum": "A"}"#),
    ] {
        match parse(SchemaType::Json, text, &[]) {
            Err(SchemaError::Invalid(_)) => {}
            other => panic!("{name}: expected Invalid, got {other:?}"),
        }
    }
    js(json!(true));
    js(
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
                       "t": {"type": "array", "prefixItems": [{"type": "string"}], "items": false},
                       "f": {"type": "string", "format": "date-time"}}}),
    );
}

#[test]
fn canonical_form_ignores_layout_and_key_order() {
    let a = parse(
        SchemaType::Json,
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        &[],
    )
    .unwrap();
    let b = parse(
        SchemaType::Json,
        "{\n \"properties\": { \"a\": { \"type\": \"string\" } },\n \"type\": \"object\"\n}",
        &[],
    )
    .unwrap();
    assert_eq!(a.canonical(), b.canonical());
    let c = js(json!({"type": "object", "properties": {"a": {"type": "integer"}}}));
    assert_ne!(a.canonical(), c.canonical());
}

#[test]
fn formats_do_not_mix() {
    let j = js(json!({"type": "string"}));
    let a = parse(SchemaType::Avro, "\"string\"", &[]).unwrap();
    let found = check_compatibility(L::Backward, &j, &[(1, &a)]);
    assert_eq!(found.len(), 1);
}

#[test]
fn nested_combinations_stay_bounded() {
    // Each level refers twice to the one below: a small document whose
    // naive diff takes 4^24 pairings. The budget refuses it quickly.
    let doc = |leaf: &str| {
        let mut defs = serde_json::Map::new();
        defs.insert("L0".into(), json!({"type": leaf}));
        for i in 1..=24 {
            let below = json!({"$ref": format!("#/$defs/L{}", i - 1)});
            defs.insert(
                format!("L{i}"),
                json!({"anyOf": [below, {"type": "object", "properties": {"x": below, "y": below}}]}),
            );
        }
        json!({"$defs": defs, "$ref": "#/$defs/L24"})
    };
    let start = std::time::Instant::now();
    let found = errors(L::Backward, &js(doc("string")), &js(doc("integer")));
    assert!(!found.is_empty());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn deep_ref_chains_do_not_exhaust_the_stack() {
    let doc = |n: usize, leaf: &str| {
        let mut defs = serde_json::Map::new();
        defs.insert("D0".into(), json!({"type": leaf}));
        for i in 1..n {
            defs.insert(
                format!("D{i}"),
                json!({"type": "object", "properties": {"x": {"$ref": format!("#/$defs/D{}", i - 1)}}}),
            );
        }
        js(json!({"$defs": defs, "$ref": format!("#/$defs/D{}", n - 1)}))
    };
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let deep = errors(L::Backward, &doc(5000, "string"), &doc(5000, "string"));
            let shallow = errors(L::Backward, &doc(50, "string"), &doc(50, "integer"));
            (deep, shallow)
        })
        .unwrap();
    let (deep, shallow) = handle.join().unwrap();
    assert_eq!(deep, ["TYPE_CHANGED"], "too deep to follow: refused");
    assert_eq!(shallow, ["TYPE_CHANGED"]);
}
