//! TxnOffsetCommit: a transactional producer commits a consumer group's
//! offsets as part of its transaction. The offsets are written to
//! `__consumer_offsets` as a transactional batch of the producer and become
//! the group's committed offsets only when the transaction commits (the
//! COMMIT marker); an abort drops them.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::add_offsets_to_txn::offsets_partition;
use crate::broker::Broker;
use crate::group::{code_of, CommitRequest, TxnProducer, OFFSETS_TOPIC};

pub fn handle(
    broker: &Arc<Broker>,
    req: TxnOffsetCommitRequest,
) -> impl Future<Output = TxnOffsetCommitResponse> + Send + 'static {
    enum Slot {
        Refused(i16),
        Committed(usize),
    }
    // A refusal of the whole request (the transaction or the group), if any.
    let whole = verify(broker, &req).err();
    let mut offsets = Vec::new();
    let mut layout = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let topic = broker.topics.get(t.name.as_str());
        let mut slots = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let exists = topic.as_ref().is_some_and(|tp| {
                p.partition_index >= 0 && (p.partition_index as usize) < tp.partitions.len()
            });
            let slot = match (whole, exists) {
                (Some(code), _) => Slot::Refused(code),
                (None, false) => Slot::Refused(ResponseError::UnknownTopicOrPartition.code()),
                (None, true) => {
                    offsets.push((
                        t.name.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.committed_metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                    ));
                    Slot::Committed(offsets.len() - 1)
                }
            };
            slots.push((p.partition_index, slot));
        }
        layout.push((t.name.clone(), slots));
    }
    let commit = (!offsets.is_empty()).then(|| {
        broker.groups.commit_txn(
            CommitRequest {
                group_id: req.group_id.to_string(),
                generation: req.generation_id,
                member_id: req.member_id.to_string(),
                instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
                offsets,
            },
            TxnProducer {
                producer_id: req.producer_id.0,
                producer_epoch: req.producer_epoch,
            },
        )
    });
    async move {
        let results = match commit {
            Some(c) => c.await,
            None => Vec::new(),
        };
        let topics = layout
            .into_iter()
            .map(|(name, slots)| {
                let partitions = slots
                    .into_iter()
                    .map(|(index, slot)| {
                        let code = match slot {
                            Slot::Refused(code) => code,
                            Slot::Committed(i) => results.get(i).map_or(0, code_of),
                        };
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(code)
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect();
        TxnOffsetCommitResponse::default().with_topics(topics)
    }
}

/// The group id is valid and the producer's ongoing transaction holds the
/// group's offsets partition; else the error code for every partition.
fn verify(broker: &Broker, req: &TxnOffsetCommitRequest) -> Result<(), i16> {
    if req.group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId.code());
    }
    broker
        .groups
        .ensure_offsets_topic(&broker.topics)
        .map_err(|e| e.wire())?;
    let partition = offsets_partition(broker, req.group_id.as_str())
        .ok_or(ResponseError::CoordinatorNotAvailable.code())?;
    broker
        .txn
        .verify_in_txn(
            req.transactional_id.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            (OFFSETS_TOPIC, partition),
        )
        .map_err(|e| e.wire())
}
