//! OffsetFetch: committed offsets and their metadata; -1 (and empty
//! metadata) where nothing is committed; every committed partition when
//! the topic list is null. v8+ asks for several groups at once.
//! With `require_stable` (v7+, read_committed consumers) a partition that an
//! open transaction holds an offset for answers UNSTABLE_OFFSET_COMMIT, and
//! the client asks again once the transaction ends.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::Committed;

pub fn handle(broker: &Broker, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let stable = req.require_stable;
    // The error of a partition whose offset a transaction may still change.
    let unstable = |group: &str, topic: &TopicName, p: i32| {
        if stable
            && broker
                .groups
                .has_pending_txn_offset(group, topic.as_str(), p)
        {
            ResponseError::UnstableOffsetCommit.code()
        } else {
            0
        }
    };
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                let found = broker.groups.fetch_offsets(g.group_id.as_str(), topics);
                let group = g.group_id.to_string();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(
                        found
                            .into_iter()
                            .map(|(t, parts)| {
                                let t = name(t);
                                OffsetFetchResponseTopics::default()
                                    .with_name(t.clone())
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|(p, c)| {
                                                let (o, e, m) = fields(c);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(o)
                                                    .with_committed_leader_epoch(e)
                                                    .with_metadata(Some(m))
                                                    .with_error_code(unstable(&group, &t, p))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let found = broker.groups.fetch_offsets(req.group_id.as_str(), topics);
    OffsetFetchResponse::default().with_topics(
        found
            .into_iter()
            .map(|(t, parts)| {
                let t = name(t);
                OffsetFetchResponseTopic::default()
                    .with_name(t.clone())
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, c)| {
                                let (o, e, m) = fields(c);
                                let wire = OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(o)
                                    .with_metadata(Some(m))
                                    .with_error_code(unstable(req.group_id.as_str(), &t, p));
                                if version >= 5 {
                                    wire.with_committed_leader_epoch(e)
                                } else {
                                    wire
                                }
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

fn name(t: String) -> TopicName {
    TopicName(StrBytes::from_string(t))
}

fn fields(c: Option<Committed>) -> (i64, i32, StrBytes) {
    match c {
        Some(c) => (c.offset, c.leader_epoch, StrBytes::from_string(c.metadata)),
        None => (-1, -1, StrBytes::default()),
    }
}
