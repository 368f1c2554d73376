//! OffsetCommit: group members commit with their generation; consumers
//! that assign partitions themselves commit with generation -1 and no
//! member id ("simple" commits). Answered once the commit is fsynced.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::commit_slots::{self, Requested};
use crate::broker::Broker;
use crate::group::CommitRequest;

pub fn handle(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    version: i16,
) -> impl Future<Output = OffsetCommitResponse> + Send + 'static {
    let requested = req.topics.iter().map(|t| {
        let partitions = t.partitions.iter().map(move |p| Requested {
            partition: p.partition_index,
            offset: p.committed_offset,
            // The leader epoch came in v6.
            leader_epoch: if version >= 6 {
                p.committed_leader_epoch
            } else {
                -1
            },
            metadata: p.committed_metadata.as_ref(),
        });
        (&t.name, partitions)
    });
    let (offsets, slots) = commit_slots::sort(broker, requested, None);
    // A failure here surfaces as the commit's own (the write is refused).
    let _ = broker.groups.ensure_offsets_topic(&broker.topics);
    let commit = broker.groups.commit(CommitRequest {
        group_id: req.group_id.to_string(),
        generation: req.generation_id_or_member_epoch,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        offsets,
    });
    async move {
        let results = commit.await;
        let topics = slots.answer(
            &results,
            |index, code| {
                OffsetCommitResponsePartition::default()
                    .with_partition_index(index)
                    .with_error_code(code)
            },
            |name, partitions| {
                OffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            },
        );
        OffsetCommitResponse::default().with_topics(topics)
    }
}
