//! The runtime's Kafka plumbing: librdkafka clients for records (fetch and
//! produce), the group coordinator's connection for committed offsets,
//! and the internal topics an application needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::error::{Error, Result};

pub(crate) fn kafka(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Kafka(format!("{what}: {e}"))
}

/// Consumer settings an instance starts from, which `-X` may change: a
/// smaller read-ahead than librdkafka's (64 MiB and 100,000 records per
/// partition), so an instance's memory is mostly its stores' budget. The
/// byte limit counts fetched bytes, compressed: with well-compressed
/// records 16 MiB of them held over 300 MiB once decompressed, so the
/// record count bounds it too. When that queue is full librdkafka waits
/// `fetch.queue.backoff.ms` before fetching again: its 1 s default left an
/// instance idle for most of a second after each 20,000 records (Nexmark
/// q0 ran at 47k events/s, the process three quarters idle).
pub(crate) const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("queued.max.messages.kbytes", "16384"),
    ("queued.min.messages", "20000"),
    ("fetch.queue.backoff.ms", "10"),
];

/// Producer settings an instance starts from, which `-X` may change: at
/// most 64 MiB of outputs waiting for the cluster (librdkafka allows 1
/// GiB); `send` waits when it is full.
pub(crate) const PRODUCER_DEFAULTS: &[(&str, &str)] = &[("queue.buffering.max.kbytes", "65536")];

/// A librdkafka config: the bootstrap servers, then the caller's settings
/// (`-X`), then `fixed` (what the runtime depends on).
pub(crate) fn client_config(
    bootstrap: &str,
    settings: &[(String, String)],
    fixed: &[(&str, &str)],
) -> ClientConfig {
    client_config_with_defaults(bootstrap, &[], settings, fixed)
}

/// As `client_config`, with `defaults` before the caller's settings.
pub(crate) fn client_config_with_defaults(
    bootstrap: &str,
    defaults: &[(&str, &str)],
    settings: &[(String, String)],
    fixed: &[(&str, &str)],
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for (k, v) in settings {
        c.set(k, v);
    }
    for (k, v) in fixed {
        c.set(*k, *v);
    }
    c
}

/// Counts failed deliveries, so a commit never covers an output that was
/// not written.
#[derive(Default)]
pub(crate) struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Deliveries {
    /// The first failure since the start, if any.
    pub fn failure(&self) -> Option<String> {
        if self.failed.load(Ordering::SeqCst) == 0 {
            return None;
        }
        self.first_error.lock().map(|e| e.clone()).unwrap_or(None)
    }
}

#[derive(Clone, Default)]
pub(crate) struct DeliveryContext(pub Arc<Deliveries>);

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.failed.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut first) = self.0.first_error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

pub(crate) type Producer = ThreadedProducer<DeliveryContext>;

/// Waits until every record sent is acknowledged (or failed), in 1 ms
/// steps. The rdkafka crate's `flush`, which `commit_transaction` calls
/// first, polls in 100 ms slices that it waits out whole, so a commit
/// with records in flight cost at least 100 ms; after this it returns at
/// once.
pub(crate) fn wait_delivered(producer: &Producer, timeout: Duration) -> Result<()> {
    use rdkafka::producer::Producer as _;
    let deadline = std::time::Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        if std::time::Instant::now() > deadline {
            return Err(Error::Kafka(format!(
                "{} outputs not acknowledged after {} s",
                producer.in_flight_count(),
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Partition counts of `topics` (None for a topic that does not exist).
pub(crate) fn partition_counts(
    consumer: &BaseConsumer,
    topics: &[String],
) -> Result<Vec<Option<i32>>> {
    topics
        .iter()
        .map(|t| {
            let md = consumer
                .fetch_metadata(Some(t), Duration::from_secs(10))
                .map_err(|e| kafka(&format!("metadata of '{t}'"), e))?;
            let topic = md.topics().first();
            Ok(match topic {
                Some(tp) if tp.error().is_none() && !tp.partitions().is_empty() => {
                    Some(tp.partitions().len() as i32)
                }
                _ => None,
            })
        })
        .collect()
}

/// Creates the topics of `wanted` (name, partitions, compacted) that do
/// not exist; one that exists already is left as it is.
pub(crate) fn create_topics(config: &ClientConfig, wanted: &[(String, i32, bool)]) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|e| kafka("admin client", e))?;
    let topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(name, partitions, compacted)| {
            let t = NewTopic::new(name, *partitions, TopicReplication::Fixed(1));
            if *compacted {
                t.set("cleanup.policy", "compact")
            } else {
                t
            }
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| kafka("async runtime", e))?;
    let results = runtime
        .block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .map_err(|e| kafka("CreateTopics", e))?;
    for r in results {
        match r {
            Ok(name) => tracing::info!(topic = %name, "created topic"),
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(kafka(&format!("creating '{name}'"), code)),
        }
    }
    Ok(())
}

/// A committed offset of one partition, and the commit's metadata.
#[derive(Debug, Clone)]
pub(crate) struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// -1: nothing committed.
    pub offset: i64,
    pub metadata: Option<String>,
}

/// UNSTABLE_OFFSET_COMMIT: an open transaction holds offsets of the
/// partition (KIP-447).
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// Committed offsets (and their metadata) of `topics` x `partitions`, or
/// of everything the group committed when `topics` is None. Offsets that
/// an open transaction holds are waited for (up to `stable_within`): a
/// task's new owner starts where the old one's transaction ends, committed
/// or aborted.
pub(crate) fn fetch_offsets(
    conn: &mut fjord_kafka_client::KafkaConnection,
    group: &str,
    topics: Option<&[String]>,
    partitions: &[i32],
    stable_within: Duration,
) -> Result<Vec<PartitionOffset>> {
    let deadline = std::time::Instant::now() + stable_within;
    let mut logged = false;
    loop {
        match fetch_offsets_once(conn, group, topics, partitions)? {
            Ok(offsets) => return Ok(offsets),
            Err(what) if std::time::Instant::now() < deadline => {
                if !logged {
                    tracing::info!(%group, partition = %what,
                        "waiting for an open transaction to end before reading committed offsets");
                    logged = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(what) => {
                return Err(Error::Kafka(format!(
                    "OffsetFetch of {what}: a transaction has held its offsets for over {} s",
                    stable_within.as_secs()
                )))
            }
        }
    }
}

/// One OffsetFetch; Err(partition) when an open transaction holds one.
fn fetch_offsets_once(
    conn: &mut fjord_kafka_client::KafkaConnection,
    group: &str,
    topics: Option<&[String]>,
    partitions: &[i32],
) -> Result<std::result::Result<Vec<PartitionOffset>, String>> {
    let version = conn
        .version::<OffsetFetchRequest>(7)
        .map_err(|e| kafka("OffsetFetch", e))?;
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(topics.map(|topics| {
            topics
                .iter()
                .map(|t| {
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.clone())))
                        .with_partition_indexes(partitions.to_vec())
                })
                .collect()
        }))
        .with_require_stable(true);
    let resp = conn
        .call(version, &request)
        .map_err(|e| kafka("OffsetFetch", e))?;
    if resp.error_code != 0 {
        return Err(Error::Kafka(format!(
            "OffsetFetch: {}",
            fjord_kafka_client::error_name(resp.error_code)
        )));
    }
    let mut out = Vec::new();
    for t in resp.topics {
        for p in t.partitions {
            if p.error_code == UNSTABLE_OFFSET_COMMIT {
                return Ok(Err(format!("{}-{}", t.name.as_str(), p.partition_index)));
            }
            if p.error_code != 0 {
                return Err(Error::Kafka(format!(
                    "OffsetFetch of {}-{}: {}",
                    t.name.as_str(),
                    p.partition_index,
                    fjord_kafka_client::error_name(p.error_code)
                )));
            }
            out.push(PartitionOffset {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                metadata: p.metadata.map(|m| m.to_string()),
            });
        }
    }
    Ok(Ok(out))
}

/// A commit's outcome: done, or the Kafka error code that means the
/// member must rejoin (its generation is over).
pub(crate) fn commit_offsets(
    conn: &mut fjord_kafka_client::KafkaConnection,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[PartitionOffset],
) -> Result<std::result::Result<(), i16>> {
    let version = conn
        .version::<OffsetCommitRequest>(8)
        .map_err(|e| kafka("OffsetCommit", e))?;
    let mut by_topic: std::collections::BTreeMap<&str, Vec<OffsetCommitRequestPartition>> =
        Default::default();
    for o in offsets {
        by_topic.entry(&o.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(o.partition)
                .with_committed_offset(o.offset)
                .with_committed_metadata(o.metadata.clone().map(StrBytes::from_string)),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let resp = conn
        .call(version, &request)
        .map_err(|e| kafka("OffsetCommit", e))?;
    for t in resp.topics {
        for p in t.partitions {
            if p.error_code != 0 {
                return Ok(Err(p.error_code));
            }
        }
    }
    Ok(Ok(()))
}

/// Whether a librdkafka error is only "nothing yet".
pub(crate) fn is_benign(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::PartitionEOF(_)
            | KafkaError::MessageConsumption(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
    )
}
