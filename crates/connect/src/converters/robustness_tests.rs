//! Randomised tests of the decoders that read untrusted bytes (the JSON
//! reader, the Protobuf codec, the converters' entry points) and of the
//! decimal arithmetic: many generated inputs, a fixed seed so a failure
//! reproduces. (No property-testing crate in the workspace: a small
//! xorshift generator does.)

use super::decimal;
use super::json_text::Json;
use super::protobuf_codec::decode;
use super::protobuf_data::{proto_text, Types};
use super::{build_converter, class};
use crate::config::Config;
use crate::data::{Schema, SchemaType, Value};

/// xorshift64*: deterministic, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max + 1))
            .map(|_| self.next() as u8)
            .collect()
    }
}

/// A random JSON tree, `depth` levels at most.
fn json(rng: &mut Rng, depth: u32) -> Json {
    let leaf = depth == 0 || rng.below(3) == 0;
    match rng.below(if leaf { 5 } else { 7 }) {
        0 => Json::Null,
        1 => Json::Bool(rng.below(2) == 0),
        2 => Json::int(rng.next() as i64 >> rng.below(64)),
        3 => Json::float(f64::from_bits(rng.next()) % 1e300),
        4 => Json::String(
            (0..rng.below(8))
                .filter_map(|_| char::from_u32(rng.below(0x11_0000) as u32))
                .collect(),
        ),
        5 => Json::Array((0..rng.below(4)).map(|_| json(rng, depth - 1)).collect()),
        _ => Json::Object(
            (0..rng.below(4))
                .map(|i| (format!("k{i}"), json(rng, depth - 1)))
                .collect(),
        ),
    }
}

#[test]
fn json_text_round_trips_and_never_panics_on_garbage() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2_000 {
        let tree = json(&mut rng, 4);
        let text = tree.to_text();
        let back = Json::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"));
        // NaN is written as the string "NaN"; every other tree reads back.
        if !text.contains("NaN") {
            assert_eq!(back, tree, "{text}");
        }
        // Damaged copies: a byte changed, or cut short.
        let mut damaged = text.clone().into_bytes();
        if !damaged.is_empty() {
            let at = rng.below(damaged.len() as u64) as usize;
            damaged[at] = rng.next() as u8;
            let _ = Json::parse(&damaged);
            let _ = Json::parse(&damaged[..at]);
        }
        let _ = Json::parse(&rng.bytes(64));
    }
}

#[test]
fn decimal_text_matches_integer_arithmetic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let v = (rng.next() as i128) << rng.below(60) | rng.next() as i128;
        let v = if rng.below(2) == 0 { -v } else { v };
        let bytes = decimal::minimal(&v.to_be_bytes());
        let scale = rng.below(12) as i32;
        let text = decimal::to_text(&bytes, scale);
        // The same digits as i128's own formatting, with the point placed.
        let digits = v.unsigned_abs().to_string();
        let plain = text.trim_start_matches('-').replace('.', "");
        assert_eq!(
            plain.trim_start_matches('0'),
            digits.trim_start_matches('0'),
            "{v} {text}"
        );
        assert_eq!(
            decimal::from_text(&text, scale).unwrap(),
            bytes,
            "{v} {text}"
        );
    }
}

#[test]
fn the_protobuf_codec_never_panics_on_garbage() {
    let s = Schema::structure(
        Some("p.M"),
        vec![
            ("a".into(), Schema::of(SchemaType::Int64).into_ref()),
            (
                "b".into(),
                Schema::optional_of(SchemaType::String).into_ref(),
            ),
            (
                "c".into(),
                Schema::array(Schema::of(SchemaType::Float64).into_ref()).into_ref(),
            ),
            (
                "d".into(),
                Schema::map(
                    Schema::of(SchemaType::String).into_ref(),
                    Schema::of(SchemaType::Int32).into_ref(),
                )
                .into_ref(),
            ),
            (
                "e".into(),
                Schema::structure(
                    Some("p.N"),
                    vec![("x".into(), Schema::of(SchemaType::Bytes).into_ref())],
                )
                .into_ref(),
            ),
        ],
    );
    let (text, _) = proto_text(&s).unwrap();
    let parsed = fjord_registry::schema::protobuf::ProtobufSchema::parse(&text, &[]).unwrap();
    let files = parsed.file_descriptor_set();
    let types = Types::new(&files);
    let schema = types.connect_schema(".p.M").unwrap();
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let _ = decode(&types, ".p.M", &schema, &rng.bytes(48), 0);
    }
}

#[test]
fn converters_refuse_garbage_without_panicking() {
    let none = Config::default();
    let schemaless = Config::from_pairs([("schemas.enable", "false")]);
    let converters = [
        build_converter(class::JSON, &none, false).unwrap(),
        build_converter(class::JSON, &schemaless, false).unwrap(),
        build_converter(class::STRING, &none, false).unwrap(),
        build_converter(class::INTEGER, &none, false).unwrap(),
        build_converter(class::BOOLEAN, &none, false).unwrap(),
    ];
    let mut rng = Rng(99);
    for _ in 0..5_000 {
        let data = rng.bytes(40);
        for c in &converters {
            if let Ok((schema, value)) = c.to_connect("t", Some(&data)) {
                // What was read writes back.
                let out = c.from_connect("t", schema.as_ref(), &value);
                assert!(out.is_ok() || value == Value::Null, "{out:?}");
            }
        }
    }
}
