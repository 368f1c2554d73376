//! Appending client batches and reading them back.
mod common;

use common::*;
use fjord_log::testing::{simple_batch, split_batches, BatchBuilder};
use fjord_log::{FaultFs, LogConfig, LogError, TimestampType};

#[test]
fn round_trip_keeps_bytes_and_assigns_offsets() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (0, 0));
    let sent = BatchBuilder::new()
        .record(b"k1", b"a", 10)
        .record(b"k2", b"b", 11)
        .record(b"", b"c", 12)
        .build();
    let out = p.append(&sent, 100).unwrap();
    assert_eq!(
        (out.base_offset, out.last_offset, out.duplicate),
        (0, 2, false)
    );
    let out = p.append(&simple_batch(b"d", 13), 100).unwrap();
    assert_eq!((out.base_offset, out.last_offset), (3, 3));
    assert_eq!(p.log_end_offset(), 4);

    // Readers see only what is durable: the high watermark is the fsynced
    // end. The raw read returns everything; a consumer's read waits.
    let slice = p.read(0, 1 << 20, false).unwrap();
    assert_eq!(slice.high_watermark, 0);
    assert_eq!(split_batches(&slice.bytes).len(), 2);
    assert!(p
        .read_uncommitted(0, 1 << 20, false)
        .unwrap()
        .bytes
        .is_empty());
    p.flush().unwrap();
    let slice = p.read_uncommitted(0, 1 << 20, false).unwrap();
    assert_eq!(slice.high_watermark, 4);
    let batches = split_batches(&slice.bytes);
    assert_eq!(batches.len(), 2);
    // Stored bytes equal sent bytes except baseOffset and leader epoch.
    let (h, stored) = &batches[0];
    assert_eq!(&stored[16..], &sent[16..]);
    assert_eq!(&stored[8..12], &sent[8..12]);
    assert_eq!((h.base_offset, h.partition_leader_epoch), (0, 0));
    assert_eq!(batches[1].0.base_offset, 3);
    assert_eq!(values(&p, 0), ["a", "b", "c", "d"]);
    assert_eq!(p.size_bytes(), slice.bytes.len() as u64);
}

#[test]
fn read_from_mid_batch_returns_the_whole_batch() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    let b = BatchBuilder::new()
        .record(b"", b"a", 1)
        .record(b"", b"b", 1)
        .record(b"", b"c", 1)
        .build();
    p.append(&b, 1).unwrap();
    put(&p, "d", 2);
    let slice = p.read(1, 1 << 20, false).unwrap();
    let batches = split_batches(&slice.bytes);
    assert_eq!(batches[0].0.base_offset, 0);
    assert_eq!(batches.len(), 2);
    let slice = p.read(3, 1 << 20, false).unwrap();
    assert_eq!(split_batches(&slice.bytes)[0].0.base_offset, 3);
}

#[test]
fn max_bytes_returns_whole_batches_and_min_one_batch_overrides() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    for i in 0..5 {
        put(&p, &"x".repeat(100 + i), i as i64);
    }
    let one = p.read(0, 1 << 20, false).unwrap().bytes.len() / 5;
    let slice = p.read(0, one * 2 + one / 2, false).unwrap();
    assert_eq!(
        split_batches(&slice.bytes).len(),
        2,
        "partial batches are never returned"
    );
    assert!(p.read(0, 10, false).unwrap().bytes.is_empty());
    let forced = p.read(0, 10, true).unwrap();
    assert_eq!(split_batches(&forced.bytes).len(), 1);
    assert!(forced.bytes.len() > 10);
}

#[test]
fn offsets_out_of_range() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    put(&p, "a", 1);
    put(&p, "b", 1);
    p.flush().unwrap();
    let at_end = p.read(2, 1000, true).unwrap();
    assert!(at_end.bytes.is_empty());
    assert_eq!(at_end.high_watermark, 2);
    for bad in [3, 100, -1] {
        match p.read(bad, 1000, true) {
            Err(LogError::OffsetOutOfRange {
                offset,
                log_start: 0,
                log_end: 2,
            }) => assert_eq!(offset, bad),
            other => panic!("read({bad}) gave {other:?}"),
        }
    }
}

#[test]
fn invalid_batches_are_refused_and_nothing_is_written() {
    let fs = FaultFs::new();
    let p = open(
        &fs,
        LogConfig::default()
            .with("max.message.bytes", "500")
            .unwrap(),
    );
    put(&p, "kept", 1);
    let before = p.read(0, 1 << 20, true).unwrap().bytes;
    let good = simple_batch(b"good", 2);

    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 0xff;
    let mut v1 = good.clone();
    v1[16] = 1;
    let mut bad_len = good.clone();
    bad_len[8..12].copy_from_slice(&1_000_000i32.to_be_bytes());
    let big = simple_batch(&[7u8; 600], 2);
    let mut count_mismatch = BatchBuilder::new()
        .record(b"", b"a", 1)
        .record(b"", b"b", 1)
        .build();
    count_mismatch[57..61].copy_from_slice(&5i32.to_be_bytes());
    // Fix the CRC so only the count is wrong.
    let crc = fjord_log::testing::crc32c(&count_mismatch[21..]);
    count_mismatch[17..21].copy_from_slice(&crc.to_be_bytes());

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad crc", bad_crc.clone()),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("header only", good[..40].to_vec()),
        ("bad length", bad_len),
        ("magic 1", v1),
        ("too large", big),
        ("count mismatch", count_mismatch),
        // All or nothing: a good batch followed by a bad one writes neither.
        ("good then bad", [good.clone(), bad_crc].concat()),
    ];
    for (name, bytes) in cases {
        let err = p.append(&bytes, 3).expect_err(name);
        match (name, &err) {
            ("magic 1", LogError::UnsupportedMessageFormat { magic: 1 }) => {}
            ("too large", LogError::RecordTooLarge { max: 500, .. }) => {}
            (_, LogError::CorruptRecord { .. }) if !matches!(name, "magic 1" | "too large") => {}
            _ => panic!("{name}: unexpected {err:?}"),
        }
        assert_eq!(p.log_end_offset(), 1, "{name}");
        assert_eq!(p.read(0, 1 << 20, true).unwrap().bytes, before, "{name}");
    }
    assert_eq!(p.append(&good, 3).unwrap().base_offset, 1);
}

#[test]
fn several_batches_in_one_append() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    let two = [
        simple_batch(b"a", 1),
        BatchBuilder::new()
            .record(b"", b"b", 2)
            .record(b"", b"c", 3)
            .build(),
    ]
    .concat();
    let out = p.append(&two, 5).unwrap();
    assert_eq!((out.base_offset, out.last_offset), (0, 2));
    let batches = read_all(&p, 0);
    assert_eq!(batches[1].0.base_offset, 1);
    assert_eq!(values(&p, 0), ["a", "b", "c"]);
}

#[test]
fn log_append_time_stamps_batches() {
    let fs = FaultFs::new();
    let p = open(
        &fs,
        LogConfig::default()
            .with("message.timestamp.type", "LogAppendTime")
            .unwrap(),
    );
    p.append(&simple_batch(b"a", 5), 777).unwrap();
    let (h, _) = &read_all(&p, 0)[0];
    assert_eq!(
        (h.timestamp_type(), h.max_timestamp),
        (TimestampType::LogAppendTime, 777)
    );
    assert_eq!(p.offset_for_timestamp(700).unwrap(), Some((0, 777)));
}

#[test]
fn closed_partition_refuses_appends() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    put(&p, "a", 1);
    p.close().unwrap();
    p.close().unwrap();
    assert!(matches!(
        p.append(&simple_batch(b"b", 1), 1),
        Err(LogError::Closed { .. })
    ));
    assert_eq!(values(&p, 0), ["a"]);
}

#[test]
fn failed_write_leaves_the_log_unchanged() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    put(&p, "a", 1);
    fs.fail_writes(true);
    assert!(matches!(
        p.append(&simple_batch(b"b", 1), 1),
        Err(LogError::Io { .. })
    ));
    fs.fail_writes(false);
    put(&p, "c", 1);
    assert_eq!(values(&p, 0), ["a", "c"]);
}

#[test]
fn real_fs_round_trip_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let p = fjord_log::Partition::open(dir.clone(), small_config(300), fjord_log::RealFs::shared())
        .unwrap();
    for i in 0..20 {
        put(&p, &format!("v{i}"), i);
    }
    p.sync_to(19).unwrap();
    p.close().unwrap();
    drop(p);
    let p =
        fjord_log::Partition::open(dir, small_config(300), fjord_log::RealFs::shared()).unwrap();
    assert_eq!(p.log_end_offset(), 20);
    assert_eq!(
        values(&p, 0),
        (0..20).map(|i| format!("v{i}")).collect::<Vec<_>>()
    );
}
