//! The auction's Kafka clients (librdkafka through `rdkafka`): the bid
//! producer, group consumers, topic creation and group lag. Everything goes
//! through the Kafka protocol, so each component runs unchanged against the
//! embedded broker or any Kafka cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use crate::codec::{PARTITIONS, TOPIC};
use crate::dead_letter::DeadLetterPolicy;
use crate::error::{kafka, AuctionError, Result};

/// Consumer group of the DB writers.
pub const DB_GROUP: &str = "bid-db-writers";
/// Consumer group of the backup writer.
pub const BACKUP_GROUP: &str = "bid-backup";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the cluster is and how to reach it.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Comma-separated HOST:PORT list.
    pub bootstrap_servers: String,
    /// librdkafka settings (`-X key=value`: SASL, TLS, ...), applied last so
    /// they override the auction's own defaults.
    pub extra: Vec<(String, String)>,
    /// What the writers do with a record that is not a bid, and where the
    /// dead letters are (for the writers, `backup verify`, the dashboard).
    pub dead_letter: DeadLetterPolicy,
}

impl KafkaSettings {
    pub fn new(bootstrap_servers: impl Into<String>) -> KafkaSettings {
        KafkaSettings {
            bootstrap_servers: bootstrap_servers.into(),
            extra: Vec::new(),
            dead_letter: DeadLetterPolicy::default(),
        }
    }

    pub fn with_dead_letter(mut self, policy: DeadLetterPolicy) -> KafkaSettings {
        self.dead_letter = policy;
        self
    }

    pub fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        for (k, v) in &self.extra {
            config.set(k, v);
        }
        config
    }

    /// The website's producer: acks=all and idempotent, so a bid the website
    /// reports as added is durable and librdkafka's retries never store it
    /// twice; a short linger batches concurrent bids.
    pub fn producer(&self) -> Result<FutureProducer> {
        self.config(&[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "2"),
            ("message.timeout.ms", "30000"),
            // A restarted broker is back in milliseconds: reconnect within
            // a second, not librdkafka's default 10 s backoff ceiling.
            ("reconnect.backoff.max.ms", "1000"),
        ])
        .create()
        .map_err(kafka("cannot create producer"))
    }

    /// A member of `group` that commits by hand (after its output is durable).
    pub fn group_consumer(&self, group: &str, client_id: &str) -> Result<StreamConsumer> {
        self.config(&[
            ("group.id", group),
            ("client.id", client_id),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
        ])
        .create()
        .map_err(kafka("cannot create consumer"))
    }

    /// A consumer that never joins a group: for reading the topic from
    /// start to end (`backup verify`) and for committed offsets (lag).
    pub fn plain_consumer(&self, group: &str) -> Result<BaseConsumer> {
        self.config(&[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("allow.auto.create.topics", "false"),
        ])
        .create()
        .map_err(kafka("cannot create consumer"))
    }

    /// A consumer of results that may come from transactions (the
    /// statistics, exactly-once): it reads committed records only.
    pub fn committed_reader(&self, group: &str) -> Result<BaseConsumer> {
        self.config(&[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("allow.auto.create.topics", "false"),
            ("isolation.level", "read_committed"),
        ])
        .create()
        .map_err(kafka("cannot create consumer"))
    }

    /// Creates the topic `bids` (4 partitions) unless it exists.
    pub async fn ensure_topic(&self) -> Result<()> {
        self.ensure_topic_named(TOPIC, PARTITIONS).await
    }

    /// Creates `name` with `partitions` (replication factor 1) unless it
    /// exists.
    pub async fn ensure_topic_named(&self, name: &str, partitions: i32) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .config(&[])
            .create()
            .map_err(kafka("cannot create admin client"))?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let opts = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
        let results = admin
            .create_topics([&topic], &opts)
            .await
            .map_err(kafka(format!("cannot create topic `{name}`")))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(AuctionError::Kafka {
                        context: format!("cannot create topic `{name}`"),
                        source: rdkafka::error::KafkaError::AdminOp(code),
                    })
                }
            }
        }
        Ok(())
    }
}

/// Produces one encoded bid keyed by its item and waits for the broker's
/// acknowledgement; returns (partition, offset).
pub async fn produce(producer: &FutureProducer, item: &str, value: &[u8]) -> Result<(i32, i64)> {
    let record = FutureRecord::to(TOPIC).key(item).payload(value);
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map(|d| (d.partition, d.offset))
        .map_err(|(e, _)| AuctionError::Kafka {
            context: format!("cannot produce the bid to `{TOPIC}`"),
            source: e,
        })
}

/// Lag of one consumer group on `bids`: per partition, end offset minus the
/// committed offset (the whole partition when nothing is committed).
/// Blocking: call from a blocking thread.
pub fn group_lag(consumer: &BaseConsumer) -> Result<Vec<(i32, i64)>> {
    let partitions = partitions(consumer, TOPIC)?;
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition(TOPIC, *p);
    }
    let committed = consumer
        .committed_offsets(tpl, REQUEST_TIMEOUT)
        .map_err(kafka("cannot fetch committed offsets"))?;
    let mut out = Vec::with_capacity(partitions.len());
    for e in committed.elements() {
        let (low, high) = consumer
            .fetch_watermarks(TOPIC, e.partition(), REQUEST_TIMEOUT)
            .map_err(kafka("cannot fetch end offsets"))?;
        let done = match e.offset() {
            Offset::Offset(n) if n >= 0 => n,
            _ => low,
        };
        out.push((e.partition(), (high - done).max(0)));
    }
    out.sort_unstable();
    Ok(out)
}

/// Records in `topic` now: per partition, end offset minus start offset,
/// summed (0 when the topic does not exist). Blocking.
pub fn topic_records(consumer: &BaseConsumer, topic: &str) -> Result<i64> {
    let mut total = 0;
    for p in partitions(consumer, topic)? {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
            .map_err(kafka(format!("cannot fetch the offsets of `{topic}`")))?;
        total += (high - low).max(0);
    }
    Ok(total)
}

/// The partitions of `topic` (none when it does not exist). Blocking.
pub(crate) fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(kafka("cannot fetch metadata"))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Reads every record of `topic` from the start to the end it has now,
/// without a group (nothing is committed), calling `each` per record.
/// Blocking: call from a blocking thread.
pub fn read_to_end(
    consumer: &BaseConsumer,
    topic: &str,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in partitions(consumer, topic)? {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
            .map_err(kafka("cannot fetch end offsets"))?;
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Offset(low))
                .map_err(kafka("offset list"))?;
            ends.insert(p, high);
        }
    }
    if ends.is_empty() {
        return Ok(());
    }
    consumer
        .assign(&tpl)
        .map_err(kafka("cannot assign partitions"))?;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                each(&m);
                if ends
                    .get(&m.partition())
                    .is_some_and(|end| m.offset() + 1 >= *end)
                {
                    ends.remove(&m.partition());
                }
            }
            Some(Err(e)) => return Err(kafka(format!("cannot read `{topic}`"))(e)),
            None if last_progress.elapsed() > REQUEST_TIMEOUT => {
                return Err(AuctionError::Codec(format!(
                    "reading `{topic}` made no progress for {REQUEST_TIMEOUT:?}"
                )))
            }
            None => {}
        }
    }
    Ok(())
}
