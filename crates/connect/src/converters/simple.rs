//! The converters without a schema format: `StringConverter`,
//! `ByteArrayConverter`, and the fixed-width ones of
//! `org.apache.kafka.connect.converters` (`BooleanConverter`,
//! `ShortConverter`, `IntegerConverter`, `LongConverter`,
//! `FloatConverter`, `DoubleConverter`: Kafka's own serializers' big-endian
//! bytes). Each gives its one optional schema on read, as Kafka's do.

use base64::Engine as _;

use super::json::java_class;
use super::{class, conversion, Converter};
use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{Schema, SchemaRef, SchemaType, Value};
use crate::error::{ConnectError, Result};

/// StringConverter's settings.
pub fn string_config_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            "converter.encoding",
            ConfigType::String,
            Importance::High,
            "The name of the Java character set to use for encoding strings as byte arrays.",
        )
        .default("UTF8"),
    )
}

/// The character sets StringConverter supports, by Java's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Ascii,
    Latin1,
    Utf16Be,
    Utf16Le,
    /// Java's "UTF-16": big-endian with a byte-order mark when writing;
    /// reading honours a mark and defaults to big-endian.
    Utf16,
}

impl Encoding {
    fn parse(name: &str) -> Option<Encoding> {
        let n: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match n.as_str() {
            "utf8" => Encoding::Utf8,
            "usascii" | "ascii" => Encoding::Ascii,
            "iso88591" | "latin1" => Encoding::Latin1,
            "utf16be" => Encoding::Utf16Be,
            "utf16le" => Encoding::Utf16Le,
            "utf16" => Encoding::Utf16,
            _ => return None,
        })
    }

    /// Java's `new String(bytes, charset)`: malformed input becomes U+FFFD.
    fn decode(self, bytes: &[u8]) -> String {
        let utf16 = |bytes: &[u8], big: bool| {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| match (c, big) {
                    ([a, b], true) => u16::from_be_bytes([*a, *b]),
                    ([a, b], false) => u16::from_le_bytes([*a, *b]),
                    _ => 0xFFFD,
                })
                .collect();
            String::from_utf16_lossy(&units)
        };
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Encoding::Ascii => bytes
                .iter()
                .map(|&b| if b < 0x80 { b as char } else { '\u{FFFD}' })
                .collect(),
            Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect(),
            Encoding::Utf16Be => utf16(bytes, true),
            Encoding::Utf16Le => utf16(bytes, false),
            Encoding::Utf16 => match bytes {
                [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
                [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
                _ => utf16(bytes, true),
            },
        }
    }

    /// Java's `String.getBytes(charset)`: unmappable characters become '?'.
    fn encode(self, text: &str) -> Vec<u8> {
        let narrow = |max: u32| {
            text.chars()
                .map(|c| if (c as u32) <= max { c as u8 } else { b'?' })
                .collect()
        };
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Ascii => narrow(0x7F),
            Encoding::Latin1 => narrow(0xFF),
            Encoding::Utf16Be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            Encoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            Encoding::Utf16 => [0xFE, 0xFF]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
                .collect(),
        }
    }
}

/// `org.apache.kafka.connect.storage.StringConverter`.
pub struct StringConverter {
    encoding: Encoding,
}

impl StringConverter {
    pub fn new(settings: &Config) -> Result<StringConverter> {
        let name = settings.string_or("converter.encoding", "UTF8");
        let encoding = Encoding::parse(name).ok_or_else(|| {
            ConnectError::config(
                "converter.encoding",
                name,
                "Unsupported encoding: use UTF-8, US-ASCII, ISO-8859-1, UTF-16, UTF-16BE or UTF-16LE",
            )
        })?;
        Ok(StringConverter { encoding })
    }
}

impl Converter for StringConverter {
    fn to_connect(&self, _topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)> {
        let value = match data {
            Some(bytes) => Value::String(self.encoding.decode(bytes)),
            None => Value::Null,
        };
        Ok((
            Some(Schema::optional_of(SchemaType::String).into_ref()),
            value,
        ))
    }

    fn from_connect(
        &self,
        _topic: &str,
        _schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>> {
        if value.is_null() {
            return Ok(None);
        }
        Ok(Some(self.encoding.encode(&java_to_string(value))))
    }
}

/// A value's text as Java's `toString` gives it (what StringConverter
/// writes for a value that is not a string): `42`, `1.0E10`, `[a, b]`,
/// `{k=v}`, `Struct{id=1,name=x}`. Bytes, which Java would print as an
/// identity hash (`[B@1b6d3586`), are written as base64.
pub fn java_to_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Int8(v) => v.to_string(),
        Value::Int16(v) => v.to_string(),
        Value::Int32(v) => v.to_string(),
        Value::Int64(v) => v.to_string(),
        Value::Float32(v) => java_float_text(f64::from(*v), &format!("{v:e}")),
        Value::Float64(v) => java_float_text(*v, &format!("{v:e}")),
        Value::String(s) => s.clone(),
        Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(java_to_string).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}={}", java_to_string(k), java_to_string(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Struct(s) => {
            // Kafka's Struct.toString: non-null fields only, no spaces.
            let parts: Vec<String> = s
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(f, v)| format!("{}={}", f.name, java_to_string(v)))
                .collect();
            format!("Struct{{{}}}", parts.join(","))
        }
    }
}

/// Java's `Double.toString` / `Float.toString` from the shortest digits
/// (`sci`, Rust's `{:e}` of the value): plain between 10^-3 and 10^7,
/// otherwise `d.dddE±n`; always a fractional digit.
fn java_float_text(v: f64, sci: &str) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let (sign, sci) = match sci.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", sci),
    };
    if v == 0.0 {
        return format!("{sign}0.0");
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

/// `org.apache.kafka.connect.converters.ByteArrayConverter`: bytes as they
/// are.
pub struct ByteArrayConverter;

impl Converter for ByteArrayConverter {
    fn to_connect(&self, _topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)> {
        let value = data.map_or(Value::Null, |d| Value::Bytes(d.to_vec()));
        Ok((
            Some(Schema::optional_of(SchemaType::Bytes).into_ref()),
            value,
        ))
    }

    fn from_connect(
        &self,
        _topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>> {
        if let Some(s) = schema.filter(|s| s.kind != SchemaType::Bytes) {
            return Err(conversion(format!(
                "Invalid schema type for ByteArrayConverter: {}",
                s.kind.name().to_ascii_uppercase()
            )));
        }
        match value {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b.clone())),
            other => Err(conversion(format!(
                "ByteArrayConverter is not compatible with objects of type {}",
                java_class(other)
            ))),
        }
    }
}

/// Kafka's fixed-width converters, big-endian as Kafka's serializers
/// write them.
pub struct NumberConverter {
    kind: SchemaType,
    /// As Kafka's messages name it ("integer", "long"...).
    type_name: &'static str,
    /// The deserializer Kafka's size message names.
    deserializer: &'static str,
}

impl NumberConverter {
    /// The converter for one of the number classes in [`class`].
    pub fn for_class(name: &str) -> NumberConverter {
        let (kind, type_name, deserializer) = match name {
            class::BOOLEAN => (SchemaType::Boolean, "boolean", "BooleanDeserializer"),
            class::SHORT => (SchemaType::Int16, "short", "ShortDeserializer"),
            class::INTEGER => (SchemaType::Int32, "integer", "IntegerDeserializer"),
            class::LONG => (SchemaType::Int64, "long", "LongDeserializer"),
            class::FLOAT => (SchemaType::Float32, "float", "FloatDeserializer"),
            _ => (SchemaType::Float64, "double", "DoubleDeserializer"),
        };
        NumberConverter {
            kind,
            type_name,
            deserializer,
        }
    }

    fn width(&self) -> usize {
        match self.kind {
            SchemaType::Boolean => 1,
            SchemaType::Int16 => 2,
            SchemaType::Int32 | SchemaType::Float32 => 4,
            _ => 8,
        }
    }
}

impl Converter for NumberConverter {
    fn to_connect(&self, _topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)> {
        let schema = Some(Schema::optional_of(self.kind).into_ref());
        let Some(d) = data else {
            return Ok((schema, Value::Null));
        };
        if d.len() != self.width() {
            return Err(conversion(format!(
                "Failed to deserialize {}: Size of data received by {} is not {}",
                self.type_name,
                self.deserializer,
                self.width()
            )));
        }
        let value = match self.kind {
            SchemaType::Boolean => match d[0] {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                b => {
                    return Err(conversion(format!(
                        "Failed to deserialize boolean: Unexpected byte received by BooleanDeserializer: {b}"
                    )))
                }
            },
            SchemaType::Int16 => Value::Int16(i16::from_be_bytes([d[0], d[1]])),
            SchemaType::Int32 => Value::Int32(i32::from_be_bytes([d[0], d[1], d[2], d[3]])),
            SchemaType::Float32 => Value::Float32(f32::from_be_bytes([d[0], d[1], d[2], d[3]])),
            SchemaType::Int64 => Value::Int64(i64::from_be_bytes(d.try_into().expect("8 bytes"))),
            _ => Value::Float64(f64::from_be_bytes(d.try_into().expect("8 bytes"))),
        };
        Ok((schema, value))
    }

    fn from_connect(
        &self,
        _topic: &str,
        _schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>> {
        Ok(Some(match (self.kind, value) {
            (_, Value::Null) => return Ok(None),
            (SchemaType::Boolean, Value::Boolean(b)) => vec![u8::from(*b)],
            (SchemaType::Int16, Value::Int16(v)) => v.to_be_bytes().to_vec(),
            (SchemaType::Int32, Value::Int32(v)) => v.to_be_bytes().to_vec(),
            (SchemaType::Int64, Value::Int64(v)) => v.to_be_bytes().to_vec(),
            (SchemaType::Float32, Value::Float32(v)) => v.to_be_bytes().to_vec(),
            (SchemaType::Float64, Value::Float64(v)) => v.to_be_bytes().to_vec(),
            (_, other) => {
                return Err(conversion(format!(
                    "Failed to serialize to {} (was {}): ",
                    self.type_name,
                    java_class(other)
                )))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Struct;

    fn string_converter(encoding: &str) -> StringConverter {
        StringConverter::new(&Config::from_pairs([("converter.encoding", encoding)])).unwrap()
    }

    #[test]
    fn strings_round_trip_in_each_encoding() {
        for (encoding, text, bytes) in [
            ("UTF-8", "café", &b"caf\xc3\xa9"[..]),
            ("ISO-8859-1", "café", b"caf\xe9"),
            ("US-ASCII", "cafe", b"cafe"),
            ("UTF-16BE", "hé", b"\x00h\x00\xe9"),
            ("UTF-16LE", "hé", b"h\x00\xe9\x00"),
            ("UTF-16", "h", b"\xfe\xff\x00h"),
        ] {
            let c = string_converter(encoding);
            let out = c.from_connect("t", None, &Value::from(text)).unwrap();
            assert_eq!(out.as_deref(), Some(bytes), "{encoding}");
            let (schema, value) = c.to_connect("t", Some(bytes)).unwrap();
            assert_eq!(value, Value::from(text), "{encoding}");
            assert_eq!(*schema.unwrap(), Schema::optional_of(SchemaType::String));
        }
        // Java replaces what a charset cannot hold.
        assert_eq!(string_converter("ASCII").encoding.encode("é"), b"?");
        assert_eq!(
            string_converter("UTF8").encoding.decode(b"\xff"),
            "\u{FFFD}"
        );
        assert!(
            StringConverter::new(&Config::from_pairs([("converter.encoding", "EBCDIC")])).is_err()
        );
    }

    #[test]
    fn strings_null_and_other_values_as_javas_to_string() {
        let c = string_converter("UTF8");
        assert_eq!(c.from_connect("t", None, &Value::Null).unwrap(), None);
        let (_, v) = c.to_connect("t", None).unwrap();
        assert_eq!(v, Value::Null);
        let text =
            |v: Value| String::from_utf8(c.from_connect("t", None, &v).unwrap().unwrap()).unwrap();
        assert_eq!(text(Value::Int32(42)), "42");
        assert_eq!(text(Value::Boolean(true)), "true");
        assert_eq!(text(Value::Float64(1.0)), "1.0");
        assert_eq!(text(Value::Float64(1e10)), "1.0E10");
        assert_eq!(text(Value::Float64(0.001)), "0.001");
        assert_eq!(text(Value::Float64(1.5e-4)), "1.5E-4");
        assert_eq!(text(Value::Float64(1234567.5)), "1234567.5");
        assert_eq!(text(Value::Float64(-12.25)), "-12.25");
        assert_eq!(text(Value::Float32(0.1)), "0.1");
        assert_eq!(text(Value::Float32(1e7)), "1.0E7");
        assert_eq!(text(Value::Float64(100.0)), "100.0");
        assert_eq!(
            text(Value::Array(vec![Value::Int64(1), Value::Null])),
            "[1, null]"
        );
        assert_eq!(
            text(Value::Map(vec![(Value::from("a"), Value::Int64(1))])),
            "{a=1}"
        );
        let schema = Schema::structure(
            Some("s"),
            vec![
                ("id".into(), Schema::of(SchemaType::Int32).into_ref()),
                (
                    "gone".into(),
                    Schema::optional_of(SchemaType::String).into_ref(),
                ),
                ("name".into(), Schema::of(SchemaType::String).into_ref()),
            ],
        )
        .into_ref();
        let mut s = Struct::new(schema);
        s.put("id", Value::Int32(1));
        s.put("name", Value::from("x"));
        assert_eq!(text(Value::Struct(s)), "Struct{id=1,name=x}");
    }

    #[test]
    fn byte_arrays_pass_through() {
        let c = ByteArrayConverter;
        let (schema, v) = c.to_connect("t", Some(b"\x00\x01")).unwrap();
        assert_eq!(v, Value::Bytes(vec![0, 1]));
        assert_eq!(*schema.unwrap(), Schema::optional_of(SchemaType::Bytes));
        assert_eq!(c.to_connect("t", None).unwrap().1, Value::Null);
        assert_eq!(c.from_connect("t", None, &v).unwrap(), Some(vec![0, 1]));
        assert_eq!(c.from_connect("t", None, &Value::Null).unwrap(), None);
        let err = c.from_connect("t", None, &Value::from("x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conversion failed: ByteArrayConverter is not compatible with objects of type class java.lang.String"
        );
        let int = Schema::of(SchemaType::Int32).into_ref();
        let err = c.from_connect("t", Some(&int), &v).unwrap_err();
        assert!(err
            .to_string()
            .contains("Invalid schema type for ByteArrayConverter: INT32"));
    }

    #[test]
    fn numbers_are_kafkas_big_endian_bytes() {
        let cases = [
            (class::BOOLEAN, Value::Boolean(true), vec![1]),
            (class::SHORT, Value::Int16(-2), vec![0xFF, 0xFE]),
            (class::INTEGER, Value::Int32(258), vec![0, 0, 1, 2]),
            (class::LONG, Value::Int64(1), vec![0, 0, 0, 0, 0, 0, 0, 1]),
            (class::FLOAT, Value::Float32(1.0), vec![0x3F, 0x80, 0, 0]),
            (
                class::DOUBLE,
                Value::Float64(2.0),
                vec![0x40, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (class, value, bytes) in cases {
            let c = NumberConverter::for_class(class);
            assert_eq!(
                c.from_connect("t", None, &value).unwrap(),
                Some(bytes.clone())
            );
            assert_eq!(c.to_connect("t", Some(&bytes)).unwrap().1, value, "{class}");
            assert_eq!(c.to_connect("t", None).unwrap().1, Value::Null);
        }
        let c = NumberConverter::for_class(class::INTEGER);
        let err = c.to_connect("t", Some(&[1, 2])).unwrap_err().to_string();
        assert!(
            err.contains("Size of data received by IntegerDeserializer is not 4"),
            "{err}"
        );
        let err = c
            .from_connect("t", None, &Value::Int64(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Failed to serialize to integer (was class java.lang.Long)"),
            "{err}"
        );
    }
}
