//! The few Kafka operations the worker's stores need: creating their
//! compacted topics, reading a topic from the start to its end, and
//! writing keyed records durably.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::error::{ConnectError, Result};

/// How long a store waits for the cluster before giving up.
const TIMEOUT: Duration = Duration::from_secs(30);

fn kafka(what: &str, e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Kafka(format!("{what}: {e}"))
}

/// Creates `topic` compacted with `partitions` (as Kafka Connect creates
/// its internal topics); an existing topic is left as it is.
pub async fn ensure_compacted_topic(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|e| kafka("admin client", e))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "compact");
    let results = admin
        .create_topics(
            &[new],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .map_err(|e| kafka(&format!("cannot create topic {topic}"), e))?;
    for r in results {
        match r {
            Ok(name) => {
                tracing::info!(topic = %name, partitions, "created the worker's topic (compacted)")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(kafka(&format!("cannot create topic {name}"), code)),
        }
    }
    Ok(())
}

/// A record as a store reads it back.
pub struct StoredRecord {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Every record of `topic`, from its start to the end it has now, in
/// order per partition. Blocking: call from `spawn_blocking`.
pub fn read_to_end(config: &ClientConfig, topic: &str) -> Result<Vec<StoredRecord>> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "fjord-connect-store-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|e| kafka("store reader", e))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| kafka(&format!("metadata of {topic}"), e))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends = Vec::new();
    let mut list = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|e| kafka(&format!("end offsets of {topic}"), e))?;
        if high > low {
            ends.push((p, high));
            list.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| kafka("assign", e))?;
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    consumer.assign(&list).map_err(|e| kafka("assign", e))?;
    let deadline = Instant::now() + TIMEOUT;
    // A transaction marker or an aborted record also moves a partition's
    // position; the position (not the last record) says when it is done.
    while ends
        .iter()
        .any(|&(p, end)| position(&consumer, topic, p).unwrap_or(-1) < end)
    {
        if Instant::now() > deadline {
            return Err(ConnectError::Kafka(format!(
                "timed out reading {topic} to its end"
            )));
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let m = message.map_err(|e| kafka(&format!("reading {topic}"), e))?;
            out.push(StoredRecord {
                partition: m.partition(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
            });
        }
    }
    Ok(out)
}

fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    let list = consumer.position().ok()?;
    match list.find_partition(topic, partition)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// A producer for the stores: idempotent, acks=all.
pub fn store_producer(config: &ClientConfig) -> Result<FutureProducer> {
    config
        .clone()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .map_err(|e| kafka("store producer", e))
}

/// Writes one keyed record (None: a tombstone) and waits for it.
pub async fn write(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<()> {
    write_at(producer, topic, partition, key, value)
        .await
        .map(|_| ())
}

/// [`write`], returning the record's offset.
pub async fn write_at(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<i64> {
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).key(key);
    if let Some(p) = partition {
        record = record.partition(p);
    }
    if let Some(v) = value {
        record = record.payload(v);
    }
    let delivery = producer
        .send(record, TIMEOUT)
        .await
        .map_err(|(e, _)| kafka(&format!("cannot write to {topic}"), e))?;
    Ok(delivery.offset)
}
