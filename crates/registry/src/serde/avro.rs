//! Avro in the Confluent wire format, through `apache-avro`: values
//! (`apache_avro::types::Value`) or any serde type.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::types::Value;
use apache_avro::Schema as AvroSchema;

use super::wire::{self, SchemaRef};
use super::{fetch_schema, Result, SerdeError, SubjectNameStrategy, WriterSchema};
use crate::client::{RegistryClient, Schema};
use crate::schema::{Reference, SchemaType};

/// A writer schema parsed with its references (apache-avro resolves named
/// types across the list).
struct Parsed {
    schema: AvroSchema,
    /// The referenced schemas; the root is resolved against these.
    refs: Vec<AvroSchema>,
}

impl Parsed {
    fn parse(text: &str, ref_texts: &[String]) -> Result<Parsed> {
        let invalid = |e: apache_avro::Error| SerdeError::InvalidSchema {
            kind: SchemaType::Avro,
            reason: e.to_string(),
        };
        if ref_texts.is_empty() {
            return Ok(Parsed {
                schema: AvroSchema::parse_str(text).map_err(invalid)?,
                refs: Vec::new(),
            });
        }
        let (schema, refs) = AvroSchema::parse_str_with_list(text, ref_texts).map_err(invalid)?;
        Ok(Parsed { schema, refs })
    }

    /// Every named schema, for apache-avro's `*_schemata` functions.
    fn schemata(&self) -> Vec<&AvroSchema> {
        self.refs
            .iter()
            .chain(std::iter::once(&self.schema))
            .collect()
    }
}

/// Serializes values with one Avro schema under one subject.
pub struct AvroSerializer {
    writer: WriterSchema,
    parsed: Parsed,
}

impl AvroSerializer {
    /// A serializer of `schema_text` (Avro JSON) under `subject`. Parses the
    /// schema now; talks to the registry on the first serialize.
    pub fn new(
        client: Arc<RegistryClient>,
        subject: impl Into<String>,
        schema_text: &str,
    ) -> Result<AvroSerializer> {
        Self::with_references(client, subject, schema_text, Vec::new())
    }

    /// Like [`new`](Self::new), for a schema that names types registered
    /// under other subjects (`references`); they are fetched now.
    pub fn with_references(
        client: Arc<RegistryClient>,
        subject: impl Into<String>,
        schema_text: &str,
        references: Vec<Reference>,
    ) -> Result<AvroSerializer> {
        let registered = Schema::new(SchemaType::Avro, schema_text).with_references(references);
        let ref_texts: Vec<String> = client
            .resolve_references(&registered)?
            .into_iter()
            .map(|(_, v)| v.schema.schema.clone())
            .collect();
        let parsed = Parsed::parse(schema_text, &ref_texts)?;
        Ok(AvroSerializer {
            writer: WriterSchema::new(client, subject.into(), registered),
            parsed,
        })
    }

    /// A serializer whose subject comes from `strategy` (the record name is
    /// the schema's full name).
    pub fn for_topic(
        client: Arc<RegistryClient>,
        strategy: SubjectNameStrategy,
        topic: &str,
        is_key: bool,
        schema_text: &str,
    ) -> Result<AvroSerializer> {
        let mut s = Self::new(client, String::new(), schema_text)?;
        let record = s.parsed.schema.name().map(|n| n.fullname(None));
        s.writer.subject = strategy.subject(topic, is_key, record.as_deref())?;
        Ok(s)
    }

    /// Do not register: the schema must already be registered under the
    /// subject (Confluent's `auto.register.schemas=false`).
    pub fn use_registered_only(mut self) -> AvroSerializer {
        self.writer.auto_register = false;
        self
    }

    pub fn subject(&self) -> &str {
        &self.writer.subject
    }

    pub fn schema(&self) -> &AvroSchema {
        &self.parsed.schema
    }

    /// The schema's id, asking the registry the first time only.
    pub fn schema_id(&self) -> Result<i32> {
        self.writer.id()
    }

    /// Header + Avro binary datum of `value` (resolved against the schema
    /// first, so e.g. a bare value fills a union branch).
    pub fn serialize_value(&self, value: &Value) -> Result<Vec<u8>> {
        let id = self.schema_id()?;
        let fail = |e: apache_avro::Error| SerdeError::Serialize {
            kind: SchemaType::Avro,
            subject: self.writer.subject.clone(),
            reason: e.to_string(),
        };
        let schemata = self.parsed.schemata();
        let resolved = value
            .clone()
            .resolve_schemata(&self.parsed.schema, schemata.clone())
            .map_err(fail)?;
        let datum = apache_avro::to_avro_datum_schemata(&self.parsed.schema, schemata, resolved)
            .map_err(fail)?;
        let mut out = Vec::with_capacity(wire::ID_HEADER_LEN + datum.len());
        wire::encode_header(id, &mut out);
        out.extend_from_slice(&datum);
        Ok(out)
    }

    /// Header + Avro binary datum of any serde type that fits the schema
    /// (field names as in the schema).
    pub fn serialize<T: ::serde::Serialize>(&self, value: &T) -> Result<Vec<u8>> {
        let v = apache_avro::to_value(value).map_err(|e| SerdeError::Serialize {
            kind: SchemaType::Avro,
            subject: self.writer.subject.clone(),
            reason: e.to_string(),
        })?;
        self.serialize_value(&v)
    }
}

/// Deserializes Avro data written with any registered schema.
pub struct AvroDeserializer {
    client: Arc<RegistryClient>,
    /// Optional reader schema: data is resolved to it (schema evolution).
    reader: Option<AvroSchema>,
    /// Writer schemas by id or GUID, parsed once.
    parsed: Mutex<HashMap<SchemaRef, Arc<Parsed>>>,
}

impl AvroDeserializer {
    pub fn new(client: Arc<RegistryClient>) -> AvroDeserializer {
        AvroDeserializer {
            client,
            reader: None,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// Resolve every datum to `reader_schema` (Avro schema resolution:
    /// defaults fill new fields, removed fields are skipped).
    pub fn with_reader_schema(mut self, reader_schema: &str) -> Result<AvroDeserializer> {
        let schema =
            AvroSchema::parse_str(reader_schema).map_err(|e| SerdeError::InvalidSchema {
                kind: SchemaType::Avro,
                reason: e.to_string(),
            })?;
        self.reader = Some(schema);
        Ok(self)
    }

    /// The value in `data` (header + datum), and which schema wrote it.
    pub fn deserialize_with_schema(&self, data: &[u8]) -> Result<(SchemaRef, Value)> {
        let (r, mut payload) = wire::decode_header(data)?;
        let parsed = self.writer_schema(r)?;
        let value = apache_avro::from_avro_datum_schemata(
            &parsed.schema,
            parsed.schemata(),
            &mut payload,
            self.reader.as_ref(),
        )
        .map_err(|e| SerdeError::Deserialize {
            schema: r,
            reason: e.to_string(),
        })?;
        if !payload.is_empty() {
            return Err(SerdeError::Deserialize {
                schema: r,
                reason: format!("{} bytes left after the datum", payload.len()),
            });
        }
        Ok((r, value))
    }

    /// The value in `data` (header + datum).
    pub fn deserialize(&self, data: &[u8]) -> Result<Value> {
        self.deserialize_with_schema(data).map(|(_, v)| v)
    }

    /// The datum in `data` as a serde type.
    pub fn deserialize_into<T: ::serde::de::DeserializeOwned>(&self, data: &[u8]) -> Result<T> {
        let (r, v) = self.deserialize_with_schema(data)?;
        apache_avro::from_value(&v).map_err(|e| SerdeError::Deserialize {
            schema: r,
            reason: e.to_string(),
        })
    }

    fn writer_schema(&self, r: SchemaRef) -> Result<Arc<Parsed>> {
        if let Some(p) = self.parsed.lock().unwrap().get(&r) {
            return Ok(p.clone());
        }
        let schema = fetch_schema(&self.client, r, SchemaType::Avro)?;
        let ref_texts: Vec<String> = self
            .client
            .resolve_references(&schema)?
            .into_iter()
            .map(|(_, v)| v.schema.schema.clone())
            .collect();
        let parsed = Arc::new(Parsed::parse(&schema.schema, &ref_texts)?);
        self.parsed.lock().unwrap().insert(r, parsed.clone());
        Ok(parsed)
    }
}
