//! Re-opening after clean shutdowns, crashes and on-disk damage.
mod common;

use common::*;
use fjord_log::testing::simple_batch;
use fjord_log::{FaultFs, FileSystem, LogConfig, TornWrite};

fn active_log(fs: &FaultFs) -> std::path::PathBuf {
    segment_files(fs, "log").into_iter().max().unwrap()
}

#[test]
fn clean_shutdown_reopen_is_exact() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(500));
    for i in 0..40 {
        put(&p, &format!("v{i}"), i);
    }
    let before: Vec<_> = read_all(&p, 0);
    let size = p.size_bytes();
    p.close().unwrap();
    drop(p);
    assert!(fs.exists(&dir().join(".clean_shutdown")));
    let p = open(&fs, small_config(500));
    assert!(
        !fs.exists(&dir().join(".clean_shutdown")),
        "marker removed at open"
    );
    assert_eq!(read_all(&p, 0), before);
    assert_eq!((p.log_end_offset(), p.size_bytes()), (40, size));
    assert_eq!(put(&p, "next", 50), 40);
}

#[test]
fn garbage_after_the_last_batch_is_truncated() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    for i in 0..5 {
        put(&p, &format!("v{i}"), i);
    }
    p.flush().unwrap();
    drop(p); // no close: a crash without power loss
    let path = active_log(&fs);
    let f = fs.open(&path, false).unwrap();
    let len = f.len().unwrap();
    f.write_at(
        b"this is not a record batch at all, just noise......................",
        len,
    )
    .unwrap();
    let p = open(&fs, LogConfig::default());
    assert_eq!(p.log_end_offset(), 5);
    assert_eq!(fs.contents(&path).unwrap().len() as u64, len);
    assert_eq!(values(&p, 0), ["v0", "v1", "v2", "v3", "v4"]);
    assert_eq!(put(&p, "v5", 5), 5);
    assert_eq!(values(&p, 4), ["v4", "v5"]);
}

#[test]
fn torn_last_batch_is_truncated() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    put(&p, "durable", 1);
    p.sync_to(0).unwrap();
    put(&p, &"torn".repeat(50), 2);
    for torn in [
        TornWrite::KeepHalf,
        TornWrite::Zeros,
        TornWrite::DropAll,
        TornWrite::Random(7),
    ] {
        fs.set_torn_write(torn);
        let img = fs.crash();
        let p2 = open(&img, LogConfig::default());
        assert_eq!(p2.log_end_offset(), 1, "{torn:?}");
        assert_eq!(values(&p2, 0), ["durable"], "{torn:?}");
        assert_eq!(put(&p2, "after", 3), 1);
    }
    // If the whole tail happened to reach the disk, it is kept.
    fs.set_torn_write(TornWrite::KeepAll);
    let p3 = open(&fs.crash(), LogConfig::default());
    assert_eq!(p3.log_end_offset(), 2);
}

#[test]
fn corrupt_batch_in_the_middle_of_the_tail_cuts_there() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    for i in 0..4 {
        put(&p, &format!("v{i}"), i);
    }
    drop(p);
    let path = active_log(&fs);
    let f = fs.open(&path, false).unwrap();
    let one = simple_batch(b"v0", 0).len() as u64;
    // Flip a byte inside the third batch's records: its CRC fails.
    f.write_at(&[0xee], 2 * one + one - 1).unwrap();
    let p = open(&fs, LogConfig::default());
    assert_eq!(values(&p, 0), ["v0", "v1"]);
    assert_eq!(fs.contents(&path).unwrap().len() as u64, 2 * one);
}

#[test]
fn crash_after_roll_keeps_closed_segments_and_rebuilds_the_active_one() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(300));
    for i in 0..20 {
        put(&p, &format!("v{i:02}"), i);
    }
    p.flush().unwrap();
    for i in 20..25 {
        put(&p, &format!("v{i:02}"), i);
    }
    // Rolls fsync the segment they close, so the durable point is at
    // least the flush and usually beyond it.
    let durable = p.durable_offset();
    assert!((20..25).contains(&durable), "durable {durable}");
    fs.set_torn_write(TornWrite::DropAll);
    let img = fs.crash();
    let p2 = open(&img, small_config(300));
    assert_eq!(p2.log_end_offset(), durable);
    assert_eq!(values(&p2, 0).len() as i64, durable);
    assert_eq!(values(&p2, 13)[0], "v13");
    // And a second crash right after recovery loses nothing recovered.
    let p3 = open(&img.crash(), small_config(300));
    assert_eq!(p3.log_end_offset(), durable);
}

#[test]
fn garbage_files_never_panic_open() {
    let fs = FaultFs::new();
    fs.create_dir_all(&dir()).unwrap();
    let put_file = |name: &str, bytes: &[u8]| {
        let f = fs.open(&dir().join(name), true).unwrap();
        f.write_at(bytes, 0).unwrap();
    };
    put_file("00000000000000000000.log", &[0xab; 500]);
    put_file("00000000000000000000.index", &[1, 2, 3]);
    put_file("00000000000000000000.timeindex", &[9; 24]);
    put_file("00000000000000000000.snapshot", b"{not json");
    put_file("meta", b"\x00\x01");
    put_file("junk.log", b"whatever");
    let p = open(&fs, LogConfig::default());
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (0, 0));
    assert_eq!(put(&p, "fresh", 1), 0);
    assert_eq!(values(&p, 0), ["fresh"]);
}

#[test]
fn reopen_without_close_after_clean_reopen_scans_only_the_tail() {
    // Clean close, reopen, more appends, crash: the persisted indexes from
    // the close are a valid prefix and recovery resumes from them.
    let fs = FaultFs::new();
    let p = open(&fs, small_config(100_000));
    for i in 0..50 {
        put(&p, &format!("v{i}"), i);
    }
    p.close().unwrap();
    drop(p);
    let p = open(&fs, small_config(100_000));
    for i in 50..60 {
        put(&p, &format!("v{i}"), i);
    }
    p.sync_to(59).unwrap();
    put(&p, "lost", 60);
    let p2 = open(&fs.crash(), small_config(100_000));
    assert_eq!(p2.log_end_offset(), 60);
    assert_eq!(values(&p2, 55), ["v55", "v56", "v57", "v58", "v59"]);
}

#[test]
fn any_damage_to_the_tail_recovers_a_prefix() {
    // Property: whatever happens to the bytes written since the last clean
    // close (cut short anywhere, or one byte flipped anywhere), reopening
    // never panics and yields a prefix of what was written, ending on a
    // whole batch. (Bytes before that point were fsynced and are described
    // by persisted indexes; recovery trusts them, as Kafka trusts data below
    // its recovery point.)
    let fs = FaultFs::new();
    let written: Vec<String> = (0..30)
        .map(|i| format!("value-{i}-{}", "z".repeat(i * 3)))
        .collect();
    let p = open(&fs, small_config(1 << 20));
    for (i, v) in written[..10].iter().enumerate() {
        put(&p, v, i as i64);
    }
    p.close().unwrap();
    drop(p);
    let path = active_log(&fs);
    let trusted = fs.contents(&path).unwrap().len() as u64;
    let p = open(&fs, small_config(1 << 20));
    for (i, v) in written[10..].iter().enumerate() {
        put(&p, v, i as i64);
    }
    p.flush().unwrap();
    drop(p);
    let original = fs.contents(&path).unwrap();
    let tail = original.len() as u64 - trusted;
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..300 {
        let img = fs.crash();
        let f = img.open(&path, false).unwrap();
        let at = trusted + next() % tail;
        if round % 3 == 0 {
            f.set_len(at).unwrap();
        } else {
            let flipped = original[at as usize] ^ ((next() as u8) | 1);
            f.write_at(&[flipped], at).unwrap();
        }
        let p = open(&img, small_config(1 << 20));
        let got = values(&p, 0);
        assert!(
            (10..=written.len()).contains(&got.len()),
            "round {round}: {}",
            got.len()
        );
        assert_eq!(got[..], written[..got.len()], "round {round}");
        assert_eq!(p.log_end_offset(), got.len() as i64);
        assert_eq!(put(&p, "more", 0), got.len() as i64);
    }
}
