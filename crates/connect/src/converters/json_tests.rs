//! JsonConverter's tests: every type with and without schemas, logical
//! types, nesting, nulls and the envelope error.

use super::*;
use crate::converters::build_converter;
use crate::error::ConnectError;

fn opt(kind: SchemaType) -> SchemaRef {
    Schema::optional_of(kind).into_ref()
}

fn req(kind: SchemaType) -> SchemaRef {
    Schema::of(kind).into_ref()
}

fn decimal(scale: &str) -> Schema {
    Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, scale)
        .with_parameter("connect.decimal.precision", "10")
}

/// A struct of every type, and a value of it.
fn everything() -> (SchemaRef, Value) {
    let point = Schema::structure(
        Some("point"),
        vec![
            ("x".into(), req(SchemaType::Int32)),
            ("y".into(), req(SchemaType::Int32)),
        ],
    )
    .into_ref();
    let fields: Vec<(&str, SchemaRef, Value)> = vec![
        ("i8", req(SchemaType::Int8), Value::Int8(-8)),
        ("i16", req(SchemaType::Int16), Value::Int16(-1600)),
        ("i32", req(SchemaType::Int32), Value::Int32(i32::MIN)),
        ("i64", req(SchemaType::Int64), Value::Int64(i64::MAX)),
        ("f32", req(SchemaType::Float32), Value::Float32(1.1)),
        ("f64", req(SchemaType::Float64), Value::Float64(-2.5e-300)),
        ("yes", req(SchemaType::Boolean), Value::Boolean(true)),
        ("text", req(SchemaType::String), Value::from("é \"q\"\n")),
        ("raw", req(SchemaType::Bytes), Value::Bytes(vec![0, 255, 7])),
        ("missing", opt(SchemaType::String), Value::Null),
        (
            "price",
            decimal("2").into_ref(),
            Value::Bytes(vec![0xFB, 0xFF]),
        ),
        (
            "day",
            Schema::of(SchemaType::Int32)
                .with_name(logical::DATE)
                .into_ref(),
            Value::Int32(19_000),
        ),
        (
            "at",
            Schema::of(SchemaType::Int32)
                .with_name(logical::TIME)
                .into_ref(),
            Value::Int32(3_600_000),
        ),
        (
            "ts",
            Schema::of(SchemaType::Int64)
                .with_name(logical::TIMESTAMP)
                .into_ref(),
            Value::Int64(1_700_000_000_123),
        ),
        (
            "tags",
            Schema::array(req(SchemaType::String)).into_ref(),
            Value::Array(vec![Value::from("a"), Value::from("b")]),
        ),
        (
            "by_name",
            Schema::map(req(SchemaType::String), opt(SchemaType::Int64)).into_ref(),
            Value::Map(vec![
                (Value::from("z"), Value::Int64(1)),
                (Value::from("a"), Value::Null),
            ]),
        ),
        (
            "by_id",
            Schema::map(req(SchemaType::Int32), point.clone()).into_ref(),
            Value::Map(vec![(Value::Int32(7), point_value(&point, 1, 2))]),
        ),
        ("origin", point.clone(), point_value(&point, 0, -1)),
    ];
    let schema = Schema::structure(
        Some("com.example.Everything"),
        fields
            .iter()
            .map(|(n, s, _)| (n.to_string(), s.clone()))
            .collect(),
    )
    .into_ref();
    let mut value = Struct::new(schema.clone());
    for (n, _, v) in fields {
        assert!(value.put(n, v));
    }
    (schema, Value::Struct(value))
}

fn point_value(schema: &SchemaRef, x: i32, y: i32) -> Value {
    let mut p = Struct::new(schema.clone());
    p.put("x", Value::Int32(x));
    p.put("y", Value::Int32(y));
    Value::Struct(p)
}

fn round_trip(c: &JsonConverter, schema: Option<&SchemaRef>, value: &Value) -> Vec<u8> {
    let bytes = c.from_connect("t", schema, value).unwrap().unwrap();
    let (schema_back, value_back) = c.to_connect("t", Some(&bytes)).unwrap();
    assert_eq!(&value_back, value, "{}", String::from_utf8_lossy(&bytes));
    if c.schemas_enabled {
        assert_eq!(schema_back.as_deref(), schema.map(|s| &**s));
    }
    bytes
}

#[test]
fn every_type_round_trips_with_schemas() {
    let c = converter(&[]);
    let (schema, value) = everything();
    let bytes = round_trip(&c, Some(&schema), &value);
    let json = Json::parse(&bytes).unwrap();
    let payload = json.get("payload").unwrap();
    // Bytes and decimals are base64; 0xFBFF = -1025 → "-10.25" at scale 2.
    assert_eq!(payload.get("raw").unwrap().as_str(), Some("AP8H"));
    assert_eq!(payload.get("price").unwrap().as_str(), Some("+/8="));
    // A map with int keys is an array of [key, value] pairs.
    assert_eq!(
        payload.get("by_id").unwrap().to_text(),
        r#"[[7,{"x":1,"y":2}]]"#
    );
    assert_eq!(
        payload.get("by_name").unwrap().to_text(),
        r#"{"z":1,"a":null}"#
    );
    assert_eq!(payload.get("f32").unwrap().to_text(), "1.1");
}

#[test]
fn decimals_are_numbers_with_decimal_format_numeric() {
    let c = converter(&[("decimal.format", "numeric")]);
    let (schema, value) = everything();
    let bytes = round_trip(&c, Some(&schema), &value);
    let json = Json::parse(&bytes).unwrap();
    assert_eq!(
        json.get("payload").unwrap().get("price").unwrap().to_text(),
        "-10.25"
    );
    // Base64 is still read when the format is NUMERIC, and numbers when it
    // is BASE64 (Kafka reads both).
    let s = decimal("2").into_ref();
    let base64 = converter(&[]);
    let text = br#"{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":12.5}"#;
    let (_, v) = base64.to_connect("t", Some(text)).unwrap();
    assert_eq!(v, Value::Bytes(vec![0x04, 0xE2])); // 1250
    let (_, v) = c
        .to_connect(
            "t",
            Some(&base64.from_connect("t", Some(&s), &v).unwrap().unwrap()),
        )
        .unwrap();
    assert_eq!(v, Value::Bytes(vec![0x04, 0xE2]));
}

#[test]
fn the_envelope_is_required_with_schemas_enabled() {
    let c = converter(&[]);
    for text in [
        &br#"{"id":1}"#[..],
        br#"{"schema":null}"#,
        br#"{"schema":null,"payload":1,"extra":2}"#,
        b"[1,2]",
        b"42",
    ] {
        let err = c.to_connect("t", Some(text)).unwrap_err();
        assert!(matches!(err, ConnectError::Conversion(_)), "{err}");
        assert!(err.to_string().ends_with(ENVELOPE_ERROR), "{err}");
    }
    // A schema-less envelope is fine.
    let (s, v) = c
        .to_connect("t", Some(br#"{"schema":null,"payload":[1,"a"]}"#))
        .unwrap();
    assert_eq!(s, None);
    assert_eq!(v, Value::Array(vec![Value::Int64(1), Value::from("a")]));
}

#[test]
fn plain_json_reads_as_maps_int64s_and_float64s() {
    let c = converter(&[("schemas.enable", "false")]);
    let (s, v) = c
        .to_connect(
            "t",
            Some(br#"{"z":1,"a":{"f":1.5,"big":12345678901234567890},"l":[true,null,"x"]}"#),
        )
        .unwrap();
    assert_eq!(s, None);
    let expected = Value::Map(vec![
        (Value::from("z"), Value::Int64(1)),
        (
            Value::from("a"),
            Value::Map(vec![
                (Value::from("f"), Value::Float64(1.5)),
                (Value::from("big"), Value::Float64(12345678901234567890.0)),
            ]),
        ),
        (
            Value::from("l"),
            Value::Array(vec![Value::Boolean(true), Value::Null, Value::from("x")]),
        ),
    ]);
    assert_eq!(v, expected);
    // Written back without a schema, keys keep their order.
    let out = c.from_connect("t", None, &v).unwrap().unwrap();
    assert_eq!(
        out,
        br#"{"z":1,"a":{"f":1.5,"big":1.2345678901234567e+19},"l":[true,null,"x"]}"#
    );
    // A schemaless map with non-string keys is written as pairs.
    let m = Value::Map(vec![(Value::Int64(1), Value::from("one"))]);
    assert_eq!(
        c.from_connect("t", None, &m).unwrap().unwrap(),
        br#"[[1,"one"]]"#
    );
}

#[test]
fn every_type_round_trips_without_schemas_as_its_json_shape() {
    let c = converter(&[("schemas.enable", "false")]);
    let (schema, value) = everything();
    let bytes = c.from_connect("t", Some(&schema), &value).unwrap().unwrap();
    // The bytes are the same payload as in the envelope.
    let enveloped = converter(&[])
        .from_connect("t", Some(&schema), &value)
        .unwrap()
        .unwrap();
    let payload = Json::parse(&enveloped)
        .unwrap()
        .get("payload")
        .unwrap()
        .to_text();
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), payload);
    let (s, v) = c.to_connect("t", Some(&bytes)).unwrap();
    assert_eq!(s, None);
    assert_eq!(v.field("i8"), Some(&Value::Int64(-8)));
    assert_eq!(v.field("f32"), Some(&Value::Float64(1.1)));
    assert_eq!(v.field("price"), Some(&Value::from("+/8=")));
    for kind in [
        SchemaType::Boolean,
        SchemaType::Int64,
        SchemaType::Float64,
        SchemaType::String,
    ] {
        let value = match kind {
            SchemaType::Boolean => Value::Boolean(false),
            SchemaType::Int64 => Value::Int64(-3),
            SchemaType::Float64 => Value::Float64(0.25),
            _ => Value::from("s"),
        };
        round_trip(&c, None, &value);
        round_trip(&converter(&[]), Some(&req(kind)), &value);
    }
}

#[test]
fn nulls_tombstones_and_defaults() {
    let c = converter(&[]);
    // A tombstone is no bytes both ways.
    assert_eq!(c.to_connect("t", None).unwrap(), (None, Value::Null));
    assert_eq!(c.from_connect("t", None, &Value::Null).unwrap(), None);
    // A null with an optional schema keeps its schema in the envelope.
    let s = opt(SchemaType::String);
    let bytes = round_trip(&c, Some(&s), &Value::Null);
    assert_eq!(
        bytes,
        br#"{"schema":{"type":"string","optional":true},"payload":null}"#
    );
    // A required schema refuses null.
    let err = c
        .from_connect("t", Some(&req(SchemaType::Int32)), &Value::Null)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("null value for field that is required"),
        "{err}"
    );
    let err = c
        .to_connect(
            "t",
            Some(br#"{"schema":{"type":"int32","optional":false},"payload":null}"#),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Invalid null value for required INT32 field"),
        "{err}"
    );
    // A null field with a default becomes the default, unless
    // replace.null.with.default=false.
    let with_default = Schema {
        default: Some(Value::Int32(5)),
        ..Schema::optional_of(SchemaType::Int32)
    }
    .into_ref();
    let out = c
        .from_connect("t", Some(&with_default), &Value::Null)
        .unwrap()
        .unwrap();
    assert!(
        out.ends_with(br#""payload":5}"#),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let keep = converter(&[("replace.null.with.default", "false")]);
    let out = keep
        .from_connect("t", Some(&with_default), &Value::Null)
        .unwrap()
        .unwrap();
    assert!(out.ends_with(br#""payload":null}"#));
    assert_eq!(keep.to_connect("t", Some(&out)).unwrap().1, Value::Null);
    assert_eq!(c.to_connect("t", Some(&out)).unwrap().1, Value::Int32(5));
}

#[test]
fn mistyped_values_are_conversion_errors() {
    let c = converter(&[]);
    let err = c
        .from_connect("t", Some(&req(SchemaType::Int32)), &Value::from("x"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "conversion failed: Invalid type for INT32: class java.lang.String"
    );
    let text = br#"{"schema":{"type":"int8","optional":false},"payload":300}"#;
    assert!(c.to_connect("t", Some(text)).is_err());
    let text = br#"{"schema":{"type":"struct","fields":[],"optional":false},"payload":[]}"#;
    let err = c.to_connect("t", Some(text)).unwrap_err().to_string();
    assert!(
        err.contains("Structs should be encoded as JSON objects, but found ARRAY"),
        "{err}"
    );
    let err = c
        .to_connect("t", Some(b"{not json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Converting byte[] to Kafka Connect data failed"),
        "{err}"
    );
    // A struct written with a schema that is not its own.
    let (schema, value) = everything();
    let other = Schema::structure(Some("other"), vec![]).into_ref();
    let err = c
        .from_connect("t", Some(&other), &value)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Mismatching schema."), "{err}");
    assert!(c.from_connect("t", Some(&schema), &value).is_ok());
}

#[test]
fn settings_are_checked_through_the_factory() {
    let bad = Config::from_pairs([("decimal.format", "HEX")]);
    assert!(build_converter("org.apache.kafka.connect.json.JsonConverter", &bad, false).is_err());
    let bad = Config::from_pairs([("schemas.enable", "yes")]);
    assert!(build_converter("JsonConverter", &bad, true).is_err());
}

#[test]
fn cached_schema_text_follows_the_schema_not_its_address() {
    // Schemas dropped and allocated again may reuse an address: the
    // envelope must describe the schema passed, not a dead one.
    let c = converter(&[]);
    for i in 0..50 {
        let (kind, value) = if i % 2 == 0 {
            (SchemaType::Int64, Value::Int64(i))
        } else {
            (SchemaType::String, Value::from("s"))
        };
        let schema = req(kind);
        let out = c.from_connect("t", Some(&schema), &value).unwrap().unwrap();
        let json = Json::parse(&out).unwrap();
        let written = json.get("schema").unwrap().get("type").unwrap();
        assert_eq!(written.as_str(), Some(kind.name()), "{i}");
        drop(schema);
    }
}

#[test]
fn an_envelope_as_kafka_connect_users_see_it_reads() {
    // The example message of Confluent's "Kafka Connect Deep Dive –
    // Converters and Serialization Explained" (confluent.io blog), written
    // by JsonConverter with schemas.enable=true.
    let text = br#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"registertime"},{"type":"string","optional":false,"field":"userid"},{"type":"string","optional":false,"field":"regionid"},{"type":"string","optional":false,"field":"gender"}],"optional":false,"name":"ksql.users"},"payload":{"registertime":1493819497170,"userid":"User_1","regionid":"Region_5","gender":"MALE"}}"#;
    let c = converter(&[]);
    let (schema, value) = c.to_connect("users", Some(text)).unwrap();
    let schema = schema.unwrap();
    assert_eq!(schema.name.as_deref(), Some("ksql.users"));
    assert_eq!(
        schema.field("registertime").unwrap().schema.kind,
        SchemaType::Int64
    );
    assert_eq!(
        value.field("registertime"),
        Some(&Value::Int64(1_493_819_497_170))
    );
    assert_eq!(value.field("gender"), Some(&Value::from("MALE")));
    // Written back, it is the same text, key for key.
    let out = c
        .from_connect("users", Some(&schema), &value)
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8_lossy(text)
    );
}

#[test]
fn floats_are_named_float_and_double_as_kafkas_json_schema_names_them() {
    // Kafka's JsonSchema: FLOAT_TYPE_NAME "float", DOUBLE_TYPE_NAME "double".
    let text = br#"{"schema":{"type":"struct","fields":[{"type":"float","optional":false,"field":"f"},{"type":"double","optional":false,"field":"d"}],"optional":false},"payload":{"f":1.5,"d":-2.25}}"#;
    let c = converter(&[]);
    let (schema, value) = c.to_connect("t", Some(text)).unwrap();
    let schema = schema.unwrap();
    assert_eq!(schema.field("f").unwrap().schema.kind, SchemaType::Float32);
    assert_eq!(schema.field("d").unwrap().schema.kind, SchemaType::Float64);
    assert_eq!(value.field("f"), Some(&Value::Float32(1.5)));
    let out = c.from_connect("t", Some(&schema), &value).unwrap().unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8_lossy(text)
    );
    // What Fjord wrote before (float32/float64) still reads.
    let old = br#"{"schema":{"type":"float64","optional":false},"payload":0.5}"#;
    assert_eq!(c.to_connect("t", Some(old)).unwrap().1, Value::Float64(0.5));
}
