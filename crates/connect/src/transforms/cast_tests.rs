//! Tests of `Cast` (beside cast.rs, which they would push past 800 lines).

use super::*;
use crate::transforms::util::primitive;

fn cast(spec: &str, side: Side) -> Cast {
    Cast::new(&Config::from_pairs([("spec", spec)]), side).unwrap()
}

fn whole(value: Value, target: &str) -> Result<Value> {
    let mut t = cast(target, Side::Value);
    let r = ConnectRecord::new("t", None, Value::Null, None, value);
    t.apply(r).map(|r| r.unwrap().value)
}

#[test]
fn numbers_cast_as_java_converts_them() {
    assert_eq!(whole(Value::Int64(300), "int8").unwrap(), Value::Int8(44));
    assert_eq!(
        whole(Value::Int64(70000), "int16").unwrap(),
        Value::Int16(4464)
    );
    assert_eq!(
        whole(Value::Float64(1.9), "int32").unwrap(),
        Value::Int32(1)
    );
    assert_eq!(
        whole(Value::Float64(-1.9), "int64").unwrap(),
        Value::Int64(-1)
    );
    assert_eq!(
        whole(Value::Float64(1e20), "int32").unwrap(),
        Value::Int32(i32::MAX)
    );
    assert_eq!(
        whole(Value::Int32(7), "float64").unwrap(),
        Value::Float64(7.0)
    );
    assert_eq!(
        whole(Value::Boolean(true), "int16").unwrap(),
        Value::Int16(1)
    );
    assert_eq!(
        whole(Value::Int8(2), "boolean").unwrap(),
        Value::Boolean(true)
    );
    // Java's longValue() of 0.5 is 0, so false.
    assert_eq!(
        whole(Value::Float64(0.5), "boolean").unwrap(),
        Value::Boolean(false)
    );
}

#[test]
fn strings_parse_strictly_except_to_boolean() {
    assert_eq!(whole(Value::from("42"), "int32").unwrap(), Value::Int32(42));
    assert_eq!(
        whole(Value::from(" 1.5 "), "float32").unwrap(),
        Value::Float32(1.5)
    );
    assert_eq!(
        whole(Value::from("TRUE"), "boolean").unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        whole(Value::from("yes"), "boolean").unwrap(),
        Value::Boolean(false)
    );
    let err = whole(Value::from("300"), "int8").unwrap_err().to_string();
    assert_eq!(
        err,
        "transformation failed: Value (300) was out of range for requested data type"
    );
}

#[test]
fn confluents_documented_examples() {
    // Confluent's Cast page (docs.confluent.io), "Cast Value": spec=string
    // on 63521704.02. The page shows "63521704.02"; Java's
    // Double.toString, which Kafka's Cast calls, prints 6.352170402E7
    // (scientific from 10^7 up), and so do we.
    assert_eq!(
        whole(Value::Float64(63521704.02), "string").unwrap(),
        Value::from("6.352170402E7")
    );
    // "Cast Comma-Separated Values": spec=ID:string,score:float64 turns
    // {"ID": 46920, "score": 4761} into {"ID": "46920", "score": 4761.0}.
    let mut t = cast("ID:string,score:float64", Side::Value);
    let value = Value::Map(vec![
        (Value::from("ID"), Value::Int64(46920)),
        (Value::from("score"), Value::Int64(4761)),
    ]);
    let r = ConnectRecord::new("t", None, Value::Null, None, value);
    let out = t.apply(r).unwrap().unwrap().value;
    assert_eq!(out.field("ID"), Some(&Value::from("46920")));
    assert_eq!(out.field("score"), Some(&Value::Float64(4761.0)));
}

#[test]
fn values_print_as_javas_to_string() {
    let s = |v: Value| whole(v, "string").unwrap();
    assert_eq!(s(Value::Float64(1.0)), Value::from("1.0"));
    assert_eq!(s(Value::Float64(-0.5)), Value::from("-0.5"));
    assert_eq!(s(Value::Float64(1e7)), Value::from("1.0E7"));
    assert_eq!(s(Value::Float64(123456.789)), Value::from("123456.789"));
    assert_eq!(s(Value::Float64(0.0001)), Value::from("1.0E-4"));
    assert_eq!(s(Value::Float64(0.001)), Value::from("0.001"));
    assert_eq!(s(Value::Float64(1.25e-10)), Value::from("1.25E-10"));
    assert_eq!(s(Value::Float32(0.1)), Value::from("0.1"));
    assert_eq!(s(Value::Float64(f64::NAN)), Value::from("NaN"));
    assert_eq!(s(Value::Int64(-5)), Value::from("-5"));
    assert_eq!(s(Value::Boolean(true)), Value::from("true"));
    assert_eq!(s(Value::Bytes(b"hello".to_vec())), Value::from("aGVsbG8="));
    assert_eq!(s(Value::Bytes(vec![0xff, 0xfe])), Value::from("//4="));
}

#[test]
fn complex_values_are_refused() {
    let err = whole(Value::Array(vec![]), "string")
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not support casting from ARRAY"), "{err}");
    // A struct field is refused by its schema, even when it holds null.
    let inner = Schema::structure(None, vec![])
        .with_optional(true)
        .into_ref();
    let schema = Schema::structure(None, vec![("s".into(), inner)]).into_ref();
    let mut t = cast("s:string", Side::Value);
    let r = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(schema.clone()),
        Value::Struct(Struct::new(schema)),
    );
    let err = t.apply(r).unwrap_err().to_string();
    assert!(
        err.contains("does not support casting from STRUCT"),
        "{err}"
    );
    let err = whole(Value::Bytes(vec![1]), "int32")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("binary fields can only be cast to string"),
        "{err}"
    );
}

#[test]
fn struct_fields_cast_with_a_cached_schema() {
    // One field cast to string, one optional field with a default to
    // boolean, one left alone.
    let schema = Schema::structure(
        Some("row"),
        vec![
            ("c1".into(), primitive(SchemaType::Int64, false)),
            (
                "c2".into(),
                Schema {
                    default: Some(Value::Int32(1)),
                    ..Schema::optional_of(SchemaType::Int32)
                }
                .into_ref(),
            ),
            ("c3".into(), primitive(SchemaType::String, false)),
        ],
    )
    .into_ref();
    let mut s = Struct::new(schema.clone());
    s.put("c1", Value::Int64(9));
    s.put("c2", Value::Int32(0));
    s.put("c3", Value::from("x"));
    let mut t = cast("c1:string,c2:boolean", Side::Value);
    let r = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(schema.clone()),
        Value::Struct(s.clone()),
    );
    let out = t.apply(r).unwrap().unwrap();
    let os = out.value_schema.clone().unwrap();
    assert_eq!(os.name.as_deref(), Some("row"));
    assert_eq!(os.field("c1").unwrap().schema.kind, SchemaType::String);
    let c2 = &os.field("c2").unwrap().schema;
    assert_eq!((c2.kind, c2.optional), (SchemaType::Boolean, true));
    assert_eq!(c2.default, Some(Value::Boolean(true)));
    assert_eq!(os.field("c3").unwrap().schema.kind, SchemaType::String);
    assert_eq!(out.value.field("c1"), Some(&Value::from("9")));
    assert_eq!(out.value.field("c2"), Some(&Value::Boolean(false)));
    let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(s));
    let again = t.apply(r).unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &os,
        again.value_schema.as_ref().unwrap()
    ));
}

#[test]
fn schemaless_fields_and_keys_cast() {
    let mut t = cast("age:int32", Side::Key);
    let mut r = ConnectRecord::new("t", None, Value::Null, None, Value::Null);
    r.key = Value::Map(vec![
        (Value::from("age"), Value::from("41")),
        (Value::from("name"), Value::from("ada")),
    ]);
    let out = t.apply(r).unwrap().unwrap();
    assert_eq!(out.key.field("age"), Some(&Value::Int32(41)));
    assert_eq!(out.key.field("name"), Some(&Value::from("ada")));
}

#[test]
fn whole_values_with_a_schema_and_logical_types() {
    let mut t = cast("string", Side::Value);
    let ts = Schema::of(SchemaType::Int64)
        .with_name(logical::TIMESTAMP)
        .with_optional(true)
        .into_ref();
    let r = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(ts),
        Value::Int64(1_709_622_489_045),
    );
    let out = t.apply(r).unwrap().unwrap();
    assert_eq!(out.value, Value::from("2024-03-05T07:08:09.045Z"));
    let os = out.value_schema.unwrap();
    assert_eq!(
        (os.kind, os.optional, os.name.clone()),
        (SchemaType::String, true, None)
    );

    // Kafka's Values.dateFormatFor picks the pattern by value: a
    // Timestamp at midnight prints as a date, a Date of the epoch as a time.
    let date = Schema::of(SchemaType::Int32)
        .with_name(logical::DATE)
        .into_ref();
    let ts = Schema::of(SchemaType::Int64)
        .with_name(logical::TIMESTAMP)
        .into_ref();
    let as_string = |schema: &crate::data::SchemaRef, v: Value| {
        let mut t = cast("string", Side::Value);
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema.clone()), v);
        t.apply(r).unwrap().unwrap().value
    };
    assert_eq!(
        as_string(&date, Value::Int32(19787)),
        Value::from("2024-03-05")
    );
    assert_eq!(
        as_string(&date, Value::Int32(0)),
        Value::from("00:00:00.000Z")
    );
    assert_eq!(
        as_string(&ts, Value::Int64(1_709_596_800_000)),
        Value::from("2024-03-05")
    );
    let dec = Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, "2")
        .into_ref();
    // -12345 unscaled, scale 2: -123.45
    let bytes = (-12345i16).to_be_bytes().to_vec();
    let mut t = cast("string", Side::Value);
    let r = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(dec.clone()),
        Value::Bytes(bytes.clone()),
    );
    assert_eq!(t.apply(r).unwrap().unwrap().value, Value::from("-123.45"));
    let mut t = cast("float64", Side::Value);
    let r = ConnectRecord::new("t", None, Value::Null, Some(dec), Value::Bytes(bytes));
    assert_eq!(t.apply(r).unwrap().unwrap().value, Value::Float64(-123.45));
    // To an integer: the integer part, toward zero, as BigDecimal.intValue().
    let dec = Schema::of(SchemaType::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, "2")
        .into_ref();
    let mut t = cast("int32", Side::Value);
    let r = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(dec),
        Value::Bytes((-12345i16).to_be_bytes().to_vec()),
    );
    assert_eq!(t.apply(r).unwrap().unwrap().value, Value::Int32(-123));
}

#[test]
fn bad_specs_are_refused_when_built() {
    for bad in ["", "int8,f:int32", "f:array", "f:x:y", "f:nope"] {
        let err = Cast::new(&Config::from_pairs([("spec", bad)]), Side::Value);
        assert!(
            matches!(err, Err(ConnectError::Config { ref key, .. }) if key == "spec"),
            "{bad}"
        );
    }
}

#[test]
fn tombstones_pass_through() {
    assert_eq!(whole(Value::Null, "int8").unwrap(), Value::Null);
}
