//! The KIP-848 consumer group protocol over the wire: ConsumerGroupHeartbeat
//! joins, reconciliation (a partition moves only after its owner revoked
//! it), epoch fencing, leaving, session timeouts, ConsumerGroupDescribe,
//! offsets with the member epoch, and coexistence with classic groups.

mod common;
mod group_support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use group_support::*;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use uuid::Uuid;

const FENCED_MEMBER_EPOCH: i16 = 110;
const UNSUPPORTED_ASSIGNOR: i16 = 112;
const STALE_MEMBER_EPOCH: i16 = 113;
const INVALID_REQUEST: i16 = 42;
const INVALID_REGULAR_EXPRESSION: i16 = 128;

async fn kip848_broker(session_ms: i32) -> TestBroker {
    TestBroker::start_with(move |c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.group_consumer_session_timeout_ms = session_ms;
        c.group_consumer_heartbeat_interval_ms = 100;
    })
    .await
}

fn join(group: &str, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| topic_name(t)).collect()))
        .with_topic_partitions(Some(vec![]))
}

fn beat(
    group: &str,
    member: &str,
    epoch: i32,
    owned: &[i32],
    topic: Uuid,
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic_id(topic)
            .with_partitions(owned.to_vec())]))
}

fn parts(resp: &ConsumerGroupHeartbeatResponse) -> Option<BTreeSet<i32>> {
    resp.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .flat_map(|tp| tp.partitions.iter().copied())
            .collect()
    })
}

fn topic_id(b: &TestBroker, name: &str) -> Uuid {
    b.broker().topics.get(name).expect("topic exists").id
}

#[tokio::test]
async fn two_members_split_partitions_only_after_revocation() {
    let b = kip848_broker(30_000).await;
    let mut c = b.client().await;
    c.create_topic("t", 4).await;
    let t = topic_id(&b, "t");

    let r = c.send(1, join("g", "m1", &["t"])).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 100);
    assert_eq!(parts(&r), Some(BTreeSet::from([0, 1, 2, 3])));

    // m2 joins: the group epoch is 2, but m1 still owns everything.
    let r2 = c.send(1, join("g", "m2", &["t"])).await;
    assert_eq!(r2.error_code, 0);
    assert_eq!(r2.member_epoch, 2);
    assert_eq!(parts(&r2), Some(BTreeSet::new()));

    // m1 is told to keep two: it stays at epoch 1 until it revokes.
    let r = c.send(1, beat("g", "m1", 1, &[0, 1, 2, 3], t)).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.member_epoch, 1);
    let kept = parts(&r).expect("a smaller assignment");
    assert_eq!(kept.len(), 2);
    let released: Vec<i32> = (0..4).filter(|p| !kept.contains(p)).collect();

    // Before m1 revokes, m2 still gets nothing.
    let r2 = c.send(1, beat("g", "m2", 2, &[], t)).await;
    assert_eq!((r2.error_code, r2.member_epoch), (0, 2));
    assert!(parts(&r2).is_none_or(|p| p.is_empty()));

    // m1 reports the smaller set: epoch 2; then m2 gets the released two.
    let kept_v: Vec<i32> = kept.iter().copied().collect();
    let r = c.send(1, beat("g", "m1", 1, &kept_v, t)).await;
    assert_eq!((r.error_code, r.member_epoch), (0, 2));
    let r2 = c.send(1, beat("g", "m2", 2, &[], t)).await;
    assert_eq!(parts(&r2), Some(released.iter().copied().collect()));

    // ConsumerGroupDescribe: Stable once m2 confirms, both at epoch 2.
    let r2 = c.send(1, beat("g", "m2", 2, &released, t)).await;
    assert_eq!(r2.error_code, 0);
    let d = c
        .send(
            1,
            ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid("g")]),
        )
        .await;
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!((g.group_epoch, g.assignment_epoch), (2, 2));
    assert_eq!(g.assignor_name.as_str(), "uniform");
    assert_eq!(g.members.len(), 2);
    for m in &g.members {
        assert_eq!(m.member_epoch, 2);
        assert_eq!(m.assignment.topic_partitions[0].topic_name.as_str(), "t");
        assert_eq!(m.assignment.topic_partitions[0].partitions.len(), 2);
    }

    // ListGroups: a consumer group, found by the "consumer" type filter only.
    let l = c
        .send(
            5,
            ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        )
        .await;
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_type.as_str(), "consumer");
    assert_eq!(l.groups[0].group_state.as_str(), "Stable");
    let l = c
        .send(
            5,
            ListGroupsRequest::default().with_types_filter(vec![s("classic")]),
        )
        .await;
    assert!(l.groups.is_empty());

    // m2 leaves: m1 gets everything back at epoch 3.
    let r2 = c
        .send(1, beat("g", "m2", -1, &[], t).with_topic_partitions(None))
        .await;
    assert_eq!((r2.error_code, r2.member_epoch), (0, -1));
    let r = c.send(1, beat("g", "m1", 2, &kept_v, t)).await;
    assert_eq!(r.member_epoch, 3);
    assert_eq!(parts(&r), Some(BTreeSet::from([0, 1, 2, 3])));
}

#[tokio::test]
async fn epochs_are_fenced_and_unknown_members_refused() {
    let b = kip848_broker(30_000).await;
    let mut c = b.client().await;
    c.create_topic("t", 2).await;
    let t = topic_id(&b, "t");
    let r = c.send(1, join("g", "m1", &["t"])).await;
    assert_eq!(r.member_epoch, 1);

    let r = c.send(1, beat("g", "m1", 7, &[0, 1], t)).await;
    assert_eq!(r.error_code, FENCED_MEMBER_EPOCH);
    let r = c.send(1, beat("g", "nobody", 1, &[], t)).await;
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
    let r = c.send(1, beat("other", "m1", 1, &[], t)).await;
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);

    // Rejoining with epoch 0 and the same id starts over (it owns nothing).
    let r = c.send(1, join("g", "m1", &["t"])).await;
    assert_eq!((r.error_code, r.member_epoch), (0, 1));
    assert_eq!(parts(&r), Some(BTreeSet::from([0, 1])));

    // v0: the broker chooses the member id.
    let r = c.send(0, join("g", "", &["t"])).await;
    assert_eq!(r.error_code, 0);
    assert!(!r.member_id.as_deref().unwrap_or_default().is_empty());

    let r = c
        .send(
            1,
            join("g2", "x", &["t"]).with_server_assignor(Some(s("sticky"))),
        )
        .await;
    assert_eq!(r.error_code, UNSUPPORTED_ASSIGNOR);
    let r = c
        .send(
            1,
            join("g2", "x", &[])
                .with_subscribed_topic_names(None)
                .with_subscribed_topic_regex(Some(s("t.*"))),
        )
        .await;
    assert_eq!(r.error_code, INVALID_REGULAR_EXPRESSION);
    let r = c
        .send(1, join("g2", "x", &["t"]).with_rebalance_timeout_ms(-1))
        .await;
    assert_eq!(r.error_code, INVALID_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn a_silent_member_is_removed_after_the_session_timeout() {
    let b = kip848_broker(1_000).await;
    let mut c = b.client().await;
    c.create_topic("t", 2).await;
    let t = topic_id(&b, "t");
    c.send(1, join("g", "m1", &["t"])).await;
    let r2 = c.send(1, join("g", "m2", &["t"])).await;
    assert_eq!(r2.member_epoch, 2);
    // m1 revokes one; m2 takes it.
    let r = c.send(1, beat("g", "m1", 1, &[0, 1], t)).await;
    let kept: Vec<i32> = parts(&r).unwrap().into_iter().collect();
    c.send(1, beat("g", "m1", 1, &kept, t)).await;
    let r2 = c.send(1, beat("g", "m2", 2, &[], t)).await;
    assert_eq!(parts(&r2).unwrap().len(), 1);

    // m2 stays alive, m1 goes silent.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let owned: Vec<i32> = (0..2).filter(|p| !kept.contains(p)).collect();
        let r2 = c
            .send(1, beat("g", "m2", r2.member_epoch.max(2), &owned, t))
            .await;
        if r2.member_epoch == 3 {
            assert_eq!(parts(&r2), Some(BTreeSet::from([0, 1])));
            let r = c.send(1, beat("g", "m1", 2, &kept, t)).await;
            assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
            return;
        }
    }
    panic!("m1 was not removed after its session timeout");
}

#[tokio::test]
async fn commits_carry_the_member_epoch_and_protocols_do_not_mix() {
    let b = kip848_broker(30_000).await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let r = c.send(1, join("g", "m1", &["t"])).await;
    assert_eq!(r.member_epoch, 1);

    let commit = |epoch: i32| {
        OffsetCommitRequest::default()
            .with_group_id(gid("g"))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(s("m1"))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(5)])])
    };
    let r = c.send(9, commit(1)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = c.send(9, commit(0)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, STALE_MEMBER_EPOCH);

    // A classic JoinGroup for the live consumer group is refused.
    let j = c
        .send(9, join_req("g", "", None, 10_000, subscription(&["t"])))
        .await;
    assert_eq!(j.error_code, INCONSISTENT_GROUP_PROTOCOL);
    // DescribeGroups shows it with its members.
    let d = c
        .send(
            5,
            DescribeGroupsRequest::default().with_groups(vec![gid("g")]),
        )
        .await;
    assert_eq!(d.groups[0].protocol_type.as_str(), "consumer");
    assert_eq!(d.groups[0].members.len(), 1);

    // And a consumer-protocol join to a live classic group too.
    let rx = c
        .send(
            9,
            join_req("classic", "", None, 10_000, subscription(&["t"])),
        )
        .await;
    let j = c
        .send(
            9,
            join_req(
                "classic",
                rx.member_id.as_str(),
                None,
                10_000,
                subscription(&["t"]),
            ),
        )
        .await;
    assert_eq!(j.error_code, 0);
    let r = c.send(1, join("classic", "m9", &["t"])).await;
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);

    // Offsets and the member survive a restart: it goes on at its epoch.
    let mut b = b;
    b.restart().await;
    let mut c = b.client().await;
    let t = topic_id(&b, "t");
    let r = c.send(1, beat("g", "m1", 1, &[0], t)).await;
    assert_eq!(
        (r.error_code, r.member_epoch),
        (0, 1),
        "{:?}",
        r.error_message
    );
    let f = c
        .send(
            8,
            OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(gid("g"))
                    .with_topics(None),
            ]),
        )
        .await;
    assert_eq!(f.groups[0].topics[0].partitions[0].committed_offset, 5);
}

async fn describe(c: &mut Client, group: &str) -> ConsumerGroupDescribeResponseData {
    let d = c
        .send(
            1,
            ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid(group)]),
        )
        .await;
    d.groups.into_iter().next().expect("one group")
}

type ConsumerGroupDescribeResponseData = consumer_group_describe_response::DescribedGroup;

/// Members' epochs and partitions, by member id.
async fn members(c: &mut Client, group: &str) -> Vec<(String, i32, BTreeSet<i32>)> {
    let mut out: Vec<_> = describe(c, group)
        .await
        .members
        .iter()
        .map(|m| {
            let owned = m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|tp| tp.partitions.iter().copied())
                .collect();
            (m.member_id.to_string(), m.member_epoch, owned)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn members_and_assignments_survive_a_broker_restart() {
    let mut b = kip848_broker(30_000).await;
    let mut c = b.client().await;
    c.create_topic("t", 4).await;
    let t = topic_id(&b, "t");
    // Two members settle on two partitions each at epoch 2.
    c.send(1, join("g", "m1", &["t"])).await;
    c.send(1, join("g", "m2", &["t"])).await;
    let r = c.send(1, beat("g", "m1", 1, &[0, 1, 2, 3], t)).await;
    let kept: Vec<i32> = parts(&r).unwrap().into_iter().collect();
    let r = c.send(1, beat("g", "m1", 1, &kept, t)).await;
    assert_eq!(r.member_epoch, 2);
    let r2 = c.send(1, beat("g", "m2", 2, &[], t)).await;
    let other: Vec<i32> = parts(&r2).unwrap().into_iter().collect();
    assert_eq!(other.len(), 2);
    c.send(1, beat("g", "m2", 2, &other, t)).await;
    // A third member joins and leaves: it must stay gone.
    c.send(1, join("g", "m3", &["t"])).await;
    let r3 = c
        .send(
            1,
            beat("g", "m3", 3, &[], t)
                .with_topic_partitions(None)
                .with_member_epoch(-1),
        )
        .await;
    assert_eq!(r3.error_code, 0);
    let before = members(&mut c, "g").await;
    let epoch_before = describe(&mut c, "g").await.group_epoch;

    b.restart().await;
    let mut c = b.client().await;
    let t = topic_id(&b, "t");
    let g = describe(&mut c, "g").await;
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_epoch, epoch_before);
    assert_eq!(
        members(&mut c, "g").await,
        before,
        "members come back as they were"
    );
    // Both go on heartbeating with their epochs, no rejoin; the group
    // settles without anyone giving a partition up.
    let e1 = before[0].1;
    let r = c.send(1, beat("g", "m1", e1, &kept, t)).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let r2 = c.send(1, beat("g", "m2", before[1].1, &other, t)).await;
    assert_eq!(r2.error_code, 0, "{:?}", r2.error_message);
    for _ in 0..3 {
        let r = c.send(1, beat("g", "m1", r.member_epoch, &kept, t)).await;
        assert_eq!(r.error_code, 0);
        let owned = parts(&r).map(|p| p.into_iter().collect::<Vec<_>>());
        assert!(
            owned.as_ref().is_none_or(|o| *o == kept),
            "m1 keeps {kept:?}: {owned:?}"
        );
        let r2 = c.send(1, beat("g", "m2", r2.member_epoch, &other, t)).await;
        assert_eq!(r2.error_code, 0);
    }
    assert_eq!(describe(&mut c, "g").await.group_state.as_str(), "Stable");
    // The member that left is unknown.
    let r3 = c.send(1, beat("g", "m3", 3, &[], t)).await;
    assert_eq!(r3.error_code, UNKNOWN_MEMBER_ID);
}

#[tokio::test(start_paused = true)]
async fn a_restored_member_that_never_returns_times_out() {
    let mut b = kip848_broker(1_000).await;
    let mut c = b.client().await;
    c.create_topic("t", 2).await;
    let t = topic_id(&b, "t");
    c.send(1, join("g", "m1", &["t"])).await;
    c.send(1, join("g", "m2", &["t"])).await;
    let r = c.send(1, beat("g", "m1", 1, &[0, 1], t)).await;
    let kept: Vec<i32> = parts(&r).unwrap().into_iter().collect();
    c.send(1, beat("g", "m1", 1, &kept, t)).await;
    let r2 = c.send(1, beat("g", "m2", 2, &[], t)).await;
    let other: Vec<i32> = parts(&r2).unwrap().into_iter().collect();

    b.restart().await;
    let mut c = b.client().await;
    let t = topic_id(&b, "t");
    // Only m2 comes back; m1's restored session runs out and m2 gets both.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r2 = c.send(1, beat("g", "m2", 2, &other, t)).await;
        if r2.member_epoch == 3 {
            assert_eq!(parts(&r2), Some(BTreeSet::from([0, 1])));
            // The removal was stored: after another restart m1 is unknown.
            b.restart().await;
            let mut c = b.client().await;
            let t = topic_id(&b, "t");
            let r = c.send(1, beat("g", "m1", 2, &kept, t)).await;
            assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
            return;
        }
        assert_eq!(r2.error_code, 0, "{:?}", r2.error_message);
    }
    panic!("the restored m1 was not removed after its session timeout");
}
