//! `io.confluent.connect.json.JsonSchemaConverter` over Fjord's registry:
//! the value's JSON text behind the Confluent wire header (magic 0, 4-byte
//! schema id), its schema a JSON Schema registered as Confluent's
//! `JsonSchemaData` writes it:
//!
//! - a struct is `{"type":"object","title":<name>,"properties":{...},
//!   "required":[...]}`, each property carrying `"connect.index"`;
//! - an optional schema is `{"oneOf":[{"type":"null"}, <schema>]}`;
//! - int8..int64 are `"integer"` and float32/64 `"number"` with
//!   `"connect.type"`; bytes are base64 `"string"` with
//!   `"connect.type":"bytes"`; a Decimal is a `"number"` titled
//!   `org.apache.kafka.connect.data.Decimal`;
//! - a map is an object (`additionalProperties`) when its keys are
//!   strings, else an array of `{"key","value"}` objects;
//! - name, version, doc and parameters ride in `title`,
//!   `connect.version`, `description` and `connect.parameters`.
//!
//! Reading also accepts schemas written by hand: a property not listed in
//! `required` is optional, an object without `properties` but with an
//! `additionalProperties` schema is a map, an integer without
//! `connect.type` is int64 and a number float64.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use fjord_registry::schema::SchemaType as RegistryType;
use fjord_registry::serde::wire::{self, SchemaRef as WireRef};
use fjord_registry::serde::JsonSerializer;

use super::json::{to_connect_value, to_json, JsonOptions};
use super::json_text::Json;
use super::registry::{blocking, RegistrySettings};
use super::{conversion, message_of, Converter};
use crate::config::Config;
use crate::data::{logical, Field, Schema, SchemaRef, SchemaType, Value};
use crate::error::Result;

const CACHE_LIMIT: usize = 1000;

/// How JSON Schema data is written: decimals as numbers, maps with
/// non-string keys as key/value objects.
const OPTS: JsonOptions = JsonOptions {
    decimal_numeric: true,
    replace_null_with_default: true,
    map_entries_as_objects: true,
};

/// Connect schema → JSON Schema document.
pub fn json_schema_of(schema: &Schema) -> Result<Json> {
    let mut inner = match schema.kind {
        SchemaType::Boolean => vec![("type".into(), Json::str("boolean"))],
        SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => vec![
            ("type".into(), Json::str("integer")),
            ("connect.type".into(), Json::str(schema.kind.name())),
        ],
        SchemaType::Float32 | SchemaType::Float64 => vec![
            ("type".into(), Json::str("number")),
            ("connect.type".into(), Json::str(schema.kind.name())),
        ],
        SchemaType::Bytes if schema.name.as_deref() == Some(logical::DECIMAL) => vec![
            ("type".into(), Json::str("number")),
            ("connect.type".into(), Json::str("bytes")),
        ],
        SchemaType::Bytes => vec![
            ("type".into(), Json::str("string")),
            ("connect.type".into(), Json::str("bytes")),
        ],
        SchemaType::String => vec![("type".into(), Json::str("string"))],
        SchemaType::Array => {
            let items = schema
                .value_schema
                .as_deref()
                .ok_or_else(|| conversion("Array schema has no element schema"))?;
            vec![
                ("type".into(), Json::str("array")),
                ("items".into(), json_schema_of(items)?),
            ]
        }
        SchemaType::Map => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(conversion("Map schema has no key or value schema"));
            };
            if ks.kind == SchemaType::String && !ks.optional {
                vec![
                    ("type".into(), Json::str("object")),
                    ("additionalProperties".into(), json_schema_of(vs)?),
                    ("connect.type".into(), Json::str("map")),
                ]
            } else {
                let entry = Json::Object(vec![
                    ("type".into(), Json::str("object")),
                    (
                        "properties".into(),
                        Json::Object(vec![
                            ("key".into(), json_schema_of(ks)?),
                            ("value".into(), json_schema_of(vs)?),
                        ]),
                    ),
                    ("additionalProperties".into(), Json::Bool(false)),
                ]);
                vec![
                    ("type".into(), Json::str("array")),
                    ("items".into(), entry),
                    ("connect.type".into(), Json::str("map")),
                ]
            }
        }
        SchemaType::Struct => {
            let mut props = Vec::with_capacity(schema.fields.len());
            let mut required = Vec::new();
            for f in &schema.fields {
                let Json::Object(mut p) = json_schema_of(&f.schema)? else {
                    unreachable!("schemas are objects")
                };
                p.push(("connect.index".into(), Json::int(f.index as i64)));
                props.push((f.name.clone(), Json::Object(p)));
                if !f.schema.optional {
                    required.push(Json::str(&f.name));
                }
            }
            vec![
                ("type".into(), Json::str("object")),
                ("properties".into(), Json::Object(props)),
                ("required".into(), Json::Array(required)),
                ("additionalProperties".into(), Json::Bool(false)),
            ]
        }
    };
    if let Some(name) = &schema.name {
        inner.insert(1, ("title".into(), Json::str(name)));
    }
    if let Some(v) = schema.version {
        inner.push(("connect.version".into(), Json::int(v.into())));
    }
    if let Some(doc) = &schema.doc {
        inner.push(("description".into(), Json::str(doc)));
    }
    if !schema.parameters.is_empty() {
        let p = schema
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), Json::str(v)))
            .collect();
        inner.push(("connect.parameters".into(), Json::Object(p)));
    }
    let default = match &schema.default {
        Some(d) if !d.is_null() => Some(to_json(Some(schema), d, &OPTS)?),
        _ => None,
    };
    if !schema.optional {
        if let Some(d) = default {
            inner.push(("default".into(), d));
        }
        return Ok(Json::Object(inner));
    }
    let mut wrapper = vec![(
        "oneOf".into(),
        Json::Array(vec![
            Json::Object(vec![("type".into(), Json::str("null"))]),
            Json::Object(inner),
        ]),
    )];
    if let Some(d) = default {
        wrapper.push(("default".into(), d));
    }
    Ok(Json::Object(wrapper))
}

/// JSON Schema document → Connect schema.
pub fn connect_schema_of(json: &Json) -> Result<SchemaRef> {
    Ok(read(json, json, 0)?.into_ref())
}

/// The schema a local `$ref` (`#/definitions/X`, `#/$defs/X`) points at.
fn dereference<'a>(root: &'a Json, reference: &str) -> Result<&'a Json> {
    let path = reference.strip_prefix('#').ok_or_else(|| {
        conversion(format!(
            "only local $ref (#/...) are supported, not {reference:?}"
        ))
    })?;
    let mut at = root;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let key = part.replace("~1", "/").replace("~0", "~");
        at = match at {
            Json::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => at.get(&key),
        }
        .ok_or_else(|| conversion(format!("$ref {reference:?} points at nothing")))?;
    }
    Ok(at)
}

/// `json` (a schema within `root`) as a Connect schema; `depth` counts the
/// `$ref`s followed, which a recursive schema would follow forever.
fn read(json: &Json, root: &Json, depth: usize) -> Result<Schema> {
    if let Some(reference) = json.get("$ref").and_then(Json::as_str) {
        if depth >= 32 {
            return Err(conversion(
                "JSON schema $refs nest deeper than 32 (recursive schemas have no Connect form)",
            ));
        }
        return read(dereference(root, reference)?, root, depth + 1);
    }
    let branches = match (json.get("oneOf"), json.get("anyOf"), json.get("type")) {
        (Some(Json::Array(b)), _, _) | (_, Some(Json::Array(b)), _) => Some(b.clone()),
        (_, _, Some(Json::Array(types))) => Some(
            types
                .iter()
                .map(|t| {
                    let mut m = vec![("type".to_string(), t.clone())];
                    if let Json::Object(rest) = json {
                        m.extend(rest.iter().filter(|(k, _)| k != "type").cloned());
                    }
                    Json::Object(m)
                })
                .collect(),
        ),
        _ => None,
    };
    let mut schema = if let Some(branches) = branches {
        let is_null = |b: &Json| b.get("type").and_then(Json::as_str) == Some("null");
        let non_null: Vec<&Json> = branches.iter().filter(|b| !is_null(b)).collect();
        match non_null.as_slice() {
            [one] => {
                let mut s = read(one, root, depth)?;
                s.optional = s.optional || non_null.len() < branches.len();
                s
            }
            _ => {
                return Err(conversion(format!(
                    "JSON schemas with several alternatives are not supported yet: {}",
                    json.to_text()
                )))
            }
        }
    } else {
        read_typed(json, root, depth)?
    };
    if let Some(d) = json.get("default").filter(|d| !matches!(d, Json::Null)) {
        let without = schema.clone().into_ref();
        schema.default = Some(to_connect_value(Some(&without), d, &OPTS)?);
    }
    Ok(schema)
}

fn read_typed(json: &Json, root: &Json, depth: usize) -> Result<Schema> {
    let connect_type = json.get("connect.type").and_then(Json::as_str);
    let title = json.get("title").and_then(Json::as_str);
    let t = json.get("type").and_then(Json::as_str).ok_or_else(|| {
        conversion(format!(
            "a JSON schema without a \"type\" is not supported: {}",
            json.to_text()
        ))
    })?;
    let mut schema = match (t, connect_type) {
        ("boolean", _) => Schema::of(SchemaType::Boolean),
        ("integer", Some(c)) if SchemaType::from_name(c).is_some() => {
            Schema::of(SchemaType::from_name(c).expect("checked"))
        }
        ("integer", _) => Schema::of(SchemaType::Int64),
        ("number", _) if title == Some(logical::DECIMAL) => Schema::of(SchemaType::Bytes),
        ("number", Some("float32")) => Schema::of(SchemaType::Float32),
        ("number", _) => Schema::of(SchemaType::Float64),
        ("string", Some("bytes")) => Schema::of(SchemaType::Bytes),
        ("string", _) => Schema::of(SchemaType::String),
        ("array", Some("map")) => {
            let items = json.get("items").unwrap_or(&Json::Null);
            let props = items.get("properties").unwrap_or(&Json::Null);
            let (Some(k), Some(v)) = (props.get("key"), props.get("value")) else {
                return Err(conversion("a map's entries need key and value properties"));
            };
            Schema::map(
                read(k, root, depth)?.into_ref(),
                read(v, root, depth)?.into_ref(),
            )
        }
        ("array", _) => {
            let items = json
                .get("items")
                .ok_or_else(|| conversion("a JSON array schema without \"items\""))?;
            Schema::array(read(items, root, depth)?.into_ref())
        }
        ("object", _) => {
            let props = json.get("properties");
            let extra = json.get("additionalProperties");
            match (props, extra) {
                (None, Some(v @ Json::Object(_))) => Schema::map(
                    Schema::of(SchemaType::String).into_ref(),
                    read(v, root, depth)?.into_ref(),
                ),
                (Some(Json::Object(members)), _) => {
                    let required: Vec<&str> = match json.get("required") {
                        Some(Json::Array(r)) => r.iter().filter_map(Json::as_str).collect(),
                        _ => Vec::new(),
                    };
                    let mut fields: Vec<(i64, String, Schema)> = Vec::new();
                    for (i, (name, p)) in members.iter().enumerate() {
                        let mut s = read(p, root, depth)?;
                        if !required.contains(&name.as_str()) {
                            s.optional = true;
                        }
                        let index = p
                            .get("connect.index")
                            .and_then(Json::as_i64)
                            .unwrap_or(i as i64);
                        fields.push((index, name.clone(), s));
                    }
                    fields.sort_by_key(|(i, _, _)| *i);
                    Schema {
                        fields: fields
                            .into_iter()
                            .enumerate()
                            .map(|(index, (_, name, s))| Field {
                                name,
                                index,
                                schema: s.into_ref(),
                            })
                            .collect(),
                        ..Schema::of(SchemaType::Struct)
                    }
                }
                _ => {
                    return Err(conversion(
                        "a JSON object schema needs \"properties\" or an \"additionalProperties\" schema",
                    ))
                }
            }
        }
        (other, _) => {
            return Err(conversion(format!(
                "JSON schema type {other:?} has no Connect form"
            )))
        }
    };
    schema.name = title.map(str::to_string);
    schema.version = json
        .get("connect.version")
        .and_then(Json::as_i64)
        .and_then(|v| i32::try_from(v).ok());
    schema.doc = json
        .get("description")
        .and_then(Json::as_str)
        .map(str::to_string);
    if let Some(Json::Object(params)) = json.get("connect.parameters") {
        let mut out = BTreeMap::new();
        for (k, v) in params {
            let v = v
                .as_str()
                .ok_or_else(|| conversion("connect.parameters must have string values"))?;
            out.insert(k.clone(), v.to_string());
        }
        schema.parameters = out;
    }
    Ok(schema)
}

/// `JsonSchemaConverter`.
pub struct JsonSchemaConverter {
    registry: RegistrySettings,
    read_schemas: Mutex<HashMap<WireRef, SchemaRef>>,
    /// Derived schema texts by the address of their Connect schema (see
    /// the Avro converter).
    derived: Mutex<HashMap<usize, (Weak<Schema>, String)>>,
    /// Schema ids by (subject, schema text).
    ids: Mutex<HashMap<(String, String), i32>>,
}

impl JsonSchemaConverter {
    pub fn new(settings: &Config, is_key: bool) -> Result<JsonSchemaConverter> {
        Ok(JsonSchemaConverter {
            registry: RegistrySettings::new(settings, is_key)?,
            read_schemas: Mutex::new(HashMap::new()),
            derived: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
        })
    }

    fn read_schema(&self, r: WireRef) -> Result<SchemaRef> {
        if let Some(s) = self.read_schemas.lock().unwrap().get(&r) {
            return Ok(s.clone());
        }
        let client = &self.registry.client;
        let registered = blocking(|| match r {
            WireRef::Id(id) => client.schema_by_id(id),
            WireRef::Guid(g) => client.schema_by_guid(&g),
        })
        .map_err(|e| conversion(format!("cannot fetch {r}: {e}")))?;
        if registered.schema_type != RegistryType::Json {
            return Err(conversion(format!(
                "{r} is a {} schema, not a JSON schema",
                registered.schema_type
            )));
        }
        let json = Json::parse(registered.schema.as_bytes())
            .map_err(|e| conversion(format!("{r} is not JSON: {e}")))?;
        let schema = connect_schema_of(&json)?;
        let mut cache = self.read_schemas.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(r, schema.clone());
        Ok(schema)
    }

    fn derive(&self, schema: &SchemaRef) -> Result<String> {
        let key = Arc::as_ptr(schema) as usize;
        if let Some((weak, text)) = self.derived.lock().unwrap().get(&key) {
            if weak.upgrade().is_some_and(|s| Arc::ptr_eq(&s, schema)) {
                return Ok(text.clone());
            }
        }
        let text = json_schema_of(schema)?.to_text();
        let mut cache = self.derived.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (Arc::downgrade(schema), text.clone()));
        Ok(text)
    }

    /// The id to write for `text` under `subject`: registered, looked up,
    /// or the subject's latest (`use.latest.version`).
    fn schema_id(&self, subject: String, text: String) -> Result<i32> {
        if self.registry.use_latest {
            return Ok(self.registry.latest(&subject)?.id);
        }
        let key = (subject, text);
        if let Some(id) = self.ids.lock().unwrap().get(&key) {
            return Ok(*id);
        }
        let mut s = JsonSerializer::new(self.registry.client.clone(), key.0.clone(), &key.1)
            .map_err(|e| conversion(e.to_string()))?;
        if !self.registry.auto_register {
            s = s.use_registered_only();
        }
        let id = blocking(|| s.schema_id()).map_err(|e| conversion(e.to_string()))?;
        let mut cache = self.ids.lock().unwrap();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, id);
        Ok(id)
    }
}

impl Converter for JsonSchemaConverter {
    fn to_connect(&self, topic: &str, data: Option<&[u8]>) -> Result<(Option<SchemaRef>, Value)> {
        let Some(data) = data else {
            return Ok((None, Value::Null));
        };
        let fail = |e: String| {
            conversion(format!(
                "Converting byte[] to Kafka Connect data failed due to serialization error of topic {topic}: {e}"
            ))
        };
        let (r, payload) = wire::decode_header(data).map_err(|e| fail(e.to_string()))?;
        let schema = self.read_schema(r).map_err(|e| fail(message_of(e)))?;
        let json = Json::parse(payload).map_err(fail)?;
        let value = to_connect_value(Some(&schema), &json, &OPTS)?;
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
                "Converting Kafka Connect data to byte[] failed due to serialization error of topic {topic}: {e}"
            ))
        };
        let Some(schema) = schema else {
            return Err(fail(
                "JsonSchemaConverter needs a schema; schemaless values can be written with \
                 JsonConverter (schemas.enable=false)"
                    .into(),
            ));
        };
        let text = self.derive(schema)?;
        let record = match schema.kind {
            SchemaType::Struct => schema.name.as_deref(),
            _ => None,
        };
        let subject = self.registry.subject(topic, record)?;
        let id = self
            .schema_id(subject, text)
            .map_err(|e| fail(message_of(e)))?;
        let json = to_json(Some(schema), value, &OPTS)?;
        let mut out = Vec::new();
        wire::encode_header(id, &mut out);
        out.extend_from_slice(json.to_text().as_bytes());
        Ok(Some(out))
    }
}

#[cfg(test)]
#[path = "json_schema_converter_tests.rs"]
mod tests;
