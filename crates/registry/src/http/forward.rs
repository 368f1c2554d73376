//! Write requests on a non-writer: forwarded to the writer's URL with the
//! same method, path, query and body; the writer's status and body are
//! relayed as they are.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{raw, Shared, ELECTION_WAIT};
use crate::election::Writer;
use crate::error::RegistryError;

/// Where a write runs: here (with the writer term to use), or answered by
/// the writer through forwarding (or an error when there is none).
pub enum Route {
    Local(u64),
    Done(Response),
}

pub async fn route_write(ctx: &Shared, method: &Method, uri: &Uri, body: &Bytes) -> Route {
    let role = ctx.election.known_role(ELECTION_WAIT).await;
    match role.writer {
        Writer::Me => Route::Local(role.generation),
        Writer::Unknown => Route::Done(
            RegistryError::UnknownLeader(
                "Leader not known. No schema registry instance is elected writer".to_string(),
            )
            .into_response(),
        ),
        Writer::Other(base) => {
            let url = format!(
                "{}{}",
                base.trim_end_matches('/'),
                uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let method = method.clone();
            let body = body.clone();
            let result = tokio::task::spawn_blocking(move || forward(&method, &url, &body))
                .await
                .expect("forwarding task does not panic");
            Route::Done(match result {
                Ok((status, body)) => raw(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    body,
                ),
                Err(e) => RegistryError::ForwardingFailed(format!(
                    "Error while forwarding the request to the leader {base}: {e}"
                ))
                .into_response(),
            })
        }
    }
}

fn forward(method: &Method, url: &str, body: &[u8]) -> Result<(u16, Vec<u8>), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let content_type = super::CONTENT_TYPE;
    let resp = match *method {
        Method::POST => agent
            .post(url)
            .header("Content-Type", content_type)
            .send(body)?,
        Method::PUT => agent
            .put(url)
            .header("Content-Type", content_type)
            .send(body)?,
        _ => agent.delete(url).call()?,
    };
    let status = resp.status().as_u16();
    let body = resp.into_body().read_to_vec()?;
    Ok((status, body))
}
