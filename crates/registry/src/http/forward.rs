//! Write requests on a non-writer: forwarded to the writer's URL with the
//! same method, path, query and body; the writer's status and body are
//! relayed as they are.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{raw, Shared, ELECTION_WAIT};
use crate::election::Writer;
use crate::error::RegistryError;

/// A write request as a non-writer forwards it: method, path and query,
/// body.
pub struct WriteRequest {
    method: Method,
    uri: Uri,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for WriteRequest {
    type Rejection = BytesRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let body = Bytes::from_request(req, state).await?;
        Ok(WriteRequest { method, uri, body })
    }
}

/// Why a write handler answers without writing here: the request was
/// refused, or the writer (another instance) answered it.
pub enum WriteStop {
    Refused(RegistryError),
    Relayed(Response),
}

impl From<RegistryError> for WriteStop {
    fn from(e: RegistryError) -> Self {
        WriteStop::Refused(e)
    }
}

impl IntoResponse for WriteStop {
    fn into_response(self) -> Response {
        match self {
            WriteStop::Refused(e) => e.into_response(),
            WriteStop::Relayed(resp) => resp,
        }
    }
}

impl WriteRequest {
    /// The writer term to write with when this instance is the writer;
    /// else the writer's answer to the forwarded request (or the error
    /// when there is no writer or it cannot be reached).
    pub async fn write_here(&self, ctx: &Shared) -> Result<u64, WriteStop> {
        let role = ctx.election.known_role(ELECTION_WAIT).await;
        match role.writer {
            Writer::Me => Ok(role.generation),
            Writer::Unknown => Err(RegistryError::UnknownLeader(
                "Leader not known. No schema registry instance is elected writer".to_string(),
            )
            .into()),
            Writer::Other(base) => {
                let url = format!(
                    "{}{}",
                    base.trim_end_matches('/'),
                    self.uri.path_and_query().map_or("/", |p| p.as_str())
                );
                let method = self.method.clone();
                let body = self.body.clone();
                let result = tokio::task::spawn_blocking(move || forward(&method, &url, &body))
                    .await
                    .expect("forwarding task does not panic");
                Err(match result {
                    Ok((status, body)) => WriteStop::Relayed(raw(
                        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                        body,
                    )),
                    Err(e) => RegistryError::ForwardingFailed(format!(
                        "Error while forwarding the request to the leader {base}: {e}"
                    ))
                    .into(),
                })
            }
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
