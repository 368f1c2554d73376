//! Producer-id expiry (Kafka's producer.id.expiration.ms): a producer idle
//! past the expiration with no open transaction is forgotten, so its next
//! batch is taken at any sequence, and neither a snapshot nor the replay
//! of the log at the next open brings it back.
mod common;

use common::*;
use fjord_log::testing::{idempotent_batch, txn_batch};
use fjord_log::{FaultFs, FileSystem, LogConfig, LogError, Partition, TornWrite};

const DAY_MS: i64 = 86_400_000;

/// Appends `count` records from producer `pid` (epoch 0) at `seq`, all
/// stamped `ts`.
fn produce(p: &Partition, pid: i64, seq: i32, count: usize, ts: i64) -> fjord_log::Result<i64> {
    p.append(&idempotent_batch(pid, 0, seq, count, ts), ts)
        .map(|o| o.base_offset)
}

fn pids(p: &Partition) -> Vec<i64> {
    p.producer_ids().into_iter().map(|(id, _, _)| id).collect()
}

fn out_of_order(result: fjord_log::Result<i64>) -> bool {
    matches!(result, Err(LogError::OutOfOrderSequence { .. }))
}

// The sweep runs with a clock past the expiration; the reopen runs on the
// real clock, before it, so only the snapshot written at close (or at a
// roll) can be what keeps the producer away.
#[test]
fn an_expired_producer_is_forgotten_and_stays_forgotten_after_a_reopen() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    let now = now_ms();
    produce(&p, 42, 0, 3, now).unwrap();
    produce(&p, 43, 0, 1, now + 10).unwrap();

    assert_eq!(
        p.expire_producers(now + DAY_MS - 1),
        0,
        "not idle long enough"
    );
    assert!(
        out_of_order(produce(&p, 42, 7, 1, now)),
        "a gap is still refused"
    );
    assert_eq!(
        p.expire_producers(now + DAY_MS),
        1,
        "42 is a day idle, 43 not yet"
    );
    assert_eq!(pids(&p), vec![43]);

    p.close().unwrap();
    drop(p);
    let p = open(&fs, LogConfig::default());
    assert_eq!(pids(&p), vec![43], "the close's snapshot left 42 out");
    // 42 starts anywhere, and is then checked as before.
    produce(&p, 42, 57, 2, now).unwrap();
    assert!(out_of_order(produce(&p, 42, 60, 1, now)));
    assert!(
        p.append(&idempotent_batch(42, 0, 57, 2, now), now)
            .unwrap()
            .duplicate
    );
}

#[test]
fn the_snapshot_of_the_next_roll_leaves_an_expired_producer_out() {
    let fs = FaultFs::new();
    fs.set_torn_write(TornWrite::DropAll);
    let config = small_config(400);
    let p = open(&fs, config.clone());
    let now = now_ms();
    for seq in 0..3 {
        produce(&p, 42, seq, 1, now).unwrap();
    }
    assert_eq!(p.expire_producers(now + DAY_MS), 1);
    // Another producer's batches until a segment rolls (its snapshot is
    // written then), all made durable; then a power cut.
    let segments = p.segment_count();
    let mut seq = 0;
    while p.segment_count() == segments {
        produce(&p, 43, seq, 1, now + DAY_MS).unwrap();
        seq += 1;
    }
    p.flush().unwrap();
    let p = open(&fs.crash(), config);
    assert_eq!(
        pids(&p),
        vec![43],
        "neither the snapshot nor the replay after it"
    );
    produce(&p, 42, 99, 1, now).unwrap();
}

/// How a test leaves the partition for the next open: returns the file
/// system to open it from.
type Reopen = fn(&FaultFs, &Partition) -> FaultFs;

// Recovery expires on the real clock what is already idle past the
// expiration, wherever its state comes from: the snapshot of a clean
// close, the replay after a crash, or a replay of the whole log.
#[test]
fn a_producer_idle_past_the_expiration_at_open_is_dropped() {
    let now = now_ms();
    let idle = now - 2 * DAY_MS;
    let fill = |p: &Partition| {
        produce(p, 1, 0, 2, idle).unwrap();
        produce(p, 2, 0, 1, now).unwrap();
        // An open transaction keeps its producer however old.
        p.append(&txn_batch(3, 0, 0, 1, idle), idle).unwrap();
        p.flush().unwrap();
    };
    let reopened: [(&str, Reopen); 3] = [
        ("clean close", |fs, p| {
            p.close().unwrap();
            fs.clone()
        }),
        ("crash", |fs, _| fs.crash()),
        ("no snapshots", |fs, p| {
            p.close().unwrap();
            for f in segment_files(fs, "snapshot") {
                fs.remove_file(&f).unwrap();
            }
            fs.clone()
        }),
    ];
    for (how, reopen) in reopened {
        let fs = FaultFs::new();
        let p = open(&fs, LogConfig::default());
        fill(&p);
        let image = reopen(&fs, &p);
        drop(p);
        let p = open(&image, LogConfig::default());
        assert_eq!(pids(&p), vec![2, 3], "after a {how}");
        assert_eq!(
            p.last_stable_offset(),
            3,
            "{how}: the transaction is still open"
        );
        produce(&p, 1, 40, 1, now).unwrap();
        // With a longer expiration the same log keeps producer 1.
        let longer = LogConfig::default().with_producer_id_expiration_ms(3 * DAY_MS);
        let fs = FaultFs::new();
        let p = open(&fs, longer.clone());
        fill(&p);
        let image = reopen(&fs, &p);
        drop(p);
        let p = open(&image, longer);
        assert_eq!(pids(&p), vec![1, 2, 3], "{how}, 3-day expiration");
        assert!(out_of_order(produce(&p, 1, 40, 1, now)), "{how}");
    }
}
