//! The values operators compute on: what a record's key and value decode
//! to (JSON, Kafka's primitive serdes; registry formats later), dynamically
//! typed like the rows ksqlDB's statements work on, so the SQL layer can
//! compile onto the same operators.
//!
//! Values are totally ordered (for MIN, MAX and TOP-K) and hashable (for
//! COLLECT_SET and COUNT_DISTINCT). Numbers compare by value across `Int`
//! and `Double`, an exact tie broken by the variant, so `Eq`, `Ord` and
//! `Hash` agree: `Int(1)` and `Double(1.0)` sort together but are two
//! values. Doubles order by IEEE total order (NaN last).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
    Bytes(Bytes),
    Array(Vec<Value>),
    /// A record with named fields (a JSON object, an Avro record).
    Struct(BTreeMap<String, Value>),
}

impl Value {
    /// A field of a struct; None for anything else or a missing field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.get(name),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Roughly the bytes the value takes in memory (for a store's memory
    /// budget).
    pub fn approx_size(&self) -> usize {
        let own = std::mem::size_of::<Value>();
        own + match self {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Double(_) => 0,
            Value::String(s) => s.capacity(),
            Value::Bytes(b) => b.len(),
            Value::Array(items) => items.iter().map(Value::approx_size).sum(),
            // A B-tree node per few entries: count each entry's name too.
            Value::Struct(fields) => fields
                .iter()
                .map(|(k, v)| k.capacity() + 16 + v.approx_size())
                .sum(),
        }
    }

    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A struct from (name, value) pairs.
    pub fn record<K: Into<String>>(fields: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Struct(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// From JSON: integers that fit i64 are `Int`, other numbers `Double`.
    pub fn from_json(j: serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => {
                Value::Array(a.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(o) => Value::Struct(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// To JSON: bytes as base64 would need a schema to read back, so they
    /// are written as an array of numbers; a non-finite double as null
    /// (JSON has no NaN).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Bytes(b) => serde_json::Value::Array(b.iter().map(|x| (*x).into()).collect()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Struct(f) => {
                serde_json::Value::Object(f.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// Rank of the variant in the total order (numbers share one).
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Double(_) => 2,
            Value::String(_) => 3,
            Value::Bytes(_) => 4,
            Value::Array(_) => 5,
            Value::Struct(_) => 6,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Value {
        Value::Double(d)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        use Value::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Double(a), Double(b)) => a.total_cmp(b),
            // Across the two number types: by value, then Int first.
            (Int(a), Double(b)) => (*a as f64).total_cmp(b).then(Ordering::Less),
            (Double(a), Int(b)) => a.total_cmp(&(*b as f64)).then(Ordering::Greater),
            (String(a), String(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Array(a), Array(b)) => a.cmp(b),
            (Struct(a), Struct(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Double(d) => d.to_bits().hash(state),
            Value::String(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Array(a) => a.hash(state),
            Value::Struct(f) => f.hash(state),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::String(s) => f.write_str(s),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_order_by_value_and_stay_distinct() {
        assert!(Value::Int(1) < Value::Double(1.5));
        assert!(Value::Double(0.5) < Value::Int(1));
        assert!(Value::Int(1) < Value::Double(1.0));
        assert_ne!(Value::Int(1), Value::Double(1.0));
        assert!(Value::Null < Value::Bool(false));
        assert!(Value::Double(f64::NAN) > Value::Double(f64::INFINITY));
    }

    #[test]
    fn json_round_trips() {
        let j: serde_json::Value =
            serde_json::from_str(r#"{"item":"bike","price":12,"ratio":0.5,"tags":["a",null]}"#)
                .unwrap();
        let v = Value::from_json(j.clone());
        assert_eq!(v.field("price"), Some(&Value::Int(12)));
        assert_eq!(v.field("ratio"), Some(&Value::Double(0.5)));
        assert_eq!(v.to_json(), j);
    }
}
