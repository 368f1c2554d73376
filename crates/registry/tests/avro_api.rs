//! The schema API as the service uses it: names of types and levels, the
//! JSON forms of `schemaType` and references, and every compatibility level
//! over a three-version Avro history.

use fjord_registry::schema::{
    check_compatibility, parse, CompatibilityLevel, ParsedSchema, Reference, SchemaType,
};
use serde_json::json;

#[test]
fn type_and_level_names() {
    for (s, t) in [
        ("AVRO", SchemaType::Avro),
        ("JSON", SchemaType::Json),
        ("PROTOBUF", SchemaType::Protobuf),
    ] {
        assert_eq!(s.parse::<SchemaType>().unwrap(), t);
        assert_eq!(t.to_string(), s);
        assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{s}\""));
    }
    assert!("XML".parse::<SchemaType>().is_err());
    assert_eq!(SchemaType::default(), SchemaType::Avro);
    let levels = [
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    ];
    for name in levels {
        let level: CompatibilityLevel = name.parse().unwrap();
        assert_eq!(level.to_string(), name);
        assert_eq!(serde_json::to_value(level).unwrap(), json!(name));
        let back: CompatibilityLevel = serde_json::from_value(json!(name)).unwrap();
        assert_eq!(back, level);
        assert_eq!(
            name.to_lowercase().parse::<CompatibilityLevel>().unwrap(),
            level
        );
    }
    assert_eq!(CompatibilityLevel::default(), CompatibilityLevel::Backward);
    assert!("SIDEWAYS".parse::<CompatibilityLevel>().is_err());
    let r: Reference =
        serde_json::from_value(json!({"name": "a.B", "subject": "b-value", "version": 2})).unwrap();
    assert_eq!(
        (r.name.as_str(), r.subject.as_str(), r.version),
        ("a.B", "b-value", 2)
    );
}

fn avro(fields: serde_json::Value) -> ParsedSchema {
    let text = json!({"type": "record", "name": "Bid", "fields": fields}).to_string();
    parse(SchemaType::Avro, &text, &[]).unwrap()
}

#[test]
fn every_level_over_a_history() {
    // v1: item. v2: item + price (default). Candidate: item + price, no default,
    // + bidder (default): backward-compatible with v2 only, forward with both.
    let v1 = avro(json!([{"name": "item", "type": "string"}]));
    let v2 = avro(json!([
        {"name": "item", "type": "string"},
        {"name": "price", "type": "double", "default": 0.0}
    ]));
    let candidate = avro(json!([
        {"name": "item", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "bidder", "type": "string", "default": ""}
    ]));
    let history = [(1, &v1), (2, &v2)];
    use CompatibilityLevel as L;
    for (level, breaks_against) in [
        (L::None, None),
        (L::Backward, None),
        (L::BackwardTransitive, Some(1)),
        (L::Forward, None),
        (L::ForwardTransitive, None),
        (L::Full, None),
        (L::FullTransitive, Some(1)),
    ] {
        let found = check_compatibility(level, &candidate, &history);
        match breaks_against {
            None => assert!(found.is_empty(), "{level}: {found:?}"),
            Some(v) => {
                assert!(!found.is_empty(), "{level}");
                assert!(
                    found.iter().all(|(version, _)| *version == v),
                    "{level}: {found:?}"
                );
                assert_eq!(found[0].1.error_type, "READER_FIELD_MISSING_DEFAULT_VALUE");
            }
        }
    }
}
