//! Protobuf through the registry's format-neutral API (`schema::parse`,
//! `check_compatibility`): each compatibility level over a subject's
//! history, as the service applies it on registration.

use fjord_registry::schema::{
    check_compatibility, parse, CompatibilityLevel, ParsedSchema, SchemaType,
};

fn proto(body: &str) -> ParsedSchema {
    let text = format!("syntax = \"proto3\";\npackage shop;\n{body}");
    parse(SchemaType::Protobuf, &text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The error types of registering `new` after `history` (oldest first), with
/// the version each breaks against.
fn errors(
    level: CompatibilityLevel,
    history: &[&ParsedSchema],
    new: &ParsedSchema,
) -> Vec<(i32, String)> {
    let previous: Vec<(i32, &ParsedSchema)> = history
        .iter()
        .enumerate()
        .map(|(i, s)| (i as i32 + 1, *s))
        .collect();
    check_compatibility(level, new, &previous)
        .into_iter()
        .map(|(v, i)| (v, i.error_type))
        .collect()
}

#[test]
fn each_level_on_one_step() {
    use CompatibilityLevel::*;
    let v1 = proto(
        "message Bid { string item = 1; int64 price = 2; }\nmessage Item { string name = 1; }",
    );
    let added = proto("message Bid { string item = 1; int64 price = 2; string name = 3; }\nmessage Item { string name = 1; }");
    let retyped = proto(
        "message Bid { string item = 1; double price = 2; }\nmessage Item { string name = 1; }",
    );
    let dropped_message = proto("message Bid { string item = 1; int64 price = 2; }");
    let extra_message =
        proto("message Bid { string item = 1; int64 price = 2; }\nmessage Item { string name = 1; }\nmessage Seller {}");
    let scalar = "FIELD_SCALAR_KIND_CHANGED".to_string();
    let removed = "MESSAGE_REMOVED".to_string();
    // (case, new schema, level, expected (version, error type) list)
    type Case<'a> = (
        &'a str,
        &'a ParsedSchema,
        CompatibilityLevel,
        Vec<(i32, String)>,
    );
    let cases: Vec<Case> = vec![
        ("field added, BACKWARD", &added, Backward, vec![]),
        ("field added, FORWARD", &added, Forward, vec![]),
        ("field added, FULL", &added, Full, vec![]),
        ("type changed, NONE", &retyped, None, vec![]),
        (
            "type changed, BACKWARD",
            &retyped,
            Backward,
            vec![(1, scalar.clone())],
        ),
        (
            "type changed, FORWARD",
            &retyped,
            Forward,
            vec![(1, scalar.clone())],
        ),
        (
            "type changed, FULL",
            &retyped,
            Full,
            vec![(1, scalar.clone()), (1, scalar.clone())],
        ),
        (
            "message removed, BACKWARD",
            &dropped_message,
            Backward,
            vec![(1, removed.clone())],
        ),
        (
            "message removed, FORWARD",
            &dropped_message,
            Forward,
            vec![],
        ),
        ("message added, BACKWARD", &extra_message, Backward, vec![]),
        (
            "message added, FORWARD",
            &extra_message,
            Forward,
            vec![(1, removed.clone())],
        ),
        (
            "message added, FULL",
            &extra_message,
            Full,
            vec![(1, removed.clone())],
        ),
    ];
    for (case, new, level, want) in cases {
        assert_eq!(errors(level, &[&v1], new), want, "{case}");
    }
}

#[test]
fn transitive_levels_check_every_version() {
    use CompatibilityLevel::*;
    let v1 = proto("message Bid { string item = 1; int64 price = 2; }");
    let v2 = proto("message Bid { string item = 1; }");
    // Number 2 comes back with another encoding: fine against v2, not v1.
    let v3 = proto("message Bid { string item = 1; string price = 2; }");
    assert_eq!(errors(Backward, &[&v1, &v2], &v3), vec![]);
    assert_eq!(
        errors(BackwardTransitive, &[&v1, &v2], &v3),
        vec![(1, "FIELD_SCALAR_KIND_CHANGED".to_string())]
    );
    assert_eq!(
        errors(FullTransitive, &[&v1, &v2], &v3),
        vec![
            (1, "FIELD_SCALAR_KIND_CHANGED".to_string()),
            (1, "FIELD_SCALAR_KIND_CHANGED".to_string())
        ]
    );
}

#[test]
fn descriptor_and_text_registrations_are_the_same_schema() {
    let text = proto("message Bid { string item = 1; map<string, int64> bids = 2; }");
    let serialized = text
        .serialized()
        .expect("Protobuf schemas have a serialized form");
    let from_descriptor = parse(SchemaType::Protobuf, &serialized, &[]).unwrap();
    assert_eq!(from_descriptor.kind(), SchemaType::Protobuf);
    assert_eq!(from_descriptor.canonical(), text.canonical());
    assert!(from_descriptor
        .text()
        .contains("map<string, int64> bids = 2;"));
    let model = from_descriptor.as_protobuf().unwrap();
    assert_eq!(model.message_name(&[0]).as_deref(), Some("shop.Bid"));
}

#[test]
fn an_invalid_schema_is_an_invalid_schema_error() {
    let err = parse(
        SchemaType::Protobuf,
        "syntax = \"proto3\"; message Bid { Missing m = 1; }",
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid schema: type \"Missing\" of field Bid.m is not defined (a message or enum of this file or of an import)"
    );
}
