//! How keys and values are written on topics: Kafka's primitive serdes
//! (string, long, integer, double, bytes, as the Java client writes them),
//! JSON, and delimited text. A null (absent) key or value is `Value::Null`, and a
//! `Value::Null` value is written as a tombstone.
//!
//! Registry formats (Avro, JSON Schema, Protobuf in the Confluent wire
//! format) come with the runtime, through the registry's serde API.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 (StringSerializer).
    String,
    /// 8 bytes, big-endian two's complement (LongSerializer).
    Long,
    /// 4 bytes, big-endian (IntegerSerializer).
    Integer,
    /// 8 bytes, big-endian IEEE 754 (DoubleSerializer).
    Double,
    /// As they are (ByteArraySerializer).
    Bytes,
    /// A JSON document (UTF-8).
    Json,
    /// Fields separated by this character, one record per value (ksqlDB's
    /// DELIMITED): decoded as an array of strings, the fields in order (an
    /// empty field is an empty string); encoded from an array, each
    /// element as text. No quoting: a field may not contain the delimiter.
    Delimited(char),
    /// The keys of repartition topics: a string as its UTF-8 bytes (as
    /// `String` writes it, so a re-keyed stream lands in the partition of
    /// the same key in a topic keyed by strings, and joins with it); any
    /// other value as a zero byte and its JSON. Internal: what reads it
    /// back is the engine.
    RepartitionKey,
}

/// RepartitionKey's mark of a JSON (not string) key: no string key starts
/// with a NUL character in practice.
const JSON_KEY_MARK: u8 = 0;

impl Format {
    pub fn decode(self, bytes: Option<&[u8]>) -> Result<Value> {
        let Some(b) = bytes else {
            return Ok(Value::Null);
        };
        let fixed = |n: usize| -> Result<&[u8]> {
            if b.len() == n {
                Ok(b)
            } else {
                Err(Error::Decode(format!(
                    "{self:?} needs {n} bytes, got {}",
                    b.len()
                )))
            }
        };
        Ok(match self {
            Format::String => Value::String(
                std::str::from_utf8(b)
                    .map_err(|e| Error::Decode(format!("not UTF-8: {e}")))?
                    .to_string(),
            ),
            Format::Long => Value::Int(i64::from_be_bytes(fixed(8)?.try_into().expect("8"))),
            Format::Integer => {
                Value::Int(i32::from_be_bytes(fixed(4)?.try_into().expect("4")) as i64)
            }
            Format::Double => Value::Double(f64::from_be_bytes(fixed(8)?.try_into().expect("8"))),
            Format::Bytes => Value::Bytes(Bytes::copy_from_slice(b)),
            Format::Json => serde_json::from_slice::<Value>(b)
                .map_err(|e| Error::Decode(format!("not JSON: {e}")))?,
            Format::RepartitionKey => match b.split_first() {
                Some((&JSON_KEY_MARK, json)) => Format::Json.decode(Some(json))?,
                _ => Format::String.decode(Some(b))?,
            },
            Format::Delimited(d) => Value::Array(
                std::str::from_utf8(b)
                    .map_err(|e| Error::Decode(format!("not UTF-8: {e}")))?
                    .split(d)
                    .map(|f| Value::String(f.to_string()))
                    .collect(),
            ),
        })
    }

    /// Encodes a key that an operator cannot do without (a store's key):
    /// a null key is an error naming `who` needs it.
    pub fn encode_key(self, key: &Value, who: &str) -> Result<Bytes> {
        self.encode(key)?
            .ok_or_else(|| Error::Encode(format!("{who} needs a key")))
    }

    pub fn encode(self, v: &Value) -> Result<Option<Bytes>> {
        if v.is_null() {
            return Ok(None);
        }
        let wrong = || Error::Encode(format!("{self:?} cannot hold {v}"));
        Ok(Some(match self {
            Format::String => Bytes::from(v.to_string()),
            Format::Long => Bytes::copy_from_slice(&v.as_i64().ok_or_else(wrong)?.to_be_bytes()),
            Format::Integer => {
                let i = v.as_i64().ok_or_else(wrong)?;
                let i = i32::try_from(i).map_err(|_| wrong())?;
                Bytes::copy_from_slice(&i.to_be_bytes())
            }
            Format::Double => Bytes::copy_from_slice(&v.as_f64().ok_or_else(wrong)?.to_be_bytes()),
            Format::Bytes => match v {
                Value::Bytes(b) => b.clone(),
                _ => return Err(wrong()),
            },
            Format::Json => Bytes::from(json_bytes(v)),
            Format::RepartitionKey => match v {
                Value::String(s) => Bytes::from(s.clone()),
                other => {
                    let mut b = vec![JSON_KEY_MARK];
                    b.extend_from_slice(&json_bytes(other));
                    Bytes::from(b)
                }
            },
            Format::Delimited(d) => {
                let Value::Array(fields) = v else {
                    return Err(wrong());
                };
                let mut text = Vec::with_capacity(fields.len());
                for f in fields {
                    let t = if f.is_null() {
                        String::new()
                    } else {
                        f.to_string()
                    };
                    if t.contains(d) {
                        return Err(Error::Encode(format!(
                            "field '{t}' contains the delimiter '{d}'"
                        )));
                    }
                    text.push(t);
                }
                Bytes::from(text.join(&d.to_string()))
            }
        }))
    }
}

/// `v` as JSON text (writing a `Value` cannot fail: its keys are strings).
pub(crate) fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a Value is always JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repartition_keys_are_plain_strings_or_marked_json() {
        let f = Format::RepartitionKey;
        let s = Value::String("1000".into());
        assert_eq!(f.encode(&s).unwrap().unwrap(), Bytes::from("1000"));
        assert_eq!(f.decode(Some(b"1000")).unwrap(), s);
        for v in [Value::Int(1000), Value::Array(vec![Value::Int(1)])] {
            let b = f.encode(&v).unwrap().unwrap();
            assert_eq!(b[0], 0);
            assert_eq!(f.decode(Some(&b)).unwrap(), v);
        }
    }

    #[test]
    fn primitives_are_written_as_the_java_client_writes_them() {
        assert_eq!(
            Format::Long
                .encode(&Value::Int(1))
                .unwrap()
                .unwrap()
                .as_ref(),
            &[0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            Format::Integer
                .encode(&Value::Int(-2))
                .unwrap()
                .unwrap()
                .as_ref(),
            &[0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(
            Format::Double.decode(Some(&1.5f64.to_be_bytes())).unwrap(),
            Value::Double(1.5)
        );
        assert!(Format::Long.decode(Some(b"abc")).is_err());
        assert!(Format::Integer.encode(&Value::Int(1 << 40)).is_err());
        assert_eq!(Format::Json.decode(None).unwrap(), Value::Null);
        let csv = Format::Delimited(',');
        let row = csv.decode(Some(b"bike,12,")).unwrap();
        assert_eq!(
            row,
            Value::Array(vec!["bike".into(), "12".into(), "".into()])
        );
        assert_eq!(
            csv.encode(&Value::Array(vec![
                "bike".into(),
                Value::Int(12),
                Value::Null
            ]))
            .unwrap()
            .unwrap()
            .as_ref(),
            b"bike,12,"
        );
        assert!(csv.encode(&Value::Array(vec!["a,b".into()])).is_err());
        assert!(csv.encode(&Value::Int(1)).is_err());
        assert_eq!(Format::Json.encode(&Value::Null).unwrap(), None);
    }
}
