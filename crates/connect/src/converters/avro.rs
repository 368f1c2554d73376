//! `io.confluent.connect.avro.AvroConverter` over Fjord's registry: Avro
//! binary in the Confluent wire format (magic 0, 4-byte schema id), the
//! Connect ↔ Avro mapping of [`avro_data`](super::avro_data).
//!
//! Writing derives the Avro schema from the record's Connect schema,
//! registers it under the subject the name strategy gives (or only looks
//! it up with `auto.register.schemas=false`, or uses the subject's latest
//! version with `use.latest.version=true`) and caches the id. Reading
//! fetches the writer schema by the id in the bytes, once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use fjord_registry::client::RegistryClient;
use fjord_registry::serde::wire::{self, SchemaRef as WireRef};
use fjord_registry::serde::{AvroDeserializer, AvroSerializer};

use super::avro_data::{avro_schema, avro_value, connect_schema, connect_value};
use super::registry::{blocking, RegistrySettings};
use super::{conversion, message_of, Converter};
use crate::config::Config;
use crate::data::{Schema, SchemaRef, Value};
use crate::error::Result;

/// Caches hold at most this many entries; past it they start over.
const CACHE_LIMIT: usize = 1000;

/// An Avro schema derived from a Connect schema: its text and record name.
#[derive(Clone)]
struct Derived {
    text: String,
    record: Option<String>,
}

pub struct AvroConverter {
    registry: RegistrySettings,
    deserializer: AvroDeserializer,
    /// Connect schemas of writer schemas, by the reference in the bytes.
    read_schemas: Mutex<HashMap<WireRef, SchemaRef>>,
    /// Derived Avro schemas by the address of the Connect schema they came
    /// from (records of a topic share one `Arc`); the weak reference tells
    /// a live entry from a reused address.
    derived: Mutex<HashMap<usize, (Weak<Schema>, Derived)>>,
    /// Serializers by (subject, Avro schema text): each caches its id.
    serializers: Mutex<HashMap<(String, String), Arc<AvroSerializer>>>,
}

impl AvroConverter {
    pub fn new(settings: &Config, is_key: bool) -> Result<AvroConverter> {
        let registry = RegistrySettings::new(settings, is_key)?;
        Ok(AvroConverter {
            deserializer: AvroDeserializer::new(registry.client.clone()),
            registry,
            read_schemas: Mutex::new(HashMap::new()),
            derived: Mutex::new(HashMap::new()),
            serializers: Mutex::new(HashMap::new()),
        })
    }

    fn client(&self) -> &Arc<RegistryClient> {
        &self.registry.client
    }

    /// The Connect schema of the writer schema `r` names.
    fn read_schema(&self, r: WireRef) -> Result<SchemaRef> {
        if let Some(s) = self.read_schemas.lock().unwrap().get(&r) {
            return Ok(s.clone());
        }
        let client = self.client();
        let (registered, refs) = blocking(|| -> Result<_> {
            let registered = match r {
                WireRef::Id(id) => client.schema_by_id(id),
                WireRef::Guid(g) => client.schema_by_guid(&g),
            }
            .map_err(|e| conversion(format!("cannot fetch {r}: {e}")))?;
            let refs: Vec<String> = client
                .resolve_references(&registered)
                .map_err(|e| conversion(format!("cannot fetch the references of {r}: {e}")))?
                .into_iter()
                .map(|(_, v)| v.schema.schema.clone())
                .collect();
            Ok((registered, refs))
        })?;
        let schema = connect_schema(&registered.schema, &refs)?;
        let mut cache = self.read_schemas.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(r, schema.clone());
        Ok(schema)
    }

    fn derive(&self, schema: &SchemaRef) -> Result<Derived> {
        let key = Arc::as_ptr(schema) as usize;
        if let Some((weak, d)) = self.derived.lock().unwrap().get(&key) {
            if weak.upgrade().is_some_and(|s| Arc::ptr_eq(&s, schema)) {
                return Ok(d.clone());
            }
        }
        let (text, record) = avro_schema(schema)?;
        let d = Derived { text, record };
        let mut cache = self.derived.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (Arc::downgrade(schema), d.clone()));
        Ok(d)
    }

    /// The serializer of `text` under `subject`, its id already known
    /// (registered, or looked up); the error is the registry's or the
    /// schema's.
    fn serializer(&self, subject: String, text: String) -> Result<Arc<AvroSerializer>, String> {
        let key = (subject, text);
        if let Some(s) = self.serializers.lock().unwrap().get(&key) {
            return Ok(s.clone());
        }
        let mut s = AvroSerializer::new(self.client().clone(), key.0.clone(), &key.1)
            .map_err(|e| format!("invalid Avro schema for {}: {e}", key.0))?;
        if !self.registry.auto_register || self.registry.use_latest {
            s = s.use_registered_only();
        }
        blocking(|| s.schema_id()).map_err(|e| e.to_string())?;
        let s = Arc::new(s);
        let mut cache = self.serializers.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, s.clone());
        Ok(s)
    }
}

impl Converter for AvroConverter {
    fn to_connect(&self, topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)> {
        let Some(data) = data else {
            return Ok((None, Value::Null));
        };
        let fail = |e: String| {
            conversion(format!(
                "Failed to deserialize data for topic {topic} to Avro: {e}"
            ))
        };
        // The writer schema first (fetched once, off the async runtime), so
        // that the deserializer finds it in the client's cache.
        let (r, _) = wire::decode_header(data).map_err(|e| fail(e.to_string()))?;
        let schema = self.read_schema(r).map_err(|e| fail(message_of(e)))?;
        let (_, avro) = self
            .deserializer
            .deserialize_with_schema(data)
            .map_err(|e| fail(e.to_string()))?;
        let value = connect_value(&schema, avro).map_err(|e| fail(message_of(e)))?;
        Ok((Some(schema), value))
    }

    fn from_connect(
        &self,
        topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>> {
        if value.is_null() {
            return Ok(None);
        }
        let fail = |e: String| {
            conversion(format!(
                "Failed to serialize Avro data from topic {topic} :{e}"
            ))
        };
        let Some(schema) = schema else {
            return Err(fail(
                " AvroConverter needs a schema; schemaless values can be written with \
                 JsonConverter (schemas.enable=false)"
                    .into(),
            ));
        };
        let derived = self.derive(schema)?;
        let subject = self.registry.subject(topic, derived.record.as_deref())?;
        let text = if self.registry.use_latest {
            self.registry.latest(&subject)?.schema.schema.clone()
        } else {
            derived.text
        };
        let serializer = self
            .serializer(subject, text)
            .map_err(|e| fail(format!(" {e}")))?;
        let avro = avro_value(schema, value)?;
        let bytes = serializer
            .serialize_value(&avro)
            .map_err(|e| fail(format!(" {e}")))?;
        Ok(Some(bytes))
    }
}
