//! /subjects: list, register, look up, versions, deletes, references.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::forward::{WriteRequest, WriteStop};
use super::{body, flag, json, raw, Shared};
use crate::error::RegistryError;
use crate::schema::SchemaType;
use crate::service::{self, parse_version, SchemaRequest, VersionId};
use crate::store::{SchemaValue, State as RegistryState};

type Q = Query<HashMap<String, String>>;

/// A version as Confluent shows it: subject, version, id, schemaType (not
/// for Avro), references (when there are some), schema.
pub fn version_json(v: &SchemaValue) -> Value {
    let mut m = Map::new();
    m.insert("subject".into(), json!(v.subject));
    m.insert("version".into(), json!(v.version));
    m.insert("id".into(), json!(v.id));
    if v.kind() != SchemaType::Avro {
        m.insert("schemaType".into(), json!(v.kind().as_str()));
    }
    if !v.references.is_empty() {
        m.insert("references".into(), json!(v.references));
    }
    m.insert("schema".into(), json!(v.schema));
    Value::Object(m)
}

pub async fn list(State(ctx): State<Shared>, Query(q): Q) -> Response {
    let deleted = flag(&q, "deleted");
    let prefix = q.get("subjectPrefix").map(String::as_str).unwrap_or("");
    let state = ctx.registry.state();
    let names: Vec<&String> = state
        .subjects
        .keys()
        .filter(|s| s.starts_with(prefix) && state.has_subject(s, deleted))
        .collect();
    json(StatusCode::OK, &names)
}

/// The version a path names, with Confluent's errors: 40401 for an unknown
/// subject, 40402 for an unknown (or, without `deleted`, soft-deleted) version.
fn find_version<'a>(
    state: &'a RegistryState,
    subject: &str,
    version: &str,
    deleted: bool,
) -> Result<&'a SchemaValue, RegistryError> {
    let version = parse_version(version)?;
    if !state.has_subject(subject, deleted) {
        return Err(RegistryError::SubjectNotFound(subject.to_string()));
    }
    match version {
        VersionId::Latest => {
            let latest = if deleted {
                state.versions(subject, true).into_iter().last()
            } else {
                state.latest(subject)
            };
            latest.ok_or_else(|| RegistryError::VersionNotFound("latest".into()))
        }
        VersionId::Number(n) => state
            .version(subject, n)
            .filter(|v| deleted || !v.deleted)
            .ok_or_else(|| RegistryError::VersionNotFound(n.to_string())),
    }
}

pub async fn versions(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let list: Vec<i32> = state
        .versions(&subject, flag(&q, "deleted"))
        .iter()
        .map(|v| v.version)
        .collect();
    if list.is_empty() {
        return Err(RegistryError::SubjectNotFound(subject));
    }
    Ok(json(StatusCode::OK, &list))
}

pub async fn get_version(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let v = find_version(&state, &subject, &version, flag(&q, "deleted"))?;
    Ok(json(StatusCode::OK, &version_json(v)))
}

pub async fn get_version_schema(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let v = find_version(&state, &subject, &version, flag(&q, "deleted"))?;
    Ok(raw(StatusCode::OK, v.schema.clone()))
}

pub async fn referenced_by(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let v = find_version(&state, &subject, &version, true)?;
    Ok(json(
        StatusCode::OK,
        &state.referenced_by(&subject, v.version),
    ))
}

/// POST /subjects/{subject}: is this schema registered under the subject?
pub async fn lookup(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Q,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let req: SchemaRequest = body(&bytes)?;
    let deleted = flag(&q, "deleted");
    let state = ctx.registry.state();
    if !state.has_subject(&subject, deleted) {
        return Err(RegistryError::SubjectNotFound(subject));
    }
    let parsed = service::parse_request(&state, &req)?;
    let found = service::find_in_subject(&state, &subject, &parsed, req.references(), deleted)
        .ok_or(RegistryError::SchemaTextNotFound)?;
    Ok(json(StatusCode::OK, &version_json(found)))
}

/// POST /subjects/{subject}/versions: register; answers `{"id": N}`.
pub async fn register(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    req: WriteRequest,
) -> Result<Response, WriteStop> {
    let generation = req.write_here(&ctx).await?;
    let schema: SchemaRequest = body(&req.body)?;
    let id = ctx.registry.register(generation, &subject, &schema).await?;
    Ok(json(StatusCode::OK, &json!({ "id": id })))
}

pub async fn delete_subject(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Q,
    req: WriteRequest,
) -> Result<Response, WriteStop> {
    let generation = req.write_here(&ctx).await?;
    let deleted = ctx
        .registry
        .delete_subject(generation, &subject, flag(&q, "permanent"))
        .await?;
    Ok(json(StatusCode::OK, &deleted))
}

pub async fn delete_version(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
    req: WriteRequest,
) -> Result<Response, WriteStop> {
    // A malformed version is refused here, before any forwarding.
    parse_version(&version)?;
    let generation = req.write_here(&ctx).await?;
    let deleted = ctx
        .registry
        .delete_version(generation, &subject, &version, flag(&q, "permanent"))
        .await?;
    Ok(json(StatusCode::OK, &deleted).into_response())
}
