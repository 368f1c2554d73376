//! /config, /mode and /compatibility.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::forward::{route_write, Route};
use super::{body, flag, json, Shared};
use crate::error::RegistryError;
use crate::schema::CompatibilityLevel;
use crate::service::{self, parse_version, SchemaRequest, VersionId};
use crate::store::Mode;

type Q = Query<HashMap<String, String>>;

/// POST /compatibility/subjects/{subject}/versions/{version}: the new schema
/// against that version (`latest`: against what the level asks for).
pub async fn compatibility(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let version = parse_version(&version)?;
    check(&ctx, &subject, Some(version), &q, &bytes)
}

/// POST /compatibility/subjects/{subject}/versions: against every version
/// the level asks for; a subject without versions is compatible.
pub async fn compatibility_all(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Q,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    check(&ctx, &subject, None, &q, &bytes)
}

fn check(
    ctx: &Shared,
    subject: &str,
    version: Option<VersionId>,
    q: &HashMap<String, String>,
    bytes: &[u8],
) -> Result<Response, RegistryError> {
    let req: SchemaRequest = body(bytes)?;
    let state = ctx.registry.state();
    let live = state.versions(subject, false);
    let previous = match version {
        None => live,
        Some(VersionId::Latest) => {
            if live.is_empty() {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            }
            live
        }
        Some(VersionId::Number(n)) => {
            if !state.has_subject(subject, false) {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            }
            let v = state
                .version(subject, n)
                .filter(|v| !v.deleted)
                .ok_or_else(|| RegistryError::VersionNotFound(n.to_string()))?;
            vec![v]
        }
    };
    let parsed = service::parse_request(&state, &req)?;
    let level = state.compatibility(Some(subject));
    let messages = service::compatibility_messages(&state, subject, level, &parsed, &previous);
    let compatible = messages.is_empty();
    let body = if flag(q, "verbose") {
        json!({ "is_compatible": compatible, "messages": messages })
    } else {
        json!({ "is_compatible": compatible })
    };
    Ok(json(StatusCode::OK, &body))
}

#[derive(Deserialize)]
struct ConfigRequest {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

fn parse_level(bytes: &[u8]) -> Result<CompatibilityLevel, RegistryError> {
    let req: ConfigRequest = body(bytes)?;
    req.compatibility
        .or(req.compatibility_level)
        .ok_or(RegistryError::InvalidCompatibility)?
        .parse()
        .map_err(|_| RegistryError::InvalidCompatibility)
}

pub async fn get_global(State(ctx): State<Shared>) -> Response {
    let level = ctx.registry.state().compatibility(None);
    json(StatusCode::OK, &json!({ "compatibilityLevel": level }))
}

pub async fn get_subject(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let level = match state.configs.get(&subject) {
        Some(level) => *level,
        None if flag(&q, "defaultToGlobal") => state.compatibility(None),
        None => return Err(RegistryError::SubjectConfigNotFound(subject)),
    };
    Ok(json(
        StatusCode::OK,
        &json!({ "compatibilityLevel": level }),
    ))
}

pub async fn put_global(
    State(ctx): State<Shared>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    put_config(ctx, None, method, uri, bytes).await
}

pub async fn put_subject(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    put_config(ctx, Some(subject), method, uri, bytes).await
}

async fn put_config(
    ctx: Shared,
    subject: Option<String>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let level = parse_level(&bytes)?;
    let generation = match route_write(&ctx, &method, &uri, &bytes).await {
        Route::Local(g) => g,
        Route::Done(resp) => return Ok(resp),
    };
    ctx.registry
        .set_config(generation, subject.as_deref(), level)
        .await?;
    Ok(json(StatusCode::OK, &json!({ "compatibility": level })))
}

pub async fn delete_global(
    State(ctx): State<Shared>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    delete_config(ctx, None, method, uri, bytes).await
}

pub async fn delete_subject(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    delete_config(ctx, Some(subject), method, uri, bytes).await
}

async fn delete_config(
    ctx: Shared,
    subject: Option<String>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let generation = match route_write(&ctx, &method, &uri, &bytes).await {
        Route::Local(g) => g,
        Route::Done(resp) => return Ok(resp),
    };
    let previous = ctx
        .registry
        .delete_config(generation, subject.as_deref())
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "compatibilityLevel": previous }),
    ))
}

#[derive(Deserialize)]
struct ModeRequest {
    mode: Option<String>,
}

fn parse_mode(bytes: &[u8]) -> Result<Mode, RegistryError> {
    let req: ModeRequest = body(bytes)?;
    req.mode
        .as_deref()
        .and_then(Mode::parse)
        .ok_or(RegistryError::InvalidMode)
}

pub async fn get_mode(State(ctx): State<Shared>) -> Response {
    let mode = ctx.registry.state().mode(None);
    json(StatusCode::OK, &json!({ "mode": mode }))
}

pub async fn get_subject_mode(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = ctx.registry.state();
    let mode = match state.modes.get(&subject) {
        Some(mode) => *mode,
        None if flag(&q, "defaultToGlobal") => state.mode(None),
        None => return Err(RegistryError::SubjectModeNotFound(subject)),
    };
    Ok(json(StatusCode::OK, &json!({ "mode": mode })))
}

pub async fn put_mode(
    State(ctx): State<Shared>,
    Query(q): Q,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    set_mode(ctx, None, &q, method, uri, bytes).await
}

pub async fn put_subject_mode(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Q,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    set_mode(ctx, Some(subject), &q, method, uri, bytes).await
}

async fn set_mode(
    ctx: Shared,
    subject: Option<String>,
    q: &HashMap<String, String>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let mode = parse_mode(&bytes)?;
    let generation = match route_write(&ctx, &method, &uri, &bytes).await {
        Route::Local(g) => g,
        Route::Done(resp) => return Ok(resp),
    };
    ctx.registry
        .set_mode(generation, subject.as_deref(), mode, flag(q, "force"))
        .await?;
    Ok(json(StatusCode::OK, &json!({ "mode": mode })))
}

pub async fn delete_subject_mode(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let generation = match route_write(&ctx, &method, &uri, &bytes).await {
        Route::Local(g) => g,
        Route::Done(resp) => return Ok(resp),
    };
    let previous = ctx.registry.delete_mode(generation, &subject).await?;
    Ok(json(StatusCode::OK, &json!({ "mode": previous })))
}
