//! Where a worker keeps connector configs, target states and restart
//! requests, and (distributed) everyone's statuses.
//!
//! A standalone worker holds them in memory (its connectors come from the
//! command line, as in Kafka). Distributed workers share the compacted
//! `connect-configs` topic under Kafka Connect's keys —
//! `connector-<name>` → `{"properties": {...}}` (null: deleted),
//! `target-state-<name>` → `{"state": "STARTED|PAUSED|STOPPED"}`,
//! `restart-connector-<name>` → `{"include-tasks": b, "only-failed": b}` —
//! and `connect-status` (`status-connector-<name>`,
//! `status-task-<name>-<id>`). Every worker tails both topics; the config
//! topic is the one order of changes, so a write is applied by every
//! worker, the writer included, when it reads it back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value as Json};
use tokio::sync::watch;

use crate::config::Config;
use crate::error::{ConnectError, Result};
use crate::runtime::kafka;
use crate::runtime::status::{State, StatusEvent, TargetState};

/// A change a user asked for.
#[derive(Debug, Clone)]
pub enum ConfigChange {
    /// A connector's config; None deletes the connector.
    Connector(String, Option<Config>),
    Target(String, TargetState),
    /// The task configs the connector's worker made from its config
    /// (`fingerprint` names that config), as Kafka's `task-<name>-<n>`
    /// records followed by `commit-<name>`.
    TaskConfigs {
        name: String,
        fingerprint: String,
        configs: Vec<Config>,
    },
    /// KIP-745: restart the connector, and its (failed) tasks; or, with
    /// `task`, that one task (`POST .../tasks/{id}/restart`).
    Restart {
        name: String,
        include_tasks: bool,
        only_failed: bool,
        task: Option<u32>,
    },
}

/// A restart request, numbered so each is acted on once.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartRequest {
    pub seq: u64,
    pub name: String,
    pub include_tasks: bool,
    pub only_failed: bool,
    pub task: Option<u32>,
}

/// The cluster's connectors as of some point in the config log.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub connectors: BTreeMap<String, (Config, TargetState)>,
    /// Committed task configs, and the fingerprint of the connector config
    /// they were made from.
    pub tasks: BTreeMap<String, (String, Vec<Config>)>,
    /// How far the log was read (the next offset); 0 for memory.
    pub offset: i64,
    pub restarts: Vec<RestartRequest>,
}

/// A status someone published.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedStatus {
    pub state: State,
    pub trace: Option<String>,
    pub worker_id: String,
}

#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// Records a change; returns once this worker's snapshot includes it.
    async fn put(&self, change: ConfigChange) -> Result<()>;
    fn snapshot(&self) -> watch::Receiver<Snapshot>;
    /// Publishes a status change; a no-op in memory.
    async fn put_status(&self, _event: &StatusEvent, _worker_id: &str) -> Result<()> {
        Ok(())
    }
    /// Statuses published by every worker, by status key; empty in memory.
    fn statuses(&self) -> BTreeMap<String, PublishedStatus> {
        BTreeMap::new()
    }
}

/// The status-topic key of a connector (`task` None) or task.
pub fn status_key(connector: &str, task: Option<u32>) -> String {
    match task {
        Some(t) => format!("status-task-{connector}-{t}"),
        None => format!("status-connector-{connector}"),
    }
}

/// A stable name for a connector config (FNV-1a over its sorted keys and
/// values), so workers agree which config a set of task configs was made
/// from.
pub fn fingerprint(config: &Config) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in config.as_map() {
        for byte in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Applies one change to a snapshot (memory, and the topic's reader).
fn apply(snapshot: &mut Snapshot, change: ConfigChange) {
    match change {
        ConfigChange::Connector(name, Some(config)) => {
            let target = snapshot
                .connectors
                .get(&name)
                .map_or(TargetState::Started, |(_, t)| *t);
            snapshot.connectors.insert(name, (config, target));
        }
        ConfigChange::Connector(name, None) => {
            snapshot.connectors.remove(&name);
            snapshot.tasks.remove(&name);
        }
        ConfigChange::TaskConfigs {
            name,
            fingerprint,
            configs,
        } => {
            snapshot.tasks.insert(name, (fingerprint, configs));
        }
        ConfigChange::Target(name, target) => {
            if let Some(entry) = snapshot.connectors.get_mut(&name) {
                entry.1 = target;
            }
        }
        ConfigChange::Restart {
            name,
            include_tasks,
            only_failed,
            task,
        } => {
            let seq = snapshot.restarts.last().map_or(1, |r| r.seq + 1);
            snapshot.restarts.push(RestartRequest {
                seq,
                name,
                include_tasks,
                only_failed,
                task,
            });
            // Kept short: a worker acts on the requests newer than the last
            // it saw.
            if snapshot.restarts.len() > 100 {
                snapshot.restarts.remove(0);
            }
        }
    }
}

pub struct MemoryConfigStore {
    state: watch::Sender<Snapshot>,
}

impl Default for MemoryConfigStore {
    fn default() -> MemoryConfigStore {
        MemoryConfigStore {
            state: watch::channel(Snapshot::default()).0,
        }
    }
}

#[async_trait]
impl ConfigStore for MemoryConfigStore {
    async fn put(&self, change: ConfigChange) -> Result<()> {
        self.state.send_modify(|s| apply(s, change));
        Ok(())
    }

    fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.state.subscribe()
    }
}

/// `connect-configs` and `connect-status`, tailed by a reader thread.
pub struct TopicConfigStore {
    configs_topic: String,
    status_topic: String,
    producer: FutureProducer,
    state: watch::Sender<Snapshot>,
    statuses: Arc<Mutex<BTreeMap<String, PublishedStatus>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for TopicConfigStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl TopicConfigStore {
    /// Creates the topics when missing (configs with one partition: its
    /// order is the order of changes) and starts reading them.
    pub async fn open(
        client: ClientConfig,
        configs_topic: &str,
        status_topic: &str,
        status_partitions: i32,
        replication: i32,
    ) -> Result<TopicConfigStore> {
        kafka::ensure_compacted_topic(&client, configs_topic, 1, replication).await?;
        kafka::ensure_compacted_topic(&client, status_topic, status_partitions, replication)
            .await?;
        let producer = kafka::store_producer(&client)?;
        let (state, _) = watch::channel(Snapshot::default());
        let statuses = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let store = TopicConfigStore {
            configs_topic: configs_topic.to_string(),
            status_topic: status_topic.to_string(),
            producer,
            state,
            statuses,
            stop,
        };
        let reader = Reader {
            pending_tasks: BTreeMap::new(),
            client,
            configs_topic: store.configs_topic.clone(),
            status_topic: store.status_topic.clone(),
            state: store.state.clone(),
            statuses: store.statuses.clone(),
            stop: store.stop.clone(),
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("connect-configs-reader".into())
            .spawn(move || reader.run(ready_tx))
            .map_err(ConnectError::Io)?;
        ready_rx
            .await
            .map_err(|_| ConnectError::Kafka("the config reader stopped".into()))??;
        Ok(store)
    }

    /// Waits until the reader has passed `offset` of the config topic.
    async fn caught_up(&self, offset: i64) -> Result<()> {
        let mut rx = self.state.subscribe();
        let reached = tokio::time::timeout(Duration::from_secs(30), async {
            rx.wait_for(|s| s.offset > offset).await.is_ok()
        })
        .await;
        match reached {
            Ok(true) => Ok(()),
            _ => Err(ConnectError::Kafka(format!(
                "timed out reading back a change to {}",
                self.configs_topic
            ))),
        }
    }
}

#[async_trait]
impl ConfigStore for TopicConfigStore {
    async fn put(&self, change: ConfigChange) -> Result<()> {
        if let ConfigChange::TaskConfigs {
            name,
            fingerprint,
            configs,
        } = &change
        {
            for (i, c) in configs.iter().enumerate() {
                let key = format!("task-{name}-{i}");
                let value = json!({ "properties": c.to_json() }).to_string();
                let topic = &self.configs_topic;
                kafka::write(
                    &self.producer,
                    topic,
                    Some(0),
                    key.as_bytes(),
                    Some(value.as_bytes()),
                )
                .await?;
            }
            let key = format!("commit-{name}");
            let value = json!({ "tasks": configs.len(), "fingerprint": fingerprint }).to_string();
            let topic = &self.configs_topic;
            let offset = kafka::write_at(
                &self.producer,
                topic,
                Some(0),
                key.as_bytes(),
                Some(value.as_bytes()),
            )
            .await?;
            return self.caught_up(offset).await;
        }
        let (key, value) = match &change {
            ConfigChange::TaskConfigs { .. } => unreachable!("written above"),
            ConfigChange::Connector(name, config) => (
                format!("connector-{name}"),
                config
                    .as_ref()
                    .map(|c| json!({ "properties": c.to_json() })),
            ),
            ConfigChange::Target(name, target) => (
                format!("target-state-{name}"),
                Some(json!({ "state": target.name() })),
            ),
            ConfigChange::Restart {
                name,
                include_tasks,
                only_failed,
                task,
            } => (
                format!("restart-connector-{name}"),
                Some(
                    json!({ "include-tasks": include_tasks, "only-failed": only_failed, "task": task }),
                ),
            ),
        };
        let value = value.map(|v| v.to_string());
        let offset = kafka::write_at(
            &self.producer,
            &self.configs_topic,
            Some(0),
            key.as_bytes(),
            value.as_deref().map(str::as_bytes),
        )
        .await?;
        if let ConfigChange::Connector(name, None) = &change {
            let key = format!("target-state-{name}");
            kafka::write(
                &self.producer,
                &self.configs_topic,
                Some(0),
                key.as_bytes(),
                None,
            )
            .await?;
        }
        self.caught_up(offset).await
    }

    fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.state.subscribe()
    }

    async fn put_status(&self, event: &StatusEvent, worker_id: &str) -> Result<()> {
        let key = status_key(&event.key.connector, event.key.task);
        let value = json!({
            "state": event.state.name(),
            "trace": event.trace,
            "worker_id": worker_id,
            "generation": 0,
        })
        .to_string();
        kafka::write(
            &self.producer,
            &self.status_topic,
            None,
            key.as_bytes(),
            Some(value.as_bytes()),
        )
        .await
    }

    fn statuses(&self) -> BTreeMap<String, PublishedStatus> {
        self.statuses.lock().expect("statuses lock").clone()
    }
}

/// The thread that tails both topics for the life of the store.
struct Reader {
    /// `task-<name>-<n>` records read but not committed yet.
    pending_tasks: BTreeMap<String, BTreeMap<u32, Config>>,
    client: ClientConfig,
    configs_topic: String,
    status_topic: String,
    state: watch::Sender<Snapshot>,
    statuses: Arc<Mutex<BTreeMap<String, PublishedStatus>>>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    fn run(mut self, ready: tokio::sync::oneshot::Sender<Result<()>>) {
        let consumer = match self.consumer() {
            Ok(c) => c,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        // Ready once the config topic's current end is read: a starting
        // worker knows every connector before it answers.
        let end = consumer
            .fetch_watermarks(&self.configs_topic, 0, Duration::from_secs(30))
            .map(|(_, high)| high)
            .unwrap_or(0);
        let mut ready = Some(ready);
        if end == 0 {
            if let Some(r) = ready.take() {
                let _ = r.send(Ok(()));
            }
        }
        while !self.stop.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if m.topic() == self.configs_topic {
                        self.config_record(m.key(), m.payload(), m.offset());
                        if m.offset() + 1 >= end {
                            if let Some(r) = ready.take() {
                                let _ = r.send(Ok(()));
                            }
                        }
                    } else {
                        self.status_record(m.key(), m.payload());
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, "reading the worker's topics"),
                None => {}
            }
        }
    }

    fn consumer(&self) -> Result<BaseConsumer> {
        let consumer: BaseConsumer = self
            .client
            .clone()
            .set("group.id", "fjord-connect-config-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(|e| ConnectError::Kafka(format!("config reader: {e}")))?;
        let metadata = consumer
            .fetch_metadata(Some(&self.status_topic), Duration::from_secs(30))
            .map_err(|e| ConnectError::Kafka(format!("metadata of {}: {e}", self.status_topic)))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.configs_topic, 0, Offset::Beginning)
            .map_err(|e| ConnectError::Kafka(e.to_string()))?;
        for t in metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.status_topic)
        {
            for p in t.partitions() {
                list.add_partition_offset(&self.status_topic, p.id(), Offset::Beginning)
                    .map_err(|e| ConnectError::Kafka(e.to_string()))?;
            }
        }
        consumer
            .assign(&list)
            .map_err(|e| ConnectError::Kafka(e.to_string()))?;
        Ok(consumer)
    }

    fn config_record(&mut self, key: Option<&[u8]>, value: Option<&[u8]>, offset: i64) {
        let key = key
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let value: Option<Json> = value.and_then(|v| serde_json::from_slice(v).ok());
        let change = if let Some(name) = key.strip_prefix("connector-") {
            let props = value
                .as_ref()
                .and_then(|v| v.get("properties"))
                .and_then(Json::as_object);
            Some(ConfigChange::Connector(
                name.to_string(),
                props.and_then(|p| Config::from_json(p).ok()),
            ))
        } else if let Some(name) = key.strip_prefix("target-state-") {
            value
                .as_ref()
                .and_then(|v| v.get("state"))
                .and_then(Json::as_str)
                .and_then(TargetState::from_name)
                .map(|t| ConfigChange::Target(name.to_string(), t))
        } else if let Some(rest) = key.strip_prefix("task-") {
            // `task-<name>-<n>`: the name may itself contain dashes.
            if let Some((name, n)) = rest.rsplit_once('-') {
                let props = value
                    .as_ref()
                    .and_then(|v| v.get("properties"))
                    .and_then(Json::as_object);
                if let (Ok(n), Some(config)) = (
                    n.parse::<u32>(),
                    props.and_then(|p| Config::from_json(p).ok()),
                ) {
                    self.pending_tasks
                        .entry(name.to_string())
                        .or_default()
                        .insert(n, config);
                }
            }
            None
        } else if let Some(name) = key.strip_prefix("commit-") {
            let count = value
                .as_ref()
                .and_then(|v| v.get("tasks"))
                .and_then(Json::as_u64)
                .unwrap_or(0) as u32;
            let fingerprint = value
                .as_ref()
                .and_then(|v| v.get("fingerprint"))
                .and_then(Json::as_str)
                .unwrap_or_default();
            let staged = self.pending_tasks.remove(name).unwrap_or_default();
            let configs: Option<Vec<Config>> =
                (0..count).map(|i| staged.get(&i).cloned()).collect();
            configs.map(|configs| ConfigChange::TaskConfigs {
                name: name.to_string(),
                fingerprint: fingerprint.to_string(),
                configs,
            })
        } else if let Some(name) = key.strip_prefix("restart-connector-") {
            value.as_ref().map(|v| ConfigChange::Restart {
                name: name.to_string(),
                include_tasks: v
                    .get("include-tasks")
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
                only_failed: v
                    .get("only-failed")
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
                task: v.get("task").and_then(Json::as_u64).map(|t| t as u32),
            })
        } else {
            None
        };
        self.state.send_modify(|s| {
            if let Some(change) = change {
                apply(s, change);
            }
            s.offset = offset + 1;
        });
    }

    fn status_record(&self, key: Option<&[u8]>, value: Option<&[u8]>) {
        let Some(key) = key.map(|k| String::from_utf8_lossy(k).into_owned()) else {
            return;
        };
        let mut statuses = self.statuses.lock().expect("statuses lock");
        let parsed: Option<Json> = value.and_then(|v| serde_json::from_slice(v).ok());
        match parsed {
            Some(v) => {
                let state = v
                    .get("state")
                    .and_then(Json::as_str)
                    .and_then(State::from_name)
                    .unwrap_or(State::Unassigned);
                statuses.insert(
                    key,
                    PublishedStatus {
                        state,
                        trace: v.get("trace").and_then(Json::as_str).map(str::to_string),
                        worker_id: v
                            .get("worker_id")
                            .and_then(Json::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    },
                );
            }
            None => {
                statuses.remove(&key);
            }
        }
    }
}
