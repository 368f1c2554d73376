//! A directory fsync that fails (EIO or ENOSPC, injected by the fault file
//! system) where the log makes names durable: a segment roll (the old
//! segment's indexes and producer snapshot, then the new segment file),
//! the creation of a partition (its directory, its first segment), and
//! retention deleting segments. Each directory sync of the operation is
//! failed in turn. Every time: the operation either fails with an I/O
//! error carrying the errno, or (retention's final sync only) succeeds with
//! a removal that is not yet durable; nothing acknowledged is lost to a
//! power cut; and once the fault is cleared the log goes on by itself.

mod common;

use common::*;
use fjord_log::testing::simple_batch;
use fjord_log::{
    DirSyncError, DirSyncFault, FaultFs, FileSystem, LogConfig, LogError, Partition, TornWrite,
};

const ERRORS: [DirSyncError; 2] = [DirSyncError::Eio, DirSyncError::Enospc];

/// More directory syncs than any one operation here makes.
const MAX_SYNCS: u64 = 20;

/// Appends `v` and fsyncs it, as an acks=all produce does before its
/// acknowledgement.
fn acked(p: &Partition, v: &str) -> fjord_log::Result<()> {
    let out = p.append(&simple_batch(v.as_bytes(), 1), 1)?;
    p.sync_to(out.last_offset)
}

fn failed_with<T: std::fmt::Debug>(result: fjord_log::Result<T>, error: DirSyncError) {
    match result {
        Err(LogError::Io { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(error.errno()), "{source}")
        }
        other => panic!("expected the injected {error:?}, got {other:?}"),
    }
}

/// A file system on which only what was synced survives a crash.
fn strict_fs() -> FaultFs {
    let fs = FaultFs::new();
    fs.set_torn_write(TornWrite::DropAll);
    fs
}

/// The values a reopened log holds after a power cut now.
fn after_power_cut(fs: &FaultFs, config: &LogConfig) -> Vec<String> {
    let p = open(&fs.crash(), config.clone());
    values(&p, p.log_start_offset())
}

/// Acknowledged appends until the active segment is full: the next
/// append has to roll.
fn fill_active_segment(p: &Partition, fs: &FaultFs, segment_bytes: usize) -> Vec<String> {
    let batch_len = simple_batch(b"v00", 1).len();
    let active_len = || {
        let active = segment_files(fs, "log").into_iter().max();
        active.and_then(|f| fs.contents(&f)).map_or(0, |c| c.len())
    };
    let mut out = Vec::new();
    while out.is_empty() || active_len() + batch_len <= segment_bytes {
        let v = format!("v{:02}", out.len());
        acked(p, &v).expect("append");
        out.push(v);
    }
    out
}

#[test]
fn a_roll_fails_at_each_directory_sync_and_goes_on_once_the_fault_clears() {
    for error in ERRORS {
        let fs = strict_fs();
        let config = small_config(300);
        let p = open(&fs, config.clone());
        let mut acks = fill_active_segment(&p, &fs, 300);
        let segments = p.segment_count();

        // A lasting fault: every append (each has to roll) fails; reads go on.
        fs.fail_dir_syncs(Some(DirSyncFault::every(error)));
        for _ in 0..3 {
            failed_with(acked(&p, "never"), error);
        }
        assert_eq!(values(&p, 0), acks);
        // Then the n-th directory sync of the roll fails, for each n in
        // turn, until the roll needs fewer.
        let mut failures = 0;
        for n in 0..MAX_SYNCS {
            fs.fail_dir_syncs(Some(DirSyncFault::every(error).after(n)));
            match acked(&p, "rolled") {
                Err(e) => {
                    failed_with::<()>(Err(e), error);
                    failures += 1;
                    assert_eq!(p.segment_count(), segments, "no roll half done");
                    assert_eq!(after_power_cut(&fs, &config), acks, "sync {n}");
                }
                Ok(()) => break,
            }
        }
        fs.fail_dir_syncs(None);
        acks.push("rolled".into());
        assert!(
            failures >= 3,
            "indexes, snapshot and new segment each sync: {failures}"
        );
        assert_eq!(p.segment_count(), segments + 1);
        for i in 0..10 {
            let v = format!("w{i:02}");
            acked(&p, &v).unwrap();
            acks.push(v);
        }
        assert_eq!(values(&p, 0), acks);
        assert_eq!(after_power_cut(&fs, &config), acks, "{error:?}");
    }
}

// The partition directory is new: its entry in the data directory, and
// its first segment's entry in it, need a directory sync each. Whichever
// fails, the open fails; the retried open must still make both durable,
// or what it acknowledges goes with the power.
#[test]
fn a_partition_whose_creation_fails_at_a_directory_sync_keeps_what_it_acknowledges_once_reopened() {
    for error in ERRORS {
        let mut failures = 0;
        for n in 0..MAX_SYNCS {
            let fs = strict_fs();
            let data_dir = dir().parent().expect("a data directory").to_path_buf();
            fs.create_dir_all(&data_dir).unwrap();
            fs.track_new_dirs(true);
            fs.fail_dir_syncs(Some(DirSyncFault::every(error).after(n)));
            let first = Partition::open(dir(), LogConfig::default(), fs.shared());
            fs.fail_dir_syncs(None);
            let created = first.is_ok();
            let p = match first {
                Ok(p) => p,
                Err(e) => {
                    failed_with::<()>(Err(e), error);
                    failures += 1;
                    let p = open(&fs.crash(), LogConfig::default());
                    assert_eq!(p.log_end_offset(), 0, "a power cut now leaves nothing");
                    open(&fs, LogConfig::default())
                }
            };
            acked(&p, "a").unwrap();
            acked(&p, "b").unwrap();
            assert_eq!(
                after_power_cut(&fs, &LogConfig::default()),
                ["a", "b"],
                "{error:?}, directory sync {n} failed"
            );
            if created {
                break;
            }
        }
        assert!(
            failures >= 2,
            "parent, then partition directory: {failures}"
        );
    }
}

/// 12 closed segments of 3 values and an active one; retention.bytes lets
/// the oldest go.
fn log_for_retention(fs: &FaultFs) -> (Partition, LogConfig, Vec<String>) {
    let config = small_config(200).with("retention.bytes", "900").unwrap();
    let p = open(fs, config.clone());
    let mut all = Vec::new();
    for i in 0..40 {
        let v = format!("v{i:02}");
        acked(&p, &v).unwrap();
        all.push(v);
    }
    (p, config, all)
}

/// The log start a retention pass without faults reaches.
fn start_after_retention() -> usize {
    let (p, _, _) = log_for_retention(&FaultFs::new());
    p.maintain(1).unwrap();
    p.log_start_offset() as usize
}

// Retention persists the new log start (a failure there fails the pass and
// deletes nothing), removes the files, then syncs the directory and only
// logs a failure of that last sync. That is safe: the files may come back
// after a power cut, but wholly below the durable log start, where
// recovery deletes them again; nothing above the start is touched. (After
// a failed pass the new start's rename may still become durable with a
// later directory sync; recovery then completes the deletion that pass
// chose, never more.)
#[test]
fn retention_survives_a_failed_directory_sync_and_deleted_files_that_come_back() {
    let chosen = start_after_retention();
    for error in ERRORS {
        let mut came_back = 0;
        for n in 0..MAX_SYNCS {
            let fs = strict_fs();
            let (p, config, all) = log_for_retention(&fs);
            let before = segment_files(&fs, "log");
            fs.fail_dir_syncs(Some(DirSyncFault::every(error).after(n)));
            let result = p.maintain(1);
            fs.fail_dir_syncs(None);
            let start = p.log_start_offset() as usize;
            let passed = match result {
                Err(e) => {
                    failed_with::<()>(Err(e), error);
                    assert_eq!(start, 0, "a failed pass deletes nothing");
                    assert_eq!(segment_files(&fs, "log"), before);
                    false
                }
                Ok(r) => {
                    assert!(r.segments_deleted > 0 && start == chosen);
                    true
                }
            };
            // Acknowledged appends go on either way.
            acked(&p, "later").unwrap();
            let kept: Vec<String> = all[start..]
                .iter()
                .cloned()
                .chain(["later".into()])
                .collect();
            assert_eq!(values(&p, start as i64), kept);

            let image = fs.crash();
            let returned = segment_files(&image, "log").len() > segment_files(&fs, "log").len();
            came_back += usize::from(returned);
            let reopened = open(&image, config.clone());
            let durable_start = reopened.log_start_offset() as usize;
            assert!(
                durable_start == 0 || durable_start == chosen,
                "{durable_start}"
            );
            assert_eq!(
                values(&reopened, durable_start as i64),
                all[durable_start..]
                    .iter()
                    .cloned()
                    .chain(["later".into()])
                    .collect::<Vec<_>>(),
                "{error:?}, directory sync {n} failed"
            );
            if returned {
                assert_eq!(
                    durable_start, start,
                    "the start was durable before the removal"
                );
                assert_eq!(
                    segment_files(&image, "log").len(),
                    reopened.segment_count(),
                    "recovery deleted the segments that came back"
                );
            }
            if passed && !returned {
                break;
            }
        }
        assert!(came_back > 0, "the final sync's failure was never reached");
        // A failed pass is retried by the next one.
        let fs = FaultFs::new();
        let (p, _, _) = log_for_retention(&fs);
        fs.fail_dir_syncs(Some(DirSyncFault::every(error)));
        failed_with(p.maintain(1), error);
        fs.fail_dir_syncs(None);
        let r = p.maintain(1).unwrap();
        assert!(r.segments_deleted > 0);
        assert_eq!(
            segment_files(&fs, "log").len(),
            p.segment_count(),
            "no file left behind"
        );
        // DeleteRecords likewise: refused whole, then done on the retry.
        let (start, target) = (p.log_start_offset(), p.log_end_offset() - 1);
        fs.fail_dir_syncs(Some(DirSyncFault::every(error)));
        failed_with(p.delete_records_before(target), error);
        assert_eq!(p.log_start_offset(), start);
        fs.fail_dir_syncs(None);
        assert_eq!(p.delete_records_before(target).unwrap(), target);
        assert_eq!(segment_files(&fs, "log").len(), p.segment_count());
    }
}
