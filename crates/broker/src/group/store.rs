//! `__consumer_offsets`: the compacted internal topic that keeps committed
//! offsets and group metadata across restarts.
//!
//! Like Kafka, the topic is created when groups are first used (the first
//! FindCoordinator for a group, JoinGroup or OffsetCommit), not before: a
//! broker that never sees a consumer group has no internal topic.
//!
//! Writes go through fjord-log like any produce (one RecordBatch per
//! change); a change is acknowledged only after `Pending::durable` has
//! fsynced it (acks=all semantics). On start the topic is read from its
//! start and replayed; the last record per key wins, a tombstone deletes.
//!
//! Callers ask for writes while holding the coordinator's groups lock,
//! which fixes their order (a later commit of an offset must land after
//! an earlier one), but the append itself runs on a thread of its own
//! (`Appender`, on the blocking pool), in that order: a slow disk (a segment roll's fsyncs,
//! page-cache writeback throttling) then delays the answers of the
//! requests that wrote, never the groups lock, so heartbeats of unrelated
//! groups go on. The coordinator's memory is updated when the write is
//! asked for; a write that then fails is answered with its error (as a
//! failed fsync always was).
//!
//! Transactional offsets (TxnOffsetCommit) are written as a transactional
//! batch with the producer's id and epoch and held aside per producer
//! (`txn_pending`); the COMMIT marker for that producer applies them, an
//! ABORT marker drops them. Replay follows the same rule, so offsets of a
//! transaction still open at a restart stay pending until its marker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fjord_log::{BatchHeader, Partition};
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::records::{self, Key};
use super::GroupError;
use crate::error::Result;
use crate::internal_topic::InternalTopic;
use crate::lock::lock;
use crate::server::now_ms;
use crate::topics::Topics;

/// Kafka's name for the internal topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Bytes read per step while replaying.
const REPLAY_CHUNK: usize = 1 << 20;

pub struct OffsetsLog {
    topic: InternalTopic,
    /// Transactional offset records awaiting their producer's marker, per
    /// producer id, in log order.
    txn_pending: Arc<Mutex<HashMap<i64, Vec<KeyValue>>>>,
    appender: Appender,
}

/// One append, run by the `Appender`: the partition appended to and the
/// last offset written.
type AppendJob = Box<dyn FnOnce() -> std::result::Result<(Arc<Partition>, i64), GroupError> + Send>;

/// Runs appends one at a time, in the order they were asked for, on the
/// blocking pool: one drainer task at a time empties the queue.
struct Appender {
    queue: Arc<Mutex<AppendQueue>>,
}

#[derive(Default)]
struct AppendQueue {
    jobs: std::collections::VecDeque<(AppendJob, AppendReply)>,
    /// A drainer is running (it takes every job queued before it stops).
    draining: bool,
}

type AppendReply =
    tokio::sync::oneshot::Sender<std::result::Result<(Arc<Partition>, i64), GroupError>>;

impl Appender {
    fn new() -> Appender {
        Appender {
            queue: Arc::new(Mutex::new(AppendQueue::default())),
        }
    }

    /// Queues `job`; its result reaches the returned `Pending`.
    fn submit(&self, job: AppendJob) -> Pending {
        let (reply, appended) = tokio::sync::oneshot::channel();
        let mut queue = lock(&self.queue);
        queue.jobs.push_back((job, reply));
        if !queue.draining {
            queue.draining = true;
            let shared = self.queue.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn_blocking(move || drain(&shared));
                }
                // No runtime (a caller outside tokio): append right here.
                Err(_) => {
                    drop(queue);
                    drain(&shared);
                }
            }
        }
        Pending { appended }
    }
}

/// Runs queued appends in order until the queue is empty. The asker may
/// have gone (its connection closed): its write still happens, in order.
fn drain(queue: &Mutex<AppendQueue>) {
    loop {
        let next = {
            let mut q = lock(queue);
            match q.jobs.pop_front() {
                Some(next) => next,
                None => {
                    q.draining = false;
                    return;
                }
            }
        };
        let (job, reply) = next;
        let _ = reply.send(job());
    }
}

/// A record of the topic: a key and its value, None for a tombstone.
pub type KeyValue = (Key, Option<Bytes>);

/// A transactional write's producer: its id and epoch go in the batch
/// header, as in the producer's own batches.
#[derive(Debug, Clone, Copy)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// A write asked for: maybe not yet in the log, maybe not yet on disk.
pub struct Pending {
    appended:
        tokio::sync::oneshot::Receiver<std::result::Result<(Arc<Partition>, i64), GroupError>>,
}

impl Pending {
    /// Waits until the write is appended and fsynced.
    pub async fn durable(self) -> std::result::Result<(), GroupError> {
        let (partition, last_offset) = match self.appended.await {
            Ok(appended) => appended?,
            Err(_) => {
                return Err(GroupError::Storage(
                    "the __consumer_offsets append was dropped (the runtime is shutting down)"
                        .into(),
                ))
            }
        };
        match tokio::task::spawn_blocking(move || partition.sync_to(last_offset)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(GroupError::Storage(e.to_string())),
            Err(e) => Err(GroupError::Storage(format!("fsync task failed: {e}"))),
        }
    }
}

impl OffsetsLog {
    /// Opens the internal topic if it exists.
    pub fn open(topics: &Topics, create_partitions: i32) -> OffsetsLog {
        OffsetsLog {
            topic: InternalTopic::open(topics, OFFSETS_TOPIC, create_partitions),
            txn_pending: Arc::new(Mutex::new(HashMap::new())),
            appender: Appender::new(),
        }
    }

    /// Creates the internal topic (compacted) unless it exists.
    pub fn ensure(&self, topics: &Topics) -> Result<()> {
        self.topic.ensure(topics)
    }

    /// Appends one batch of (key, value-or-tombstone) records for `group`,
    /// after every write asked for before it.
    pub fn append(
        &self,
        group: &str,
        records: &[(Key, Option<Bytes>)],
    ) -> std::result::Result<Pending, GroupError> {
        let encoded = encode(records);
        let partition = self
            .topic
            .partition_of(group)
            .map_err(GroupError::CoordinatorNotAvailable)?
            .clone();
        Ok(self.appender.submit(Box::new(move || {
            let batch = records::batch(&encoded, now_ms());
            let outcome = partition
                .append(&batch, now_ms())
                .map_err(|e| GroupError::Storage(e.to_string()))?;
            Ok((partition, outcome.last_offset))
        })))
    }

    /// Appends `records` for `group` as one transactional batch of
    /// `producer` and, once written, holds them until its marker. The batch
    /// gets the sequence the partition expects next from this producer
    /// (read when the append runs, after every earlier write), as the log
    /// checks transactional batches like any idempotent ones.
    pub fn append_txn(
        &self,
        group: &str,
        records: &[(Key, Option<Bytes>)],
        producer: TxnProducer,
    ) -> std::result::Result<Pending, GroupError> {
        let partition = self
            .topic
            .partition_of(group)
            .map_err(GroupError::CoordinatorNotAvailable)?
            .clone();
        let encoded = encode(records);
        let records = records.to_vec();
        let txn_pending = self.txn_pending.clone();
        Ok(self.appender.submit(Box::new(move || {
            let base_sequence = partition
                .producer_ids()
                .into_iter()
                .find(|(id, epoch, _)| {
                    *id == producer.producer_id && *epoch == producer.producer_epoch
                })
                .map_or(
                    0,
                    |(_, _, last)| if last == i32::MAX { 0 } else { last + 1 },
                );
            let batch = records::txn_batch(&encoded, now_ms(), producer, base_sequence);
            let outcome = partition
                .append(&batch, now_ms())
                .map_err(|e| GroupError::Storage(e.to_string()))?;
            lock(&txn_pending)
                .entry(producer.producer_id)
                .or_default()
                .extend(records);
            Ok((partition, outcome.last_offset))
        })))
    }

    /// The records a producer's transaction wrote, removed from the
    /// pending set: to apply on commit, to drop on abort.
    pub fn take_txn(&self, producer_id: i64) -> Vec<(Key, Option<Bytes>)> {
        lock(&self.txn_pending)
            .remove(&producer_id)
            .unwrap_or_default()
    }

    /// Whether any transaction holds an uncommitted offset for the
    /// partition (OffsetFetch's require_stable).
    pub fn has_pending_txn_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        lock(&self.txn_pending).values().flatten().any(|(k, _)| {
            matches!(k, Key::Offset { group: g, topic: t, partition: p }
                if g == group && t == topic && *p == partition)
        })
    }

    /// Every record of the topic, oldest first, per partition. Undecodable
    /// records are skipped with a warning (a newer format, or damage).
    /// Transactional records reach `apply` when their COMMIT marker is
    /// replayed; those of a transaction without a marker yet stay pending.
    pub fn replay(&self, mut apply: impl FnMut(Key, Option<Bytes>)) -> Result<()> {
        let Some(partitions) = self.topic.partitions() else {
            return Ok(());
        };
        for (index, partition) in partitions.iter().enumerate() {
            // Per producer, within this partition: a marker closes only the
            // transaction's records in its own partition.
            let mut open: HashMap<i64, Vec<(Key, Option<Bytes>)>> = HashMap::new();
            replay_partition(partition, OFFSETS_TOPIC, index, |record| {
                if record.control {
                    let done = open.remove(&record.producer_id).unwrap_or_default();
                    if records::is_commit_marker(record.key.as_deref()) {
                        for (key, value) in done {
                            apply(key, value);
                        }
                    }
                    return;
                }
                let Some(key) = record.key else { return };
                match Key::decode(&key) {
                    Ok(key) if record.transactional => open
                        .entry(record.producer_id)
                        .or_default()
                        .push((key, record.value)),
                    Ok(key) => apply(key, record.value),
                    Err(e) => tracing::warn!(
                        partition = index, offset = record.offset, error = %e,
                        "skipping __consumer_offsets record"
                    ),
                }
            })?;
            let mut pending = lock(&self.txn_pending);
            for (producer_id, records) in open {
                pending.entry(producer_id).or_default().extend(records);
            }
        }
        Ok(())
    }
}

fn encode(records: &[(Key, Option<Bytes>)]) -> Vec<(Bytes, Option<Bytes>)> {
    records
        .iter()
        .map(|(k, v)| (k.encode(), v.clone()))
        .collect()
}

/// Every record of one partition of an internal topic (`topic`-`index`),
/// oldest first from the log start, control records included. Shared by the
/// `__consumer_offsets` and `__transaction_state` replays, which walk their
/// logs the same way and differ only in what a record means.
///
/// Batches are decoded one at a time: a batch that cannot be decoded (a
/// codec this build lacks, damage the CRC did not catch, a record written
/// by a newer broker) is skipped with an error naming its partition and
/// offset, so one bad batch costs its own records, not the broker's start.
pub(crate) fn replay_partition(
    partition: &Partition,
    topic: &str,
    index: usize,
    mut each: impl FnMut(Record),
) -> Result<()> {
    let mut offset = partition.log_start_offset();
    while offset < partition.log_end_offset() {
        let slice = partition.read(offset, REPLAY_CHUNK, true)?;
        if slice.bytes.is_empty() {
            break;
        }
        let mut next = offset;
        for (header, span) in BatchHeader::walk(&slice.bytes) {
            let mut buf = slice.bytes.slice(span);
            match RecordBatchDecoder::decode(&mut buf) {
                Ok(set) => set
                    .records
                    .into_iter()
                    .filter(|r| r.offset >= offset)
                    .for_each(&mut each),
                Err(e) => tracing::error!(
                    topic, partition = index, offset = header.base_offset, error = %e,
                    "skipping an undecodable batch in an internal topic; its records are not replayed"
                ),
            }
            next = next.max(header.last_offset() + 1);
        }
        // No whole batch past `offset` (a torn header): step over it.
        offset = next.max(offset + 1);
    }
    Ok(())
}
