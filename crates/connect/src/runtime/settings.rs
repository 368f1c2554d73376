//! A worker's settings, under Kafka Connect's worker-config names
//! (`connect-standalone.properties` / `connect-distributed.properties`),
//! so users' worker files work unchanged.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::error::Result;

/// Where connector configs, source offsets and statuses are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Standalone mode: configs from the command line (and the REST API,
    /// in memory), offsets in `offset.storage.file.filename`.
    Standalone { offsets_file: PathBuf },
    /// Distributed mode: the three compacted topics.
    Topics {
        configs: String,
        offsets: String,
        status: String,
    },
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub bootstrap_servers: String,
    /// The worker group (`group.id`), also the prefix of transactional ids.
    pub group_id: String,
    pub storage: Storage,
    /// The worker's own settings, for converter defaults and client
    /// settings (`consumer.*`, `producer.*`, `security.protocol`, ...).
    pub raw: Config,
    /// librdkafka settings every client of this worker gets (`-X` flags,
    /// and the worker file's `security.*`, `sasl.*`, `ssl.*` keys).
    pub client_settings: Vec<(String, String)>,
    pub offset_flush_interval: Duration,
    pub scheduled_rebalance_max_delay: Duration,
    /// `exactly.once.source.support=enabled`: source tasks write records and
    /// offsets in one transaction (KIP-618).
    pub exactly_once_source: bool,
    /// Directories file connectors may touch; empty: no restriction.
    pub allowed_paths: Vec<PathBuf>,
    /// This worker's id in statuses (`host:port` of its REST listener).
    pub worker_id: String,
    pub task_shutdown_timeout: Duration,
}

/// Keys Kafka's clients share across consumer, producer and admin, which
/// Connect passes to all of them from the worker config.
const SHARED_CLIENT_PREFIXES: &[&str] = &["security.protocol", "sasl.", "ssl."];

impl WorkerSettings {
    /// Reads a worker config. `distributed` picks topic storage (with
    /// Kafka's default topic names) over the offsets file.
    pub fn from_config(raw: Config, distributed: bool) -> Result<WorkerSettings> {
        let storage = if distributed {
            Storage::Topics {
                configs: raw
                    .string_or("config.storage.topic", "connect-configs")
                    .to_string(),
                offsets: raw
                    .string_or("offset.storage.topic", "connect-offsets")
                    .to_string(),
                status: raw
                    .string_or("status.storage.topic", "connect-status")
                    .to_string(),
            }
        } else {
            Storage::Standalone {
                offsets_file: PathBuf::from(
                    raw.string_or("offset.storage.file.filename", "connect.offsets"),
                ),
            }
        };
        let client_settings = raw
            .as_map()
            .iter()
            .filter(|(k, _)| SHARED_CLIENT_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let exactly_once_source = raw.choice_or(
            "exactly.once.source.support",
            &["disabled", "preparing", "enabled"],
            "disabled",
        )? == "enabled";
        Ok(WorkerSettings {
            bootstrap_servers: raw
                .string_or("bootstrap.servers", "127.0.0.1:9092")
                .to_string(),
            group_id: raw.string_or("group.id", "connect-cluster").to_string(),
            storage,
            client_settings,
            offset_flush_interval: raw.millis_or("offset.flush.interval.ms", 60_000)?,
            scheduled_rebalance_max_delay: raw
                .millis_or("scheduled.rebalance.max.delay.ms", 300_000)?,
            exactly_once_source,
            allowed_paths: raw
                .list("allowed.paths")
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            worker_id: String::new(),
            task_shutdown_timeout: raw.millis_or("task.shutdown.graceful.timeout.ms", 5_000)?,
            raw,
        })
    }

    /// The default converter class for keys or values: the worker's
    /// `key.converter` / `value.converter`, else Kafka's sample worker
    /// files' choice, JsonConverter.
    pub fn converter_class(&self, is_key: bool) -> &str {
        let key = if is_key {
            "key.converter"
        } else {
            "value.converter"
        };
        self.raw
            .string_or(key, "org.apache.kafka.connect.json.JsonConverter")
    }

    /// A librdkafka config for one of the worker's clients: the shared
    /// settings, then the worker's `consumer.` / `producer.` keys, then the
    /// connector's `consumer.override.` / `producer.override.` keys.
    pub fn client_config(&self, role: ClientRole, connector: &Config) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.client_settings {
            config.set(k, v);
        }
        let (worker_prefix, override_prefix) = match role {
            ClientRole::Consumer => ("consumer.", "consumer.override."),
            ClientRole::Producer => ("producer.", "producer.override."),
            ClientRole::Admin => ("admin.", "admin.override."),
        };
        for source in [
            self.raw.subset(worker_prefix),
            connector.subset(override_prefix),
        ] {
            for (k, v) in source.as_map() {
                if librdkafka_knows(k) {
                    config.set(k, v);
                }
            }
        }
        config
    }
}

/// Sets `key` unless the user's settings already did.
pub fn set_default(config: &mut rdkafka::ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

#[derive(Debug, Clone, Copy)]
pub enum ClientRole {
    Consumer,
    Producer,
    Admin,
}

/// Java client settings with no librdkafka equivalent (librdkafka refuses
/// unknown keys); the runtime reads `max.poll.records` itself.
fn librdkafka_knows(key: &str) -> bool {
    !matches!(
        key,
        "max.poll.records"
            | "key.deserializer"
            | "value.deserializer"
            | "key.serializer"
            | "value.serializer"
            | "interceptor.classes"
            | "override.policy"
            | "default.api.timeout.ms"
            | "delivery.timeout.ms.config"
    ) && !key.starts_with("override.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kafka_worker_file_reads_with_kafkas_defaults() {
        // The shape of Kafka's config/connect-distributed.properties.
        let raw = Config::from_properties(
            "bootstrap.servers=localhost:9092\ngroup.id=connect-cluster\n\
             key.converter=org.apache.kafka.connect.json.JsonConverter\nkey.converter.schemas.enable=true\n\
             offset.storage.topic=my-offsets\noffset.flush.interval.ms=10000\n\
             consumer.max.poll.records=100\nconsumer.fetch.min.bytes=1\nsasl.mechanism=PLAIN\n",
        );
        let w = WorkerSettings::from_config(raw, true).unwrap();
        assert_eq!(
            w.storage,
            Storage::Topics {
                configs: "connect-configs".into(),
                offsets: "my-offsets".into(),
                status: "connect-status".into()
            }
        );
        assert_eq!(w.offset_flush_interval, Duration::from_secs(10));
        assert_eq!(w.scheduled_rebalance_max_delay, Duration::from_secs(300));
        let c = w.client_config(
            ClientRole::Consumer,
            &Config::from_pairs([("consumer.override.fetch.min.bytes", "7")]),
        );
        assert_eq!(c.get("fetch.min.bytes"), Some("7"));
        assert_eq!(c.get("max.poll.records"), None);
        assert_eq!(c.get("sasl.mechanism"), Some("PLAIN"));
    }
}
