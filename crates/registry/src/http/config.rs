//! /config, /mode and /compatibility.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::forward::{WriteRequest, WriteStop};
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
    let level = own_or_global(
        state.configs.get(&subject),
        &q,
        || state.compatibility(None),
        || RegistryError::SubjectConfigNotFound(subject),
    )?;
    Ok(json(
        StatusCode::OK,
        &json!({ "compatibilityLevel": level }),
    ))
}

/// A subject's own level or mode; without one, the global one when the
/// query asks `defaultToGlobal`, else `missing` (Confluent's 404).
fn own_or_global<T: Copy>(
    own: Option<&T>,
    q: &HashMap<String, String>,
    global: impl FnOnce() -> T,
    missing: impl FnOnce() -> RegistryError,
) -> Result<T, RegistryError> {
    match own {
        Some(value) => Ok(*value),
        None if flag(q, "defaultToGlobal") => Ok(global()),
        None => Err(missing()),
    }
}

/// PUT /config (`subject` None: the global level) and PUT
/// /config/{subject}.
pub async fn put_config(
    State(ctx): State<Shared>,
    subject: Option<Path<String>>,
    req: WriteRequest,
) -> Result<Response, WriteStop> {
    let level = parse_level(&req.body)?;
    let generation = req.write_here(&ctx).await?;
    ctx.registry
        .set_config(generation, scope(&subject), level)
        .await?;
    Ok(json(StatusCode::OK, &json!({ "compatibility": level })))
}

/// DELETE /config and DELETE /config/{subject}.
pub async fn delete_config(
    State(ctx): State<Shared>,
    subject: Option<Path<String>>,
    req: WriteRequest,
) -> Result<Response, WriteStop> {
    let generation = req.write_here(&ctx).await?;
    let previous = ctx
        .registry
        .delete_config(generation, scope(&subject))
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "compatibilityLevel": previous }),
    ))
}

/// The subject a scoped route names; None on the global route.
fn scope(subject: &Option<Path<String>>) -> Option<&str> {
    subject.as_ref().map(|Path(s)| s.as_str())
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
    let mode = own_or_global(
        state.modes.get(&subject),
        &q,
        || state.mode(None),
        || RegistryError::SubjectModeNotFound(subject),
    )?;
    Ok(json(StatusCode::OK, &json!({ "mode": mode })))
}

/// PUT /mode and PUT /mode/{subject}.
pub async fn put_mode(
    State(ctx): State<Shared>,
    subject: Option<Path<String>>,
    Query(q): Q,
    req: WriteRequest,
) -> Result<Response, WriteStop> {
    let mode = parse_mode(&req.body)?;
    let generation = req.write_here(&ctx).await?;
    ctx.registry
        .set_mode(generation, scope(&subject), mode, flag(&q, "force"))
        .await?;
    Ok(json(StatusCode::OK, &json!({ "mode": mode })))
}

pub async fn delete_subject_mode(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    req: WriteRequest,
) -> Result<Response, WriteStop> {
    let generation = req.write_here(&ctx).await?;
    let previous = ctx.registry.delete_mode(generation, &subject).await?;
    Ok(json(StatusCode::OK, &json!({ "mode": previous })))
}
