//! OffsetCommit: group members commit with their generation; consumers
//! that assign partitions themselves commit with generation -1 and no
//! member id ("simple" commits). Answered once the commit is fsynced.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::broker::Broker;
use crate::group::{code_of, CommitRequest};

pub fn handle(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    version: i16,
) -> impl Future<Output = OffsetCommitResponse> + Send + 'static {
    // Where each requested partition's answer comes from: an immediate
    // error, or the n-th entry of the commit's results.
    enum Slot {
        Refused(i16),
        Committed(usize),
    }
    let mut offsets = Vec::new();
    let mut layout = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let topic = broker.topics.get(t.name.as_str());
        let mut slots = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let exists = topic.as_ref().is_some_and(|tp| {
                p.partition_index >= 0 && (p.partition_index as usize) < tp.partitions.len()
            });
            if !exists {
                slots.push((
                    p.partition_index,
                    Slot::Refused(ResponseError::UnknownTopicOrPartition.code()),
                ));
                continue;
            }
            slots.push((p.partition_index, Slot::Committed(offsets.len())));
            offsets.push((
                t.name.to_string(),
                p.partition_index,
                p.committed_offset,
                if version >= 6 {
                    p.committed_leader_epoch
                } else {
                    -1
                },
                p.committed_metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            ));
        }
        layout.push((t.name.clone(), slots));
    }
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
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(code)
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    }
}
