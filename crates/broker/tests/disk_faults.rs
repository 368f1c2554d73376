//! The broker on a failing disk, through the wire: partition data on the
//! fault-injecting file system. A full disk refuses produces with
//! KAFKA_STORAGE_ERROR while reads go on, and writing resumes by itself
//! once there is room.

mod common;
mod group_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fjord_log::FaultFs;
use group_support::{gid, join_req, subscription, sync_req, MEMBER_ID_REQUIRED};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const KAFKA_STORAGE_ERROR: i16 = 56;

#[tokio::test]
async fn a_full_disk_refuses_produces_keeps_reads_and_recovers_by_itself() {
    let fs = FaultFs::new();
    let b = TestBroker::start_on(Some(fs.shared()), |_| {}).await;
    let mut c = b.client().await;
    c.create_topic("full", 1).await;
    assert_eq!(
        c.produce("full", 0, -1, Batch::of(&["a"]).encode()).await,
        (0, 0)
    );

    fs.fail_writes(true);
    for acks in [-1, 1] {
        let (err, _) = c
            .produce("full", 0, acks, Batch::of(&["lost"]).encode())
            .await;
        assert_eq!(err, KAFKA_STORAGE_ERROR, "acks={acks}");
    }
    let read = c.fetch("full", 0, 0, 1 << 20).await;
    assert_eq!(read.error_code, 0);
    assert_eq!(values(read.records.as_ref().unwrap()), vec![b"a".to_vec()]);

    fs.fail_writes(false);
    assert_eq!(
        c.produce("full", 0, -1, Batch::of(&["b"]).encode()).await,
        (0, 1)
    );
    let read = c.fetch("full", 0, 0, 1 << 20).await;
    assert_eq!(
        values(read.records.as_ref().unwrap()),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
}

// Item 9: a slow disk (every fsync 200 ms) under producers whose appends
// roll segments (each roll fsyncs the old segment and its indexes under
// the partition lock) must not hold up the async workers: a consumer
// group member on another topic keeps its session, its heartbeats
// answered promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_does_not_delay_other_groups_heartbeats() {
    let fs = FaultFs::new();
    let b = heartbeat_test_broker(&fs).await;
    let mut admin = b.client().await;
    admin
        .create_topic_with("slow", 1, &[("segment.bytes", "8192")])
        .await;
    admin.create_topic("other", 1).await;
    fs.set_sync_delay(Duration::from_millis(200));

    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for _ in 0..4 {
        let (addr, stop) = (b.addr, stop.clone());
        producers.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                let (err, _) = c
                    .produce("slow", 0, 1, Batch::sized(1, 1000).encode())
                    .await;
                assert_eq!(err, 0);
                sent += 1;
            }
            sent
        }));
    }

    let slowest = slowest_heartbeat_for(&b, Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for p in producers {
        sent += p.await.unwrap();
    }
    eprintln!("slow disk: {sent} produces, slowest heartbeat {slowest:?}");
    assert!(
        sent > 8,
        "the producers rolled segments ({sent} produces of 1 KB, 8 KB segments)"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest heartbeat {slowest:?}"
    );
}

/// A broker on `fs` whose KIP-848 members heartbeat every 100 ms and
/// lose their session after 1.5 s: a stalled heartbeat shows at once.
async fn heartbeat_test_broker(fs: &FaultFs) -> TestBroker {
    TestBroker::start_on(Some(fs.shared()), |c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.group_consumer_session_timeout_ms = 1500;
        c.group_consumer_heartbeat_interval_ms = 100;
    })
    .await
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A KIP-848 member of group "elsewhere" on topic "other" heartbeats every
/// 100 ms for `span`; returns its slowest answer. Fails if it loses its
/// session.
async fn slowest_heartbeat_for(b: &TestBroker, span: Duration) -> Duration {
    let heartbeat = |epoch: i32| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("elsewhere")))
            .with_member_id(s("member-1"))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(if epoch == 0 { 30_000 } else { -1 })
            .with_subscribed_topic_names((epoch == 0).then(|| vec![topic_name("other")]))
            .with_topic_partitions((epoch == 0).then(Vec::new))
    };
    let mut member = b.client().await;
    let joined = member.send(1, heartbeat(0)).await;
    assert_eq!(joined.error_code, 0);
    let mut epoch = joined.member_epoch;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < span {
        let sent = Instant::now();
        let r = member.send(1, heartbeat(epoch)).await;
        slowest = slowest.max(sent.elapsed());
        assert_eq!(
            r.error_code, 0,
            "the member lost its session: {:?}",
            r.error_message
        );
        epoch = r.member_epoch;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    slowest
}

// Offset commits of one group roll `__consumer_offsets` segments (2 KB
// here) on a disk whose every fsync takes 200 ms: the appends and their
// rolls run off the coordinator's groups lock, so a member of another
// group keeps its session and its heartbeats are answered promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_offsets_topic_rolls_do_not_delay_other_groups_heartbeats() {
    let fs = FaultFs::new();
    let b = heartbeat_test_broker(&fs).await;
    let mut admin = b.client().await;
    admin.create_topic("other", 1).await;
    let commit = |group: &str, offset: i64| {
        use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name("other"))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])])
    };
    // The first commit makes the topic; then its segments get small.
    let r = admin.send(2, commit("busy-0", 0)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let config = |k: &str, v: &str| {
        AlterableConfig::default()
            .with_name(s(k))
            .with_value(Some(s(v)))
    };
    let r = admin
        .send(
            2,
            AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("__consumer_offsets"))
                .with_configs(vec![
                    config("cleanup.policy", "compact"),
                    config("segment.bytes", "2048"),
                ])]),
        )
        .await;
    assert_eq!(
        r.responses[0].error_code, 0,
        "{:?}",
        r.responses[0].error_message
    );
    let offsets = b.broker().topics.get("__consumer_offsets").unwrap();
    let segments_before: usize = offsets.partitions.iter().map(|p| p.segment_count()).sum();
    fs.set_sync_delay(Duration::from_millis(200));

    let stop = Arc::new(AtomicBool::new(false));
    let mut committers = Vec::new();
    for i in 0..16 {
        let (addr, stop) = (b.addr, stop.clone());
        committers.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = c.send(2, commit(&format!("busy-{i}"), n)).await;
                assert_eq!(r.topics[0].partitions[0].error_code, 0);
                n += 1;
            }
            n
        }));
    }
    let slowest = slowest_heartbeat_for(&b, Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut commits = 0;
    for c in committers {
        commits += c.await.unwrap();
    }
    let segments_after: usize = offsets.partitions.iter().map(|p| p.segment_count()).sum();
    eprintln!(
        "slow disk: {commits} commits, {} rolls of __consumer_offsets, slowest heartbeat {slowest:?}",
        segments_after - segments_before
    );
    assert!(
        segments_after > segments_before,
        "the commits rolled __consumer_offsets ({commits} commits)"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest heartbeat {slowest:?}"
    );
}

// Consumers catching up read closed segments from a disk whose every read
// takes 200 ms (the page cache no longer holds them): those reads run on
// the blocking pool, so a member of another group keeps its session and
// its heartbeats are answered promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_catch_up_reads_do_not_delay_other_groups_heartbeats() {
    let fs = FaultFs::new();
    let b = heartbeat_test_broker(&fs).await;
    let mut admin = b.client().await;
    admin
        .create_topic_with("cold", 1, &[("segment.bytes", "8192")])
        .await;
    admin.create_topic("other", 1).await;
    for _ in 0..40 {
        let (err, _) = admin
            .produce("cold", 0, -1, Batch::sized(1, 1000).encode())
            .await;
        assert_eq!(err, 0);
    }
    let cold = b.broker().topics.partition("cold", 0).unwrap();
    assert!(
        cold.active_segment_base() > 0,
        "closed segments to catch up on"
    );
    fs.set_read_delay(Duration::from_millis(200));

    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (addr, stop) = (b.addr, stop.clone());
        readers.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let mut fetches = 0;
            while !stop.load(Ordering::Relaxed) {
                let got = c.fetch("cold", 0, 0, 1 << 20).await;
                assert_eq!(got.error_code, 0);
                assert!(!got.records.unwrap_or_default().is_empty());
                fetches += 1;
            }
            fetches
        }));
    }
    let slowest = slowest_heartbeat_for(&b, Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut fetches = 0;
    for r in readers {
        fetches += r.await.unwrap();
    }
    eprintln!("slow reads: {fetches} catch-up fetches, slowest heartbeat {slowest:?}");
    assert!(fetches >= 4, "the readers fetched ({fetches})");
    // Read inline, a heartbeat waits for the reads on both workers: 0.4 s
    // and more.
    assert!(
        slowest < Duration::from_millis(250),
        "slowest heartbeat {slowest:?}"
    );
}

// A disk that refuses writes: a classic group's assignment cannot be
// stored, so SyncGroup answers COORDINATOR_NOT_AVAILABLE and the member
// rejoins at once, as librdkafka does. The next rebalance waits a second
// instead of completing at once (it spun thousands of rebalances a second).
#[tokio::test]
async fn a_group_whose_assignment_cannot_be_stored_does_not_spin() {
    let fs = FaultFs::new();
    let b = TestBroker::start_on(Some(fs.shared()), |c| {
        c.group_initial_rebalance_delay_ms = 0;
    })
    .await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let join = |member: &str| join_req("spin", member, None, 10_000, subscription(&["t"]));
    let first = c.send(9, join("")).await;
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let member = first.member_id.to_string();
    fs.fail_writes(true);

    let started = Instant::now();
    let mut generations = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let j = c.send(9, join(&member)).await;
        assert_eq!(j.error_code, 0, "join");
        generations += 1;
        let s = c
            .send(
                5,
                sync_req("spin", j.generation_id, &member, &[(&member, b"a")]),
            )
            .await;
        assert_eq!(
            s.error_code, 15,
            "the assignment cannot be stored: COORDINATOR_NOT_AVAILABLE"
        );
    }
    // One rebalance a second, give or take the first.
    assert!(generations <= 5, "{generations} rebalances in 3 s");
    // Once the disk takes writes again, the group settles.
    fs.fail_writes(false);
    let j = c.send(9, join(&member)).await;
    let s = c
        .send(
            5,
            sync_req("spin", j.generation_id, &member, &[(&member, b"a")]),
        )
        .await;
    assert_eq!(s.error_code, 0);
    let d = c
        .send(
            5,
            DescribeGroupsRequest::default().with_groups(vec![gid("spin")]),
        )
        .await;
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
}

// A KIP-848 heartbeat whose change must be stored is answered once the
// write is durable: on a disk slower than the session timeout the answer
// comes after the session would have ended, so the session restarts with
// the answer (as a classic member's does with SyncGroup's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_answered_late_by_a_slow_disk_keeps_its_session() {
    let fs = FaultFs::new();
    let b = heartbeat_test_broker(&fs).await;
    let mut admin = b.client().await;
    admin.create_topic("other", 1).await;
    // The session is 1.5 s; every fsync takes 2 s.
    fs.set_sync_delay(Duration::from_millis(2000));
    let mut member = b.client().await;
    let started = Instant::now();
    let joined = member
        .send(
            1,
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("late-answer")))
                .with_member_id(s("m1"))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![topic_name("other")]))
                .with_topic_partitions(Some(Vec::new())),
        )
        .await;
    assert_eq!(joined.error_code, 0);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the join waited for the fsync"
    );
    fs.set_sync_delay(Duration::ZERO);
    let beat = member
        .send(
            1,
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("late-answer")))
                .with_member_id(s("m1"))
                .with_member_epoch(joined.member_epoch)
                .with_rebalance_timeout_ms(-1),
        )
        .await;
    assert_eq!(beat.error_code, 0, "{:?}", beat.error_message);
    // Silent afterwards, it is removed when its session ends: holding the
    // session for the answer does not keep it for ever.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let gone = member
        .send(
            1,
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("late-answer")))
                .with_member_id(s("m1"))
                .with_member_epoch(beat.member_epoch)
                .with_rebalance_timeout_ms(-1),
        )
        .await;
    assert_eq!(
        gone.error_code, 25,
        "UNKNOWN_MEMBER_ID once the session ended"
    );
}
