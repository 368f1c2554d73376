//! Kafka Connect's REST API on axum, with its paths, request and response
//! shapes, status codes and error bodies (`{"error_code": N, "message":
//! "..."}`), so `curl` scripts and tools written for Kafka Connect work.
//!
//! Until the security issue adds logins, whoever reaches this port can run
//! connectors that read and write files and databases: the listener binds
//! 127.0.0.1 by default, and [`guard`] refuses requests whose Host or
//! Origin names another host (DNS rebinding; a web page's forged request).

mod connectors;
mod guard;
mod plugins;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Value as Json};

use crate::runtime::{ApiError, Worker};

/// What every handler shares.
pub struct Ctx {
    pub worker: Arc<Worker>,
    /// Kafka's cluster id, for `GET /`.
    pub cluster_id: Option<String>,
}

pub type Shared = Arc<Ctx>;

pub fn router(ctx: Shared, listen: SocketAddr) -> Router {
    Router::new()
        .route("/", get(root))
        .route(
            "/connectors",
            get(connectors::list).post(connectors::create),
        )
        .route(
            "/connectors/{name}",
            get(connectors::info).delete(connectors::delete),
        )
        .route(
            "/connectors/{name}/config",
            get(connectors::get_config).put(connectors::put_config),
        )
        .route("/connectors/{name}/status", get(connectors::status))
        .route("/connectors/{name}/tasks", get(connectors::tasks))
        .route(
            "/connectors/{name}/tasks/{task}/status",
            get(connectors::task_status),
        )
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(connectors::restart_task),
        )
        .route("/connectors/{name}/restart", post(connectors::restart))
        .route("/connectors/{name}/pause", put(connectors::pause))
        .route("/connectors/{name}/resume", put(connectors::resume))
        .route("/connectors/{name}/stop", put(connectors::stop))
        .route(
            "/connectors/{name}/offsets",
            get(connectors::get_offsets)
                .patch(connectors::alter_offsets)
                .delete(connectors::reset_offsets),
        )
        .route("/connectors/{name}/topics", get(connectors::topics))
        .route(
            "/connectors/{name}/topics/reset",
            put(connectors::reset_topics),
        )
        .route("/connector-plugins", get(plugins::list))
        .route("/connector-plugins/{plugin}/config", get(plugins::config))
        .route(
            "/connector-plugins/{plugin}/config/validate",
            put(plugins::validate),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "HTTP 404 Not Found") })
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            guard::Allowed::for_listener(listen),
            guard::check,
        ))
        .with_state(ctx)
}

async fn root(axum::extract::State(ctx): axum::extract::State<Shared>) -> Response {
    ok(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": "fjord",
        "kafka_cluster_id": ctx.cluster_id,
    }))
}

/// axum's own 405s and 415s/400s for bad bodies get Kafka's JSON shape.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.is_client_error() && !is_json {
        let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let message = if text.is_empty() {
            format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
        } else {
            text.into_owned()
        };
        return error(status, &message);
    }
    resp
}

pub fn json_response(status: StatusCode, value: &Json) -> Response {
    let mut resp = (status, serde_json::to_vec(value).expect("JSON serializes")).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn ok(value: &Json) -> Response {
    json_response(StatusCode::OK, value)
}

pub fn error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({ "error_code": status.as_u16(), "message": message }),
    )
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error(status, &self.message)
    }
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listen = listener.local_addr()?;
    tracing::info!(%listen, "connect REST API ready");
    axum::serve(listener, router(ctx, listen))
        .with_graceful_shutdown(shutdown)
        .await
}
