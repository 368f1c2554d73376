//! A full disk (ENOSPC, injected by the fault file system on every write)
//! at each step that writes: the append itself, a segment roll (which
//! writes the old segment's indexes and the producer snapshot), a
//! compaction pass, and a clean close. Every time: the operation fails
//! with an I/O error (the broker answers KAFKA_STORAGE_ERROR), what was
//! acknowledged stays readable and survives a power cut, and once space is
//! back the next write succeeds by itself, with no reopen.

mod common;

use common::*;
use fjord_log::testing::BatchBuilder;
use fjord_log::{FaultFs, LogConfig, LogError, Partition, TornWrite};

/// Appends `v` and fsyncs it, as an acks=all produce does before its
/// acknowledgement.
fn acked(p: &Partition, v: &str) {
    let out = p
        .append(&fjord_log::testing::simple_batch(v.as_bytes(), 1), 1)
        .expect("append");
    p.sync_to(out.last_offset).expect("fsync");
}

fn refused_as_storage_error(result: fjord_log::Result<impl std::fmt::Debug>) {
    match result {
        Err(LogError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull, "{source}")
        }
        other => panic!("expected a disk-full I/O error, got {other:?}"),
    }
}

/// After a power cut, a reopened log holds `expected`, in order.
fn survives_a_power_cut(fs: &FaultFs, config: LogConfig, expected: &[String]) {
    let image = fs.crash();
    let p = open(&image, config);
    let got = values(&p, p.log_start_offset());
    assert_eq!(&got[..expected.len()], expected);
}

#[test]
fn a_roll_on_a_full_disk_fails_and_the_next_one_succeeds() {
    let fs = FaultFs::new();
    fs.set_torn_write(TornWrite::DropAll);
    let config = small_config(300);
    let p = open(&fs, config.clone());
    let mut acked_values = Vec::new();
    // Fill the active segment until the next batch no longer fits: the
    // next append must roll.
    let batch_len = fjord_log::testing::simple_batch(b"v00", 1).len();
    let active_len = |fs: &FaultFs| {
        let active = segment_files(fs, "log")
            .into_iter()
            .max()
            .expect("a segment");
        fs.contents(&active).map_or(0, |c| c.len())
    };
    while acked_values.is_empty() || active_len(&fs) + batch_len <= 300 {
        let v = format!("v{:02}", acked_values.len());
        acked(&p, &v);
        acked_values.push(v);
    }
    let segments = segment_files(&fs, "log").len();
    fs.fail_writes(true);
    for _ in 0..5 {
        refused_as_storage_error(p.append(&fjord_log::testing::simple_batch(b"v99", 1), 1));
    }
    // Reads go on while the disk is full.
    assert_eq!(values(&p, 0), acked_values);
    assert_eq!(segment_files(&fs, "log").len(), segments);
    fs.fail_writes(false);
    // Space is back: the very next append rolls, and writing goes on.
    acked(&p, "v99");
    acked_values.push("v99".to_string());
    assert_eq!(
        segment_files(&fs, "log").len(),
        segments + 1,
        "the roll that failed, done"
    );
    for i in 0..20 {
        let v = format!("after{i}");
        acked(&p, &v);
        acked_values.push(v);
    }
    assert!(segment_files(&fs, "log").len() > segments, "rolled again");
    assert_eq!(values(&p, 0), acked_values);
    survives_a_power_cut(&fs, config, &acked_values);
}

#[test]
fn compaction_on_a_full_disk_fails_and_changes_nothing() {
    let fs = FaultFs::new();
    let config = small_config(300).with("cleanup.policy", "compact").unwrap();
    let p = open(&fs, config.clone());
    for i in 0..60 {
        let b = BatchBuilder::new()
            .keyed(
                Some(format!("k{}", i % 3).as_bytes()),
                Some(format!("v{i}").as_bytes()),
                1,
            )
            .build();
        let out = p.append(&b, 1).unwrap();
        p.sync_to(out.last_offset).unwrap();
    }
    let before = values(&p, 0);
    fs.fail_writes(true);
    refused_as_storage_error(p.compact(86_400_000));
    assert_eq!(values(&p, 0), before, "nothing changed");
    fs.fail_writes(false);
    let report = p.compact(86_400_000).unwrap();
    assert!(report.segments_cleaned > 0, "{report:?}");
    let after = values(&p, p.log_start_offset());
    assert!(after.len() < before.len());
    // The latest value of each key is still there.
    for latest in ["v57", "v58", "v59"] {
        assert!(after.iter().any(|v| v == latest), "{latest} in {after:?}");
    }
}

#[test]
fn a_close_on_a_full_disk_loses_nothing_acknowledged() {
    let fs = FaultFs::new();
    fs.set_torn_write(TornWrite::DropAll);
    let config = small_config(300);
    let p = open(&fs, config.clone());
    let acked_values: Vec<String> = (0..30).map(|i| format!("v{i}")).collect();
    for v in &acked_values {
        acked(&p, v);
    }
    fs.fail_writes(true);
    // A clean close writes indexes, the producer snapshot and the clean
    // marker: none of it fits.
    assert!(p.close().is_err());
    fs.fail_writes(false);
    survives_a_power_cut(&fs, config, &acked_values);
}

/// A failed fsync outside the group commit poisons the partition like one
/// inside it: no later fsync acknowledges data (the kernel may have dropped
/// the dirty pages it failed to write), until a restart re-verifies.
#[test]
fn a_failed_fsync_in_delete_records_or_close_poisons_the_partition() {
    for step in ["delete_records", "close"] {
        let fs = FaultFs::new();
        let p = open(&fs, small_config(300));
        for i in 0..5 {
            acked(&p, &format!("v{i}"));
        }
        p.append(&fjord_log::testing::simple_batch(b"unsynced", 1), 1)
            .unwrap();
        fs.fail_syncs(true);
        let failed = match step {
            "delete_records" => p.delete_records_before(2).map(|_| ()),
            _ => p.close(),
        };
        assert!(failed.is_err(), "{step}");
        fs.fail_syncs(false);
        // The disk answers again, but the partition stays poisoned.
        assert!(
            p.sync_to(p.log_end_offset() - 1).is_err(),
            "{step}: sync after"
        );
        assert!(
            p.close().is_err(),
            "{step}: no clean close of a poisoned partition"
        );
        // A restart re-verifies the tail and the partition works again.
        let p = open(&fs.crash(), small_config(300));
        acked(&p, "after restart");
    }
}
