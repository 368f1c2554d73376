//! Kafka Connect's data model: a [`Schema`] describes a [`Value`]; a
//! struct value carries its schema. Converters turn bytes into these and
//! back; transforms and connectors work on them alone, so a JDBC sink sees
//! the same struct whether the topic holds JSON with schemas or Avro.
//!
//! Values without a schema (JsonConverter with `schemas.enable=false`)
//! are plain maps, lists and scalars, as in Kafka Connect, where a
//! schemaless JSON object arrives as a `java.util.Map`.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Connect's schema types (`org.apache.kafka.connect.data.Schema.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl SchemaType {
    /// The name Kafka Connect uses in JSON schemas and configs (`int32`).
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float32",
            SchemaType::Float64 => "float64",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }

    /// Parses a type name as Kafka Connect writes it (case-insensitive).
    pub fn from_name(name: &str) -> Option<SchemaType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "int8" => SchemaType::Int8,
            "int16" => SchemaType::Int16,
            "int32" => SchemaType::Int32,
            "int64" => SchemaType::Int64,
            "float32" => SchemaType::Float32,
            "float64" => SchemaType::Float64,
            "boolean" => SchemaType::Boolean,
            "string" => SchemaType::String,
            "bytes" => SchemaType::Bytes,
            "array" => SchemaType::Array,
            "map" => SchemaType::Map,
            "struct" => SchemaType::Struct,
            _ => return None,
        })
    }

    pub fn is_primitive(self) -> bool {
        !matches!(
            self,
            SchemaType::Array | SchemaType::Map | SchemaType::Struct
        )
    }
}

/// The logical types Kafka Connect defines by schema name.
pub mod logical {
    /// `Decimal`: bytes holding a big-endian two's-complement unscaled
    /// integer; the scale is the schema parameter [`DECIMAL_SCALE`].
    pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
    pub const DECIMAL_SCALE: &str = "scale";
    /// `Date`: int32 days since the Unix epoch.
    pub const DATE: &str = "org.apache.kafka.connect.data.Date";
    /// `Time`: int32 milliseconds since midnight.
    pub const TIME: &str = "org.apache.kafka.connect.data.Time";
    /// `Timestamp`: int64 milliseconds since the Unix epoch.
    pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
}

/// A shared schema: records of one topic share theirs.
pub type SchemaRef = Arc<Schema>;

/// A struct's field: its name, position and schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub index: usize,
    pub schema: SchemaRef,
}

/// `org.apache.kafka.connect.data.Schema`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub kind: SchemaType,
    pub optional: bool,
    /// The schema's name: a struct's record name, or a logical type.
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub default: Option<Value>,
    /// A struct's fields, in order.
    pub fields: Vec<Field>,
    /// A map's key schema.
    pub key_schema: Option<SchemaRef>,
    /// An array's element schema, or a map's value schema.
    pub value_schema: Option<SchemaRef>,
}

impl Schema {
    /// A required schema of a primitive type.
    pub fn of(kind: SchemaType) -> Schema {
        Schema {
            kind,
            optional: false,
            name: None,
            version: None,
            doc: None,
            parameters: BTreeMap::new(),
            default: None,
            fields: Vec::new(),
            key_schema: None,
            value_schema: None,
        }
    }

    pub fn optional_of(kind: SchemaType) -> Schema {
        Schema {
            optional: true,
            ..Schema::of(kind)
        }
    }

    pub fn array(elements: SchemaRef) -> Schema {
        Schema {
            value_schema: Some(elements),
            ..Schema::of(SchemaType::Array)
        }
    }

    pub fn map(keys: SchemaRef, values: SchemaRef) -> Schema {
        Schema {
            key_schema: Some(keys),
            value_schema: Some(values),
            ..Schema::of(SchemaType::Map)
        }
    }

    /// A struct schema of these (name, schema) fields, in order.
    pub fn structure(name: Option<&str>, fields: Vec<(String, SchemaRef)>) -> Schema {
        Schema {
            name: name.map(str::to_string),
            fields: fields
                .into_iter()
                .enumerate()
                .map(|(index, (name, schema))| Field {
                    name,
                    index,
                    schema,
                })
                .collect(),
            ..Schema::of(SchemaType::Struct)
        }
    }

    pub fn with_optional(mut self, optional: bool) -> Schema {
        self.optional = optional;
        self
    }

    pub fn with_name(mut self, name: &str) -> Schema {
        self.name = Some(name.to_string());
        self
    }

    pub fn with_parameter(mut self, key: &str, value: &str) -> Schema {
        self.parameters.insert(key.to_string(), value.to_string());
        self
    }

    /// A struct's field by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The logical type's name, if this schema is one of Connect's.
    pub fn logical_name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .filter(|n| n.starts_with("org.apache.kafka.connect.data."))
    }

    pub fn into_ref(self) -> SchemaRef {
        Arc::new(self)
    }
}

/// A struct value: its schema and one value per field, in field order.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    pub schema: SchemaRef,
    pub values: Vec<Value>,
}

impl Struct {
    /// A struct of `schema` with every field null (set them with `put`).
    pub fn new(schema: SchemaRef) -> Struct {
        let values = vec![Value::Null; schema.fields.len()];
        Struct { schema, values }
    }

    /// The value of field `name`, or None when the schema has no such field.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.schema.field(name).map(|f| &self.values[f.index])
    }

    /// Sets field `name`; false when the schema has no such field.
    pub fn put(&mut self, name: &str, value: Value) -> bool {
        match self.schema.field(name).map(|f| f.index) {
            Some(i) => {
                self.values[i] = value;
                true
            }
            None => false,
        }
    }

    /// (field, value) pairs in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&Field, &Value)> {
        self.schema.fields.iter().zip(&self.values)
    }
}

/// A Connect value. With a schema, its variant matches the schema's type
/// (a logical type holds its underlying representation: a Timestamp is an
/// `Int64`); without one, JSON's shapes map to `Int64`, `Float64`,
/// `String`, `Boolean`, `Array` and `Map` with string keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    String(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    /// Entries in their original order (JSON object order, Avro map order).
    Map(Vec<(Value, Value)>),
    Struct(Struct),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The type a schemaless value would be given (None for null).
    pub fn inferred_type(&self) -> Option<SchemaType> {
        Some(match self {
            Value::Null => return None,
            Value::Boolean(_) => SchemaType::Boolean,
            Value::Int8(_) => SchemaType::Int8,
            Value::Int16(_) => SchemaType::Int16,
            Value::Int32(_) => SchemaType::Int32,
            Value::Int64(_) => SchemaType::Int64,
            Value::Float32(_) => SchemaType::Float32,
            Value::Float64(_) => SchemaType::Float64,
            Value::String(_) => SchemaType::String,
            Value::Bytes(_) => SchemaType::Bytes,
            Value::Array(_) => SchemaType::Array,
            Value::Map(_) => SchemaType::Map,
            Value::Struct(_) => SchemaType::Struct,
        })
    }

    /// An integer value of any width, widened.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int8(v) => Some(v.into()),
            Value::Int16(v) => Some(v.into()),
            Value::Int32(v) => Some(v.into()),
            Value::Int64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A schemaless map's entry by string key.
    pub fn map_get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A struct's field or a schemaless map's entry, whichever this is.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(s) => s.get(name),
            Value::Map(_) => self.map_get(name),
            _ => None,
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
    fn from(v: i64) -> Value {
        Value::Int64(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int32(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Boolean(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float64(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struct_reads_and_writes_fields_by_name() {
        let schema = Schema::structure(
            Some("bid"),
            vec![
                ("item".into(), Schema::of(SchemaType::String).into_ref()),
                ("price".into(), Schema::of(SchemaType::Int64).into_ref()),
            ],
        )
        .into_ref();
        let mut s = Struct::new(schema);
        assert!(s.put("price", Value::Int64(7)));
        assert!(!s.put("nope", Value::Null));
        assert_eq!(s.get("price"), Some(&Value::Int64(7)));
        assert_eq!(s.get("item"), Some(&Value::Null));
        assert_eq!(
            Value::Struct(s).field("price").and_then(Value::as_i64),
            Some(7)
        );
    }

    #[test]
    fn a_schemaless_map_answers_field_lookups() {
        let v = Value::Map(vec![(Value::from("a"), Value::Int64(1))]);
        assert_eq!(v.field("a"), Some(&Value::Int64(1)));
        assert_eq!(v.field("b"), None);
    }
}
