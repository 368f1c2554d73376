//! fjord-registry: a Confluent-compatible schema registry.
//!
//! - [`schema`]: the three schema formats (Avro, JSON Schema, Protobuf), their
//!   parsing, canonical forms and compatibility rules. Pure: no IO.
//! - [`store`]: the registry's state in the compacted `_schemas` topic
//!   (Confluent's record layout), read and written through librdkafka.
//! - [`service`]: the write operations with Confluent's rules.
//! - [`election`]: the writer election across instances (a classic group).
//! - `http`: the REST API; [`serve`] runs it.

pub mod client;
pub mod election;
pub mod error;
mod http;
pub mod schema;
pub mod serde;
pub mod service;
pub mod store;

use std::future::Future;
use std::sync::Arc;

pub use error::RegistryError;
pub use store::StoreConfig;

use election::{Election, ElectionConfig, Identity};
use service::Registry;
use store::{KafkaStore, StoreError};

/// Everything the service needs besides its listener.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub store: StoreConfig,
    /// The election group (Confluent's `schema.registry.group.id`).
    pub group_id: String,
    /// The host other instances reach this one at; by default the listen
    /// address (127.0.0.1 when it is a wildcard).
    pub host_name: Option<String>,
    /// Whether this instance may be elected writer.
    pub leader_eligibility: bool,
    /// The election group's session timeout: how long a killed writer keeps
    /// the role before another instance takes over.
    pub session_timeout_ms: i32,
}

impl RegistryConfig {
    /// Defaults for a store on `bootstrap_servers`: topic `_schemas`,
    /// group `schema-registry`, eligible, 10 s sessions.
    pub fn new(bootstrap_servers: &str) -> RegistryConfig {
        RegistryConfig {
            store: StoreConfig {
                bootstrap_servers: bootstrap_servers.to_string(),
                client_settings: Vec::new(),
                topic: "_schemas".to_string(),
            },
            group_id: "schema-registry".to_string(),
            host_name: None,
            leader_eligibility: true,
            session_timeout_ms: 10_000,
        }
    }
}

/// Why the registry could not start or stopped. Messages carry the
/// underlying error's text (it is not also `source()`).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the registry store: {0}")]
    Store(StoreError),
    #[error("registry HTTP server: {0}")]
    Io(std::io::Error),
}

impl From<StoreError> for ServeError {
    fn from(e: StoreError) -> Self {
        ServeError::Store(e)
    }
}

impl From<std::io::Error> for ServeError {
    fn from(e: std::io::Error) -> Self {
        ServeError::Io(e)
    }
}

/// Loads the store, joins the election and serves the REST API on
/// `listener` until `shutdown` completes; then leaves the group so another
/// instance takes over at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: RegistryConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    let store = KafkaStore::open(config.store.clone()).await?;
    let host = config.host_name.clone().unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        }
    });
    let identity = Identity {
        version: 1,
        host,
        port: addr.port(),
        scheme: "http".to_string(),
        leader_eligibility: config.leader_eligibility,
    };
    let plaintext = config
        .store
        .client_settings
        .iter()
        .rev()
        .find(|(k, _)| k == "security.protocol")
        .is_none_or(|(_, v)| v.eq_ignore_ascii_case("plaintext"));
    let election = if plaintext {
        Election::start(ElectionConfig {
            bootstrap_servers: config.store.bootstrap_servers.clone(),
            client_settings: config.store.client_settings.clone(),
            group_id: config.group_id.clone(),
            identity: identity.clone(),
            session_timeout_ms: config.session_timeout_ms,
        })
    } else {
        // The election speaks the group protocol through Fjord's own
        // client, which has no TLS/SASL yet: run as the only writer.
        tracing::warn!(
            "writer election needs a PLAINTEXT listener; this registry is the only writer \
             (run one instance against this cluster)"
        );
        Election::solo()
    };
    let ctx = Arc::new(http::Ctx {
        registry: Registry::new(store),
        election,
    });
    tracing::info!(listen = %addr, url = %identity.url(), topic = %config.store.topic,
        group = %config.group_id, "schema registry ready");
    let result = axum::serve(listener, http::router(ctx.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    // Leave the group (the election thread's LeaveGroup) before returning.
    let leave = tokio::task::spawn_blocking(move || drop(ctx));
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), leave).await;
    result.map_err(ServeError::Io)
}
