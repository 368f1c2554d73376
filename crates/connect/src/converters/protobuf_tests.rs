//! ProtobufData's and the codec's tests: Connect structs through .proto
//! text, Fjord's registry parser and the binary encoding, and back (no
//! registry server).

use fjord_registry::schema::protobuf::ProtobufSchema;

use super::*;
use crate::converters::protobuf_codec::{decode, encode};
use crate::data::{Struct, Value};

fn req(kind: SchemaType) -> SchemaRef {
    Schema::of(kind).into_ref()
}

fn opt(kind: SchemaType) -> SchemaRef {
    Schema::optional_of(kind).into_ref()
}

/// Decodes `bytes` as message `full` of .proto `text`.
fn read(text: &str, full: &str, bytes: &[u8]) -> (SchemaRef, Value) {
    let parsed = ProtobufSchema::parse(text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let files = parsed.file_descriptor_set();
    let types = Types::new(&files);
    let schema = types.connect_schema(full).unwrap();
    let value = decode(&types, full, &schema, bytes, 0).unwrap();
    (schema, value)
}

#[test]
fn structs_round_trip_through_proto_text_and_the_wire() {
    let point = Schema::structure(
        Some("auction.Point"),
        vec![
            ("x".into(), req(SchemaType::Int32)),
            ("y".into(), opt(SchemaType::Float64)),
        ],
    )
    .into_ref();
    let kind = Schema::of(SchemaType::String)
        .with_parameter(ENUM, "auction.Kind")
        .with_parameter(&format!("{ENUM}.BUY"), "0")
        .with_parameter(&format!("{ENUM}.SELL"), "1")
        .into_ref();
    let schema = Schema::structure(
        Some("auction.Bid"),
        vec![
            ("id".into(), req(SchemaType::Int64)),
            ("item".into(), req(SchemaType::String)),
            ("note".into(), opt(SchemaType::String)),
            ("qty".into(), opt(SchemaType::Int32)),
            ("raw".into(), req(SchemaType::Bytes)),
            ("ok".into(), req(SchemaType::Boolean)),
            ("ratio".into(), req(SchemaType::Float32)),
            ("kind".into(), kind.clone()),
            (
                "at".into(),
                Schema::of(SchemaType::Int64)
                    .with_name(logical::TIMESTAMP)
                    .into_ref(),
            ),
            (
                "day".into(),
                Schema::of(SchemaType::Int32)
                    .with_name(logical::DATE)
                    .into_ref(),
            ),
            (
                "time".into(),
                Schema::of(SchemaType::Int32)
                    .with_name(logical::TIME)
                    .into_ref(),
            ),
            ("where".into(), point.clone()),
            (
                "maybe_where".into(),
                Schema {
                    optional: true,
                    ..(*point).clone()
                }
                .into_ref(),
            ),
            (
                "scores".into(),
                Schema::array(req(SchemaType::Int64)).into_ref(),
            ),
            ("kinds".into(), Schema::array(kind).into_ref()),
            ("path".into(), Schema::array(point.clone()).into_ref()),
            (
                "attrs".into(),
                Schema::map(req(SchemaType::String), req(SchemaType::Int32)).into_ref(),
            ),
            (
                "by_id".into(),
                Schema::map(req(SchemaType::Int64), point.clone()).into_ref(),
            ),
        ],
    )
    .into_ref();
    let (text, full) = proto_text(&schema).unwrap();
    assert_eq!(full, "auction.Bid");
    assert!(text.contains("message Bid {\n  int64 id = 1;"), "{text}");
    assert!(text.contains("optional string note = 3;"), "{text}");
    assert!(
        text.contains("import \"google/protobuf/timestamp.proto\";"),
        "{text}"
    );

    let p = |x: i32, y: Option<f64>| {
        let mut s = Struct::new(point.clone());
        s.put("x", Value::Int32(x));
        s.put("y", y.map_or(Value::Null, Value::Float64));
        Value::Struct(s)
    };
    let mut v = Struct::new(schema.clone());
    for (k, val) in [
        ("id", Value::Int64(-7)),
        ("item", Value::from("lamp")),
        ("qty", Value::Int32(0)),
        ("raw", Value::Bytes(vec![0, 255])),
        ("ok", Value::Boolean(true)),
        ("ratio", Value::Float32(0.5)),
        ("kind", Value::from("SELL")),
        ("at", Value::Int64(-1_500)),
        ("day", Value::Int32(19_675)),
        ("time", Value::Int32(45_296_789)),
        ("where", p(-1, Some(2.5))),
        (
            "scores",
            Value::Array(vec![Value::Int64(1), Value::Int64(-1), Value::Int64(300)]),
        ),
        (
            "kinds",
            Value::Array(vec![Value::from("BUY"), Value::from("SELL")]),
        ),
        ("path", Value::Array(vec![p(1, None), p(2, Some(0.0))])),
        (
            "attrs",
            Value::Map(vec![(Value::from("a"), Value::Int32(1))]),
        ),
        ("by_id", Value::Map(vec![(Value::Int64(9), p(3, None))])),
    ] {
        assert!(v.put(k, val), "{k}");
    }
    let value = Value::Struct(v);
    let Value::Struct(s) = &value else {
        unreachable!()
    };
    let mut bytes = Vec::new();
    encode(&schema, s, &mut bytes).unwrap();
    let (back_schema, back) = read(&text, ".auction.Bid", &bytes);
    assert_eq!(back_schema, schema, "{text}");
    assert_eq!(back, value);
}

#[test]
fn foreign_messages_decode_with_protobufs_rules() {
    // A schema as an application registers it: sint32, uint32, a oneof,
    // a wrapper, a nested enum, and fields numbered out of order.
    let text = r#"syntax = "proto3";
package shop;
import "google/protobuf/wrappers.proto";
message Order {
  enum Status { NEW = 0; PAID = 1; }
  sint32 delta = 5;
  uint32 count = 2;
  Status status = 3;
  google.protobuf.StringValue coupon = 4;
  oneof pay { string card = 10; string iban = 11; }
  repeated int32 lines = 12;
}"#;
    // delta=-3 (zigzag 5), count=4294967295, status absent (NEW), coupon
    // {"X"}, iban "DE", lines [1, 2] unpacked then [3] packed.
    let bytes = [
        0x28, 0x05, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x22, 0x03, 0x0A, 0x01, b'X', 0x5A, 0x02,
        b'D', b'E', 0x60, 0x01, 0x60, 0x02, 0x62, 0x01, 0x03, 0xF8, 0x01, 0x00,
    ];
    let (schema, v) = read(text, ".shop.Order", &bytes);
    assert_eq!(schema.name.as_deref(), Some("shop.Order"));
    let field = |n: &str| schema.field(n).unwrap().schema.clone();
    assert_eq!(field("delta").parameters[TAG], "5");
    assert_eq!(field("count").kind, SchemaType::Int64);
    assert!(field("coupon").optional && field("card").optional);
    assert_eq!(v.field("delta"), Some(&Value::Int32(-3)));
    assert_eq!(v.field("count"), Some(&Value::Int64(4_294_967_295)));
    assert_eq!(v.field("status"), Some(&Value::from("NEW")));
    assert_eq!(v.field("coupon"), Some(&Value::from("X")));
    assert_eq!(v.field("card"), Some(&Value::Null));
    assert_eq!(v.field("iban"), Some(&Value::from("DE")));
    assert_eq!(
        v.field("lines"),
        Some(&Value::Array(vec![
            Value::Int32(1),
            Value::Int32(2),
            Value::Int32(3)
        ]))
    );
}

#[test]
fn what_protobuf_cannot_hold_is_refused() {
    let decimal = Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, "2")
        .into_ref();
    for field in [
        decimal,
        Schema::array(Schema::array(req(SchemaType::Int32)).into_ref()).into_ref(),
        Schema::array(opt(SchemaType::Int32)).into_ref(),
    ] {
        let s = Schema::structure(Some("a.B"), vec![("f".into(), field)]);
        assert!(proto_text(&s).is_err());
    }
    assert!(proto_text(&Schema::of(SchemaType::String)).is_err());
    let other_package = Schema::structure(
        Some("a.B"),
        vec![(
            "c".into(),
            Schema::structure(Some("x.C"), vec![]).into_ref(),
        )],
    );
    assert!(proto_text(&other_package).is_err());
}
