//! The schema registry in the binary: `fjord registry` runs it alone against
//! any Kafka cluster, and `fjord serve` embeds it next to the broker
//! ([`spawn_embedded`]), talking to the broker through its advertised
//! listener like any other client.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Args;
use fjord_registry::RegistryConfig;

use crate::client::ClientArgs;

#[derive(Args, Debug)]
pub struct RegistryArgs {
    /// Address the REST API binds.
    #[arg(
        long,
        env = "FJORD_REGISTRY_LISTEN",
        default_value = "127.0.0.1:8081",
        value_name = "HOST:PORT"
    )]
    listen: SocketAddr,
    #[command(flatten)]
    client: ClientArgs,
    /// The compacted topic holding the registry's state (Confluent's
    /// kafkastore.topic).
    #[arg(long, default_value = "_schemas", value_name = "TOPIC")]
    topic: String,
    /// The group instances on the same topic elect their writer in
    /// (Confluent's schema.registry.group.id).
    #[arg(long, default_value = "schema-registry", value_name = "GROUP")]
    group_id: String,
    /// Host name other instances forward writes to [default: the listen
    /// address; 127.0.0.1 when it is 0.0.0.0].
    #[arg(long, value_name = "HOST")]
    host_name: Option<String>,
    /// Whether this instance may be elected writer.
    #[arg(long, default_value_t = true, value_name = "BOOL", action = clap::ArgAction::Set)]
    leader_eligibility: bool,
    /// Election session timeout: how soon another instance takes over from
    /// a writer that died without leaving.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    session_timeout_ms: i32,
}

pub fn run(args: RegistryArgs) -> Result<()> {
    crate::logging::init();
    let mut config = RegistryConfig::new(&args.client.bootstrap_servers);
    config.store.client_settings = args.client.client_config.clone();
    config.store.topic = args.topic;
    config.group_id = args.group_id;
    config.host_name = args.host_name;
    config.leader_eligibility = args.leader_eligibility;
    config.session_timeout_ms = args.session_timeout_ms;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        fjord_registry::serve(listener, config, crate::serve::shutdown_signal())
            .await
            .context("schema registry failed")
    })
}

/// Starts the embedded registry on `listen` against the broker at
/// `bootstrap`. A taken port or an unreachable store is logged and the
/// broker keeps running without a registry. Returns the task, which ends
/// once `shutdown` completes and the registry has left its group.
pub async fn spawn_embedded(
    listen: SocketAddr,
    bootstrap: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%listen, error = %e,
                "schema registry not started: cannot listen (set --registry-listen, or --no-registry)");
            return None;
        }
    };
    let config = RegistryConfig::new(&bootstrap);
    Some(tokio::spawn(async move {
        if let Err(e) = fjord_registry::serve(listener, config, shutdown).await {
            tracing::error!(error = %e, "schema registry stopped");
        }
    }))
}
