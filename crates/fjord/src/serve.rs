//! `fjord serve`: the broker on embedded defaults, configured by fjord.toml,
//! FJORD_* environment variables and flags (flags and environment win over
//! the file; the file wins over built-in defaults).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use fjord_broker::{Broker, BrokerConfig};
use fjord_log::LogConfig;
use serde::Deserialize;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Config file (see the commented fjord.toml in the repository). Without
    /// it, ./fjord.toml is read when present.
    #[arg(long, env = "FJORD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where partitions and broker metadata live [default: ./fjord-data].
    #[arg(long, env = "FJORD_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address the Kafka listener binds; port 0 picks a free port
    /// [default: 127.0.0.1:9092].
    #[arg(long, env = "FJORD_LISTEN", value_name = "HOST:PORT")]
    listen: Option<SocketAddr>,
    /// host:port that clients are told to connect to [default: the bound
    /// listen address].
    #[arg(long, env = "FJORD_ADVERTISED_LISTENER", value_name = "HOST:PORT")]
    advertised_listener: Option<String>,
    /// Partitions of auto-created topics [default: 1].
    #[arg(long, env = "FJORD_NUM_PARTITIONS", value_name = "N")]
    num_partitions: Option<i32>,
    /// Create topics on first use by a client [default: true].
    #[arg(long, env = "FJORD_AUTO_CREATE_TOPICS", value_name = "BOOL")]
    auto_create_topics: Option<bool>,
    /// Address the schema registry's REST API binds [default: 127.0.0.1:8081].
    #[arg(long, env = "FJORD_REGISTRY_LISTEN", value_name = "HOST:PORT")]
    registry_listen: Option<SocketAddr>,
    /// Do not start the schema registry.
    #[arg(long, env = "FJORD_NO_REGISTRY")]
    no_registry: bool,
    /// Address the connect worker's REST API binds [default: 127.0.0.1:8083].
    #[arg(long, env = "FJORD_CONNECT_LISTEN", value_name = "HOST:PORT")]
    connect_listen: Option<SocketAddr>,
    /// Do not start the connect worker.
    #[arg(long, env = "FJORD_NO_CONNECT")]
    no_connect: bool,
}

/// The file's shape: `[broker]` settings and `[topic_defaults]` under
/// Kafka's topic-config names.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    broker: BrokerSection,
    #[serde(default)]
    topic_defaults: BTreeMap<String, toml::Value>,
    #[serde(default)]
    registry: RegistrySection,
    #[serde(default)]
    connect: ConnectSection,
}

/// `[connect]`: the embedded connect worker.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ConnectSection {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    allowed_paths: Option<Vec<PathBuf>>,
}

/// `[registry]`: the embedded schema registry.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct RegistrySection {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct BrokerSection {
    listen: Option<SocketAddr>,
    advertised_listener: Option<String>,
    data_dir: Option<PathBuf>,
    node_id: Option<i32>,
    auto_create_topics: Option<bool>,
    num_partitions: Option<i32>,
    max_partitions_per_topic: Option<i32>,
    flush_interval_ms: Option<u64>,
    retention_check_interval_ms: Option<u64>,
    max_request_bytes: Option<usize>,
    queued_max_request_bytes: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    fetch_max_bytes: Option<usize>,
    connections_max_idle_ms: Option<u64>,
    offsets_retention_minutes: Option<u64>,
    group_initial_rebalance_delay_ms: Option<u64>,
    group_min_session_timeout_ms: Option<i32>,
    group_max_session_timeout_ms: Option<i32>,
    group_consumer_session_timeout_ms: Option<i32>,
    group_consumer_heartbeat_interval_ms: Option<i32>,
    transaction_max_timeout_ms: Option<i32>,
    transaction_abort_check_interval_ms: Option<u64>,
    transactional_id_expiration_ms: Option<i64>,
    producer_id_expiration_ms: Option<i64>,
}

pub fn run(args: ServeArgs) -> Result<()> {
    crate::logging::init();
    let config = resolve(&args)?;
    let registry_listen = resolve_registry(&args)?;
    let connect = resolve_connect(&args, &config.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let bound = listener.local_addr()?;
        let data_dir = config.data_dir.clone();
        let started = std::time::Instant::now();
        let broker = tokio::task::spawn_blocking(move || Broker::open(config, bound))
            .await?
            .with_context(|| format!("cannot open data dir {}", data_dir.display()))?;
        let (host, port) = broker.advertised.clone();
        tracing::info!(
            listen = %bound, advertised = %format!("{host}:{port}"), data_dir = %data_dir.display(),
            topics = broker.topics.list().len(), startup_ms = started.elapsed().as_millis() as u64,
            "fjord broker ready"
        );
        // One Ctrl-C stops both: the registry first (it leaves its election
        // group through the broker), then the broker.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let registry = match registry_listen {
            Some(listen) => {
                let mut rx = stop_rx.clone();
                let stopped = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                crate::registry::spawn_embedded(listen, format!("{host}:{port}"), stopped).await
            }
            None => None,
        };
        let connect = match connect {
            Some((listen, allowed)) => {
                let mut rx = stop_rx.clone();
                let stopped = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                crate::connect::spawn_embedded(listen, format!("{host}:{port}"), allowed, stopped)
                    .await
            }
            None => None,
        };
        let broker_stop = async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
            // The worker stops first: its tasks commit through the broker.
            if let Some(task) = connect {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(15), task).await;
            }
            if let Some(task) = registry {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
            }
        };
        fjord_broker::run(listener, broker, broker_stop).await;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn resolve(args: &ServeArgs) -> Result<BrokerConfig> {
    let file = load_file(args.config.as_deref())?;
    let b = &file.broker;
    let data_dir = args
        .data_dir
        .clone()
        .or(b.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("fjord-data"));
    let mut config = BrokerConfig::new(data_dir);
    if let Some(listen) = args.listen.or(b.listen) {
        config.listen = listen;
    }
    if let Some(adv) = args
        .advertised_listener
        .as_ref()
        .or(b.advertised_listener.as_ref())
    {
        config.advertised_listener = Some(parse_host_port(adv)?);
    }
    config.node_id = b.node_id.unwrap_or(config.node_id);
    config.auto_create_topics = args
        .auto_create_topics
        .or(b.auto_create_topics)
        .unwrap_or(config.auto_create_topics);
    config.num_partitions = args
        .num_partitions
        .or(b.num_partitions)
        .unwrap_or(config.num_partitions);
    config.max_partitions_per_topic = b
        .max_partitions_per_topic
        .unwrap_or(config.max_partitions_per_topic);
    config.flush_interval_ms = b.flush_interval_ms.unwrap_or(config.flush_interval_ms);
    config.retention_check_interval_ms = b
        .retention_check_interval_ms
        .unwrap_or(config.retention_check_interval_ms);
    config.max_request_bytes = b.max_request_bytes.unwrap_or(config.max_request_bytes);
    config.queued_max_request_bytes = b
        .queued_max_request_bytes
        .unwrap_or(config.queued_max_request_bytes);
    config.max_connections = b.max_connections.unwrap_or(config.max_connections);
    config.max_connections_per_ip = b
        .max_connections_per_ip
        .unwrap_or(config.max_connections_per_ip);
    config.fetch_max_bytes = b.fetch_max_bytes.unwrap_or(config.fetch_max_bytes);
    config.offsets_retention_minutes = b
        .offsets_retention_minutes
        .unwrap_or(config.offsets_retention_minutes);
    config.connections_max_idle_ms = b
        .connections_max_idle_ms
        .unwrap_or(config.connections_max_idle_ms);
    config.group_initial_rebalance_delay_ms = b
        .group_initial_rebalance_delay_ms
        .unwrap_or(config.group_initial_rebalance_delay_ms);
    config.group_min_session_timeout_ms = b
        .group_min_session_timeout_ms
        .unwrap_or(config.group_min_session_timeout_ms);
    config.group_max_session_timeout_ms = b
        .group_max_session_timeout_ms
        .unwrap_or(config.group_max_session_timeout_ms);
    if config.group_min_session_timeout_ms < 1
        || config.group_min_session_timeout_ms > config.group_max_session_timeout_ms
    {
        bail!(
            "group_min_session_timeout_ms ({}) must be at least 1 and at most group_max_session_timeout_ms ({})",
            config.group_min_session_timeout_ms,
            config.group_max_session_timeout_ms
        );
    }
    config.group_consumer_session_timeout_ms = b
        .group_consumer_session_timeout_ms
        .unwrap_or(config.group_consumer_session_timeout_ms);
    config.group_consumer_heartbeat_interval_ms = b
        .group_consumer_heartbeat_interval_ms
        .unwrap_or(config.group_consumer_heartbeat_interval_ms);
    if config.group_consumer_heartbeat_interval_ms < 1
        || config.group_consumer_heartbeat_interval_ms >= config.group_consumer_session_timeout_ms
    {
        bail!(
            "group_consumer_heartbeat_interval_ms ({}) must be at least 1 and below group_consumer_session_timeout_ms ({})",
            config.group_consumer_heartbeat_interval_ms,
            config.group_consumer_session_timeout_ms
        );
    }
    config.transaction_max_timeout_ms = b
        .transaction_max_timeout_ms
        .unwrap_or(config.transaction_max_timeout_ms);
    config.transaction_abort_check_interval_ms = b
        .transaction_abort_check_interval_ms
        .unwrap_or(config.transaction_abort_check_interval_ms);
    config.transactional_id_expiration_ms = b
        .transactional_id_expiration_ms
        .unwrap_or(config.transactional_id_expiration_ms);
    config.producer_id_expiration_ms = b
        .producer_id_expiration_ms
        .unwrap_or(config.producer_id_expiration_ms);
    if config.producer_id_expiration_ms < 1 {
        // Kafka's lower bound: at 0 every idle producer would lose its
        // deduplication state on each sweep.
        bail!(
            "producer_id_expiration_ms must be at least 1, got {}",
            config.producer_id_expiration_ms
        );
    }
    if config.transaction_max_timeout_ms < 1 || config.transaction_abort_check_interval_ms < 1 {
        bail!(
            "transaction_max_timeout_ms ({}) and transaction_abort_check_interval_ms ({}) must be at least 1",
            config.transaction_max_timeout_ms,
            config.transaction_abort_check_interval_ms
        );
    }
    if config.num_partitions < 1 || config.num_partitions > config.max_partitions_per_topic {
        bail!(
            "num_partitions must be between 1 and {}, got {}",
            config.max_partitions_per_topic,
            config.num_partitions
        );
    }
    let defaults: BTreeMap<String, String> = file
        .topic_defaults
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            )
        })
        .collect();
    config.log_defaults = LogConfig::with_overrides(&LogConfig::default(), &defaults)
        .context("invalid [topic_defaults] in the config file")?;
    Ok(config)
}

/// Where the embedded registry listens, or None when it is disabled.
fn resolve_registry(args: &ServeArgs) -> Result<Option<SocketAddr>> {
    let file = load_file(args.config.as_deref())?;
    if args.no_registry || file.registry.enabled == Some(false) {
        return Ok(None);
    }
    Ok(Some(
        args.registry_listen
            .or(file.registry.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081))),
    ))
}

/// Where the embedded connect worker listens and which directories its
/// file connectors may use, or None when it is disabled.
fn resolve_connect(
    args: &ServeArgs,
    data_dir: &Path,
) -> Result<Option<(SocketAddr, Vec<PathBuf>)>> {
    let file = load_file(args.config.as_deref())?;
    if args.no_connect || file.connect.enabled == Some(false) {
        return Ok(None);
    }
    let listen = args
        .connect_listen
        .or(file.connect.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8083)));
    let allowed = file
        .connect
        .allowed_paths
        .unwrap_or_else(|| vec![data_dir.to_path_buf()]);
    Ok(Some((listen, allowed)))
}

fn load_file(explicit: Option<&Path>) -> Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new("fjord.toml").exists() => PathBuf::from("fjord.toml"),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn parse_host_port(s: &str) -> Result<(String, u16)> {
    let (host, port) = s
        .rsplit_once(':')
        .with_context(|| format!("'{s}' is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("'{port}' in '{s}' is not a port number"))?;
    if host.is_empty() {
        bail!("'{s}' has no host");
    }
    Ok((
        host.trim_matches(|c| c == '[' || c == ']').to_string(),
        port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_config_file_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fjord.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let file: FileConfig = toml::from_str(&text).unwrap();
        assert!(
            file.broker.listen.is_none(),
            "the sample keeps every key commented"
        );
        assert!(parse_host_port("localhost:9092").is_ok());
        assert!(parse_host_port("nohost").is_err());
        assert!(parse_host_port(":9092").is_err());
    }
}
