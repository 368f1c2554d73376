//! Putting a worker together: the built-in plugins, the stores its
//! settings ask for, and the REST API in front of it.

use std::sync::Arc;

use crate::connector::PluginRegistry;
use crate::error::Result;
use crate::rest::Ctx;
use crate::runtime::configs::{ConfigStore, MemoryConfigStore, TopicConfigStore};
use crate::runtime::group::GroupSettings;
use crate::runtime::offsets::{FileOffsetStore, OffsetStore, TopicOffsetStore};
use crate::runtime::settings::ClientRole;
use crate::runtime::{Storage, Worker, WorkerSettings};

/// Every connector class built into Fjord.
pub fn built_in_plugins() -> PluginRegistry {
    let mut plugins = PluginRegistry::new();
    plugins.add(Arc::new(crate::file::FileSourcePlugin));
    plugins.add(Arc::new(crate::file::FileSinkPlugin));
    plugins.add(Arc::new(crate::jdbc::JdbcSinkConnector));
    plugins.add(Arc::new(crate::jdbc::JdbcSourceConnector));
    plugins
}

/// Opens the worker's stores and starts the worker (and its stored
/// connectors); a distributed worker also joins its group.
pub async fn start_worker(settings: WorkerSettings) -> Result<Arc<Worker>> {
    let (configs, offsets, status) = match &settings.storage {
        Storage::Standalone { offsets_file } => {
            let offsets = Arc::new(FileOffsetStore::open(offsets_file.clone())?);
            let configs = Arc::new(MemoryConfigStore::default());
            return Worker::start(settings, built_in_plugins(), configs, offsets, None).await;
        }
        Storage::Topics {
            configs,
            offsets,
            status,
        } => (configs.clone(), offsets.clone(), status.clone()),
    };
    let client = settings.client_config(ClientRole::Admin, &Default::default());
    let replication = |key: &str| settings.raw.i32_or(key, -1);
    let offsets_store: Arc<dyn OffsetStore> = Arc::new(
        TopicOffsetStore::open(
            client.clone(),
            &offsets,
            settings.raw.i32_or("offset.storage.partitions", 25)?,
            replication("offset.storage.replication.factor")?,
        )
        .await?,
    );
    let configs_store: Arc<dyn ConfigStore> = Arc::new(
        TopicConfigStore::open(
            client,
            &configs,
            &status,
            settings.raw.i32_or("status.storage.partitions", 5)?,
            replication("config.storage.replication.factor")?,
        )
        .await?,
    );
    let tracker = Worker::new_tracker();
    let group = GroupSettings {
        bootstrap: settings.bootstrap_servers.clone(),
        client_settings: settings.client_settings.clone(),
        group_id: settings.group_id.clone(),
        url: settings.worker_id.clone(),
        session_timeout_ms: settings.raw.i32_or("session.timeout.ms", 10_000)?,
        heartbeat_interval: settings.raw.millis_or("heartbeat.interval.ms", 3_000)?,
        rebalance_timeout_ms: settings.raw.i32_or("rebalance.timeout.ms", 60_000)?,
        max_delay: settings.scheduled_rebalance_max_delay,
    };
    let membership = crate::runtime::group::start(group, tracker.clone());
    Worker::start(
        settings,
        built_in_plugins(),
        configs_store,
        offsets_store,
        Some((membership, tracker)),
    )
    .await
}

/// Serves the REST API for `worker` on `listener` until `shutdown`, then
/// stops the worker's tasks.
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    worker: Arc<Worker>,
    cluster_id: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ctx = Arc::new(Ctx {
        worker: worker.clone(),
        cluster_id,
    });
    let served = crate::rest::serve(listener, ctx, shutdown).await;
    worker.shutdown().await;
    served
}
