//! Unit tests: parsing, errors, canonical form, message indexes, and the
//! compatibility rules case by case.

use super::compat::{check, differences};
use super::ProtobufSchema;
use crate::schema::{ResolvedReference, SchemaType};

fn parse(text: &str) -> ProtobufSchema {
    ProtobufSchema::parse_proto(text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn parse_err(text: &str) -> String {
    match ProtobufSchema::parse_proto(text, &[]) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn proto_ref(name: &str, schema: &str) -> ResolvedReference {
    ResolvedReference {
        name: name.to_string(),
        kind: SchemaType::Protobuf,
        schema: schema.to_string(),
    }
}

#[test]
fn parses_proto3_features() {
    let s = parse(
        r#"
        syntax = "proto3";
        package shop.v1;
        import "google/protobuf/timestamp.proto";
        option java_package = "io.shop";
        /* block comment */
        message Order {
          string id = 1;                       // trailing comment
          map<string, Line> lines = 2;
          oneof pay { string card = 3; bytes token = 4; }
          optional int64 note = 5;
          google.protobuf.Timestamp at = 6;
          repeated Status history = 7 [packed = true];
          reserved 8, 10 to max;
          reserved "gone";
          message Line { int32 qty = 1; }
          enum Status { UNKNOWN = 0; OK = 1; }
        }
        service Shop { rpc Place(Order) returns (stream Order.Line); }
        "#,
    );
    let f = s.file_descriptor();
    assert_eq!(f.package(), "shop.v1");
    let order = &f.message_type[0];
    // Map entry, then the declared nested message, as protoc orders them.
    let nested: Vec<&str> = order.nested_type.iter().map(|m| m.name()).collect();
    assert_eq!(nested, ["LinesEntry", "Line"]);
    let lines = &order.field[1];
    assert_eq!(lines.type_name(), ".shop.v1.Order.LinesEntry");
    // Real oneof first, then the synthetic one of the proto3 optional field.
    let oneofs: Vec<&str> = order.oneof_decl.iter().map(|o| o.name()).collect();
    assert_eq!(oneofs, ["pay", "_note"]);
    assert_eq!(order.field[4].proto3_optional, Some(true));
    assert_eq!(order.field[5].type_name(), ".google.protobuf.Timestamp");
    assert_eq!(order.field[6].type_name(), ".shop.v1.Order.Status");
    assert_eq!(order.reserved_range.len(), 2);
    assert_eq!(f.service[0].method[0].output_type(), ".shop.v1.Order.Line");
    assert_eq!(f.dependency, ["google/protobuf/timestamp.proto"]);
}

#[test]
fn canonical_ignores_layout_comments_and_name_spelling() {
    let a =
        parse("syntax = \"proto3\"; package p; message A { B b = 1; } message B { int32 x = 1; }");
    let b = parse(
        "// comment\nsyntax = \"proto3\";\npackage p;\n\nmessage A {\n  .p.B b = 1;\n}\nmessage B {\n  int32 x = 1; }\n",
    );
    assert_eq!(a.canonical(), b.canonical());
    let c =
        parse("syntax = \"proto3\"; package p; message A { B b = 1; } message B { int64 x = 1; }");
    assert_ne!(a.canonical(), c.canonical());
}

#[test]
fn printed_text_parses_back_to_the_same_schema() {
    let s = parse(
        r#"syntax = "proto2"; package l;
        message U {
          required string name = 1;
          optional int32 age = 2 [default = 18];
          optional string motto = 3 [default = "a \"b\""];
          optional Kind kind = 4 [default = ADMIN];
          extensions 100 to 199;
          enum Kind { USER = 1; ADMIN = 2; }
          oneof o { int32 x = 5; string y = 6; }
          map<int32, U> kids = 7;
        }
        extend U { optional string nick = 100; }"#,
    );
    let again = parse(&s.canonical());
    assert_eq!(again.canonical(), s.canonical());
    assert_eq!(again.file_descriptor(), s.file_descriptor());
}

#[test]
fn descriptor_form_round_trips() {
    let s = parse("syntax = \"proto3\"; package p; message A { map<string, A> m = 1; }");
    let from_descriptor = ProtobufSchema::parse_proto(&s.serialized(), &[]).unwrap();
    assert_eq!(from_descriptor.canonical(), s.canonical());
    // Registered as a descriptor, the stored text is the printed .proto.
    assert_eq!(from_descriptor.text(), s.canonical());
    assert!(from_descriptor.text().contains("map<string, A> m = 1;"));
}

#[test]
fn imports_resolve_through_references_and_built_ins() {
    let money = "syntax = \"proto3\"; package common; message Money { int64 units = 1; }";
    let text = r#"syntax = "proto3"; package p;
        import "common/money.proto"; import "google/protobuf/struct.proto";
        message A { common.Money m = 1; google.protobuf.Struct s = 2; }"#;
    let s = ProtobufSchema::parse_proto(text, &[proto_ref("common/money.proto", money)]).unwrap();
    assert_eq!(
        s.file_descriptor().message_type[0].field[0].type_name(),
        ".common.Money"
    );
    let set = s.file_descriptor_set();
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "common/money.proto",
            "google/protobuf/struct.proto",
            "default.proto"
        ]
    );
    // The reference may itself be registered as a descriptor.
    let money_b64 = parse(money).serialized();
    let s2 =
        ProtobufSchema::parse_proto(text, &[proto_ref("common/money.proto", &money_b64)]).unwrap();
    assert_eq!(s2.canonical(), s.canonical());
}

#[test]
fn message_indexes_follow_declarations() {
    let s = parse(
        "syntax = \"proto3\"; package p;
         message A { message B { message C {} } message D {} }
         message E {}",
    );
    assert_eq!(s.message_name(&[0]).as_deref(), Some("p.A"));
    assert_eq!(s.message_name(&[]).as_deref(), Some("p.A"));
    assert_eq!(s.message_name(&[1]).as_deref(), Some("p.E"));
    assert_eq!(s.message_name(&[0, 0, 0]).as_deref(), Some("p.A.B.C"));
    assert_eq!(s.message_name(&[0, 1]).as_deref(), Some("p.A.D"));
    assert_eq!(s.message_name(&[2]), None);
    assert_eq!(s.message_name(&[-1]), None);
    assert_eq!(s.message_indexes("p.A.B.C"), Some(vec![0, 0, 0]));
    assert_eq!(s.message_indexes(".p.E"), Some(vec![1]));
    assert_eq!(s.message_indexes("A.D"), Some(vec![0, 1]));
    assert_eq!(s.message_indexes("p.Nope"), None);
}

#[test]
fn invalid_schemas_get_clear_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "syntax = \"proto3\"; message A { string a = 1 }",
            "line 1, column 45: expected `;`, found `}`",
        ),
        (
            "syntax = \"proto3\";\nmessage A {\n  Foo a = 1;\n}",
            "type \"Foo\" of field A.a is not defined",
        ),
        (
            "syntax = \"proto3\"; message A { int32 a = 1; int32 b = 1; }",
            "field number 1 of A.b is already used by field a",
        ),
        (
            "syntax = \"proto3\"; message A { required int32 a = 1; }",
            "required fields are not allowed in proto3",
        ),
        (
            "syntax = \"proto3\"; import \"x/y.proto\"; message A {}",
            "import \"x/y.proto\" is neither a schema reference nor a built-in file",
        ),
        ("syntax = \"proto4\";", "unknown syntax \"proto4\""),
        (
            "syntax = \"proto3\"; message A { int32 a = 0; }",
            "field number 0 is out of range",
        ),
        (
            "syntax = \"proto3\"; enum E { A = 1; }",
            "the first value of enum E must be zero in proto3",
        ),
        (
            "syntax = \"proto3\"; message A { int32 a = 1; reserved 1; }",
            "field A.a uses reserved number 1",
        ),
        (
            "syntax = \"proto3\"; message A {} message A {}",
            "\"A\" is already defined",
        ),
        (
            "syntax = \"proto3\"; message A { string s = 1; ",
            "missing `}` closing message A",
        ),
        ("message A { string s = \"x\"; }", "expected an integer"),
        (
            "syntax = \"proto3\"; message A { string s = 1; } garbage",
            "unexpected `garbage` at top level",
        ),
        (
            "syntax = \"proto3\"; message A { string s = 1 [default = \"x\"]; }",
            "default values are not allowed in proto3",
        ),
        ("\"unterminated", "unterminated string"),
        (
            "bm90IGEgZGVzY3JpcHRvcg",
            "not a .proto text, nor a base64 FileDescriptorProto",
        ),
    ];
    for (text, want) in cases {
        let got = parse_err(text);
        assert!(
            got.contains(want),
            "for {text:?}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn errors_inside_a_reference_name_the_file() {
    let bad = "syntax = \"proto3\"; message B { Nope n = 1; }";
    let err = ProtobufSchema::parse_proto(
        "syntax = \"proto3\"; import \"b.proto\"; message A { B b = 1; }",
        &[proto_ref("b.proto", bad)],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("in import \"b.proto\": type \"Nope\""),
        "{err}"
    );
}

/// The incompatibilities of registering `new` after `old`, under BACKWARD
/// (the new schema reads old data) and FORWARD (the old one reads new data).
fn compat(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let (old, new) = (parse(old), parse(new));
    let names =
        |v: Vec<crate::schema::Incompatibility>| v.into_iter().map(|i| i.error_type).collect();
    (names(check(&new, &old)), names(check(&old, &new)))
}

const P3: &str = "syntax = \"proto3\"; package t;";

#[test]
fn compatibility_table() {
    let base = format!("{P3} message M {{ string a = 1; int32 b = 2; }} message N {{ M m = 1; }}");
    let with = |body: &str| format!("{P3} message M {{ {body} }} message N {{ M m = 1; }}");
    // (case, new schema, backward errors, forward errors)
    let cases: Vec<(&str, String, &[&str], &[&str])> = vec![
        (
            "field added",
            with("string a = 1; int32 b = 2; string c = 3;"),
            &[],
            &[],
        ),
        ("field removed", with("string a = 1;"), &[], &[]),
        (
            "field renamed",
            with("string a = 1; int32 bee = 2;"),
            &[],
            &[],
        ),
        // A new number is a removed field plus an added one.
        (
            "field number changed",
            with("string a = 1; int32 b = 3;"),
            &[],
            &[],
        ),
        (
            "int32 to int64 (same encoding)",
            with("string a = 1; int64 b = 2;"),
            &[],
            &[],
        ),
        (
            "int32 to string",
            with("string a = 1; string b = 2;"),
            &["FIELD_SCALAR_KIND_CHANGED"],
            &["FIELD_SCALAR_KIND_CHANGED"],
        ),
        (
            "int32 to sint32",
            with("string a = 1; sint32 b = 2;"),
            &["FIELD_SCALAR_KIND_CHANGED"],
            &["FIELD_SCALAR_KIND_CHANGED"],
        ),
        (
            "string to bytes",
            with("bytes a = 1; int32 b = 2;"),
            &[],
            &[],
        ),
        (
            "scalar to message",
            with("string a = 1; N b = 2;"),
            &["FIELD_KIND_CHANGED"],
            &["FIELD_KIND_CHANGED"],
        ),
        (
            "scalar to map",
            with("string a = 1; map<string, int32> b = 2;"),
            &["FIELD_KIND_CHANGED"],
            &["FIELD_KIND_CHANGED"],
        ),
        (
            "one field into a new oneof",
            with("oneof o { string a = 1; } int32 b = 2;"),
            &[],
            &[],
        ),
        (
            "two fields into one oneof",
            with("oneof o { string a = 1; int32 b = 2; }"),
            &["MULTIPLE_FIELDS_MOVED_TO_ONEOF"],
            &[],
        ),
        (
            "proto3 optional added",
            with("string a = 1; int32 b = 2; optional string c = 3;"),
            &[],
            &[],
        ),
    ];
    for (case, new, backward, forward) in cases {
        let (b, f) = compat(&base, &new);
        assert_eq!(b, backward.to_vec(), "{case}: backward");
        assert_eq!(f, forward.to_vec(), "{case}: forward");
    }
}

#[test]
fn compatibility_of_messages_enums_and_oneofs() {
    // (case, old schema, new schema, backward errors, forward errors)
    type Case = (
        &'static str,
        String,
        String,
        &'static [&'static str],
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            "message removed",
            format!("{P3} message A {{}} message B {{}}"),
            format!("{P3} message A {{}}"),
            &["MESSAGE_REMOVED"],
            &[],
        ),
        (
            "message added",
            format!("{P3} message A {{}}"),
            format!("{P3} message A {{}} message B {{}}"),
            &[],
            &["MESSAGE_REMOVED"],
        ),
        (
            "messages reordered",
            format!("{P3} message A {{}} message B {{}}"),
            format!("{P3} message B {{}} message A {{}}"),
            &[],
            &[],
        ),
        (
            "nested message removed",
            format!("{P3} message A {{ message In {{}} }}"),
            format!("{P3} message A {{}}"),
            &["MESSAGE_REMOVED"],
            &[],
        ),
        (
            "enum value removed",
            format!("{P3} enum E {{ Z = 0; X = 1; }} message A {{ E e = 1; }}"),
            format!("{P3} enum E {{ Z = 0; }} message A {{ E e = 1; }}"),
            &[],
            &[],
        ),
        (
            "enum removed",
            format!("{P3} enum E {{ Z = 0; }} message A {{}}"),
            format!("{P3} message A {{}}"),
            &[],
            &[],
        ),
        (
            "enum to int32",
            format!("{P3} enum E {{ Z = 0; }} message A {{ E e = 1; }}"),
            format!("{P3} enum E {{ Z = 0; }} message A {{ int32 e = 1; }}"),
            &[],
            &[],
        ),
        (
            "oneof field removed",
            format!("{P3} message A {{ oneof o {{ int32 x = 1; string y = 2; }} }}"),
            format!("{P3} message A {{ oneof o {{ int32 x = 1; }} }}"),
            &["ONEOF_FIELD_REMOVED"],
            &[],
        ),
        (
            "field moved to an existing oneof",
            format!("{P3} message A {{ int32 a = 3; oneof o {{ int32 x = 1; }} }}"),
            format!("{P3} message A {{ oneof o {{ int32 x = 1; int32 a = 3; }} }}"),
            // Forward: leaving a oneof for a plain field only relaxes it.
            &["FIELD_MOVED_TO_EXISTING_ONEOF"],
            &[],
        ),
        (
            "message type changed",
            format!("{P3} message A {{ B f = 1; }} message B {{}} message C {{}}"),
            format!("{P3} message A {{ C f = 1; }} message B {{}} message C {{}}"),
            &["FIELD_NAMED_TYPE_CHANGED"],
            &["FIELD_NAMED_TYPE_CHANGED"],
        ),
        (
            "map value type changed",
            format!("{P3} message A {{ map<string, int32> m = 1; }}"),
            format!("{P3} message A {{ map<string, string> m = 1; }}"),
            &["FIELD_SCALAR_KIND_CHANGED"],
            &["FIELD_SCALAR_KIND_CHANGED"],
        ),
        (
            "package changed",
            format!("{P3} message A {{}}"),
            "syntax = \"proto3\"; package u; message A {}".to_string(),
            &["PACKAGE_CHANGED"],
            &["PACKAGE_CHANGED"],
        ),
        (
            "proto2 required field added",
            "syntax = \"proto2\"; message A { optional int32 a = 1; }".to_string(),
            "syntax = \"proto2\"; message A { optional int32 a = 1; required int32 b = 2; }"
                .to_string(),
            &["REQUIRED_FIELD_ADDED"],
            &["REQUIRED_FIELD_REMOVED"],
        ),
        (
            "proto2 optional field added",
            "syntax = \"proto2\"; message A { optional int32 a = 1; }".to_string(),
            "syntax = \"proto2\"; message A { optional int32 a = 1; optional int32 b = 2; }"
                .to_string(),
            &[],
            &[],
        ),
    ];
    for (case, old, new, backward, forward) in cases {
        let (b, f) = compat(&old, &new);
        assert_eq!(b, backward.to_vec(), "{case}: backward");
        assert_eq!(f, forward.to_vec(), "{case}: forward");
    }
}

#[test]
fn differences_carry_confluent_paths() {
    let old = parse(&format!(
        "{P3} message A {{ message B {{ int32 x = 1; }} }}"
    ));
    let new = parse(&format!(
        "{P3} message A {{ message B {{ string x = 1; }} }}"
    ));
    let d = differences(&old, &new);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind.name(), "FIELD_SCALAR_KIND_CHANGED");
    assert_eq!(d[0].path, "#/A/B/1");
}

#[test]
fn a_change_inside_an_imported_type_breaks_the_field() {
    let v1 = "syntax = \"proto3\"; package common; message Money { int64 units = 1; }";
    let v2 = "syntax = \"proto3\"; package common; message Money { string units = 1; }";
    let text = "syntax = \"proto3\"; import \"money.proto\"; message A { common.Money m = 1; }";
    let old = ProtobufSchema::parse_proto(text, &[proto_ref("money.proto", v1)]).unwrap();
    let new = ProtobufSchema::parse_proto(text, &[proto_ref("money.proto", v2)]).unwrap();
    let errors: Vec<(String, String)> = check(&new, &old)
        .into_iter()
        .map(|i| (i.error_type, i.additional_info))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "FIELD_SCALAR_KIND_CHANGED".to_string(),
                "#/Money/1".to_string()
            ),
            ("FIELD_NAMED_TYPE_CHANGED".to_string(), "#/A/1".to_string()),
        ]
    );
}

#[test]
fn recursive_types_terminate() {
    let v1 =
        "syntax = \"proto3\"; package n; message Node { repeated Node kids = 1; int32 v = 2; }";
    let v2 =
        "syntax = \"proto3\"; package n; message Node { repeated Node kids = 1; string v = 2; }";
    let text = "syntax = \"proto3\"; import \"node.proto\"; message T { n.Node root = 1; }";
    let old = ProtobufSchema::parse_proto(text, &[proto_ref("node.proto", v1)]).unwrap();
    let new = ProtobufSchema::parse_proto(text, &[proto_ref("node.proto", v2)]).unwrap();
    let types: Vec<String> = check(&new, &old)
        .into_iter()
        .map(|i| i.error_type)
        .collect();
    assert!(
        types.contains(&"FIELD_SCALAR_KIND_CHANGED".to_string()),
        "{types:?}"
    );
    assert!(
        types.contains(&"FIELD_NAMED_TYPE_CHANGED".to_string()),
        "{types:?}"
    );
}
