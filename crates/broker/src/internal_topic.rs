//! A compacted internal topic (`__consumer_offsets`, `__transaction_state`)
//! as its coordinator holds it. Like Kafka, the topic is created on first
//! use, not at start; once it exists its partitions are kept here, and a
//! key's records always go to the same partition.

use std::sync::{Arc, OnceLock};

use fjord_log::Partition;

use crate::error::{BrokerError, Result};
use crate::group::records::partition_for;
use crate::group::OFFSETS_TOPIC;
use crate::topics::Topics;
use crate::txn::TXN_TOPIC;

/// Whether `topic` is one the broker writes alone (Kafka's
/// `Topic.isInternal`): its records are the group and transaction
/// coordinators' state, replayed at start. Clients may read it, but not
/// produce to it, delete it or its records, grow it or make it
/// uncompacted. `_schemas` and topics that merely start with `__` are
/// ordinary topics, as in Kafka.
pub fn is_broker_internal(topic: &str) -> bool {
    topic == OFFSETS_TOPIC || topic == TXN_TOPIC
}

/// Refuses a client's `action` ("produce to", "delete", ...) on a
/// broker-internal topic with Kafka's INVALID_TOPIC_EXCEPTION.
pub fn refuse_client_change(topic: &str, action: &'static str) -> Result<()> {
    if is_broker_internal(topic) {
        return Err(BrokerError::InternalTopic {
            topic: topic.to_string(),
            action,
        });
    }
    Ok(())
}

pub struct InternalTopic {
    /// Kafka's name for the topic.
    name: &'static str,
    /// Set once the topic exists.
    partitions: OnceLock<Vec<Arc<Partition>>>,
    /// Partition count to create the topic with.
    create_partitions: i32,
}

impl InternalTopic {
    /// Opens the topic if it exists; `create_partitions` (at least 1) is
    /// what `ensure` creates it with.
    pub fn open(topics: &Topics, name: &'static str, create_partitions: i32) -> InternalTopic {
        let topic = InternalTopic {
            name,
            partitions: OnceLock::new(),
            create_partitions: create_partitions.max(1),
        };
        if let Some(t) = topics.get(name) {
            let _ = topic.partitions.set(t.partitions.clone());
        }
        topic
    }

    /// Creates the topic (compacted) unless it exists.
    pub fn ensure(&self, topics: &Topics) -> Result<()> {
        if self.partitions.get().is_some() {
            return Ok(());
        }
        let topic = topics.ensure_compacted_internal(self.name, self.create_partitions)?;
        let _ = self.partitions.set(topic.partitions.clone());
        Ok(())
    }

    /// The partitions, None while the topic does not exist.
    pub fn partitions(&self) -> Option<&[Arc<Partition>]> {
        self.partitions.get().map(Vec::as_slice)
    }

    /// The partition that holds `key`'s records (a group or transactional
    /// id), Kafka's way; the error says the topic does not exist yet.
    pub fn partition_of(&self, key: &str) -> std::result::Result<&Arc<Partition>, String> {
        let partitions = self
            .partitions
            .get()
            .ok_or_else(|| format!("{} does not exist yet", self.name))?;
        Ok(&partitions[partition_for(key, partitions.len())])
    }
}
