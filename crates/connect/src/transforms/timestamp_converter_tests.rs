//! Tests of `TimestampConverter` (beside timestamp_converter.rs).

use super::*;
use crate::transforms::util::primitive;

fn converter(pairs: &[(&str, &str)], side: Side) -> TimestampConverter {
    TimestampConverter::new(&Config::from_pairs(pairs.iter().copied()), side).unwrap()
}

fn schemaless(value: Value) -> ConnectRecord {
    ConnectRecord::new("t", None, Value::Null, None, value)
}

/// 2019-04-25T15:02:16Z
const MILLIS: i64 = 1_556_204_536_000;

#[test]
fn unix_millis_to_a_formatted_string() {
    // Confluent's TimestampConverter page (docs.confluent.io, "Example"):
    // format=yyyy-MM-dd, target.type=string, before 1556204536000. Its
    // "after" reads "2014-04-25", a typo: that instant is in 2019.
    let mut t = converter(
        &[("format", "yyyy-MM-dd"), ("target.type", "string")],
        Side::Value,
    );
    let out = t.apply(schemaless(Value::Int64(MILLIS))).unwrap().unwrap();
    assert_eq!(out.value, Value::from("2019-04-25"));
}

#[test]
fn strings_parse_to_every_target() {
    let fmt = "yyyy-MM-dd HH:mm:ss";
    let text = Value::from("2019-04-25 15:02:16");
    let run = |target: &str, precision: &str| {
        let mut t = converter(
            &[
                ("format", fmt),
                ("target.type", target),
                ("unix.precision", precision),
            ],
            Side::Value,
        );
        t.apply(schemaless(text.clone())).unwrap().unwrap().value
    };
    assert_eq!(run("unix", "milliseconds"), Value::Int64(MILLIS));
    assert_eq!(run("unix", "seconds"), Value::Int64(MILLIS / 1000));
    assert_eq!(run("unix", "microseconds"), Value::Int64(MILLIS * 1000));
    assert_eq!(run("unix", "nanoseconds"), Value::Int64(MILLIS * 1_000_000));
    assert_eq!(run("Timestamp", "milliseconds"), Value::Int64(MILLIS));
    assert_eq!(run("Date", "milliseconds"), Value::Int32(18011));
    assert_eq!(
        run("Time", "milliseconds"),
        Value::Int32(((15 * 60 + 2) * 60 + 16) * 1000)
    );
}

#[test]
fn unix_input_reads_its_precision() {
    let mut t = converter(
        &[("target.type", "Timestamp"), ("unix.precision", "seconds")],
        Side::Value,
    );
    let out = t
        .apply(schemaless(Value::Int64(MILLIS / 1000)))
        .unwrap()
        .unwrap();
    assert_eq!(out.value, Value::Int64(MILLIS));
}

#[test]
fn a_struct_field_changes_type_and_schema() {
    let schema = Schema::structure(
        Some("event"),
        vec![
            ("id".into(), primitive(SchemaType::Int32, false)),
            (
                "at".into(),
                Schema::of(SchemaType::Int64)
                    .with_name(logical::TIMESTAMP)
                    .with_optional(true)
                    .into_ref(),
            ),
        ],
    )
    .into_ref();
    let mut s = Struct::new(schema.clone());
    s.put("id", Value::Int32(1));
    s.put("at", Value::Int64(MILLIS));
    let mut t = converter(
        &[
            ("field", "at"),
            ("target.type", "string"),
            ("format", "yyyy-MM-dd'T'HH:mm:ssXXX"),
        ],
        Side::Value,
    );
    let r = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(schema.clone()),
        Value::Struct(s),
    );
    let out = t.apply(r).unwrap().unwrap();
    let os = out.value_schema.clone().unwrap();
    let at = &os.field("at").unwrap().schema;
    assert_eq!(
        (at.kind, at.optional, at.name.clone()),
        (SchemaType::String, true, None)
    );
    assert_eq!(os.name.as_deref(), Some("event"));
    assert_eq!(
        out.value.field("at"),
        Some(&Value::from("2019-04-25T15:02:16Z"))
    );
    assert_eq!(out.value.field("id"), Some(&Value::Int32(1)));

    // Back: a string field with a schema to a Date.
    let mut back = converter(
        &[
            ("field", "at"),
            ("target.type", "Date"),
            ("format", "yyyy-MM-dd'T'HH:mm:ssXXX"),
        ],
        Side::Value,
    );
    let out = back.apply(out).unwrap().unwrap();
    let at = out
        .value_schema
        .clone()
        .unwrap()
        .field("at")
        .unwrap()
        .schema
        .clone();
    assert_eq!(at.name.as_deref(), Some(logical::DATE));
    assert_eq!(out.value.field("at"), Some(&Value::Int32(18011)));
}

#[test]
fn whole_values_with_a_schema_and_schemaless_fields() {
    let mut t = converter(&[("target.type", "unix")], Side::Key);
    let date = Schema::of(SchemaType::Int32)
        .with_name(logical::DATE)
        .into_ref();
    let r = ConnectRecord::new("t", Some(date), Value::Int32(1), None, Value::Null);
    let out = t.apply(r).unwrap().unwrap();
    assert_eq!(out.key, Value::Int64(86_400_000));
    assert_eq!(out.key_schema.unwrap().kind, SchemaType::Int64);

    let mut t = converter(
        &[("field", "ts"), ("target.type", "Timestamp")],
        Side::Value,
    );
    let value = Value::Map(vec![
        (Value::from("ts"), Value::Int64(5)),
        (Value::from("other"), Value::from("x")),
    ]);
    let out = t.apply(schemaless(value)).unwrap().unwrap();
    assert_eq!(out.value.field("ts"), Some(&Value::Int64(5)));
    assert_eq!(out.value.field("other"), Some(&Value::from("x")));
}

#[test]
fn errors_name_what_was_wrong() {
    let mut t = converter(
        &[("format", "yyyy-MM-dd"), ("target.type", "unix")],
        Side::Value,
    );
    let err = t
        .apply(schemaless(Value::from("25/04/2019")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "Could not parse timestamp: value (25/04/2019) does not match pattern (yyyy-MM-dd)"
        ),
        "{err}"
    );
    let err = t
        .apply(schemaless(Value::Boolean(true)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not support java.lang.Boolean objects as timestamps"),
        "{err}"
    );
    let bool_schema = primitive(SchemaType::Boolean, false);
    let r = ConnectRecord::new(
        "t",
        None,
        Value::Null,
        Some(bool_schema),
        Value::Boolean(true),
    );
    assert!(t
        .apply(r)
        .unwrap_err()
        .to_string()
        .contains("does not correspond to a known timestamp type format"));
}

#[test]
fn bad_settings_are_refused_when_built() {
    let build = |pairs: &[(&str, &str)]| {
        TimestampConverter::new(&Config::from_pairs(pairs.iter().copied()), Side::Value)
    };
    let key_of = |r: Result<TimestampConverter>| match r {
        Err(ConnectError::Config { key, .. }) => key,
        Err(other) => panic!("not a config error: {other}"),
        Ok(_) => panic!("accepted"),
    };
    assert_eq!(key_of(build(&[])), "target.type");
    assert_eq!(
        key_of(build(&[("target.type", "timestamp")])),
        "target.type"
    );
    assert_eq!(key_of(build(&[("target.type", "string")])), "format");
    assert_eq!(
        key_of(build(&[("target.type", "string"), ("format", "yyyy-bb")])),
        "format"
    );
    assert_eq!(
        key_of(build(&[
            ("target.type", "unix"),
            ("unix.precision", "hours")
        ])),
        "unix.precision"
    );
}

#[test]
fn the_config_def_checks_case_as_kafka_does() {
    let def = config_def();
    let ok = Config::from_pairs([("target.type", "Timestamp")]);
    assert_eq!(def.validate(&ok).1, 0);
    let bad = Config::from_pairs([("target.type", "timestamp"), ("unix.precision", "Seconds")]);
    assert_eq!(def.validate(&bad).1, 2);
}

#[test]
fn tombstones_pass_through() {
    let mut t = converter(&[("target.type", "unix")], Side::Value);
    let tomb = schemaless(Value::Null);
    assert_eq!(t.apply(tomb.clone()).unwrap(), Some(tomb));
}
