//! JsonSchemaData's tests: Connect schemas through JSON Schema and back
//! (no registry; the converter itself is tested against a real registry
//! in tests/converters_registry.rs).

use super::*;
use crate::data::Struct;

fn req(kind: SchemaType) -> SchemaRef {
    Schema::of(kind).into_ref()
}

fn opt(kind: SchemaType) -> SchemaRef {
    Schema::optional_of(kind).into_ref()
}

#[test]
fn every_type_round_trips_through_json_schema() {
    let point = Schema::structure(
        Some("Point"),
        vec![
            ("x".into(), req(SchemaType::Int16)),
            ("y".into(), opt(SchemaType::Float32)),
        ],
    )
    .into_ref();
    let decimal = Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, "2");
    let schema = Schema {
        version: Some(3),
        doc: Some("a bid".into()),
        ..Schema::structure(
            Some("auction.Bid"),
            vec![
                ("id".into(), req(SchemaType::Int64)),
                ("small".into(), req(SchemaType::Int8)),
                ("item".into(), opt(SchemaType::String)),
                ("raw".into(), req(SchemaType::Bytes)),
                ("price".into(), decimal.into_ref()),
                (
                    "at".into(),
                    Schema::of(SchemaType::Int64)
                        .with_name(logical::TIMESTAMP)
                        .into_ref(),
                ),
                ("ok".into(), req(SchemaType::Boolean)),
                (
                    "tags".into(),
                    Schema::array(req(SchemaType::String)).into_ref(),
                ),
                (
                    "attrs".into(),
                    Schema::map(req(SchemaType::String), req(SchemaType::Float64)).into_ref(),
                ),
                (
                    "by_id".into(),
                    Schema::map(req(SchemaType::Int32), point.clone()).into_ref(),
                ),
                (
                    "qty".into(),
                    Schema {
                        default: Some(Value::Int32(1)),
                        ..Schema::optional_of(SchemaType::Int32)
                    }
                    .into_ref(),
                ),
            ],
        )
    }
    .into_ref();
    let doc = json_schema_of(&schema).unwrap();
    let text = doc.to_text();
    assert!(text.starts_with(r#"{"type":"object","title":"auction.Bid","properties":{"id":{"type":"integer","connect.type":"int64","connect.index":0}"#), "{text}");
    assert!(
        text.contains(r#""item":{"oneOf":[{"type":"null"},{"type":"string"}],"connect.index":2}"#),
        "{text}"
    );
    let back = connect_schema_of(&doc).unwrap();
    assert_eq!(back, schema, "{text}");

    let mut p = Struct::new(point.clone());
    p.put("x", Value::Int16(-1));
    let mut v = Struct::new(schema.clone());
    for (k, val) in [
        ("id", Value::Int64(7)),
        ("small", Value::Int8(1)),
        ("raw", Value::Bytes(vec![0, 1])),
        ("price", Value::Bytes(vec![0x04, 0x01])),
        ("at", Value::Int64(1_700_000_000_000)),
        ("ok", Value::Boolean(false)),
        ("tags", Value::Array(vec![Value::from("x")])),
        (
            "attrs",
            Value::Map(vec![(Value::from("w"), Value::Float64(0.5))]),
        ),
        (
            "by_id",
            Value::Map(vec![(Value::Int32(3), Value::Struct(p))]),
        ),
        ("qty", Value::Int32(2)),
    ] {
        assert!(v.put(k, val));
    }
    let value = Value::Struct(v);
    let json = to_json(Some(&schema), &value, &OPTS).unwrap();
    assert_eq!(json.get("price").unwrap().to_text(), "10.25");
    assert_eq!(
        json.get("by_id").unwrap().to_text(),
        r#"[{"key":3,"value":{"x":-1,"y":null}}]"#
    );
    let read = to_connect_value(Some(&back), &json, &OPTS).unwrap();
    assert_eq!(read, value);
}

#[test]
fn hand_written_schemas_are_read_leniently() {
    // A JSON Schema as users write it (the shape of the examples in
    // Confluent's "JSON Schema Serializer and Deserializer" docs).
    let text = br#"{"$schema":"http://json-schema.org/draft-07/schema#","title":"Person","type":"object",
        "properties":{"name":{"type":"string"},"age":{"type":"integer"},"score":{"type":["number","null"]},
        "tags":{"type":"object","additionalProperties":{"type":"string"}}},"required":["name"]}"#;
    let s = connect_schema_of(&Json::parse(text).unwrap()).unwrap();
    assert_eq!(s.name.as_deref(), Some("Person"));
    let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["name", "age", "score", "tags"]);
    assert!(!s.field("name").unwrap().schema.optional);
    let age = &s.field("age").unwrap().schema;
    assert_eq!((age.kind, age.optional), (SchemaType::Int64, true));
    assert_eq!(s.field("score").unwrap().schema.kind, SchemaType::Float64);
    assert_eq!(s.field("tags").unwrap().schema.kind, SchemaType::Map);
    let v = to_connect_value(
        Some(&s),
        &Json::parse(br#"{"name":"ann","extra":1}"#).unwrap(),
        &OPTS,
    )
    .unwrap();
    assert_eq!(v.field("name"), Some(&Value::from("ann")));
    assert_eq!(v.field("age"), Some(&Value::Null));
    let err = connect_schema_of(
        &Json::parse(br#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#).unwrap(),
    );
    assert!(err.is_err());
}

#[test]
fn local_refs_are_followed_and_recursion_is_refused() {
    // Definitions referenced with $ref, as schemas generated from classes
    // (Confluent's Java serializer) and hand-written ones use them.
    let text = br##"{"type":"object","title":"Order","properties":{
        "ship_to":{"$ref":"#/definitions/Address"},
        "bill_to":{"oneOf":[{"type":"null"},{"$ref":"#/$defs/Address"}]}},
        "required":["ship_to"],
        "definitions":{"Address":{"type":"object","title":"Address","properties":{"city":{"type":"string"}}}},
        "$defs":{"Address":{"$ref":"#/definitions/Address"}}}"##;
    let s = connect_schema_of(&Json::parse(text).unwrap()).unwrap();
    let ship = &s.field("ship_to").unwrap().schema;
    assert_eq!((ship.kind, ship.optional), (SchemaType::Struct, false));
    assert_eq!(ship.name.as_deref(), Some("Address"));
    let bill = &s.field("bill_to").unwrap().schema;
    assert!(bill.optional);
    assert_eq!(bill.field("city").unwrap().schema.kind, SchemaType::String);

    let recursive = br##"{"type":"object","properties":{"next":{"$ref":"#"}}}"##;
    let err = connect_schema_of(&Json::parse(recursive).unwrap()).unwrap_err();
    assert!(err.to_string().contains("recursive"), "{err}");
    let dangling = br##"{"type":"object","properties":{"a":{"$ref":"#/definitions/Nope"}}}"##;
    assert!(connect_schema_of(&Json::parse(dangling).unwrap()).is_err());
}
