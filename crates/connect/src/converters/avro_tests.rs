//! AvroData's tests: Connect schemas and values through Avro and back,
//! with apache-avro writing and reading the binary datum in between (no
//! registry).

use super::*;
use apache_avro::Schema as AvroSchema;

fn req(kind: SchemaType) -> SchemaRef {
    Schema::of(kind).into_ref()
}

fn opt(kind: SchemaType) -> SchemaRef {
    Schema::optional_of(kind).into_ref()
}

/// Writes `value` with the Avro schema derived from `schema`, reads it
/// back, and returns the Connect schema and value read.
fn through_avro(schema: &SchemaRef, value: &Value) -> (SchemaRef, Value, String) {
    let (text, _) = avro_schema(schema).unwrap();
    let parsed = AvroSchema::parse_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let avro = avro_value(schema, value)
        .unwrap()
        .resolve(&parsed)
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let datum = apache_avro::to_avro_datum(&parsed, avro).unwrap();
    let read = apache_avro::from_avro_datum(&parsed, &mut &datum[..], None).unwrap();
    let back_schema = connect_schema(&text, &[]).unwrap();
    let back = connect_value(&back_schema, read).unwrap();
    (back_schema, back, text)
}

fn everything() -> (SchemaRef, Value) {
    let point = Schema::structure(
        Some("geo.Point"),
        vec![
            ("x".into(), req(SchemaType::Int32)),
            ("y".into(), req(SchemaType::Int32)),
        ],
    )
    .into_ref();
    let point_value = |x, y| {
        let mut p = Struct::new(point.clone());
        p.put("x", Value::Int32(x));
        p.put("y", Value::Int32(y));
        Value::Struct(p)
    };
    let decimal = Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, "2");
    let fields: Vec<(&str, SchemaRef, Value)> = vec![
        ("i8", req(SchemaType::Int8), Value::Int8(-8)),
        ("i16", req(SchemaType::Int16), Value::Int16(300)),
        ("i32", req(SchemaType::Int32), Value::Int32(-5)),
        ("i64", req(SchemaType::Int64), Value::Int64(1 << 40)),
        ("f32", req(SchemaType::Float32), Value::Float32(0.5)),
        ("f64", req(SchemaType::Float64), Value::Float64(-1e100)),
        ("b", req(SchemaType::Boolean), Value::Boolean(true)),
        ("s", req(SchemaType::String), Value::from("héllo")),
        ("raw", req(SchemaType::Bytes), Value::Bytes(vec![1, 2, 255])),
        ("maybe", opt(SchemaType::String), Value::Null),
        ("maybe_not", opt(SchemaType::Int64), Value::Int64(3)),
        (
            "price",
            decimal.clone().into_ref(),
            Value::Bytes(vec![0xFB, 0xFF]),
        ),
        (
            "big",
            decimal
                .clone()
                .with_parameter(DECIMAL_PRECISION, "30")
                .with_optional(true)
                .into_ref(),
            Value::Bytes(vec![0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
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
            Value::Int32(1_000),
        ),
        (
            "ts",
            Schema::of(SchemaType::Int64)
                .with_name(logical::TIMESTAMP)
                .into_ref(),
            Value::Int64(1_700_000_000_000),
        ),
        (
            "tags",
            Schema::array(req(SchemaType::String)).into_ref(),
            Value::Array(vec![Value::from("a"), Value::from("b")]),
        ),
        (
            "counts",
            Schema::map(req(SchemaType::String), req(SchemaType::Int64)).into_ref(),
            Value::Map(vec![
                (Value::from("a"), Value::Int64(1)),
                (Value::from("b"), Value::Int64(2)),
            ]),
        ),
        (
            "by_id",
            Schema::map(req(SchemaType::Int32), point.clone()).into_ref(),
            Value::Map(vec![(Value::Int32(9), point_value(1, 2))]),
        ),
        ("origin", point.clone(), point_value(0, 0)),
        (
            "level",
            Schema {
                default: Some(Value::Int32(4)),
                doc: Some("how deep".into()),
                ..Schema::of(SchemaType::Int32)
            }
            .into_ref(),
            Value::Int32(5),
        ),
    ];
    let schema = Schema {
        version: Some(2),
        doc: Some("every type".into()),
        ..Schema::structure(
            Some("com.example.Everything"),
            fields
                .iter()
                .map(|(n, s, _)| (n.to_string(), s.clone()))
                .collect(),
        )
    }
    .into_ref();
    let mut value = Struct::new(schema.clone());
    for (n, _, v) in fields {
        assert!(value.put(n, v));
    }
    (schema, Value::Struct(value))
}

#[test]
fn every_type_round_trips_through_avro() {
    let (schema, value) = everything();
    let (back_schema, back, text) = through_avro(&schema, &value);
    assert_eq!(back_schema, schema, "{text}");
    assert_eq!(back, value, "{text}");
    // The record keeps the struct's name; the second use of geo.Point is a
    // reference by name.
    assert!(
        text.starts_with(r#"{"type":"record","name":"Everything","namespace":"com.example""#),
        "{text}"
    );
    assert_eq!(text.matches(r#""name":"Point""#).count(), 1, "{text}");
    assert!(text.contains(r#"["null","string"]"#), "{text}");
    assert!(
        text.contains(r#""logicalType":"timestamp-millis""#),
        "{text}"
    );
}

#[test]
fn unnamed_structs_and_map_entries_get_confluents_names() {
    let inner = Schema::structure(None, vec![("a".into(), req(SchemaType::Int32))]).into_ref();
    let other = Schema::structure(None, vec![("b".into(), req(SchemaType::String))]).into_ref();
    let schema = Schema::structure(
        None,
        vec![
            ("one".into(), inner.clone()),
            ("two".into(), other.clone()),
            ("again".into(), inner.clone()),
        ],
    )
    .into_ref();
    let (text, record) = avro_schema(&schema).unwrap();
    assert_eq!(
        record.as_deref(),
        Some("io.confluent.connect.avro.ConnectDefault")
    );
    assert!(text.contains(r#""name":"ConnectDefault2""#), "{text}");
    assert!(text.contains(r#""name":"ConnectDefault3""#), "{text}");
    let back = connect_schema(&text, &[]).unwrap();
    assert_eq!(back, schema);
}

#[test]
fn decimals_are_sign_extended_for_their_precision_and_read_back_minimal() {
    // apache-avro refuses a decimal shorter than its precision could need.
    assert_eq!(len_for(64), 27);
    assert_eq!(len_for(2), 1);
    let s = Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, "0")
        .into_ref();
    for bytes in [vec![0], vec![0x80], vec![0x00, 0xFF]] {
        let (_, back, _) = through_avro(&s, &Value::Bytes(bytes.clone()));
        assert_eq!(back, Value::Bytes(bytes));
    }
}

#[test]
fn foreign_avro_schemas_map_as_confluents_avro_data_does() {
    // The value schema of Confluent's Schema Registry tutorial
    // (docs.confluent.io, "Schema Registry Tutorial": kafka-avro-console-producer
    // --property value.schema='{"type":"record","name":"myrecord",...}').
    let s = connect_schema(
        r#"{"type":"record","name":"myrecord","fields":[{"name":"f1","type":"string"}]}"#,
        &[],
    )
    .unwrap();
    assert_eq!(s.name.as_deref(), Some("myrecord"));
    assert_eq!(s.fields[0].schema.kind, SchemaType::String);
    let text = r#"{"type":"record","name":"Bid","namespace":"auction","fields":[
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["BUY","SELL"]}},
        {"name":"id","type":{"type":"fixed","name":"Id","size":4}},
        {"name":"note","type":["string","null"],"default":"none"},
        {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":3}},
        {"name":"again","type":"Kind"},
        {"name":"micros","type":{"type":"long","logicalType":"timestamp-micros"}}]}"#;
    let s = connect_schema(text, &[]).unwrap();
    assert_eq!(s.name.as_deref(), Some("auction.Bid"));
    let kind = &s.field("kind").unwrap().schema;
    assert_eq!(kind.kind, SchemaType::String);
    assert_eq!(kind.parameters[ENUM], "auction.Kind");
    assert_eq!(
        kind.parameters["io.confluent.connect.avro.Enum.SELL"],
        "SELL"
    );
    assert_eq!(s.field("again").unwrap().schema, *kind);
    let id = &s.field("id").unwrap().schema;
    assert_eq!(
        (id.kind, id.parameters[FIXED_SIZE].as_str()),
        (SchemaType::Bytes, "4")
    );
    let note = &s.field("note").unwrap().schema;
    assert!(note.optional);
    assert_eq!(note.default, Some(Value::from("none")));
    let amount = &s.field("amount").unwrap().schema;
    assert_eq!(amount.name.as_deref(), Some(logical::DECIMAL));
    assert_eq!(amount.parameters[logical::DECIMAL_SCALE], "3");
    assert_eq!(amount.parameters[DECIMAL_PRECISION], "9");
    assert_eq!(s.field("micros").unwrap().schema.kind, SchemaType::Int64);
    // Values of enums and fixed read as strings and bytes.
    let parsed = AvroSchema::parse_str(text).unwrap();
    let record = Avro::Record(vec![
        ("kind".into(), Avro::Enum(1, "SELL".into())),
        ("id".into(), Avro::Fixed(4, vec![1, 2, 3, 4])),
        ("note".into(), Avro::Union(1, Box::new(Avro::Null))),
        (
            "amount".into(),
            Avro::Decimal(apache_avro::Decimal::from(vec![0x30, 0x39])),
        ),
        ("again".into(), Avro::Enum(0, "BUY".into())),
        ("micros".into(), Avro::TimestampMicros(7)),
    ]);
    let datum = apache_avro::to_avro_datum(&parsed, record).unwrap();
    let read = apache_avro::from_avro_datum(&parsed, &mut &datum[..], None).unwrap();
    let v = connect_value(&s, read).unwrap();
    assert_eq!(v.field("kind"), Some(&Value::from("SELL")));
    assert_eq!(v.field("id"), Some(&Value::Bytes(vec![1, 2, 3, 4])));
    assert_eq!(v.field("note"), Some(&Value::Null));
    assert_eq!(v.field("amount"), Some(&Value::Bytes(vec![0x30, 0x39])));
    assert_eq!(v.field("micros"), Some(&Value::Int64(7)));
    // Writing that schema back gives an Avro enum and fixed again.
    let (again, _) = avro_schema(&s).unwrap();
    assert!(
        again.contains(
            r#""type":"enum","name":"Kind","namespace":"auction","symbols":["BUY","SELL"]"#
        ),
        "{again}"
    );
    AvroSchema::parse_str(&again).unwrap_or_else(|e| panic!("{e}: {again}"));
}

#[test]
fn unions_of_several_types_are_confluents_union_structs() {
    let text = r#"{"type":"record","name":"Event","fields":[
        {"name":"payload","type":["int",{"type":"record","name":"Click","fields":[{"name":"x","type":"int"}]},"string"]},
        {"name":"maybe","type":["long","null","string"]}]}"#;
    let s = connect_schema(text, &[]).unwrap();
    let payload = &s.field("payload").unwrap().schema;
    assert_eq!(payload.name.as_deref(), Some(UNION));
    assert!(!payload.optional);
    let names: Vec<&str> = payload.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["int", "Click", "string"]);
    let maybe = &s.field("maybe").unwrap().schema;
    assert!(maybe.optional);
    assert_eq!(maybe.parameters[UNION_NULL], "1");
    // Written back, the unions are the same (null where it was).
    let (again, _) = avro_schema(&s).unwrap();
    assert!(again.contains(r#"["long","null","string"]"#), "{again}");
    assert_eq!(connect_schema(&again, &[]).unwrap(), s);
    // Values: one branch set, through the binary encoding and back.
    let click = &payload.field("Click").unwrap().schema;
    let mut c = Struct::new(SchemaRef::new(Schema {
        optional: false,
        ..(**click).clone()
    }));
    c.put("x", Value::Int32(3));
    for (p, m) in [
        (("Click", Value::Struct(c)), ("string", Value::from("s"))),
        (("int", Value::Int32(7)), ("long", Value::Int64(8))),
    ] {
        let mut pv = Struct::new(payload.clone());
        pv.put(p.0, p.1);
        let mut mv = Struct::new(maybe.clone());
        mv.put(m.0, m.1);
        let mut v = Struct::new(s.clone());
        v.put("payload", Value::Struct(pv));
        v.put("maybe", Value::Struct(mv));
        let (_, back, _) = through_avro(&s, &Value::Struct(v.clone()));
        let Value::Struct(back) = back else { panic!() };
        assert_eq!(back.get("maybe"), v.get("maybe"));
        let (Some(Value::Struct(a)), Some(Value::Struct(b))) =
            (back.get("payload"), v.get("payload"))
        else {
            panic!()
        };
        assert_eq!(a.values.len(), b.values.len());
        for (x, y) in a.values.iter().zip(&b.values) {
            match (x, y) {
                (Value::Struct(x), Value::Struct(y)) => assert_eq!(x.values, y.values),
                _ => assert_eq!(x, y),
            }
        }
    }
    let mut none = Struct::new(s.clone());
    none.put("payload", Value::Struct(Struct::new(payload.clone())));
    assert!(avro_value(&s, &Value::Struct(none)).is_err());
}

#[test]
fn unsupported_and_mistyped_input_is_refused() {
    let err = connect_schema(r#"["int","int"]"#, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("two int branches"), "{err}");
    assert!(connect_schema(r#""Nope""#, &[]).is_err());
    let err = avro_value(&Schema::of(SchemaType::Int32), &Value::from("x"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Invalid type for INT32"), "{err}");
    let err = avro_value(&Schema::of(SchemaType::Int32), &Value::Null)
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-optional"), "{err}");
}
