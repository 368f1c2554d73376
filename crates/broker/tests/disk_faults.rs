//! The broker on a failing disk, through the wire: partition data on the
//! fault-injecting file system. A full disk refuses produces with
//! KAFKA_STORAGE_ERROR while reads go on, and writing resumes by itself
//! once there is room.

mod common;

use common::*;
use fjord_log::FaultFs;

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
    use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, GroupId};
    use kafka_protocol::protocol::StrBytes;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let fs = FaultFs::new();
    let b = TestBroker::start_on(Some(fs.shared()), |c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.group_consumer_session_timeout_ms = 1500;
        c.group_consumer_heartbeat_interval_ms = 100;
    })
    .await;
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

    let s = |v: &str| StrBytes::from_string(v.to_string());
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
    while started.elapsed() < Duration::from_secs(3) {
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
