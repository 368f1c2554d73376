//! Protobuf schemas in the form confluent-kafka's Python serializer registers
//! them: the base64 `FileDescriptorProto` that protoc generated into a
//! `_pb2.py` module. The fixtures below are the .proto files and the
//! descriptors protoc made of them (regenerate: `python -m grpc_tools.protoc
//! --python_out=. *.proto`, then base64 of `<module>_pb2.DESCRIPTOR.serialized_pb`).
//!
//! The same schema registered as text and as a descriptor must be one
//! schema (same canonical form), and what the registry hands back
//! (`format=serialized`) must be the descriptor protoc would make.

use fjord_registry::schema::protobuf::ProtobufSchema;
use fjord_registry::schema::{ResolvedReference, SchemaType};
use prost::Message as _;
use prost_types::FileDescriptorProto;

fn reference(name: &str, schema: &str) -> ResolvedReference {
    ResolvedReference {
        name: name.to_string(),
        kind: SchemaType::Protobuf,
        schema: schema.to_string(),
    }
}

fn decode(b64: &str) -> FileDescriptorProto {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    FileDescriptorProto::decode(bytes.as_slice()).unwrap()
}

type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<ResolvedReference>,
    Vec<ResolvedReference>,
);

/// (name, .proto text, protoc's descriptor, references as text, as descriptors)
fn cases() -> Vec<Case> {
    vec![
        (
            "common.proto",
            COMMON_PROTO,
            COMMON_DESCRIPTOR,
            vec![],
            vec![],
        ),
        (
            "order.proto",
            ORDER_PROTO,
            ORDER_DESCRIPTOR,
            // Well-known imports are not references: they resolve built in.
            vec![reference("common.proto", COMMON_PROTO)],
            vec![reference("common.proto", COMMON_DESCRIPTOR)],
        ),
        (
            "legacy.proto",
            LEGACY_PROTO,
            LEGACY_DESCRIPTOR,
            vec![],
            vec![],
        ),
    ]
}

#[test]
fn text_and_descriptor_forms_are_one_schema() {
    for (name, text, descriptor, text_refs, descriptor_refs) in cases() {
        let from_text = ProtobufSchema::parse(text, &text_refs).unwrap();
        let from_descriptor = ProtobufSchema::parse(descriptor, &descriptor_refs).unwrap();
        assert_eq!(from_text.canonical(), from_descriptor.canonical(), "{name}");
        // Mixed: a text schema whose reference was registered as a descriptor.
        let mixed = ProtobufSchema::parse(text, &descriptor_refs).unwrap();
        assert_eq!(mixed.canonical(), from_text.canonical(), "{name}");
        // Stored text: the registered text as is, or the printed descriptor,
        // which parses back to the same schema (the registry re-reads it
        // from the _schemas topic on start).
        assert_eq!(from_text.text(), text);
        let reread = ProtobufSchema::parse(&from_descriptor.text(), &text_refs).unwrap();
        assert_eq!(reread.canonical(), from_descriptor.canonical(), "{name}");
    }
}

#[test]
fn serialized_form_is_the_descriptor_protoc_makes() {
    for (name, text, descriptor, text_refs, _) in cases() {
        let from_text = ProtobufSchema::parse(text, &text_refs).unwrap();
        let mut ours = decode(&from_text.serialized());
        // Text carries no file name; clients name the file themselves.
        ours.name = Some(name.to_string());
        assert_eq!(ours, decode(descriptor), "{name}");
    }
}

#[test]
fn printed_descriptor_reads_like_the_source() {
    let s = ProtobufSchema::parse(
        ORDER_DESCRIPTOR,
        &[reference("common.proto", COMMON_DESCRIPTOR)],
    )
    .unwrap();
    let text = s.text();
    for line in [
        "syntax = \"proto3\";",
        "package fjord.test;",
        "import \"google/protobuf/timestamp.proto\";",
        "import \"common.proto\";",
        "option java_package = \"io.fjord.test\";",
        "  map<string, int64> counts = 3;",
        "  oneof payment {",
        "    string card = 4;",
        "  optional string note = 6;",
        "  google.protobuf.Timestamp created = 7;",
        "  common.Money total = 9;",
        "  reserved 10, 12 to 15;",
        "  reserved \"old\";",
        "  repeated int32 codes = 16 [packed = false];",
        "  string display_name = 17 [json_name = \"shownAs\", deprecated = true];",
        "    map<string, Order.Item> parts = 3;",
        "  Order.Item item = 1;",
        "  option allow_alias = true;",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    let legacy = ProtobufSchema::parse(LEGACY_DESCRIPTOR, &[])
        .unwrap()
        .text();
    for line in [
        "syntax = \"proto2\";",
        "  required string name = 1;",
        "  optional int32 age = 2 [default = 18];",
        "  optional User.Kind kind = 4 [default = ADMIN];",
        "  optional string motto = 5 [default = \"hi \\\"there\\\"\"];",
        "  extensions 100 to 199;",
        "extend User {",
        "  optional string nickname = 100;",
    ] {
        assert!(
            legacy.lines().any(|l| l == line),
            "missing {line:?} in\n{legacy}"
        );
    }
}

#[test]
fn message_indexes_match_the_python_client() {
    // confluent-kafka's Python serializer indexes nested messages by
    // position among the descriptor's nested types, map entries included:
    // Order's nested types are [CountsEntry, Item].
    let s = ProtobufSchema::parse(
        ORDER_DESCRIPTOR,
        &[reference("common.proto", COMMON_DESCRIPTOR)],
    )
    .unwrap();
    assert_eq!(s.message_name(&[0]).as_deref(), Some("fjord.test.Order"));
    assert_eq!(
        s.message_name(&[0, 1]).as_deref(),
        Some("fjord.test.Order.Item")
    );
    assert_eq!(s.message_name(&[1]).as_deref(), Some("fjord.test.After"));
    assert_eq!(s.message_indexes("fjord.test.Order.Item"), Some(vec![0, 1]));
    let set = s.file_descriptor_set();
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "google/protobuf/timestamp.proto",
            "common.proto",
            "order.proto"
        ]
    );
}

#[test]
fn a_corrupt_descriptor_is_refused_clearly() {
    let mut truncated = ORDER_DESCRIPTOR.to_string();
    truncated.truncate(120);
    let err = ProtobufSchema::parse(&truncated, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a .proto text, nor a base64 FileDescriptorProto"),
        "{err}"
    );
    // A valid descriptor whose import is missing.
    let err = ProtobufSchema::parse(ORDER_DESCRIPTOR, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("import \"common.proto\" is neither a schema reference"),
        "{err}"
    );
}

/// Client input never panics: every prefix of a schema text, and every
/// prefix and single-byte corruption of a descriptor, is answered with a
/// schema or an error.
#[test]
fn truncated_and_corrupted_input_never_panics() {
    let refs = [reference("common.proto", COMMON_PROTO)];
    for text in [ORDER_PROTO, LEGACY_PROTO] {
        for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = ProtobufSchema::parse(&text[..end], &refs);
        }
    }
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(ORDER_DESCRIPTOR).unwrap();
    for end in 0..bytes.len() {
        let _ = ProtobufSchema::parse(&engine.encode(&bytes[..end]), &refs);
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[i] ^= flip;
            if let Ok(s) = ProtobufSchema::parse(&engine.encode(&corrupt), &refs) {
                // Whatever was accepted must print and re-read as the same
                // schema: the registry stores the text and re-reads it.
                let reread = ProtobufSchema::parse(&s.text(), &refs)
                    .unwrap_or_else(|e| panic!("byte {i} ^ {flip:#x}: {e}\n{}", s.text()));
                assert_eq!(reread.canonical(), s.canonical(), "byte {i} ^ {flip:#x}");
            }
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let depth = 10_000;
    let text = format!(
        "syntax = \"proto3\"; {}{}",
        "message M { ".repeat(depth),
        "}".repeat(depth)
    );
    let err = ProtobufSchema::parse(&text, &[]).unwrap_err().to_string();
    assert!(err.contains("nested more than 100 levels"), "{err}");
}

const COMMON_PROTO: &str = r#"syntax = "proto3";
package common;

message Money {
  string currency = 1;
  int64 units = 2;
}
"#;

/// `common.proto` as protoc 35.1 (grpcio-tools 1.85.1) serialized it into `common_pb2.py`: the
/// bytes confluent-kafka's ProtobufSerializer registers (base64).
const COMMON_DESCRIPTOR: &str = concat!(
    "Cgxjb21tb24ucHJvdG8SBmNvbW1vbiIoCgVNb25leRIQCghjdXJyZW5jeRgBIAEoCRINCgV1bml0cxgCIAEoA2IG",
    "cHJvdG8z",
);

const ORDER_PROTO: &str = r#"// An order, with most proto3 features.
syntax = "proto3";

package fjord.test;

import "google/protobuf/timestamp.proto";
import "common.proto";

option java_package = "io.fjord.test";
option java_multiple_files = true;
option go_package = "fjord/test";

message Order {
  string id = 1;
  repeated Item items = 2;
  map<string, int64> counts = 3;
  oneof payment {
    string card = 4;
    string iban = 5;
  }
  optional string note = 6;
  google.protobuf.Timestamp created = 7;
  Status status = 8;
  common.Money total = 9;
  reserved 10, 12 to 15;
  reserved "old";
  repeated int32 codes = 16 [packed = false];
  string display_name = 17 [json_name = "shownAs", deprecated = true];

  message Item {
    string sku = 1;
    int32 qty = 2;
    map<string, Item> parts = 3;
  }
  enum Status {
    STATUS_UNKNOWN = 0;
    PAID = 1;
  }
}

enum Region {
  option allow_alias = true;
  REGION_UNKNOWN = 0;
  EU = 1;
  EUROPE = 1;
}

message After {
  Order.Item item = 1;
  Region region = 2;
}
"#;

/// `order.proto` as protoc 35.1 (grpcio-tools 1.85.1) serialized it into `order_pb2.py`: the
/// bytes confluent-kafka's ProtobufSerializer registers (base64).
const ORDER_DESCRIPTOR: &str = concat!(
    "CgtvcmRlci5wcm90bxIKZmpvcmQudGVzdBofZ29vZ2xlL3Byb3RvYnVmL3RpbWVzdGFtcC5wcm90bxoMY29tbW9u",
    "LnByb3RvIt4ECgVPcmRlchIKCgJpZBgBIAEoCRIlCgVpdGVtcxgCIAMoCzIWLmZqb3JkLnRlc3QuT3JkZXIuSXRl",
    "bRItCgZjb3VudHMYAyADKAsyHS5mam9yZC50ZXN0Lk9yZGVyLkNvdW50c0VudHJ5Eg4KBGNhcmQYBCABKAlIABIO",
    "CgRpYmFuGAUgASgJSAASEQoEbm90ZRgGIAEoCUgBiAEBEisKB2NyZWF0ZWQYByABKAsyGi5nb29nbGUucHJvdG9i",
    "dWYuVGltZXN0YW1wEigKBnN0YXR1cxgIIAEoDjIYLmZqb3JkLnRlc3QuT3JkZXIuU3RhdHVzEhwKBXRvdGFsGAkg",
    "ASgLMg0uY29tbW9uLk1vbmV5EhEKBWNvZGVzGBAgAygFQgIQABIhCgxkaXNwbGF5X25hbWUYESABKAlCAhgBUgdz",
    "aG93bkFzGi0KC0NvdW50c0VudHJ5EgsKA2tleRgBIAEoCRINCgV2YWx1ZRgCIAEoAzoCOAEamAEKBEl0ZW0SCwoD",
    "c2t1GAEgASgJEgsKA3F0eRgCIAEoBRIwCgVwYXJ0cxgDIAMoCzIhLmZqb3JkLnRlc3QuT3JkZXIuSXRlbS5QYXJ0",
    "c0VudHJ5GkQKClBhcnRzRW50cnkSCwoDa2V5GAEgASgJEiUKBXZhbHVlGAIgASgLMhYuZmpvcmQudGVzdC5PcmRl",
    "ci5JdGVtOgI4ASImCgZTdGF0dXMSEgoOU1RBVFVTX1VOS05PV04QABIICgRQQUlEEAFCCQoHcGF5bWVudEIHCgVf",
    "bm90ZUoECAoQC0oECAwQEFIDb2xkIlEKBUFmdGVyEiQKBGl0ZW0YASABKAsyFi5mam9yZC50ZXN0Lk9yZGVyLkl0",
    "ZW0SIgoGcmVnaW9uGAIgASgOMhIuZmpvcmQudGVzdC5SZWdpb24qNAoGUmVnaW9uEhIKDlJFR0lPTl9VTktOT1dO",
    "EAASBgoCRVUQARIKCgZFVVJPUEUQARoCEAFCHQoNaW8uZmpvcmQudGVzdFABWgpmam9yZC90ZXN0YgZwcm90bzM=",
);

const LEGACY_PROTO: &str = r#"syntax = "proto2";
package legacy;

message User {
  required string name = 1;
  optional int32 age = 2 [default = 18];
  repeated string tags = 3;
  optional Kind kind = 4 [default = ADMIN];
  optional string motto = 5 [default = "hi \"there\""];
  extensions 100 to 199;
  enum Kind {
    USER = 1;
    ADMIN = 2;
  }
}

extend User {
  optional string nickname = 100;
}
"#;

/// `legacy.proto` as protoc 35.1 (grpcio-tools 1.85.1) serialized it into `legacy_pb2.py`: the
/// bytes confluent-kafka's ProtobufSerializer registers (base64).
const LEGACY_DESCRIPTOR: &str = concat!(
    "CgxsZWdhY3kucHJvdG8SBmxlZ2FjeSKaAQoEVXNlchIMCgRuYW1lGAEgAigJEg8KA2FnZRgCIAEoBToCMTgSDAoE",
    "dGFncxgDIAMoCRImCgRraW5kGAQgASgOMhEubGVnYWN5LlVzZXIuS2luZDoFQURNSU4SGQoFbW90dG8YBSABKAk6",
    "CmhpICJ0aGVyZSIiGwoES2luZBIICgRVU0VSEAESCQoFQURNSU4QAioFCGQQyAE6HgoIbmlja25hbWUSDC5sZWdh",
    "Y3kuVXNlchhkIAEoCQ==",
);
