//! The broker's shared state: configuration, the topic catalogue, producer
//! id allocation and the "new data" signal that long-polling fetches wait on.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fjord_log::{FileSystem, RealFs};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use crate::admission::Admission;
use crate::config::BrokerConfig;
use crate::durable_file::write_atomic;
use crate::error::{BrokerError, Result};
use crate::group::{GroupConfig, GroupCoordinator};
use crate::producer_ids::ProducerIds;
use crate::topics::Topics;
use crate::txn::{TxnConfig, TxnCoordinator};

pub struct Broker {
    pub config: BrokerConfig,
    pub topics: Topics,
    /// The cluster id, made once and kept in `<data>/meta/cluster.json`.
    pub cluster_id: String,
    /// host and port that clients are told to connect to.
    pub advertised: (String, u16),
    pub producer_ids: ProducerIds,
    /// Consumer groups and committed offsets (kept in `__consumer_offsets`).
    pub groups: Arc<GroupCoordinator>,
    /// Transactional ids (kept in `__transaction_state`).
    pub txn: Arc<TxnCoordinator>,
    /// Bumped after every successful append; fetches waiting for data
    /// (max_wait_ms / min_bytes) wake on it and re-read.
    data_arrived: watch::Sender<u64>,
    /// Set once shutdown begins, so long-polling fetches answer at once
    /// instead of holding the shutdown up until their max_wait_ms.
    shutting_down: AtomicBool,
    /// Connection limits, and the count of connections they refused.
    pub admission: Arc<Admission>,
    /// Bytes of requests in flight (queued.max.request.bytes).
    pub request_budget: crate::request_budget::RequestBudget,
}

#[derive(Serialize, Deserialize)]
struct ClusterMeta {
    cluster_id: String,
}

impl Broker {
    /// Opens (and recovers) the data directory. `bound` is the address the
    /// listener actually got, used as the advertised address by default.
    pub fn open(config: BrokerConfig, bound: std::net::SocketAddr) -> Result<Arc<Broker>> {
        Self::open_with_fs(config, bound, Arc::new(RealFs))
    }

    pub fn open_with_fs(
        config: BrokerConfig,
        bound: std::net::SocketAddr,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Arc<Broker>> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| BrokerError::io(format!("creating data dir {}", data_dir.display()), e))?;
        let cluster_id = load_or_create_cluster_id(&data_dir)?;
        let producer_ids = ProducerIds::open(&data_dir.join("meta").join("producer_ids.json"))?;
        // Every partition's config derives from these defaults, so each
        // carries the broker-wide producer expiry.
        let log_defaults = config
            .log_defaults
            .clone()
            .with_producer_id_expiration_ms(config.producer_id_expiration_ms);
        let topics = Topics::open(&data_dir, log_defaults, fs)?;
        let groups = GroupCoordinator::open(
            &topics,
            GroupConfig {
                initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                max_metadata_bytes: 4096,
                consumer_session_timeout_ms: config.group_consumer_session_timeout_ms,
                consumer_heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
            },
            config.offsets_topic_num_partitions,
        )?;
        let txn = TxnCoordinator::open(
            &topics,
            TxnConfig {
                max_timeout_ms: config.transaction_max_timeout_ms,
                abort_check_interval_ms: config.transaction_abort_check_interval_ms,
                state_partitions: config.transaction_state_num_partitions,
                id_expiration_ms: config.transactional_id_expiration_ms,
            },
        )?;
        let advertised = config
            .advertised_listener
            .clone()
            .unwrap_or_else(|| (bound.ip().to_string(), bound.port()));
        let (data_arrived, _) = watch::channel(0);
        let admission = Admission::new(config.max_connections, config.max_connections_per_ip);
        let request_budget =
            crate::request_budget::RequestBudget::new(config.queued_max_request_bytes);
        Ok(Arc::new(Broker {
            config,
            topics,
            cluster_id,
            advertised,
            producer_ids,
            groups,
            txn,
            data_arrived,
            shutting_down: AtomicBool::new(false),
            admission,
            request_budget,
        }))
    }

    /// Wakes every fetch that is waiting for data.
    pub fn notify_data_arrived(&self) {
        self.data_arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Marks the broker as shutting down and wakes every waiting fetch.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.notify_data_arrived();
        self.groups.shutdown();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn subscribe_data_arrived(&self) -> watch::Receiver<u64> {
        self.data_arrived.subscribe()
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }
}

fn load_or_create_cluster_id(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("meta").join("cluster.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let meta: ClusterMeta =
                serde_json::from_slice(&bytes).map_err(|e| BrokerError::CorruptMetadata {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            Ok(meta.cluster_id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Kafka cluster ids are 22-character url-safe base64 of a UUID;
            // clients treat them as opaque, so a simple encoding will do.
            let id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
            let json = serde_json::to_vec(&ClusterMeta {
                cluster_id: id.clone(),
            })
            .expect("cluster metadata serializes");
            write_atomic(&path, &json)?;
            Ok(id)
        }
        Err(e) => Err(BrokerError::io(format!("reading {}", path.display()), e)),
    }
}
