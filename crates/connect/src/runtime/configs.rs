//! Where a worker keeps connector configs and target states. A standalone
//! worker holds them in memory (its connectors come from the command
//! line, as in Kafka); a distributed one in the compacted
//! `connect-configs` topic, under Kafka Connect's keys:
//! `connector-<name>` → `{"properties": {...}}` (null: deleted) and
//! `target-state-<name>` → `{"state": "STARTED|PAUSED|STOPPED"}`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;
use serde_json::{json, Value as Json};

use crate::config::Config;
use crate::error::{ConnectError, Result};
use crate::runtime::kafka;
use crate::runtime::status::{StatusEvent, TargetState};

/// A stored connector: its config and what the user asked it to be.
pub type StoredConnector = (String, Config, TargetState);

#[async_trait]
pub trait ConfigStore: Send + Sync {
    async fn load(&self) -> Result<Vec<StoredConnector>>;
    /// Stores a connector's config; None deletes the connector.
    async fn put_config(&self, name: &str, config: Option<&Config>) -> Result<()>;
    async fn put_target(&self, name: &str, target: TargetState) -> Result<()>;
    /// Publishes a status change (the status topic); a no-op in memory.
    async fn put_status(&self, _event: &StatusEvent, _worker_id: &str) -> Result<()> {
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryConfigStore {
    connectors: Mutex<BTreeMap<String, (Config, TargetState)>>,
}

#[async_trait]
impl ConfigStore for MemoryConfigStore {
    async fn load(&self) -> Result<Vec<StoredConnector>> {
        let connectors = self.connectors.lock().expect("configs lock");
        Ok(connectors
            .iter()
            .map(|(n, (c, t))| (n.clone(), c.clone(), *t))
            .collect())
    }

    async fn put_config(&self, name: &str, config: Option<&Config>) -> Result<()> {
        let mut connectors = self.connectors.lock().expect("configs lock");
        match config {
            Some(c) => {
                let target = connectors
                    .get(name)
                    .map(|(_, t)| *t)
                    .unwrap_or(TargetState::Started);
                connectors.insert(name.to_string(), (c.clone(), target));
            }
            None => {
                connectors.remove(name);
            }
        }
        Ok(())
    }

    async fn put_target(&self, name: &str, target: TargetState) -> Result<()> {
        if let Some(entry) = self.connectors.lock().expect("configs lock").get_mut(name) {
            entry.1 = target;
        }
        Ok(())
    }
}

/// `connect-configs` and `connect-status`.
pub struct TopicConfigStore {
    configs_topic: String,
    status_topic: String,
    client: ClientConfig,
    producer: FutureProducer,
}

impl TopicConfigStore {
    /// Creates the topics when missing: configs with one partition (its
    /// order is the order of changes), status with `status.storage.partitions`.
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
        Ok(TopicConfigStore {
            configs_topic: configs_topic.to_string(),
            status_topic: status_topic.to_string(),
            client,
            producer,
        })
    }
}

#[async_trait]
impl ConfigStore for TopicConfigStore {
    async fn load(&self) -> Result<Vec<StoredConnector>> {
        let (client, topic) = (self.client.clone(), self.configs_topic.clone());
        let records = tokio::task::spawn_blocking(move || kafka::read_to_end(&client, &topic))
            .await
            .map_err(|e| ConnectError::External(e.to_string()))??;
        let mut configs: BTreeMap<String, Config> = BTreeMap::new();
        let mut targets: BTreeMap<String, TargetState> = BTreeMap::new();
        for record in records {
            let Some(key) = record.key.and_then(|k| String::from_utf8(k).ok()) else {
                continue;
            };
            let value: Option<Json> = record.value.and_then(|v| serde_json::from_slice(&v).ok());
            if let Some(name) = key.strip_prefix("connector-") {
                match value
                    .as_ref()
                    .and_then(|v| v.get("properties"))
                    .and_then(Json::as_object)
                {
                    Some(props) => {
                        configs.insert(name.to_string(), Config::from_json(props)?);
                    }
                    None => {
                        configs.remove(name);
                        targets.remove(name);
                    }
                }
            } else if let Some(name) = key.strip_prefix("target-state-") {
                if let Some(t) = value
                    .as_ref()
                    .and_then(|v| v.get("state"))
                    .and_then(Json::as_str)
                    .and_then(TargetState::from_name)
                {
                    targets.insert(name.to_string(), t);
                }
            }
        }
        Ok(configs
            .into_iter()
            .map(|(name, config)| {
                let target = targets.get(&name).copied().unwrap_or(TargetState::Started);
                (name, config, target)
            })
            .collect())
    }

    async fn put_config(&self, name: &str, config: Option<&Config>) -> Result<()> {
        let value = config.map(|c| json!({ "properties": c.to_json() }).to_string());
        let key = format!("connector-{name}");
        kafka::write(
            &self.producer,
            &self.configs_topic,
            Some(0),
            key.as_bytes(),
            value.as_deref().map(str::as_bytes),
        )
        .await?;
        if config.is_none() {
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
        Ok(())
    }

    async fn put_target(&self, name: &str, target: TargetState) -> Result<()> {
        let key = format!("target-state-{name}");
        let value = json!({ "state": target.name() }).to_string();
        kafka::write(
            &self.producer,
            &self.configs_topic,
            Some(0),
            key.as_bytes(),
            Some(value.as_bytes()),
        )
        .await
    }

    async fn put_status(&self, event: &StatusEvent, worker_id: &str) -> Result<()> {
        let key = match event.key.task {
            Some(t) => format!("status-task-{}-{t}", event.key.connector),
            None => format!("status-connector-{}", event.key.connector),
        };
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
}
