//! `__transaction_state`: the compacted internal topic that keeps every
//! transactional id's coordinator state across restarts.
//!
//! Like Kafka, the topic is created when transactions are first used (the
//! first FindCoordinator for a transactional id, or InitProducerId with
//! one). A state change is one record keyed by the transactional id, fsynced
//! before the change is acted on; on start the topic is replayed from its
//! beginning and the last record per id wins.

use std::collections::HashMap;

use super::records::{self, TxnValue};
use super::TxnError;
use crate::error::Result;
use crate::group::records::batch;
use crate::group::store::replay_partition;
use crate::internal_topic::InternalTopic;
use crate::server::now_ms;
use crate::topics::Topics;

/// Kafka's name for the internal topic.
pub const TXN_TOPIC: &str = "__transaction_state";

pub struct TxnLog {
    topic: InternalTopic,
}

impl TxnLog {
    /// Opens the internal topic if it exists.
    pub fn open(topics: &Topics, create_partitions: i32) -> TxnLog {
        TxnLog {
            topic: InternalTopic::open(topics, TXN_TOPIC, create_partitions),
        }
    }

    /// Creates the internal topic (compacted) unless it exists.
    pub fn ensure(&self, topics: &Topics) -> Result<()> {
        self.topic.ensure(topics)
    }

    /// Writes one transactional id's state and, if `durable`, waits until
    /// it is on disk. Blocking (an fsync): call from the blocking pool.
    pub fn write(
        &self,
        transactional_id: &str,
        value: &TxnValue,
        durable: bool,
    ) -> Result<(), TxnError> {
        let partition = self
            .topic
            .partition_of(transactional_id)
            .map_err(TxnError::CoordinatorNotAvailable)?;
        let record = (records::encode_key(transactional_id), Some(value.encode()));
        let now = now_ms();
        let outcome = partition
            .append(&batch(&[record], now), now)
            .map_err(|e| TxnError::Storage(e.to_string()))?;
        if !durable {
            return Ok(());
        }
        partition
            .sync_to(outcome.last_offset)
            .map_err(|e| TxnError::Storage(e.to_string()))
    }

    /// Removes a transactional id: a tombstone, which replay applies and
    /// compaction then drops. Blocking (a write): call from the blocking
    /// pool.
    pub fn remove(&self, transactional_id: &str) -> Result<(), TxnError> {
        let partition = self
            .topic
            .partition_of(transactional_id)
            .map_err(TxnError::CoordinatorNotAvailable)?;
        let record = (records::encode_key(transactional_id), None);
        let now = now_ms();
        partition
            .append(&batch(&[record], now), now)
            .map(|_| ())
            .map_err(|e| TxnError::Storage(e.to_string()))
    }

    /// The last stored state of every transactional id.
    pub fn replay(&self) -> Result<HashMap<String, TxnValue>> {
        let mut out = HashMap::new();
        let Some(partitions) = self.topic.partitions() else {
            return Ok(out);
        };
        for (index, partition) in partitions.iter().enumerate() {
            replay_partition(partition, TXN_TOPIC, index, |record| {
                if record.control {
                    return;
                }
                let Some(key) = record.key else { return };
                let id = match records::decode_key(&key) {
                    Ok(id) => id,
                    Err(e) => {
                        tracing::warn!(partition = index, offset = record.offset, error = %e,
                        "skipping {TXN_TOPIC} record");
                        return;
                    }
                };
                match record.value.as_deref().map(TxnValue::decode) {
                    None => {
                        out.remove(&id);
                    }
                    Some(Ok(v)) => {
                        out.insert(id, v);
                    }
                    Some(Err(e)) => tracing::warn!(
                        transactional_id = %id, offset = record.offset, error = %e,
                        "skipping {TXN_TOPIC} record"
                    ),
                }
            })?;
        }
        Ok(out)
    }
}
