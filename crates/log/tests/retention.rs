//! retention.ms, retention.bytes and DeleteRecords.
mod common;

use common::*;
use fjord_log::{FaultFs, LogError};

const DAY: i64 = 86_400_000;

#[test]
fn retention_ms_deletes_old_closed_segments() {
    let fs = FaultFs::new();
    let config = small_config(300)
        .with("retention.ms", &DAY.to_string())
        .unwrap();
    let p = open(&fs, config);
    // Old records, then fresh ones.
    for i in 0..10 {
        put(&p, &format!("old{i}"), 1_000 + i);
    }
    let fresh_start = p.log_end_offset();
    for i in 0..10 {
        put(&p, &format!("new{i}"), 5 * DAY + i);
    }
    let segments = p.segment_count();
    let r = p.maintain(5 * DAY + 100).unwrap();
    assert!(r.segments_deleted > 0);
    assert_eq!(p.segment_count(), segments - r.segments_deleted);
    let start = p.log_start_offset();
    assert!(start > 0 && start <= fresh_start, "start {start}");
    assert!(matches!(
        p.read(0, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(values(&p, start)
        .iter()
        .all(|v| v.starts_with("old") || v.starts_with("new")));
    assert!(values(&p, fresh_start).iter().all(|v| v.starts_with("new")));
    // Persisted: the start survives a reopen.
    p.close().unwrap();
    drop(p);
    assert_eq!(open(&fs, small_config(300)).log_start_offset(), start);
}

#[test]
fn retention_ms_minus_one_keeps_everything_and_active_is_never_deleted() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(300).with("retention.ms", "-1").unwrap());
    for i in 0..10 {
        put(&p, &format!("v{i}"), i);
    }
    // segment.ms (7 days) has passed: the active segment is rolled, but
    // retention.ms=-1 deletes nothing.
    let r = p.maintain(100 * DAY).unwrap();
    assert_eq!((r.segments_rolled, r.segments_deleted), (1, 0));
    p.set_config(small_config(300).with("retention.ms", "1").unwrap());
    let r = p.maintain(100 * DAY).unwrap();
    assert_eq!(p.segment_count(), 1, "only the active segment is left");
    assert!(r.segments_deleted > 0);
    // Everything was in closed segments, so everything went; offsets carry on.
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (10, 10));
    assert_eq!(put(&p, "v10", 100 * DAY), 10);
    assert_eq!(
        p.maintain(100 * DAY).unwrap().segments_deleted,
        0,
        "active segment is never deleted"
    );
}

#[test]
fn retention_bytes_keeps_the_log_under_the_limit() {
    let fs = FaultFs::new();
    let p = open(
        &fs,
        small_config(300).with("retention.bytes", "700").unwrap(),
    );
    for i in 0..30 {
        put(&p, &format!("v{i:02}"), 10 * DAY + i);
    }
    let before = p.size_bytes();
    let r = p.maintain(10 * DAY).unwrap();
    assert!(r.segments_deleted > 0);
    assert!(p.size_bytes() < before);
    assert!(p.size_bytes() <= 700 + 300, "{} bytes left", p.size_bytes());
    assert_eq!(values(&p, p.log_start_offset()).last().unwrap(), "v29");
    assert_eq!(segment_files(&fs, "log").len(), p.segment_count());
    assert_eq!(segment_files(&fs, "index").len(), p.segment_count() - 1);
}

#[test]
fn compact_only_topics_are_not_deleted_by_retention() {
    let fs = FaultFs::new();
    let p = open(
        &fs,
        small_config(300)
            .with("cleanup.policy", "compact")
            .unwrap()
            .with("retention.ms", "1")
            .unwrap(),
    );
    for i in 0..10 {
        // Keyed: a compacted topic refuses records without a key.
        let batch = fjord_log::testing::BatchBuilder::new()
            .record(format!("k{i}").as_bytes(), format!("v{i}").as_bytes(), i)
            .build();
        p.append(&batch, i).unwrap();
    }
    assert_eq!(p.maintain(DAY).unwrap().segments_deleted, 0);
}

#[test]
fn delete_records_before_raises_start_and_drops_segments() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(300));
    for i in 0..30 {
        put(&p, &format!("v{i:02}"), i);
    }
    let segments = p.segment_count();
    assert_eq!(p.delete_records_before(13).unwrap(), 13);
    assert_eq!(p.log_start_offset(), 13);
    assert!(p.segment_count() < segments);
    assert!(matches!(
        p.read(12, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(values(&p, 13).first().unwrap() == "v13");
    // Lower than the start: no change.
    assert_eq!(p.delete_records_before(5).unwrap(), 13);
    // Beyond the end: refused.
    assert!(matches!(
        p.delete_records_before(31),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Survives a crash (no close).
    let p2 = open(&fs.crash(), small_config(300));
    assert_eq!(p2.log_start_offset(), 13);
    // -1 means the high watermark: everything goes, appends continue.
    assert_eq!(p.delete_records_before(-1).unwrap(), 30);
    assert_eq!(p.segment_count(), 1);
    assert_eq!(p.size_bytes(), 0);
    assert_eq!(put(&p, "after", 99), 30);
    assert_eq!(values(&p, 30), ["after"]);
    p.close().unwrap();
    drop(p);
    let p = open(&fs, small_config(300));
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (30, 31));
}
