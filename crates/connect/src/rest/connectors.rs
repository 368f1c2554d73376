//! `/connectors/...`: create, read, change and delete connectors.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value as Json};

use super::{json_response, no_content, ok, Shared};
use crate::config::Config;
use crate::runtime::status::TargetState;
use crate::runtime::{offsets_api, ApiError, ApiResult};

/// The body as a JSON value, or Kafka's 400 for malformed JSON.
fn parse(body: &Bytes) -> ApiResult<Json> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(400, format!("Malformed JSON: {e}")))
}

fn config_of(value: &Json) -> ApiResult<Config> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::new(400, "Connector configuration must be a JSON object"))?;
    Config::from_json(object).map_err(|e| ApiError::new(400, e.to_string()))
}

/// `GET /connectors[?expand=status&expand=info]`.
pub async fn list(State(ctx): State<Shared>, RawQuery(query): RawQuery) -> ApiResult<Response> {
    let expands: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.strip_prefix("expand="))
        .map(str::to_string)
        .collect();
    let names = ctx.worker.connector_names().await;
    if expands.is_empty() {
        return Ok(ok(&json!(names)));
    }
    let mut out = Map::new();
    for name in names {
        let mut entry = Map::new();
        if expands.iter().any(|e| e == "status") {
            if let Ok(s) = ctx.worker.status(&name).await {
                entry.insert("status".into(), s);
            }
        }
        if expands.iter().any(|e| e == "info") {
            if let Ok(i) = ctx.worker.info(&name).await {
                entry.insert("info".into(), i);
            }
        }
        out.insert(name, Json::Object(entry));
    }
    Ok(ok(&Json::Object(out)))
}

/// `POST /connectors` with `{"name": ..., "config": {...}}`: 201 and the
/// connector's info, 409 when it exists.
pub async fn create(State(ctx): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let body = parse(&body)?;
    let name = body
        .get("name")
        .and_then(Json::as_str)
        .map(str::to_string)
        .or_else(|| {
            body.get("config")
                .and_then(|c| c.get("name"))
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| ApiError::new(400, "Connector name must be specified"))?;
    let config = config_of(body.get("config").unwrap_or(&Json::Null))?;
    if let Some(inner) = config.get("name") {
        if inner != name {
            return Err(ApiError::new(
                400,
                format!("Connector name configuration ({inner}) doesn't match connector name in the URL ({name})"),
            ));
        }
    }
    ctx.worker.put_connector(&name, config, true).await?;
    let info = ctx.worker.info(&name).await?;
    Ok(json_response(StatusCode::CREATED, &info))
}

pub async fn info(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(ok(&ctx.worker.info(&name).await?))
}

pub async fn get_config(
    State(ctx): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    Ok(ok(&Json::Object(ctx.worker.config(&name).await?.to_json())))
}

/// `PUT /connectors/{name}/config`: 201 when created, 200 when updated.
pub async fn put_config(
    State(ctx): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let config = config_of(&parse(&body)?)?;
    if let Some(inner) = config.get("name") {
        if inner != name {
            return Err(ApiError::new(
                400,
                format!("Connector name configuration ({inner}) doesn't match connector name in the URL ({name})"),
            ));
        }
    }
    let created = ctx.worker.put_connector(&name, config, false).await?;
    let info = ctx.worker.info(&name).await?;
    Ok(json_response(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &info,
    ))
}

pub async fn status(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(ok(&ctx.worker.status(&name).await?))
}

pub async fn tasks(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(ok(&ctx.worker.tasks(&name).await?))
}

fn task_id(text: &str) -> ApiResult<u32> {
    text.parse()
        .map_err(|_| ApiError::new(404, format!("Task {text} not found")))
}

pub async fn task_status(
    State(ctx): State<Shared>,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(ok(&ctx.worker.task_status(&name, task_id(&task)?).await?))
}

pub async fn restart_task(
    State(ctx): State<Shared>,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    ctx.worker.restart_task(&name, task_id(&task)?).await?;
    Ok(no_content())
}

/// KIP-745: without parameters 204; with `includeTasks` or `onlyFailed`
/// 202 and the status showing what restarts.
pub async fn restart(
    State(ctx): State<Shared>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let flag = |k: &str| {
        params
            .get(k)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let (include_tasks, only_failed) = (flag("includeTasks"), flag("onlyFailed"));
    let status = ctx
        .worker
        .restart(&name, include_tasks, only_failed)
        .await?;
    if !include_tasks && !only_failed {
        return Ok(no_content());
    }
    Ok(json_response(StatusCode::ACCEPTED, &status))
}

pub async fn pause(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    ctx.worker.set_target(&name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED.into_response_empty())
}

pub async fn resume(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    ctx.worker.set_target(&name, TargetState::Started).await?;
    Ok(StatusCode::ACCEPTED.into_response_empty())
}

pub async fn stop(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    ctx.worker.set_target(&name, TargetState::Stopped).await?;
    Ok(no_content())
}

pub async fn delete(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    ctx.worker.delete(&name).await?;
    Ok(no_content())
}

pub async fn get_offsets(
    State(ctx): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    Ok(ok(&offsets_api::get(&ctx.worker, &name).await?))
}

pub async fn alter_offsets(
    State(ctx): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    Ok(ok(
        &offsets_api::alter(&ctx.worker, &name, &parse(&body)?).await?
    ))
}

pub async fn reset_offsets(
    State(ctx): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    Ok(ok(&offsets_api::reset(&ctx.worker, &name).await?))
}

/// KIP-558: `{"<name>": {"topics": [...]}}`.
pub async fn topics(State(ctx): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    let topics = ctx.worker.topics(&name).await?;
    Ok(ok(&json!({ name: { "topics": topics } })))
}

pub async fn reset_topics(
    State(ctx): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    ctx.worker.reset_topics(&name).await?;
    Ok(no_content())
}

trait EmptyResponse {
    fn into_response_empty(self) -> Response;
}

impl EmptyResponse for StatusCode {
    fn into_response_empty(self) -> Response {
        axum::response::IntoResponse::into_response(self)
    }
}
