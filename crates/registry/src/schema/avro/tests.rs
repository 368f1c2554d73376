//! Avro: parsing, canonical form and compatibility, table-driven.

use serde_json::json;

use crate::schema::{
    check_compatibility, parse, CompatibilityLevel as L, ParsedSchema, ResolvedReference,
    SchemaError, SchemaType,
};

fn avro(v: serde_json::Value) -> ParsedSchema {
    parse(SchemaType::Avro, &v.to_string(), &[]).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn record(fields: serde_json::Value) -> serde_json::Value {
    json!({"type": "record", "name": "R", "namespace": "ns", "fields": fields})
}

/// The error types of `check_compatibility(level, new, [old])`.
fn errors(level: L, old: &ParsedSchema, new: &ParsedSchema) -> Vec<String> {
    check_compatibility(level, new, &[(1, old)])
        .into_iter()
        .map(|(_, i)| i.error_type)
        .collect()
}

const OK: &[&str] = &[];

#[test]
fn evolution_table() {
    let base = record(json!([{"name": "a", "type": "string"}]));
    let cases: Vec<(&str, serde_json::Value, serde_json::Value, L, &[&str])> = vec![
        (
            "add field with default, backward",
            base.clone(),
            record(
                json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}]),
            ),
            L::Backward,
            OK,
        ),
        (
            "add field with default, full",
            base.clone(),
            record(
                json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}]),
            ),
            L::Full,
            OK,
        ),
        (
            "add field without default, backward",
            base.clone(),
            record(json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int"}])),
            L::Backward,
            &["READER_FIELD_MISSING_DEFAULT_VALUE"],
        ),
        (
            "add field without default, forward",
            base.clone(),
            record(json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int"}])),
            L::Forward,
            OK,
        ),
        (
            "add field without default, full",
            base.clone(),
            record(json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int"}])),
            L::Full,
            &["READER_FIELD_MISSING_DEFAULT_VALUE"],
        ),
        (
            "remove field without default, backward",
            record(json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int"}])),
            base.clone(),
            L::Backward,
            OK,
        ),
        (
            "remove field without default, forward",
            record(json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int"}])),
            base.clone(),
            L::Forward,
            &["READER_FIELD_MISSING_DEFAULT_VALUE"],
        ),
        (
            "remove field with default, full",
            record(
                json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 1}]),
            ),
            base.clone(),
            L::Full,
            OK,
        ),
        (
            "change type string to int",
            base.clone(),
            record(json!([{"name": "a", "type": "int"}])),
            L::Backward,
            &["TYPE_MISMATCH"],
        ),
        (
            "change type, none",
            base.clone(),
            record(json!([{"name": "a", "type": "int"}])),
            L::None,
            OK,
        ),
        (
            "promote int to long, backward",
            record(json!([{"name": "a", "type": "int"}])),
            record(json!([{"name": "a", "type": "long"}])),
            L::Backward,
            OK,
        ),
        (
            "promote int to long, forward (long cannot be read as int)",
            record(json!([{"name": "a", "type": "int"}])),
            record(json!([{"name": "a", "type": "long"}])),
            L::Forward,
            &["TYPE_MISMATCH"],
        ),
        (
            "promote long to double",
            record(json!([{"name": "a", "type": "long"}])),
            record(json!([{"name": "a", "type": "double"}])),
            L::Backward,
            OK,
        ),
        (
            "promote float to double",
            record(json!([{"name": "a", "type": "float"}])),
            record(json!([{"name": "a", "type": "double"}])),
            L::Backward,
            OK,
        ),
        (
            "double to float is not a promotion",
            record(json!([{"name": "a", "type": "double"}])),
            record(json!([{"name": "a", "type": "float"}])),
            L::Backward,
            &["TYPE_MISMATCH"],
        ),
        (
            "string and bytes, full",
            base.clone(),
            record(json!([{"name": "a", "type": "bytes"}])),
            L::Full,
            OK,
        ),
        (
            "rename field without alias",
            base.clone(),
            record(json!([{"name": "c", "type": "string"}])),
            L::Backward,
            &["READER_FIELD_MISSING_DEFAULT_VALUE"],
        ),
        (
            "rename field with alias",
            base.clone(),
            record(json!([{"name": "c", "type": "string", "aliases": ["a"]}])),
            L::Backward,
            OK,
        ),
        (
            "rename record without alias",
            base.clone(),
            json!({"type": "record", "name": "S", "namespace": "ns", "fields": [{"name": "a", "type": "string"}]}),
            L::Backward,
            &["NAME_MISMATCH"],
        ),
        (
            "rename record with alias",
            base.clone(),
            json!({"type": "record", "name": "S", "namespace": "ns", "aliases": ["R"], "fields": [{"name": "a", "type": "string"}]}),
            L::Backward,
            OK,
        ),
        (
            "namespace change alone keeps the name",
            base.clone(),
            json!({"type": "record", "name": "R", "namespace": "other", "fields": [{"name": "a", "type": "string"}]}),
            L::Full,
            OK,
        ),
        (
            "enum symbol added, backward",
            json!({"type": "enum", "name": "E", "symbols": ["A", "B"]}),
            json!({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}),
            L::Backward,
            OK,
        ),
        (
            "enum symbol added, forward",
            json!({"type": "enum", "name": "E", "symbols": ["A", "B"]}),
            json!({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}),
            L::Forward,
            &["MISSING_ENUM_SYMBOLS"],
        ),
        (
            "enum symbol removed, backward",
            json!({"type": "enum", "name": "E", "symbols": ["A", "B"]}),
            json!({"type": "enum", "name": "E", "symbols": ["A"]}),
            L::Backward,
            &["MISSING_ENUM_SYMBOLS"],
        ),
        (
            "enum symbol removed, reader has an enum default",
            json!({"type": "enum", "name": "E", "symbols": ["A", "B"]}),
            json!({"type": "enum", "name": "E", "symbols": ["A"], "default": "A"}),
            L::Backward,
            OK,
        ),
        (
            "union branch added, backward",
            record(json!([{"name": "a", "type": ["null", "string"], "default": null}])),
            record(json!([{"name": "a", "type": ["null", "string", "int"], "default": null}])),
            L::Backward,
            OK,
        ),
        (
            "union branch added, forward",
            record(json!([{"name": "a", "type": ["null", "string"], "default": null}])),
            record(json!([{"name": "a", "type": ["null", "string", "int"], "default": null}])),
            L::Forward,
            &["MISSING_UNION_BRANCH"],
        ),
        (
            "union branch removed, backward",
            record(json!([{"name": "a", "type": ["null", "string"], "default": null}])),
            record(json!([{"name": "a", "type": ["null"], "default": null}])),
            L::Backward,
            &["MISSING_UNION_BRANCH"],
        ),
        (
            "type widened into a union",
            base.clone(),
            record(json!([{"name": "a", "type": ["null", "string"], "default": null}])),
            L::Backward,
            OK,
        ),
        (
            "union narrowed to a type",
            record(json!([{"name": "a", "type": ["null", "string"], "default": null}])),
            base.clone(),
            L::Backward,
            &["TYPE_MISMATCH"],
        ),
        (
            "fixed size changed",
            json!({"type": "fixed", "name": "F", "size": 4}),
            json!({"type": "fixed", "name": "F", "size": 8}),
            L::Backward,
            &["FIXED_SIZE_MISMATCH"],
        ),
        (
            "array items promoted",
            json!({"type": "array", "items": "int"}),
            json!({"type": "array", "items": "long"}),
            L::Backward,
            OK,
        ),
        (
            "map values changed",
            json!({"type": "map", "values": "int"}),
            json!({"type": "map", "values": "boolean"}),
            L::Backward,
            &["TYPE_MISMATCH"],
        ),
        (
            "logical type changes are not Avro resolution errors",
            json!({"type": "long"}),
            json!({"type": "long", "logicalType": "timestamp-millis"}),
            L::Full,
            OK,
        ),
        (
            "record to enum",
            base.clone(),
            json!({"type": "enum", "name": "R", "namespace": "ns", "symbols": ["A"]}),
            L::Backward,
            &["TYPE_MISMATCH"],
        ),
    ];
    for (name, old, new, level, want) in cases {
        let got = errors(level, &avro(old), &avro(new));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn descriptions_follow_confluent() {
    let old = avro(record(json!([{"name": "a", "type": "string"}])));
    let new = avro(record(
        json!([{"name": "a", "type": "string"}, {"name": "x", "type": "int"}]),
    ));
    let back = check_compatibility(L::Backward, &new, &[(3, &old)]);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0, 3);
    assert_eq!(
        back[0].1.description,
        "The field 'x' at path '/fields/1' in the new schema has no default value and is missing in the old schema"
    );
    assert_eq!(back[0].1.additional_info, "x");
    // Forward: the old schema is the reader, and the wording says so.
    let fwd = check_compatibility(L::Forward, &old, &[(1, &new)]);
    assert_eq!(
        fwd[0].1.description,
        "The field 'x' at path '/fields/1' in the old schema has no default value and is missing in the new schema"
    );

    let changed = avro(record(json!([{"name": "a", "type": "double"}])));
    let i = &check_compatibility(L::Backward, &changed, &[(1, &old)])[0].1;
    assert_eq!(
        i.description,
        "The type (path '/fields/0/type') of a field in the new schema does not match with the old schema"
    );
    assert_eq!(
        i.additional_info,
        "reader type: DOUBLE not compatible with writer type: STRING"
    );

    let u_old = avro(record(
        json!([{"name": "a", "type": ["null", "string", "int"]}]),
    ));
    let u_new = avro(record(json!([{"name": "a", "type": ["null", "string"]}])));
    let i = &check_compatibility(L::Backward, &u_new, &[(1, &u_old)])[0].1;
    assert_eq!(i.error_type, "MISSING_UNION_BRANCH");
    assert_eq!(
        i.description,
        "The new schema is missing a type inside a union field at path '/fields/0/type/2' in the old schema"
    );
    assert_eq!(i.additional_info, "reader union lacking writer type: INT");

    let e_old = avro(json!({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}));
    let e_new = avro(json!({"type": "enum", "name": "E", "symbols": ["A"]}));
    let i = &check_compatibility(L::Backward, &e_new, &[(1, &e_old)])[0].1;
    assert_eq!(
        i.description,
        "The new schema is missing enum symbols '[B, C]' at path '/symbols' in the old schema"
    );

    let n_new =
        avro(json!({"type": "record", "name": "S", "fields": [{"name": "a", "type": "string"}]}));
    let i = &check_compatibility(L::Backward, &n_new, &[(1, &old)])[0].1;
    assert_eq!(
        i.description,
        "The name of the schema has changed (path '/name')"
    );
    assert_eq!(i.additional_info, "expected: ns.R");
}

#[test]
fn transitive_levels_check_every_earlier_version() {
    // v1 has no b; v2 adds b with a default; v3 drops the default.
    let v1 = avro(record(json!([{"name": "a", "type": "string"}])));
    let v2 = avro(record(
        json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}]),
    ));
    let v3 = avro(record(
        json!([{"name": "a", "type": "string"}, {"name": "b", "type": "int"}]),
    ));
    let history = [(1, &v1), (2, &v2)];
    assert!(check_compatibility(L::Backward, &v3, &history).is_empty());
    let found = check_compatibility(L::BackwardTransitive, &v3, &history);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 1, "breaks against version 1");
    assert_eq!(found[0].1.error_type, "READER_FIELD_MISSING_DEFAULT_VALUE");
    // Forward transitive: v1 reads v3's data (b ignored) and so does v2.
    assert!(check_compatibility(L::ForwardTransitive, &v3, &history).is_empty());
    assert!(!check_compatibility(L::FullTransitive, &v3, &history).is_empty());
    assert!(check_compatibility(L::Full, &v2, &[(1, &v1)]).is_empty());
    // No earlier version: always compatible.
    assert!(check_compatibility(L::FullTransitive, &v3, &[]).is_empty());
}

#[test]
fn recursive_types_resolve() {
    let list = |extra: serde_json::Value| {
        let mut fields = vec![
            json!({"name": "value", "type": "int"}),
            json!({"name": "next", "type": ["null", "Node"], "default": null}),
        ];
        if !extra.is_null() {
            fields.push(extra);
        }
        avro(json!({"type": "record", "name": "Node", "fields": fields}))
    };
    let old = list(serde_json::Value::Null);
    let ok = list(json!({"name": "w", "type": "long", "default": 1}));
    let bad = list(json!({"name": "w", "type": "long"}));
    assert!(check_compatibility(L::Full, &ok, &[(1, &old)]).is_empty());
    assert_eq!(
        errors(L::Backward, &old, &bad),
        ["READER_FIELD_MISSING_DEFAULT_VALUE"]
    );
}

#[test]
fn invalid_schemas_are_refused() {
    let cases = [
        ("not json", "{\"type\": "),
        ("empty", ""),
        (
            "unknown type name",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "strin"}]}"#,
        ),
        (
            "record without fields",
            r#"{"type": "record", "name": "R"}"#,
        ),
        ("record without name", r#"{"type": "record", "fields": []}"#),
        (
            "bad name",
            r#"{"type": "record", "name": "1R", "fields": []}"#,
        ),
        (
            "duplicate field",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]}"#,
        ),
        (
            "string default for int",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}"#,
        ),
        (
            "int default out of range",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": 3000000000}]}"#,
        ),
        (
            "null default for string",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string", "default": null}]}"#,
        ),
        (
            "union default matching no branch",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "int"], "default": "x"}]}"#,
        ),
        (
            "enum default not a symbol",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["A"]}, "default": "B"}]}"#,
        ),
        (
            "record default missing a field",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "record", "name": "In", "fields": [{"name": "x", "type": "int"}]}, "default": {}}]}"#,
        ),
        (
            "duplicate enum symbol",
            r#"{"type": "enum", "name": "E", "symbols": ["A", "A"]}"#,
        ),
        (
            "enum type default not a symbol",
            r#"{"type": "enum", "name": "E", "symbols": ["A"], "default": "Z"}"#,
        ),
        ("fixed without size", r#"{"type": "fixed", "name": "F"}"#),
        ("array without items", r#"{"type": "array"}"#),
        ("map without values", r#"{"type": "map"}"#),
        ("nested union", r#"["null", ["int", "string"]]"#),
        ("duplicate union branch", r#"["int", "int"]"#),
        (
            "redefined name",
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "fixed", "name": "R", "size": 1}}]}"#,
        ),
        ("a number", "42"),
        ("no type", r#"{"name": "x"}"#),
    ];
    for (name, text) in cases {
        match parse(SchemaType::Avro, text, &[]) {
            Err(SchemaError::Invalid(_)) => {}
            other => panic!("{name}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn valid_defaults_are_accepted() {
    avro(record(json!([
        {"name": "a", "type": ["null", "string"], "default": null},
        {"name": "b", "type": ["null", "string"], "default": "x"},
        {"name": "c", "type": "long", "default": 5},
        {"name": "d", "type": "double", "default": 1.5},
        {"name": "e", "type": {"type": "array", "items": "int"}, "default": [1, 2]},
        {"name": "f", "type": {"type": "map", "values": "string"}, "default": {"k": "v"}},
        {"name": "g", "type": "bytes", "default": "\u{00ff}"},
        {"name": "h", "type": {"type": "record", "name": "In", "fields": [{"name": "x", "type": "int", "default": 1}]}, "default": {}},
        {"name": "i", "type": "boolean", "default": true},
    ])));
}

#[test]
fn canonical_form_ignores_layout_and_keeps_meaning() {
    let a =
        r#"{"type":"record","name":"R","namespace":"ns","fields":[{"name":"a","type":"string"}]}"#;
    let b = "{\n  \"fields\": [ { \"type\": {\"type\": \"string\"}, \"name\": \"a\" } ],\n  \"name\": \"ns.R\",\n  \"type\": \"record\"\n}";
    let pa = parse(SchemaType::Avro, a, &[]).unwrap();
    let pb = parse(SchemaType::Avro, b, &[]).unwrap();
    assert_eq!(pa.canonical(), pb.canonical());
    assert_eq!(pb.text(), b.trim(), "the text is kept as registered");
    // A default, a doc or an alias makes a different schema (as in Confluent).
    for changed in [
        r#"{"type":"record","name":"R","namespace":"ns","fields":[{"name":"a","type":"string","default":"x"}]}"#,
        r#"{"type":"record","name":"R","namespace":"ns","doc":"d","fields":[{"name":"a","type":"string"}]}"#,
        r#"{"type":"record","name":"R","namespace":"ns","fields":[{"name":"a","type":"string","aliases":["b"]}]}"#,
        r#"{"type":"record","name":"R","namespace":"other","fields":[{"name":"a","type":"string"}]}"#,
    ] {
        let pc = parse(SchemaType::Avro, changed, &[]).unwrap();
        assert_ne!(pa.canonical(), pc.canonical(), "{changed}");
    }
    assert_eq!(avro(json!("string")).canonical(), "\"string\"");
    assert_eq!(avro(json!({"type": "string"})).canonical(), "\"string\"");
}

#[test]
fn references_define_named_types() {
    let address = ResolvedReference {
        name: "com.acme.Address".into(),
        kind: SchemaType::Avro,
        schema: json!({"type": "record", "name": "Address", "namespace": "com.acme",
            "fields": [{"name": "city", "type": "string"}, {"name": "country", "type": "Country"}]})
        .to_string(),
    };
    let country = ResolvedReference {
        name: "com.acme.Country".into(),
        kind: SchemaType::Avro,
        schema: json!({"type": "enum", "name": "Country", "namespace": "com.acme", "symbols": ["NO", "SE"]})
            .to_string(),
    };
    let text = json!({"type": "record", "name": "Customer", "namespace": "com.acme",
        "fields": [{"name": "home", "type": "Address"}, {"name": "work", "type": "com.acme.Address"}]})
    .to_string();
    // Out of dependency order on purpose: Address uses Country.
    let refs = [address, country];
    let p = parse(SchemaType::Avro, &text, &refs).unwrap();
    // Referenced types are written by name, not inlined.
    assert_eq!(
        p.canonical(),
        r#"{"fields":[{"name":"home","type":"com.acme.Address"},{"name":"work","type":"com.acme.Address"}],"name":"com.acme.Customer","type":"record"}"#
    );
    // Without the references the names are undefined.
    assert!(parse(SchemaType::Avro, &text, &[]).is_err());
}

/// A record holding a chain of `n` records, each defined by a reference
/// and holding the one before; the innermost holds a `leaf`.
fn chain(n: usize, leaf: &str) -> ParsedSchema {
    let refs: Vec<ResolvedReference> = (0..n)
        .map(|i| {
            let field = if i == 0 {
                json!({"name": "v", "type": leaf})
            } else {
                json!({"name": "f", "type": format!("B{}", i - 1)})
            };
            ResolvedReference {
                name: format!("B{i}"),
                kind: SchemaType::Avro,
                schema: json!({"type": "record", "name": format!("B{i}"), "fields": [field]})
                    .to_string(),
            }
        })
        .collect();
    let top = json!({"type": "record", "name": "Top",
        "fields": [{"name": "t", "type": format!("B{}", n - 1)}]});
    parse(SchemaType::Avro, &top.to_string(), &refs).unwrap()
}

#[test]
fn deep_name_chains_do_not_exhaust_the_stack() {
    // Run where a request would: on a thread with a 2 MiB stack.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let (old, new) = (chain(3000, "int"), chain(3000, "long"));
            let deep = errors(L::Backward, &old, &new);
            let shallow = (
                errors(L::Backward, &chain(60, "int"), &chain(60, "long")),
                errors(L::Forward, &chain(60, "int"), &chain(60, "long")),
            );
            (deep, shallow)
        })
        .unwrap();
    let (deep, (backward, forward)) = handle.join().unwrap();
    // Too deep to follow: refused rather than guessed compatible.
    assert_eq!(deep, ["TYPE_MISMATCH"]);
    // Within the limit the real rule applies (int promotes to long).
    assert!(backward.is_empty(), "{backward:?}");
    assert_eq!(forward, ["TYPE_MISMATCH"]);
}

#[test]
fn wide_unions_of_named_types_stay_fast() {
    let union = |n: usize| {
        let types: Vec<serde_json::Value> = (0..n)
            .map(|i| json!({"type": "record", "name": format!("U{i}"), "fields": [{"name": "a", "type": "int"}]}))
            .collect();
        avro(serde_json::Value::Array(types))
    };
    let start = std::time::Instant::now();
    assert!(errors(L::Full, &union(3000), &union(3000)).is_empty());
    assert_eq!(
        errors(L::Backward, &union(3000), &union(2999)),
        ["MISSING_UNION_BRANCH"]
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
