//! What every transform shares: which half of the record it works on
//! (`$Key` or `$Value`), Kafka's "Only Struct objects supported..."
//! checks, schemaless map access, and the per-schema cache.

use crate::data::{Schema, SchemaRef, SchemaType, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

/// The half of the record a transform works on: Kafka's `$Key` and
/// `$Value` nested classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Key,
    Value,
}

impl Side {
    /// `operatingSchema(record)`.
    pub fn schema(self, record: &ConnectRecord) -> Option<&SchemaRef> {
        match self {
            Side::Key => record.key_schema.as_ref(),
            Side::Value => record.value_schema.as_ref(),
        }
    }

    /// `operatingValue(record)`.
    pub fn value(self, record: &ConnectRecord) -> &Value {
        match self {
            Side::Key => &record.key,
            Side::Value => &record.value,
        }
    }

    /// Moves the operated half out of the record (leaving null), so a
    /// transform can rebuild it without cloning.
    pub fn take(self, record: &mut ConnectRecord) -> (Option<SchemaRef>, Value) {
        match self {
            Side::Key => (
                record.key_schema.take(),
                std::mem::replace(&mut record.key, Value::Null),
            ),
            Side::Value => (
                record.value_schema.take(),
                std::mem::replace(&mut record.value, Value::Null),
            ),
        }
    }

    /// `newRecord(record, schema, value)`: the record with its operated
    /// half replaced, everything else kept.
    pub fn put(self, record: &mut ConnectRecord, schema: Option<SchemaRef>, value: Value) {
        match self {
            Side::Key => {
                record.key_schema = schema;
                record.key = value;
            }
            Side::Value => {
                record.value_schema = schema;
                record.value = value;
            }
        }
    }
}

/// The Java class Kafka Connect would hold this value as; error messages
/// name it, as Kafka's do, so users searching for them find answers.
pub fn java_class_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "java.lang.Boolean",
        Value::Int8(_) => "java.lang.Byte",
        Value::Int16(_) => "java.lang.Short",
        Value::Int32(_) => "java.lang.Integer",
        Value::Int64(_) => "java.lang.Long",
        Value::Float32(_) => "java.lang.Float",
        Value::Float64(_) => "java.lang.Double",
        Value::String(_) => "java.lang.String",
        Value::Bytes(_) => "[B",
        Value::Array(_) => "java.util.ArrayList",
        Value::Map(_) => "java.util.HashMap",
        Value::Struct(_) => "org.apache.kafka.connect.data.Struct",
    }
}

/// Kafka's `Requirements.requireStruct`.
pub fn require_struct(value: Value, purpose: &str) -> Result<Struct> {
    match value {
        Value::Struct(s) => Ok(s),
        other => Err(ConnectError::Transform(format!(
            "Only Struct objects supported for [{purpose}], found: {}",
            java_class_name(&other)
        ))),
    }
}

/// Kafka's `Requirements.requireMap`: a schemaless value must be a map
/// with string keys.
pub fn require_map(value: Value, purpose: &str) -> Result<Vec<(Value, Value)>> {
    match value {
        Value::Map(entries) => {
            if let Some((k, _)) = entries.iter().find(|(k, _)| k.as_str().is_none()) {
                return Err(ConnectError::Transform(format!(
                    "Only Map objects with String keys supported in absence of schema for \
                     [{purpose}], found a key of type: {}",
                    java_class_name(k)
                )));
            }
            Ok(entries)
        }
        other => Err(ConnectError::Transform(format!(
            "Only Map objects supported in absence of schema for [{purpose}], found: {}",
            java_class_name(&other)
        ))),
    }
}

/// Kafka's `Requirements.requireSinkRecord` for the Kafka offset.
pub fn require_sink_offset(record: &ConnectRecord, purpose: &str) -> Result<i64> {
    record.origin.as_ref().map(|o| o.offset).ok_or_else(|| {
        ConnectError::Transform(format!(
            "Only SinkRecord supported for [{purpose}], found: \
             org.apache.kafka.connect.source.SourceRecord"
        ))
    })
}

/// A schemaless map's entry by string key.
pub fn map_get<'a>(entries: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// Sets a schemaless map's entry, in place when the key exists (as a
/// Java `HashMap.put` replaces), appended otherwise.
pub fn map_put(entries: &mut Vec<(Value, Value)>, key: &str, value: Value) {
    match entries.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
        Some((_, v)) => *v = value,
        None => entries.push((Value::from(key), value)),
    }
}

/// Kafka's `SchemaUtil.copySchemaBasics` for a struct: name, version,
/// doc and parameters as `schema`'s, and optional as it; with these
/// fields, whose names must be unique (Kafka's `SchemaBuilder` refuses a
/// second field of one name, e.g. a rename onto an existing field).
pub fn struct_like(schema: &Schema, fields: Vec<(String, SchemaRef)>) -> Result<Schema> {
    for (i, (name, _)) in fields.iter().enumerate() {
        if fields[..i].iter().any(|(n, _)| n == name) {
            return Err(ConnectError::Transform(format!(
                "Cannot create field because of field name duplication {name}"
            )));
        }
    }
    let mut out = Schema::structure(schema.name.as_deref(), fields);
    out.version = schema.version;
    out.doc = schema.doc.clone();
    out.parameters = schema.parameters.clone();
    out.optional = schema.optional;
    Ok(out)
}

/// A schema of `kind` that is optional when `optional` (Kafka's
/// `SchemaBuilder.type(t).optional()`).
pub fn primitive(kind: SchemaType, optional: bool) -> SchemaRef {
    Schema::of(kind).with_optional(optional).into_ref()
}

/// A struct field's value as Kafka's `Struct.get` returns it: a null
/// replaced by the field's default when `replace_null_with_default`
/// (`getWithoutDefault` otherwise).
pub fn field_value(schema: &Schema, value: Value, replace_null_with_default: bool) -> Value {
    match (value, &schema.default) {
        (Value::Null, Some(default)) if replace_null_with_default => default.clone(),
        (value, _) => value,
    }
}

/// How many output schemas a transform remembers; Kafka's transforms keep
/// an LRU cache of 16.
const CACHE_CAPACITY: usize = 16;

/// Output schemas by input schema, so a stream of records sharing one
/// schema builds the transformed schema once. Looked up by pointer first
/// (records from one converter share their `Arc`), then by equality (a
/// converter that builds a fresh but equal schema per record still hits).
/// The input `Arc` is kept so its pointer cannot be reused by another
/// schema while cached.
#[derive(Debug, Default)]
pub struct SchemaCache {
    entries: Vec<(SchemaRef, SchemaRef)>,
}

impl SchemaCache {
    pub fn new() -> SchemaCache {
        SchemaCache::default()
    }

    pub fn get(&self, input: &SchemaRef) -> Option<SchemaRef> {
        self.entries
            .iter()
            .find(|(k, _)| std::sync::Arc::ptr_eq(k, input))
            .or_else(|| self.entries.iter().find(|(k, _)| **k == **input))
            .map(|(_, v)| v.clone())
    }

    /// The cached output for `input`, built by `build` on a miss.
    pub fn get_or_try_insert(
        &mut self,
        input: &SchemaRef,
        build: impl FnOnce(&Schema) -> Result<Schema>,
    ) -> Result<SchemaRef> {
        if let Some(hit) = self.get(input) {
            return Ok(hit);
        }
        let built = build(input)?.into_ref();
        if self.entries.len() >= CACHE_CAPACITY {
            self.entries.remove(0);
        }
        self.entries.push((input.clone(), built.clone()));
        Ok(built)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_builds_once_per_schema_and_evicts_the_oldest() {
        let mut cache = SchemaCache::new();
        let a = Schema::of(SchemaType::Int32).into_ref();
        let mut builds = 0;
        for _ in 0..3 {
            cache
                .get_or_try_insert(&a, |s| {
                    builds += 1;
                    Ok(s.clone())
                })
                .unwrap();
        }
        assert_eq!(builds, 1);
        // An equal schema in a new Arc hits too.
        let a2 = Schema::of(SchemaType::Int32).into_ref();
        cache.get_or_try_insert(&a2, |_| panic!("rebuilt")).unwrap();
        for i in 0..20 {
            let s = Schema::of(SchemaType::Int64)
                .with_name(&i.to_string())
                .into_ref();
            cache.get_or_try_insert(&s, |s| Ok(s.clone())).unwrap();
        }
        assert_eq!(cache.len(), CACHE_CAPACITY);
    }

    #[test]
    fn requirement_errors_name_the_java_class() {
        let err = require_struct(Value::from("x"), "field extraction").unwrap_err();
        assert_eq!(
            err.to_string(),
            "transformation failed: Only Struct objects supported for [field extraction], \
             found: java.lang.String"
        );
        let err = require_map(Value::Int64(1), "flattening").unwrap_err();
        assert!(err
            .to_string()
            .ends_with("Only Map objects supported in absence of schema for [flattening], found: java.lang.Long"));
    }
}
