//! Helpers for the consumer-group tests: a broker with short group
//! timings, and the group requests built from plain values.
#![allow(dead_code)]

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::common::*;

pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const FENCED_INSTANCE_ID: i16 = 82;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;

/// A broker whose groups rebalance without the initial delay (or with
/// `delay_ms`) and accept short session timeouts.
pub async fn group_broker(delay_ms: u64) -> TestBroker {
    TestBroker::start_with(move |c| {
        c.group_initial_rebalance_delay_ms = delay_ms;
        c.group_min_session_timeout_ms = 10;
    })
    .await
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

/// A ConsumerProtocolSubscription v0 for `topics`.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// JoinGroup with protocol type "consumer" and one "range" protocol.
pub fn join_req(
    group: &str,
    member: &str,
    instance: Option<&str>,
    session_ms: i32,
    meta: Bytes,
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(session_ms)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(meta)])
}

pub fn sync_req(
    group: &str,
    generation: i32,
    member: &str,
    assignments: &[(&str, &[u8])],
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        )
}

pub fn heartbeat_req(group: &str, generation: i32, member: &str) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
}

pub async fn heartbeat(c: &mut Client, group: &str, generation: i32, member: &str) -> i16 {
    c.send(4, heartbeat_req(group, generation, member))
        .await
        .error_code
}

pub fn leave_req(group: &str, members: &[(&str, Option<&str>)]) -> LeaveGroupRequest {
    LeaveGroupRequest::default()
        .with_group_id(gid(group))
        .with_members(
            members
                .iter()
                .map(|(m, i)| {
                    MemberIdentity::default()
                        .with_member_id(s(m))
                        .with_group_instance_id(i.map(s))
                })
                .collect(),
        )
}

/// The two-step join of a new dynamic member: returns its member id after
/// MEMBER_ID_REQUIRED, without sending the second JoinGroup.
pub async fn member_id(c: &mut Client, group: &str, session_ms: i32, topics: &[&str]) -> String {
    let resp = c
        .send(
            9,
            join_req(group, "", None, session_ms, subscription(topics)),
        )
        .await;
    assert_eq!(resp.error_code, MEMBER_ID_REQUIRED);
    assert!(!resp.member_id.is_empty());
    resp.member_id.to_string()
}

/// Sends a JoinGroup v9 without waiting for it.
pub async fn start_join(
    c: &mut Client,
    group: &str,
    member: &str,
    session_ms: i32,
    topics: &[&str],
) {
    c.send_only(
        9,
        &join_req(group, member, None, session_ms, subscription(topics)),
    )
    .await;
}

pub async fn finish_join(c: &mut Client) -> JoinGroupResponse {
    c.recv::<JoinGroupRequest>(9).await.1
}

pub async fn finish_sync(c: &mut Client) -> SyncGroupResponse {
    c.recv::<SyncGroupRequest>(5).await.1
}

/// OffsetCommit v9 of (topic, partition, offset, metadata).
pub fn commit_req(
    group: &str,
    generation: i32,
    member: &str,
    offsets: &[(&str, i32, i64, &str)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o, m) in offsets {
        let part = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_metadata(Some(s(m)));
        match topics.iter_mut().find(|x| x.name.as_str() == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(vec![part]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(topics)
}

/// Error codes of an OffsetCommit, flattened in request order.
pub async fn commit(c: &mut Client, req: OffsetCommitRequest) -> Vec<i16> {
    c.send(9, req)
        .await
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// OffsetFetch v7 (single-group form): (topic, partition, offset, metadata).
pub async fn fetch_offsets(
    c: &mut Client,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> Vec<(String, i32, i64, String)> {
    let req = OffsetFetchRequest::default()
        .with_group_id(gid(group))
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps.to_vec())
                })
                .collect()
        }));
    let resp = c.send(7, req).await;
    assert_eq!(resp.error_code, 0);
    resp.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                assert_eq!(p.error_code, 0);
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                )
            })
        })
        .collect()
}

pub async fn describe(c: &mut Client, group: &str) -> describe_groups_response::DescribedGroup {
    let resp = c
        .send(
            5,
            DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
        )
        .await;
    resp.groups[0].clone()
}

/// Polls heartbeats every 50 ms until one answers something other than
/// success; returns that code.
pub async fn heartbeat_until_error(
    c: &mut Client,
    group: &str,
    generation: i32,
    member: &str,
) -> i16 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let code = heartbeat(c, group, generation, member).await;
        if code != 0 {
            return code;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rebalance signalled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
