//! Committed offsets (OffsetCommit, OffsetFetch, OffsetDelete), the group
//! admin APIs, and their survival across restarts through
//! __consumer_offsets.

mod common;
mod group_support;

use common::*;
use group_support::*;
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::*;

fn delete_offsets_req(group: &str, topic: &str, partitions: &[i32]) -> OffsetDeleteRequest {
    OffsetDeleteRequest::default()
        .with_group_id(gid(group))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| OffsetDeleteRequestPartition::default().with_partition_index(*p))
                    .collect(),
            )])
}

/// A member joined alone and synced: (member id, generation).
async fn lone_member(c: &mut Client, group: &str, topics: &[&str]) -> (String, i32) {
    let id = member_id(c, group, 10_000, topics).await;
    let j = c
        .send(9, join_req(group, &id, None, 10_000, subscription(topics)))
        .await;
    assert_eq!(j.error_code, 0);
    let r = c
        .send(5, sync_req(group, j.generation_id, &id, &[(&id, b"a")]))
        .await;
    assert_eq!(r.error_code, 0);
    (id, j.generation_id)
}

#[tokio::test]
async fn simple_commits_are_fetched_with_their_metadata() {
    let b = group_broker(0).await;
    let mut c = b.client().await;
    c.create_topic("t", 3).await;
    let codes = commit(
        &mut c,
        commit_req(
            "simple",
            -1,
            "",
            &[
                ("t", 0, 10, "m0"),
                ("t", 2, 30, ""),
                ("nope", 0, 1, ""),
                ("t", 9, 1, ""),
            ],
        ),
    )
    .await;
    assert_eq!(
        codes,
        vec![0, 0, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION]
    );

    let got = fetch_offsets(&mut c, "simple", Some(&[("t", &[0, 1, 2])])).await;
    assert_eq!(
        got,
        vec![
            ("t".into(), 0, 10, "m0".into()),
            ("t".into(), 1, -1, "".into()),
            ("t".into(), 2, 30, "".into()),
        ]
    );
    // Null topics: everything committed.
    let all = fetch_offsets(&mut c, "simple", None).await;
    assert_eq!(all.len(), 2);
    // A later commit replaces the earlier one.
    assert_eq!(
        commit(
            &mut c,
            commit_req("simple", -1, "", &[("t", 0, 11, "again")])
        )
        .await,
        vec![0]
    );
    let got = fetch_offsets(&mut c, "simple", Some(&[("t", &[0])])).await;
    assert_eq!(got, vec![("t".into(), 0, 11, "again".into())]);
    // An unknown group has nothing committed.
    let none = fetch_offsets(&mut c, "never", Some(&[("t", &[0])])).await;
    assert_eq!(none, vec![("t".into(), 0, -1, "".into())]);

    // Oversized metadata is refused per partition.
    let big = "x".repeat(5000);
    assert_eq!(
        commit(&mut c, commit_req("simple", -1, "", &[("t", 1, 5, &big)])).await,
        vec![12]
    );

    // The v8+ multi-group form.
    let req = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(gid("simple"))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(topic_name("t"))
                .with_partition_indexes(vec![0, 2])])),
        OffsetFetchRequestGroup::default()
            .with_group_id(gid("never"))
            .with_topics(None),
    ]);
    let resp = c.send(9, req.with_require_stable(true)).await;
    assert_eq!(resp.groups.len(), 2);
    let offsets: Vec<i64> = resp.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, vec![11, 30]);
    assert!(resp.groups[1].topics.is_empty());
}

#[tokio::test]
async fn group_commits_check_generation_and_member() {
    let b = group_broker(0).await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let (id, gen) = lone_member(&mut c, "g", &["t"]).await;
    assert_eq!(
        commit(&mut c, commit_req("g", gen, &id, &[("t", 0, 5, "")])).await,
        vec![0]
    );
    assert_eq!(
        commit(&mut c, commit_req("g", gen + 1, &id, &[("t", 0, 6, "")])).await,
        vec![ILLEGAL_GENERATION]
    );
    assert_eq!(
        commit(&mut c, commit_req("g", gen, "other", &[("t", 0, 6, "")])).await,
        vec![UNKNOWN_MEMBER_ID]
    );
    // A simple commit to a group with members is refused.
    assert_eq!(
        commit(&mut c, commit_req("g", -1, "", &[("t", 0, 6, "")])).await,
        vec![UNKNOWN_MEMBER_ID]
    );
    // A generation for a group that does not exist.
    assert_eq!(
        commit(&mut c, commit_req("ghost", 3, "m", &[("t", 0, 6, "")])).await,
        vec![ILLEGAL_GENERATION]
    );
    assert_eq!(
        fetch_offsets(&mut c, "g", Some(&[("t", &[0])])).await[0].2,
        5
    );
    // Every advertised OffsetCommit / OffsetFetch version.
    let (cmin, cmax) = fjord_broker::api::supported(ApiKey::OffsetCommit).unwrap();
    for v in cmin..=cmax {
        let resp = c
            .send(
                v,
                commit_req("g", gen, &id, &[("t", 0, 100 + v as i64, "")]),
            )
            .await;
        assert_eq!(
            resp.topics[0].partitions[0].error_code, 0,
            "OffsetCommit v{v}"
        );
    }
    let (fmin, fmax) = fjord_broker::api::supported(ApiKey::OffsetFetch).unwrap();
    for v in fmin..=fmax.min(7) {
        let req = OffsetFetchRequest::default()
            .with_group_id(gid("g"))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic_name("t"))
                    .with_partition_indexes(vec![0]),
            ]));
        let resp = c.send(v, req).await;
        assert_eq!(
            resp.topics[0].partitions[0].committed_offset,
            100 + cmax as i64,
            "OffsetFetch v{v}"
        );
    }
}

#[tokio::test]
async fn offset_delete_is_refused_for_subscribed_topics() {
    let b = group_broker(0).await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    c.create_topic("old", 1).await;
    let (id, gen) = lone_member(&mut c, "g", &["t"]).await;
    assert_eq!(
        commit(
            &mut c,
            commit_req("g", gen, &id, &[("t", 0, 5, ""), ("old", 0, 7, "")])
        )
        .await,
        vec![0, 0]
    );
    let r = c.send(0, delete_offsets_req("g", "t", &[0])).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        GROUP_SUBSCRIBED_TO_TOPIC
    );
    let r = c.send(0, delete_offsets_req("g", "old", &[0])).await;
    assert_eq!((r.error_code, r.topics[0].partitions[0].error_code), (0, 0));
    assert_eq!(
        fetch_offsets(&mut c, "g", Some(&[("old", &[0])])).await[0].2,
        -1
    );
    assert_eq!(
        fetch_offsets(&mut c, "g", Some(&[("t", &[0])])).await[0].2,
        5
    );
    let r = c.send(0, delete_offsets_req("nope", "t", &[0])).await;
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND);
    // Once the member has left, the offsets can go.
    c.send(5, leave_req("g", &[(&id, None)])).await;
    let r = c.send(0, delete_offsets_req("g", "t", &[0])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        fetch_offsets(&mut c, "g", Some(&[("t", &[0])])).await[0].2,
        -1
    );
}

#[tokio::test]
async fn describe_list_and_delete_groups() {
    let b = group_broker(0).await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let (id, gen) = lone_member(&mut c, "live", &["t"]).await;
    assert_eq!(
        commit(&mut c, commit_req("idle", -1, "", &[("t", 0, 1, "")])).await,
        vec![0]
    );

    let d = describe(&mut c, "live").await;
    assert_eq!(d.error_code, 0);
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(
        (d.protocol_type.as_str(), d.protocol_data.as_str()),
        ("consumer", "range")
    );
    assert_eq!(d.members.len(), 1);
    let m = &d.members[0];
    assert_eq!(m.member_id.as_str(), id);
    assert_eq!(m.client_id.as_str(), "fjord-broker-tests");
    assert_eq!(m.client_host.as_str(), "/127.0.0.1");
    assert_eq!(m.member_metadata, subscription(&["t"]));
    assert_eq!(m.member_assignment.as_ref(), b"a");
    let (dmin, dmax) = fjord_broker::api::supported(ApiKey::DescribeGroups).unwrap();
    for v in dmin..=dmax {
        let r = c
            .send(
                v,
                DescribeGroupsRequest::default().with_groups(vec![gid("live"), gid("missing")]),
            )
            .await;
        assert_eq!(
            r.groups[0].group_state.as_str(),
            "Stable",
            "DescribeGroups v{v}"
        );
        let missing = if v >= 6 { GROUP_ID_NOT_FOUND } else { 0 };
        assert_eq!(r.groups[1].error_code, missing, "DescribeGroups v{v}");
        assert_eq!(
            r.groups[1].group_state.as_str(),
            "Dead",
            "DescribeGroups v{v}"
        );
    }

    let list = |states: &[&str]| {
        ListGroupsRequest::default().with_states_filter(states.iter().map(|x| s(x)).collect())
    };
    let (lmin, lmax) = fjord_broker::api::supported(ApiKey::ListGroups).unwrap();
    for v in lmin..=lmax {
        let r = c
            .send(
                v,
                if v >= 4 {
                    list(&[])
                } else {
                    ListGroupsRequest::default()
                },
            )
            .await;
        let ids: Vec<_> = r.groups.iter().map(|g| g.group_id.to_string()).collect();
        assert_eq!(ids, vec!["idle", "live"], "ListGroups v{v}");
    }
    let r = c.send(4, list(&["stable"])).await;
    let listed: Vec<_> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.group_state.to_string(),
                g.protocol_type.to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![("live".into(), "Stable".into(), "consumer".into())]
    );
    let r = c
        .send(
            5,
            ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        )
        .await;
    assert!(r.groups.is_empty(), "every group here is classic");

    let r = c
        .send(
            2,
            DeleteGroupsRequest::default().with_groups_names(vec![
                gid("live"),
                gid("idle"),
                gid("missing"),
            ]),
        )
        .await;
    let codes: Vec<_> = r
        .results
        .iter()
        .map(|x| (x.group_id.to_string(), x.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("live".into(), NON_EMPTY_GROUP),
            ("idle".into(), 0),
            ("missing".into(), GROUP_ID_NOT_FOUND)
        ]
    );
    assert_eq!(
        fetch_offsets(&mut c, "idle", Some(&[("t", &[0])])).await[0].2,
        -1
    );
    assert_eq!(
        c.send(4, heartbeat_req("live", gen, &id)).await.error_code,
        0
    );
}

/// Committed offsets, groups and deletions come back after a restart,
/// replayed from __consumer_offsets; groups come back Empty, without
/// members.
#[tokio::test]
async fn offsets_and_groups_survive_a_restart() {
    let mut b = group_broker(0).await;
    let mut c = b.client().await;
    c.create_topic("t", 2).await;
    let (id, gen) = lone_member(&mut c, "members", &["t"]).await;
    assert_eq!(
        commit(
            &mut c,
            commit_req("members", gen, &id, &[("t", 0, 42, "meta")])
        )
        .await,
        vec![0]
    );
    assert_eq!(
        commit(
            &mut c,
            commit_req("simple", -1, "", &[("t", 1, 7, ""), ("t", 0, 3, "")])
        )
        .await,
        vec![0, 0]
    );
    assert_eq!(
        commit(&mut c, commit_req("gone", -1, "", &[("t", 0, 9, "")])).await,
        vec![0]
    );
    let r = c.send(0, delete_offsets_req("simple", "t", &[0])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = c
        .send(
            2,
            DeleteGroupsRequest::default().with_groups_names(vec![gid("gone")]),
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);

    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(
        fetch_offsets(&mut c, "members", None).await,
        vec![("t".into(), 0, 42, "meta".into())]
    );
    assert_eq!(
        fetch_offsets(&mut c, "simple", None).await,
        vec![("t".into(), 1, 7, "".into())]
    );
    assert!(fetch_offsets(&mut c, "gone", None).await.is_empty());
    let r = c.send(4, ListGroupsRequest::default()).await;
    let listed: Vec<_> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.group_state.to_string(),
                g.protocol_type.to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("members".into(), "Empty".into(), "consumer".into()),
            ("simple".into(), "Empty".into(), "".into()),
        ]
    );
    // The old member is gone; a new one starts a later generation.
    assert_eq!(
        heartbeat(&mut c, "members", gen, &id).await,
        UNKNOWN_MEMBER_ID
    );
    let (_, gen2) = lone_member(&mut c, "members", &["t"]).await;
    assert!(gen2 > gen, "generation {gen2} after {gen}");

    // And once more after an unclean stop.
    b.crash_and_restart().await;
    let mut c = b.client().await;
    assert_eq!(fetch_offsets(&mut c, "members", None).await[0].2, 42);
}

/// A batch the log keeps (its length and CRC are right) that no decoder
/// can read: its attributes claim gzip, its records are not compressed.
fn undecodable_batch(base_offset: i64) -> Vec<u8> {
    let mut batch = Batch::of(&["not gzip"]).encode().to_vec();
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[22] |= 1; // the attributes' low byte: compression codec 1, gzip
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// Appends `undecodable_batch` to the active segment of every partition of
/// `topic`, behind the broker's back (as damage or a newer broker would).
fn damage_every_partition(b: &TestBroker, topic: &str) {
    use std::io::Write;
    for (i, part) in b
        .broker()
        .topics
        .get(topic)
        .unwrap()
        .partitions
        .iter()
        .enumerate()
    {
        let dir = b.data_dir().join(format!("{topic}-{i}"));
        let mut logs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(logs.last().expect("a segment"))
            .unwrap();
        file.write_all(&undecodable_batch(part.log_end_offset()))
            .unwrap();
    }
}

// Symptom: one batch of __consumer_offsets that could not be decoded made
// the broker refuse to start ("metadata file ... is unreadable"), taking
// every group's offsets down with it.
#[tokio::test]
async fn an_undecodable_batch_in_the_offsets_topic_is_skipped_at_start() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("in", 1).await;
    let before = commit_req("g", -1, "", &[("in", 0, 5, "before")]);
    assert_eq!(commit(&mut c, before).await, vec![0]);
    damage_every_partition(&b, "__consumer_offsets");
    b.crash_and_restart().await;

    let mut c = b.client().await;
    let got = fetch_offsets(&mut c, "g", Some(&[("in", &[0])])).await;
    assert_eq!(got[0].2, 5, "the offset committed before the bad batch");
    // Commits after it are kept across the next restart too.
    let after = commit_req("g", -1, "", &[("in", 0, 9, "after")]);
    assert_eq!(commit(&mut c, after).await, vec![0]);
    b.restart().await;
    let mut c = b.client().await;
    let got = fetch_offsets(&mut c, "g", Some(&[("in", &[0])])).await;
    assert_eq!((got[0].2, got[0].3.as_str()), (9, "after"));
}

fn all_offsets(got: &[(String, i32, i64, String)]) -> Vec<(String, i64)> {
    got.iter().map(|(t, _, o, _)| (t.clone(), *o)).collect()
}

// Kafka removes a deleted topic's committed offsets (so a topic created
// again under the name does not inherit them); Fjord kept them for ever.
#[tokio::test]
async fn committed_offsets_go_with_their_topic() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("gone", 1).await;
    c.create_topic("kept", 1).await;
    let req = commit_req("g", -1, "", &[("gone", 0, 5, ""), ("kept", 0, 7, "")]);
    assert_eq!(commit(&mut c, req).await, vec![0, 0]);
    assert_eq!(c.delete_topic("gone").await, 0);
    assert_eq!(
        all_offsets(&fetch_offsets(&mut c, "g", None).await),
        vec![("kept".to_string(), 7)]
    );
    // Tombstoned in __consumer_offsets: a restart does not bring them back.
    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(
        all_offsets(&fetch_offsets(&mut c, "g", None).await),
        vec![("kept".to_string(), 7)]
    );
}

// offsets.retention.minutes (KIP-211): a group with no members loses its
// committed offsets once it has been idle that long; a group with a member
// keeps them however old they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_groups_offsets_expire_and_a_live_groups_stay() {
    let b = TestBroker::start_with(|c| {
        c.offsets_retention_minutes = 0;
        c.retention_check_interval_ms = 50;
        c.group_initial_rebalance_delay_ms = 0;
    })
    .await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    // A live KIP-848 member in "live".
    let joined = c
        .send(
            1,
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(gid("live"))
                .with_member_id(s("m"))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![topic_name("t")]))
                .with_topic_partitions(Some(vec![])),
        )
        .await;
    assert_eq!(joined.error_code, 0);
    let live = commit_req("live", joined.member_epoch, "m", &[("t", 0, 3, "")]);
    assert_eq!(commit(&mut c, live).await, vec![0]);
    let idle = commit_req("idle", -1, "", &[("t", 0, 4, "")]);
    assert_eq!(commit(&mut c, idle).await, vec![0]);
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    loop {
        // Keep the live member's session while waiting.
        let beat = c
            .send(
                1,
                ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(gid("live"))
                    .with_member_id(s("m"))
                    .with_member_epoch(joined.member_epoch)
                    .with_rebalance_timeout_ms(-1),
            )
            .await;
        assert_eq!(beat.error_code, 0);
        if fetch_offsets(&mut c, "idle", None).await.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the idle group's offsets never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        all_offsets(&fetch_offsets(&mut c, "live", None).await),
        vec![("t".to_string(), 3)]
    );
}
