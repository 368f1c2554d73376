//! /schemas: schemas by id, and the supported types.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{flag, json, raw, Shared};
use crate::error::RegistryError;
use crate::schema::{self, SchemaType};
use crate::store::state::IdEntry;

type Q = Query<HashMap<String, String>>;

pub async fn types() -> Response {
    json(StatusCode::OK, &["JSON", "PROTOBUF", "AVRO"])
}

fn parse_id(id: &str) -> Result<i32, RegistryError> {
    id.parse::<i32>()
        .map_err(|_| RegistryError::SchemaNotFound(-1))
}

fn entry<'a>(
    state: &'a crate::store::State,
    id: &str,
) -> Result<(i32, &'a IdEntry), RegistryError> {
    let n = parse_id(id)?;
    state
        .ids
        .get(&n)
        .map(|e| (n, e))
        .ok_or(RegistryError::SchemaNotFound(n))
}

/// GET /schemas/ids/{id}: `{"schema", "schemaType"?, "references"?}`;
/// `?format=serialized` gives Protobuf's base64 FileDescriptorProto.
pub async fn by_id(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let (_, e) = entry(&state, &id)?;
    let mut text = e.schema.clone();
    if e.kind == SchemaType::Protobuf && q.get("format").is_some_and(|f| f == "serialized") {
        let refs = state.resolve(&e.references).unwrap_or_default();
        if let Some(s) = schema::parse(e.kind, &e.schema, &refs)
            .ok()
            .and_then(|p| p.serialized())
        {
            text = s;
        }
    }
    let mut m = Map::new();
    if e.kind != SchemaType::Avro {
        m.insert("schemaType".into(), json!(e.kind.as_str()));
    }
    if !e.references.is_empty() {
        m.insert("references".into(), json!(e.references));
    }
    m.insert("schema".into(), json!(text));
    Ok(json(StatusCode::OK, &Value::Object(m)))
}

pub async fn by_id_schema(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let (_, e) = entry(&state, &id)?;
    Ok(raw(StatusCode::OK, e.schema.clone()))
}

/// The (subject, version) pairs using an id, live ones unless `deleted`.
fn uses(
    state: &crate::store::State,
    id: &str,
    deleted: bool,
) -> Result<Vec<(String, i32)>, RegistryError> {
    let (n, e) = entry(state, id)?;
    Ok(e.uses
        .iter()
        .filter(|(s, v)| deleted || state.version(s, *v).is_some_and(|sv| !sv.deleted))
        .filter(|(s, v)| state.version(s, *v).is_some_and(|sv| sv.id == n))
        .cloned()
        .collect())
}

pub async fn id_subjects(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let mut subjects: Vec<String> = uses(&state, &id, flag(&q, "deleted"))?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    subjects.dedup();
    Ok(json(StatusCode::OK, &subjects))
}

pub async fn id_versions(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let list: Vec<Value> = uses(&state, &id, flag(&q, "deleted"))?
        .into_iter()
        .map(|(s, v)| json!({ "subject": s, "version": v }))
        .collect();
    Ok(json(StatusCode::OK, &list))
}
