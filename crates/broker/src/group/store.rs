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

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use fjord_log::Partition;
use kafka_protocol::records::RecordBatchDecoder;

use super::records::{self, Key};
use super::GroupError;
use crate::error::{BrokerError, Result};
use crate::server::now_ms;
use crate::topics::Topics;

/// Kafka's name for the internal topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Bytes read per step while replaying.
const REPLAY_CHUNK: usize = 1 << 20;

pub struct OffsetsLog {
    /// Set once the topic exists.
    partitions: OnceLock<Vec<Arc<Partition>>>,
    /// Partition count to create the topic with.
    create_partitions: i32,
}

/// A write that is in the log but maybe not yet on disk.
pub struct Pending {
    partition: Arc<Partition>,
    last_offset: i64,
}

impl Pending {
    /// Waits until the write is fsynced.
    pub async fn durable(self) -> std::result::Result<(), GroupError> {
        let Pending {
            partition,
            last_offset,
        } = self;
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
        let log = OffsetsLog {
            partitions: OnceLock::new(),
            create_partitions: create_partitions.max(1),
        };
        if let Some(t) = topics.get(OFFSETS_TOPIC) {
            let _ = log.partitions.set(t.partitions.clone());
        }
        log
    }

    /// Creates the internal topic (compacted) unless it exists.
    pub fn ensure(&self, topics: &Topics) -> Result<()> {
        if self.partitions.get().is_some() {
            return Ok(());
        }
        let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        let topic = match topics.create(
            OFFSETS_TOPIC,
            self.create_partitions,
            configs,
            i32::MAX,
            false,
        ) {
            Ok(t) => t,
            // Created concurrently: use the one that won.
            Err(BrokerError::TopicExists(_)) => topics
                .get(OFFSETS_TOPIC)
                .ok_or_else(|| BrokerError::UnknownTopic(OFFSETS_TOPIC.to_string()))?,
            Err(e) => return Err(e),
        };
        let _ = self.partitions.set(topic.partitions.clone());
        Ok(())
    }

    /// Appends one batch of (key, value-or-tombstone) records for `group`.
    pub fn append(
        &self,
        group: &str,
        records: &[(Key, Option<Bytes>)],
    ) -> std::result::Result<Pending, GroupError> {
        let encoded: Vec<(Bytes, Option<Bytes>)> = records
            .iter()
            .map(|(k, v)| (k.encode(), v.clone()))
            .collect();
        let batch = records::batch(&encoded, now_ms());
        let partitions = self.partitions.get().ok_or_else(|| {
            GroupError::CoordinatorNotAvailable(format!("{OFFSETS_TOPIC} does not exist yet"))
        })?;
        let partition = partitions[records::partition_for(group, partitions.len())].clone();
        let outcome = partition
            .append(&batch, now_ms())
            .map_err(|e| GroupError::Storage(e.to_string()))?;
        Ok(Pending {
            partition,
            last_offset: outcome.last_offset,
        })
    }

    /// Every record of the topic, oldest first, per partition. Undecodable
    /// records are skipped with a warning (a newer format, or damage).
    pub fn replay(&self, mut apply: impl FnMut(Key, Option<Bytes>)) -> Result<()> {
        let Some(partitions) = self.partitions.get() else {
            return Ok(());
        };
        for (index, partition) in partitions.iter().enumerate() {
            let mut offset = partition.log_start_offset();
            while offset < partition.log_end_offset() {
                let slice = partition.read(offset, REPLAY_CHUNK, true)?;
                if slice.bytes.is_empty() {
                    break;
                }
                let mut buf = slice.bytes.clone();
                let batches = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| {
                    BrokerError::CorruptMetadata {
                        path: format!("{OFFSETS_TOPIC}-{index}@{offset}"),
                        reason: e.to_string(),
                    }
                })?;
                let mut next = offset;
                for record in batches.into_iter().flat_map(|b| b.records) {
                    next = next.max(record.offset + 1);
                    if record.offset < offset || record.control {
                        continue;
                    }
                    let Some(key) = record.key else { continue };
                    match Key::decode(&key) {
                        Ok(key) => apply(key, record.value),
                        Err(e) => tracing::warn!(
                            partition = index, offset = record.offset, error = %e,
                            "skipping __consumer_offsets record"
                        ),
                    }
                }
                if next <= offset {
                    // The slice held no record past `offset` (an empty
                    // batch left by compaction); step over it by header.
                    next = last_offset_in(&slice.bytes).map_or(offset + 1, |o| o + 1);
                }
                offset = next;
            }
        }
        Ok(())
    }
}

/// Last offset of the last batch in a record set, from batch headers.
fn last_offset_in(bytes: &[u8]) -> Option<i64> {
    let mut pos = 0;
    let mut last = None;
    while pos + 27 <= bytes.len() {
        let base = i64::from_be_bytes(bytes[pos..pos + 8].try_into().ok()?);
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().ok()?);
        let delta = i32::from_be_bytes(bytes[pos + 23..pos + 27].try_into().ok()?);
        last = Some(base + delta as i64);
        if len <= 0 {
            break;
        }
        pos += 12 + len as usize;
    }
    last
}
