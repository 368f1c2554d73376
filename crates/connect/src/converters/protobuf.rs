//! `io.confluent.connect.protobuf.ProtobufConverter` over Fjord's
//! registry: the Confluent wire format (magic 0, 4-byte schema id, the
//! message indexes, the message), messages decoded and encoded from the
//! registered schema's descriptors ([`protobuf_codec`](super::protobuf_codec)),
//! schemas mapped as [`protobuf_data`](super::protobuf_data) describes.
//!
//! Writing encodes from the record's own Connect schema, so with
//! `use.latest.version=true` (or `auto.register.schemas=false`) that
//! schema's .proto form must already be registered under the subject: it
//! is looked up, never resolved to a different latest schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use fjord_registry::schema::protobuf::ProtobufSchema;
use fjord_registry::schema::ResolvedReference;
use fjord_registry::serde::wire::{self, SchemaRef as WireRef};
use fjord_registry::serde::{ProtobufDeserializer, ProtobufSerializer};

use super::protobuf_codec::{decode, encode};
use super::protobuf_data::{proto_text, Types};
use super::registry::{blocking, RegistrySettings};
use super::{conversion, message_of, Converter};
use crate::config::Config;
use crate::data::{Schema, SchemaRef, Value};
use crate::error::Result;

const CACHE_LIMIT: usize = 1000;

/// A writer schema's descriptors and, per message, its Connect schema.
struct ReadSchema {
    types: Types,
    /// Connect schemas by message indexes.
    connect: Mutex<HashMap<Vec<i32>, (String, SchemaRef)>>,
    parsed: ProtobufSchema,
}

/// A Connect schema's .proto text and message full name.
#[derive(Clone)]
struct Derived {
    text: String,
    full_name: String,
}

pub struct ProtobufConverter {
    registry: RegistrySettings,
    deserializer: ProtobufDeserializer,
    read: Mutex<HashMap<WireRef, Arc<ReadSchema>>>,
    derived: Mutex<HashMap<usize, (Weak<Schema>, Derived)>>,
    serializers: Mutex<HashMap<(String, String), Arc<ProtobufSerializer>>>,
}

impl ProtobufConverter {
    pub fn new(settings: &Config, is_key: bool) -> Result<ProtobufConverter> {
        let registry = RegistrySettings::new(settings, is_key)?;
        Ok(ProtobufConverter {
            deserializer: ProtobufDeserializer::new(registry.client.clone()),
            registry,
            read: Mutex::new(HashMap::new()),
            derived: Mutex::new(HashMap::new()),
            serializers: Mutex::new(HashMap::new()),
        })
    }

    /// The writer schema `r` names, fetched (off the async runtime) and
    /// parsed once.
    fn read_schema(&self, r: WireRef) -> Result<Arc<ReadSchema>> {
        if let Some(s) = self.read.lock().unwrap().get(&r) {
            return Ok(s.clone());
        }
        let client = &self.registry.client;
        let (registered, refs) = blocking(|| -> Result<_> {
            let registered = match r {
                WireRef::Id(id) => client.schema_by_id(id),
                WireRef::Guid(g) => client.schema_by_guid(&g),
            }
            .map_err(|e| conversion(format!("cannot fetch {r}: {e}")))?;
            let refs: Vec<ResolvedReference> = client
                .resolve_references(&registered)
                .map_err(|e| conversion(format!("cannot fetch the references of {r}: {e}")))?
                .into_iter()
                .map(|(reference, v)| ResolvedReference {
                    name: reference.name,
                    kind: v.schema.schema_type,
                    schema: v.schema.schema.clone(),
                })
                .collect();
            Ok((registered, refs))
        })?;
        let parsed = ProtobufSchema::parse(&registered.schema, &refs)
            .map_err(|e| conversion(format!("{r} is not a valid Protobuf schema: {e}")))?;
        let s = Arc::new(ReadSchema {
            types: Types::new(&parsed.file_descriptor_set()),
            connect: Mutex::new(HashMap::new()),
            parsed,
        });
        let mut cache = self.read.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(r, s.clone());
        Ok(s)
    }

    fn derive(&self, schema: &SchemaRef) -> Result<Derived> {
        let key = Arc::as_ptr(schema) as usize;
        if let Some((weak, d)) = self.derived.lock().unwrap().get(&key) {
            if weak.upgrade().is_some_and(|s| Arc::ptr_eq(&s, schema)) {
                return Ok(d.clone());
            }
        }
        let (text, full_name) = proto_text(schema)?;
        let d = Derived { text, full_name };
        let mut cache = self.derived.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (Arc::downgrade(schema), d.clone()));
        Ok(d)
    }

    /// The serializer of `text` under `subject`, its id already known
    /// (registered, or looked up).
    fn serializer(&self, subject: String, text: String) -> Result<Arc<ProtobufSerializer>, String> {
        let key = (subject, text);
        if let Some(s) = self.serializers.lock().unwrap().get(&key) {
            return Ok(s.clone());
        }
        let mut s = ProtobufSerializer::new(
            self.registry.client.clone(),
            key.0.clone(),
            &key.1,
            Vec::new(),
        );
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

impl Converter for ProtobufConverter {
    fn to_connect(&self, topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)> {
        let Some(data) = data else {
            return Ok((None, Value::Null));
        };
        let fail = |e: String| {
            conversion(format!(
                "Failed to deserialize data for topic {topic} to Protobuf: {e}"
            ))
        };
        // The writer schema first, so that the deserializer finds it in the
        // client's cache.
        let (r, _) = wire::decode_header(data).map_err(|e| fail(e.to_string()))?;
        let read = self.read_schema(r).map_err(|e| fail(message_of(e)))?;
        let message = self
            .deserializer
            .deserialize(data)
            .map_err(|e| fail(e.to_string()))?;
        let types = &read.types;
        let cached = read
            .connect
            .lock()
            .unwrap()
            .get(&message.message_indexes)
            .cloned();
        let (full, schema) = match cached {
            Some(c) => c,
            None => {
                let name = read
                    .parsed
                    .message_name(&message.message_indexes)
                    .ok_or_else(|| {
                        fail(format!(
                            "no message at indexes {:?}",
                            message.message_indexes
                        ))
                    })?;
                let full = format!(".{name}");
                let schema = types
                    .connect_schema(&full)
                    .map_err(|e| fail(message_of(e)))?;
                read.connect.lock().unwrap().insert(
                    message.message_indexes.clone(),
                    (full.clone(), schema.clone()),
                );
                (full, schema)
            }
        };
        let value =
            decode(types, &full, &schema, &message.payload, 0).map_err(|e| fail(message_of(e)))?;
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
                "Failed to serialize Protobuf data from topic {topic} :{e}"
            ))
        };
        let (Some(schema), Value::Struct(s)) = (schema, value) else {
            return Err(fail(
                " ProtobufConverter writes struct values with a schema".into(),
            ));
        };
        let derived = self.derive(schema)?;
        let subject = self.registry.subject(topic, Some(&derived.full_name))?;
        let serializer = self
            .serializer(subject, derived.text)
            .map_err(|e| fail(format!(" {e}")))?;
        let mut message = Vec::new();
        encode(schema, s, &mut message)?;
        let bytes = serializer
            .serialize(&message, &[0])
            .map_err(|e| fail(format!(" {e}")))?;
        Ok(Some(bytes))
    }
}
