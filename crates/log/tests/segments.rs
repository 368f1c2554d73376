//! Segment rolls, reads across segments, persisted indexes, time lookups.
mod common;

use common::*;
use fjord_log::testing::BatchBuilder;
use fjord_log::{FaultFs, LogConfig};

#[test]
fn rolls_by_segment_bytes_and_reads_across_segments() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(400));
    for i in 0..30 {
        put(&p, &format!("value-{i:03}"), 1000 + i);
    }
    assert!(p.segment_count() > 5, "only {} segments", p.segment_count());
    assert_eq!(segment_files(&fs, "log").len(), p.segment_count());
    // Every closed segment respects segment.bytes.
    for f in segment_files(&fs, "log") {
        assert!(fs.contents(&f).unwrap().len() <= 400);
    }
    let expected: Vec<String> = (0..30).map(|i| format!("value-{i:03}")).collect();
    assert_eq!(values(&p, 0), expected);
    for start in [0, 7, 13, 29] {
        assert_eq!(values(&p, start), expected[start as usize..]);
    }
}

#[test]
fn a_batch_larger_than_a_segment_gets_its_own() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(100));
    put(&p, &"x".repeat(300), 1);
    put(&p, &"y".repeat(300), 2);
    assert_eq!(p.segment_count(), 2);
    assert_eq!(values(&p, 1), ["y".repeat(300)]);
}

#[test]
fn indexes_are_persisted_and_reloaded() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(2000));
    for i in 0..60 {
        put(&p, &format!("v{i}"), i);
    }
    p.close().unwrap();
    drop(p);
    let logs = segment_files(&fs, "log");
    assert_eq!(segment_files(&fs, "index").len(), logs.len());
    assert_eq!(segment_files(&fs, "timeindex").len(), logs.len());
    let some_index = &segment_files(&fs, "index")[0];
    assert!(
        !fs.contents(some_index).unwrap().is_empty(),
        "sparse index has entries"
    );

    let p = open(&fs, small_config(2000));
    assert_eq!(p.log_end_offset(), 60);
    for start in [0, 31, 59] {
        assert_eq!(values(&p, start).len(), 60 - start as usize);
    }
    // A damaged index is rebuilt from the log, not trusted.
    use fjord_log::FileSystem;
    let f = fs.open(some_index, false).unwrap();
    f.write_at(&[0xff; 8], 0).unwrap();
    drop(p);
    let p = open(&fs, small_config(2000));
    assert_eq!(values(&p, 0).len(), 60);
    assert_eq!(values(&p, 5)[0], "v5");
}

#[test]
fn offset_for_timestamp_and_max_timestamp() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(300));
    // Timestamps rise, with one out-of-order batch and a multi-record batch.
    let ts = [100, 200, 150, 300, 400, 500, 350, 600, 700, 800];
    for (i, t) in ts.iter().enumerate() {
        put(&p, &format!("v{i}"), *t);
    }
    let multi = BatchBuilder::new()
        .record(b"", b"a", 900)
        .record(b"", b"b", 950)
        .record(b"", b"c", 920)
        .build();
    p.append(&multi, 0).unwrap(); // offsets 10..=12
    assert!(p.segment_count() > 2);
    assert_eq!(p.offset_for_timestamp(0).unwrap(), Some((0, 100)));
    assert_eq!(p.offset_for_timestamp(100).unwrap(), Some((0, 100)));
    assert_eq!(p.offset_for_timestamp(101).unwrap(), Some((1, 200)));
    assert_eq!(p.offset_for_timestamp(160).unwrap(), Some((1, 200)));
    assert_eq!(p.offset_for_timestamp(360).unwrap(), Some((4, 400)));
    assert_eq!(p.offset_for_timestamp(801).unwrap(), Some((10, 900)));
    assert_eq!(p.offset_for_timestamp(940).unwrap(), Some((11, 950)));
    assert_eq!(p.offset_for_timestamp(951).unwrap(), None);
    assert_eq!(p.max_timestamp(), Some((950, 11)));
    p.close().unwrap();
    drop(p);
    let p = open(&fs, small_config(300));
    assert_eq!(p.offset_for_timestamp(360).unwrap(), Some((4, 400)));
    assert_eq!(p.max_timestamp(), Some((950, 11)));
}

#[test]
fn empty_log_has_no_timestamps() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    assert_eq!(p.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(p.max_timestamp(), None);
}

#[test]
fn rolls_by_segment_ms() {
    let fs = FaultFs::new();
    let p = open(
        &fs,
        LogConfig::default().with("segment.ms", "1000").unwrap(),
    );
    p.append(&fjord_log::testing::simple_batch(b"a", 0), 10_000)
        .unwrap();
    p.append(&fjord_log::testing::simple_batch(b"b", 0), 10_500)
        .unwrap();
    assert_eq!(p.segment_count(), 1);
    // The next append after segment.ms starts a new segment...
    p.append(&fjord_log::testing::simple_batch(b"c", 0), 11_000)
        .unwrap();
    assert_eq!(p.segment_count(), 2);
    // ...and so does maintenance when no append comes.
    let r = p.maintain(11_999).unwrap();
    assert_eq!(r.segments_rolled, 0);
    let r = p.maintain(12_000).unwrap();
    assert_eq!(r.segments_rolled, 1);
    assert_eq!(p.segment_count(), 3);
    assert_eq!(
        p.maintain(20_000).unwrap().segments_rolled,
        0,
        "empty active segment is not rolled"
    );
    assert_eq!(values(&p, 0), ["a", "b", "c"]);
}

#[test]
fn config_changes_apply_at_run_time() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    for i in 0..10 {
        put(&p, &format!("{i}"), i);
    }
    assert_eq!(p.segment_count(), 1);
    p.set_config(small_config(100));
    assert_eq!(p.config().segment_bytes(), 100);
    put(&p, "x", 11);
    assert_eq!(p.segment_count(), 2);
}

#[test]
fn clean_open_of_many_segments_is_lazy() {
    // 2000 segments: a clean open must not read their data or indexes.
    let fs = FaultFs::new();
    let p = open(&fs, small_config(100));
    for i in 0..2000 {
        put(&p, &"v".repeat(60), i);
    }
    p.close().unwrap();
    drop(p);
    let started = std::time::Instant::now();
    let p = open(&fs, small_config(100));
    let elapsed = started.elapsed();
    assert_eq!(p.log_end_offset(), 2000);
    assert!(elapsed.as_millis() < 500, "open took {elapsed:?}");
    assert_eq!(values(&p, 1500).len(), 500);
}
