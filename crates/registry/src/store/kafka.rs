//! The `_schemas` topic through librdkafka: a producer for writes and a
//! reader thread that tails the topic from the beginning into [`State`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::watch;

use super::records::RecordKey;
use super::state::State;

/// How long a write may wait for its acknowledgement and read-back.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long start-up may take to read the topic.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the first contact with the cluster may take, so a mistyped
/// `--bootstrap-servers` or a stopped broker reports soon (the CLI's bound).
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the store lives.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Kafka bootstrap servers.
    pub bootstrap_servers: String,
    /// librdkafka settings (`-X key=value`: SASL, TLS), applied last.
    pub client_settings: Vec<(String, String)>,
    /// The compacted topic holding the registry's state.
    pub topic: String,
}

impl StoreConfig {
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        config.set("client.id", "fjord-registry");
        config
    }

    fn with_settings(&self, mut config: ClientConfig) -> ClientConfig {
        for (k, v) in &self.client_settings {
            config.set(k, v);
        }
        config
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The librdkafka error's text is in the message (not also `source()`,
    /// which would print it twice in anyhow chains).
    #[error("{what}: {cause}")]
    Kafka { what: String, cause: KafkaError },
    #[error("{0}")]
    Timeout(String),
    #[error("the store's reader stopped: {0}")]
    ReaderStopped(String),
}

fn kafka(what: impl Into<String>) -> impl FnOnce(KafkaError) -> StoreError {
    let what = what.into();
    move |cause| StoreError::Kafka { what, cause }
}

pub struct KafkaStore {
    topic: String,
    producer: FutureProducer,
    state: Arc<RwLock<State>>,
    /// The offset after the last record the reader applied.
    applied: watch::Receiver<i64>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl KafkaStore {
    /// Creates the topic when absent, starts the reader and returns once
    /// the topic has been read up to its end.
    pub async fn open(config: StoreConfig) -> Result<KafkaStore, StoreError> {
        let producer: FutureProducer = config
            .with_settings({
                let mut c = config.client_config();
                c.set("acks", "all")
                    .set("enable.idempotence", "true")
                    .set("linger.ms", "0")
                    .set("message.timeout.ms", "30000");
                c
            })
            .create()
            .map_err(kafka("cannot create the registry's producer"))?;
        let consumer: BaseConsumer = config
            .with_settings({
                let mut c = config.client_config();
                // librdkafka wants a group.id even for assign(); this one
                // never joins or commits, so it never exists on the broker.
                c.set("group.id", "fjord-registry-reader")
                    .set("enable.auto.commit", "false")
                    .set("enable.partition.eof", "false")
                    .set("fetch.wait.max.ms", "100");
                c
            })
            .create()
            .map_err(kafka("cannot create the registry's reader"))?;
        let (consumer, brokers, exists) = {
            let topic = config.topic.clone();
            let (consumer, metadata) = tokio::task::spawn_blocking(move || {
                let metadata = consumer.fetch_metadata(Some(&topic), METADATA_TIMEOUT);
                (consumer, metadata)
            })
            .await
            .expect("metadata task does not panic");
            let metadata = metadata.map_err(kafka(format!(
                "cannot reach the Kafka cluster at {}",
                config.bootstrap_servers
            )))?;
            let exists = metadata.topics().iter().any(|t| {
                t.name() == config.topic && t.error().is_none() && !t.partitions().is_empty()
            });
            (consumer, metadata.brokers().len(), exists)
        };
        if !exists {
            create_topic(&config, brokers).await?;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&config.topic, 0, Offset::Beginning)
            .map_err(kafka("cannot assign the store topic"))?;
        consumer
            .assign(&tpl)
            .map_err(kafka(format!("cannot read topic {}", config.topic)))?;

        // A topic created a moment ago may not be served yet: retry briefly.
        let topic = config.topic.clone();
        let (high, consumer) = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                match consumer.fetch_watermarks(&topic, 0, Duration::from_secs(5)) {
                    Ok(wm) => return (Ok(wm), consumer),
                    Err(e) if Instant::now() >= deadline => return (Err(e), consumer),
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        })
        .await
        .expect("watermark task does not panic");
        let (_, high) = high.map_err(kafka(format!(
            "cannot read the end offset of topic {}",
            config.topic
        )))?;

        let state = Arc::new(RwLock::new(State::default()));
        let (applied_tx, applied) = watch::channel(0i64);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("registry-reader".into())
                .spawn(move || read_loop(consumer, state, applied_tx, stop))
                .expect("spawn reader thread")
        };
        let store = KafkaStore {
            topic: config.topic,
            producer,
            state,
            applied,
            stop,
            reader: Some(reader),
        };
        store.wait_applied(high, START_TIMEOUT).await?;
        tracing::info!(topic = %store.topic, records = high, "registry store loaded");
        Ok(store)
    }

    pub fn state(&self) -> &RwLock<State> {
        &self.state
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces one record (None: a tombstone) and returns once the reader
    /// has applied it.
    pub async fn write(&self, key: &RecordKey, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let key = key.to_bytes();
        let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(&self.topic)
            .key(&key)
            .partition(0);
        if let Some(v) = value.as_ref() {
            record = record.payload(v);
        }
        let delivered = self
            .producer
            .send(record, WRITE_TIMEOUT)
            .await
            .map_err(|(e, _)| StoreError::Kafka {
                what: format!("cannot write to topic {}", self.topic),
                cause: e,
            })?;
        self.wait_applied(delivered.offset + 1, WRITE_TIMEOUT).await
    }

    /// Writes a NOOP and reads up to it: afterwards the state holds every
    /// write made before this call, by any instance.
    pub async fn barrier(&self) -> Result<(), StoreError> {
        let value = serde_json::to_vec(&serde_json::json!({})).expect("serializes");
        self.write(&RecordKey::Noop { magic: 0 }, Some(value)).await
    }

    async fn wait_applied(&self, offset: i64, timeout: Duration) -> Result<(), StoreError> {
        let mut rx = self.applied.clone();
        let deadline = Instant::now() + timeout;
        loop {
            if *rx.borrow_and_update() >= offset {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(StoreError::ReaderStopped(format!(
                        "topic {} is no longer read",
                        self.topic
                    )))
                }
                Err(_) => {
                    return Err(StoreError::Timeout(format!(
                        "timed out reading topic {} up to offset {offset}",
                        self.topic
                    )))
                }
            }
        }
    }
}

impl Drop for KafkaStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn read_loop(
    consumer: BaseConsumer,
    state: Arc<RwLock<State>>,
    applied: watch::Sender<i64>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Some(result) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        match result {
            Ok(msg) => {
                if let Some(key) = msg.key() {
                    state
                        .write()
                        .expect("state lock is not poisoned")
                        .apply(key, msg.payload());
                }
                applied.send_replace(msg.offset() + 1);
            }
            // librdkafka retries by itself; say so once per error.
            Err(e) => tracing::warn!(error = %e, "reading the registry topic"),
        }
    }
}

/// Creates the compacted, single-partition store topic.
async fn create_topic(config: &StoreConfig, brokers: usize) -> Result<(), StoreError> {
    let admin: AdminClient<DefaultClientContext> = config
        .with_settings(config.client_config())
        .create()
        .map_err(kafka("cannot create the registry's admin client"))?;
    // Confluent uses 3 replicas where the cluster has them.
    let replicas = (brokers as i32).clamp(1, 3);
    let topic = NewTopic::new(&config.topic, 1, TopicReplication::Fixed(replicas))
        .set("cleanup.policy", "compact");
    let results = admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .map_err(kafka(format!("cannot create topic {}", config.topic)))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(StoreError::Kafka {
                    what: format!("cannot create topic {name}"),
                    cause: KafkaError::AdminOp(code),
                })
            }
        }
    }
    tracing::info!(topic = %config.topic, replicas, "created the registry topic (compacted, 1 partition)");
    Ok(())
}
