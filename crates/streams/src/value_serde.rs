//! JSON (and any serde format) straight to and from [`Value`], without a
//! `serde_json::Value` in between: decoding through one allocated every
//! field twice, and the JSON format is on every record's path.
//!
//! The mapping is `Value::from_json`'s and `Value::to_json`'s: integers
//! that fit i64 are `Int`, other numbers `Double`; bytes are written as an
//! array of numbers; a non-finite double as null.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::value::Value;

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Double(d) if d.is_finite() => s.serialize_f64(*d),
            Value::Double(_) => s.serialize_unit(),
            Value::String(v) => s.serialize_str(v),
            Value::Bytes(b) => {
                let mut seq = s.serialize_seq(Some(b.len()))?;
                for x in b.iter() {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Struct(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Double(u as f64), Value::Int))
    }

    fn visit_f64<E>(self, d: f64) -> Result<Value, E> {
        Ok(Value::Double(d))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = BTreeMap::new();
        // A repeated name keeps its last value, as serde_json's map does.
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            fields.insert(k, v);
        }
        Ok(Value::Struct(fields))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape decodes and encodes as through `serde_json::Value`.
    #[test]
    fn agrees_with_the_serde_json_value_mapping() {
        let texts = [
            r#"{"b":[1,-2,18446744073709551615,0.5,1e300,"x",null,true],"a":{"z":{},"y":[]}}"#,
            r#"{"dup":1,"dup":2}"#,
            r#""\u00e9\n""#,
            "9223372036854775807",
            "-9223372036854775808",
            "null",
        ];
        for text in texts {
            let direct: Value = serde_json::from_str(text).unwrap();
            let through = Value::from_json(serde_json::from_str(text).unwrap());
            assert_eq!(direct, through, "{text}");
            assert_eq!(
                serde_json::to_string(&direct).unwrap(),
                through.to_json().to_string(),
                "{text}"
            );
        }
        let odd = Value::record([
            ("nan", Value::Double(f64::NAN)),
            ("bytes", Value::Bytes(bytes::Bytes::from_static(&[1, 255]))),
        ]);
        assert_eq!(
            serde_json::to_string(&odd).unwrap(),
            odd.to_json().to_string()
        );
    }
}
