//! The REST API (Confluent's), on axum. Reads answer from this instance's
//! state; writes run on the elected writer, and a non-writer forwards them
//! to the writer's URL and relays its answer (`forward.rs`).
//!
//! Every answer is JSON with content type application/vnd.schemaregistry.v1+json;
//! errors are `{"error_code": N, "message": "..."}` with Confluent's codes,
//! unknown routes and methods included.

mod config;
mod forward;
mod schemas;
mod subjects;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::election::Election;
use crate::error::RegistryError;
use crate::service::Registry;

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// How long a write waits for an election before answering 50004.
const ELECTION_WAIT: Duration = Duration::from_secs(20);

/// What every handler shares.
pub struct Ctx {
    pub registry: Registry,
    pub election: Election,
}

pub type Shared = Arc<Ctx>;

pub fn router(ctx: Shared) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { json(StatusCode::OK, &serde_json::json!({})) }),
        )
        .route("/subjects", get(subjects::list))
        .route(
            "/subjects/{subject}",
            post(subjects::lookup).delete(subjects::delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(subjects::versions).post(subjects::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subjects::get_version).delete(subjects::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subjects::get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(subjects::referenced_by),
        )
        .route("/schemas/types", get(schemas::types))
        .route("/schemas/ids/{id}", get(schemas::by_id))
        .route("/schemas/ids/{id}/schema", get(schemas::by_id_schema))
        .route("/schemas/ids/{id}/subjects", get(schemas::id_subjects))
        .route("/schemas/ids/{id}/versions", get(schemas::id_versions))
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(config::compatibility),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(config::compatibility_all),
        )
        .route(
            "/config",
            get(config::get_global)
                .put(config::put_config)
                .delete(config::delete_config),
        )
        .route(
            "/config/{subject}",
            get(config::get_subject)
                .put(config::put_config)
                .delete(config::delete_config),
        )
        .route("/mode", get(config::get_mode).put(config::put_mode))
        .route(
            "/mode/{subject}",
            get(config::get_subject_mode)
                .put(config::put_mode)
                .delete(config::delete_subject_mode),
        )
        .fallback(|| async { error_body(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found") })
        .layer(middleware::from_fn(json_errors))
        .with_state(ctx)
}

/// axum answers a known path with an unknown method 405 and an empty body;
/// give it the JSON error body clients expect.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        return error_body(
            StatusCode::METHOD_NOT_ALLOWED,
            405,
            "HTTP 405 Method Not Allowed",
        );
    }
    resp
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("responses serialize");
    raw(status, body)
}

/// A body that is already JSON (or, for `/schema` endpoints, the schema text).
pub fn raw(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = (status, body.into()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

fn error_body(status: StatusCode, code: u32, message: &str) -> Response {
    json(
        status,
        &serde_json::json!({ "error_code": code, "message": message }),
    )
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let (status, code) = self.codes();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "registry request failed");
        }
        error_body(status, code, &self.to_string())
    }
}

/// Parses a JSON request body. An empty body is `{}` (Confluent accepts a
/// body-less PUT in some clients' hands).
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RegistryError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::BadRequest(format!("Unrecognized request body: {e}")))
}

/// A boolean query parameter (`?deleted=true`); absent means false.
pub fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|v| v.is_empty() || v.eq_ignore_ascii_case("true"))
}
