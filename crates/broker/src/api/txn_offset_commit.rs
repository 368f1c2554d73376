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
use super::commit_slots::{self, Requested};
use crate::broker::Broker;
use crate::group::{CommitRequest, TxnProducer, OFFSETS_TOPIC};

pub fn handle(
    broker: &Arc<Broker>,
    req: TxnOffsetCommitRequest,
) -> impl Future<Output = TxnOffsetCommitResponse> + Send + 'static {
    // A refusal of the whole request (the transaction or the group), if any.
    let whole = verify(broker, &req).err();
    let requested = req.topics.iter().map(|t| {
        let partitions = t.partitions.iter().map(|p| Requested {
            partition: p.partition_index,
            offset: p.committed_offset,
            leader_epoch: p.committed_leader_epoch,
            metadata: p.committed_metadata.as_ref(),
        });
        (&t.name, partitions)
    });
    let (offsets, slots) = commit_slots::sort(broker, requested, whole);
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
        let topics = slots.answer(
            &results,
            |index, code| {
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(index)
                    .with_error_code(code)
            },
            |name, partitions| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            },
        );
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
