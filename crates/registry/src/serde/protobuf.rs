//! Protobuf in the Confluent wire format: header, message indexes, then
//! the message's bytes. No code generation: callers bring encoded message
//! bytes (from prost or any encoder) and say which message of the schema
//! file they are with its indexes (`[0]` is the file's first message).

use std::sync::Arc;

use super::wire::{self, SchemaRef};
use super::{fetch_schema, Result, WriterSchema};
use crate::client::{RegistryClient, Schema};
use crate::schema::{Reference, SchemaType};

/// Serializes Protobuf messages under one subject with one .proto schema.
pub struct ProtobufSerializer {
    writer: WriterSchema,
}

impl ProtobufSerializer {
    /// A serializer for messages of `proto_text` (.proto source) under
    /// `subject`; `references` name the imports registered elsewhere.
    pub fn new(
        client: Arc<RegistryClient>,
        subject: impl Into<String>,
        proto_text: &str,
        references: Vec<Reference>,
    ) -> ProtobufSerializer {
        let registered = Schema::new(SchemaType::Protobuf, proto_text).with_references(references);
        ProtobufSerializer {
            writer: WriterSchema::new(client, subject.into(), registered),
        }
    }

    /// Do not register: the schema must already be registered.
    pub fn use_registered_only(mut self) -> ProtobufSerializer {
        self.writer.auto_register = false;
        self
    }

    pub fn schema_id(&self) -> Result<i32> {
        self.writer.id()
    }

    /// Header + `message_indexes` + `message` (already encoded bytes).
    pub fn serialize(&self, message: &[u8], message_indexes: &[i32]) -> Result<Vec<u8>> {
        let id = self.schema_id()?;
        let mut out = Vec::with_capacity(wire::ID_HEADER_LEN + 1 + message.len());
        wire::encode_header(id, &mut out);
        wire::encode_message_indexes(message_indexes, &mut out);
        out.extend_from_slice(message);
        Ok(out)
    }
}

/// A framed Protobuf message, taken apart.
#[derive(Debug, Clone)]
pub struct ProtobufMessage {
    /// The schema that wrote it.
    pub schema_ref: SchemaRef,
    /// The registered schema (.proto text and references).
    pub schema: Arc<Schema>,
    /// Which message of the schema file: `[0]` the first top-level one.
    pub message_indexes: Vec<i32>,
    /// The encoded message, for any Protobuf decoder.
    pub payload: Vec<u8>,
}

/// Takes framed Protobuf data apart and fetches (once) the schema it names.
pub struct ProtobufDeserializer {
    client: Arc<RegistryClient>,
}

impl ProtobufDeserializer {
    pub fn new(client: Arc<RegistryClient>) -> ProtobufDeserializer {
        ProtobufDeserializer { client }
    }

    pub fn deserialize(&self, data: &[u8]) -> Result<ProtobufMessage> {
        let (r, rest) = wire::decode_header(data)?;
        let (message_indexes, payload) = wire::decode_message_indexes(rest)?;
        let schema = fetch_schema(&self.client, r, SchemaType::Protobuf)?;
        Ok(ProtobufMessage {
            schema_ref: r,
            schema,
            message_indexes,
            payload: payload.to_vec(),
        })
    }
}
