//! JSON Schema in the Confluent wire format: header + the value's JSON
//! text. Values are `serde_json::Value` (or any serde type); validation
//! against the schema is on request (`validate(true)`), as in Confluent's
//! serializers (`json.fail.invalid.schema`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::wire::{self, SchemaRef};
use super::{fetch_schema, Result, SerdeError, WriterSchema};
use crate::client::{RegistryClient, Schema};
use crate::schema::SchemaType;

/// A compiled validator for one schema text.
fn compile(text: &str) -> Result<jsonschema::Validator> {
    let invalid = |reason: String| SerdeError::InvalidSchema {
        kind: SchemaType::Json,
        reason,
    };
    let json: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    jsonschema::validator_for(&json).map_err(|e| invalid(e.to_string()))
}

/// Every violation, one per line with where it is.
fn check(validator: &jsonschema::Validator, value: &Value) -> Result<()> {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SerdeError::Validation(errors.join("; ")))
    }
}

/// Serializes JSON values under one subject with one JSON schema.
pub struct JsonSerializer {
    writer: WriterSchema,
    /// Set by `validate(true)`: each value is checked before it is written.
    validator: Option<jsonschema::Validator>,
}

impl JsonSerializer {
    /// A serializer of values described by `schema_text` under `subject`.
    /// The schema must at least be JSON; the registry judges the rest.
    pub fn new(
        client: Arc<RegistryClient>,
        subject: impl Into<String>,
        schema_text: &str,
    ) -> Result<JsonSerializer> {
        serde_json::from_str::<Value>(schema_text).map_err(|e| SerdeError::InvalidSchema {
            kind: SchemaType::Json,
            reason: e.to_string(),
        })?;
        Ok(JsonSerializer {
            writer: WriterSchema::new(
                client,
                subject.into(),
                Schema::new(SchemaType::Json, schema_text),
            ),
            validator: None,
        })
    }

    /// Check each value against the schema before writing it.
    pub fn validate(mut self, on: bool) -> Result<JsonSerializer> {
        self.validator = if on {
            Some(compile(&self.writer.registered.schema)?)
        } else {
            None
        };
        Ok(self)
    }

    /// Do not register: the schema must already be registered.
    pub fn use_registered_only(mut self) -> JsonSerializer {
        self.writer.auto_register = false;
        self
    }

    pub fn schema_id(&self) -> Result<i32> {
        self.writer.id()
    }

    pub fn serialize_value(&self, value: &Value) -> Result<Vec<u8>> {
        if let Some(v) = &self.validator {
            check(v, value)?;
        }
        let id = self.schema_id()?;
        let mut out = Vec::new();
        wire::encode_header(id, &mut out);
        serde_json::to_writer(&mut out, value).map_err(|e| SerdeError::Serialize {
            kind: SchemaType::Json,
            subject: self.writer.subject.clone(),
            reason: e.to_string(),
        })?;
        Ok(out)
    }

    pub fn serialize<T: ::serde::Serialize>(&self, value: &T) -> Result<Vec<u8>> {
        let v = serde_json::to_value(value).map_err(|e| SerdeError::Serialize {
            kind: SchemaType::Json,
            subject: self.writer.subject.clone(),
            reason: e.to_string(),
        })?;
        self.serialize_value(&v)
    }
}

/// Deserializes JSON written with any registered JSON schema.
pub struct JsonDeserializer {
    client: Arc<RegistryClient>,
    validate: bool,
    validators: Mutex<HashMap<SchemaRef, Arc<jsonschema::Validator>>>,
}

impl JsonDeserializer {
    pub fn new(client: Arc<RegistryClient>) -> JsonDeserializer {
        JsonDeserializer {
            client,
            validate: false,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// Check each value against its writer schema.
    pub fn validate(mut self, on: bool) -> JsonDeserializer {
        self.validate = on;
        self
    }

    pub fn deserialize(&self, data: &[u8]) -> Result<Value> {
        let (r, payload) = wire::decode_header(data)?;
        // The schema is fetched (once) even without validation: data that
        // names an Avro or unknown schema is an error, not JSON by chance.
        let schema = fetch_schema(&self.client, r, SchemaType::Json)?;
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| SerdeError::Deserialize {
                schema: r,
                reason: e.to_string(),
            })?;
        if self.validate {
            let validator = self.validator(r, &schema)?;
            check(&validator, &value)?;
        }
        Ok(value)
    }

    pub fn deserialize_into<T: ::serde::de::DeserializeOwned>(&self, data: &[u8]) -> Result<T> {
        let (r, _) = wire::decode_header(data)?;
        serde_json::from_value(self.deserialize(data)?).map_err(|e| SerdeError::Deserialize {
            schema: r,
            reason: e.to_string(),
        })
    }

    fn validator(&self, r: SchemaRef, schema: &Schema) -> Result<Arc<jsonschema::Validator>> {
        if let Some(v) = self.validators.lock().unwrap().get(&r) {
            return Ok(v.clone());
        }
        let v = Arc::new(compile(&schema.schema)?);
        self.validators.lock().unwrap().insert(r, v.clone());
        Ok(v)
    }
}
