//! Log compaction: what the cleaner keeps, what it drops, and that
//! offsets, reads, crashes and concurrent use all survive it.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use fjord_log::testing::{decode_records, BatchBuilder, KeyedRecord};
use fjord_log::{Codec, FaultFs, LogConfig, LogError, Offset, Partition, TornWrite};

const SEC: i64 = 1000;
const DAY: i64 = 86_400_000;

fn compact_config(segment_bytes: u64) -> LogConfig {
    small_config(segment_bytes)
        .with("cleanup.policy", "compact")
        .unwrap()
}

/// Appends one keyed record (None value: a tombstone); returns its offset.
fn put_kv(p: &Partition, key: &str, value: Option<&str>, ts: i64) -> Offset {
    let b = BatchBuilder::new()
        .keyed(Some(key.as_bytes()), value.map(str::as_bytes), ts)
        .build();
    p.append(&b, ts).expect("append").base_offset
}

/// Every record from the log start, decoded (any codec).
fn all_records(p: &Partition) -> Vec<KeyedRecord> {
    let mut out = Vec::new();
    let mut next = p.log_start_offset();
    while next < p.log_end_offset() {
        let slice = p.read(next, 1 << 20, true).expect("read");
        let recs = decode_records(&slice.bytes);
        let batches = fjord_log::testing::split_batches(&slice.bytes);
        assert!(!batches.is_empty(), "no progress reading at {next}");
        next = batches.last().unwrap().0.last_offset() + 1;
        out.extend(recs);
    }
    out
}

/// key -> last value, as a consumer from the earliest offset sees it.
fn last_values(recs: &[KeyedRecord]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut m = BTreeMap::new();
    for (_, k, v) in recs {
        m.insert(k.clone().expect("keyed"), v.clone());
    }
    m
}

fn assert_offsets_increase(recs: &[KeyedRecord]) {
    for w in recs.windows(2) {
        assert!(w[0].0 < w[1].0, "offsets {} then {}", w[0].0, w[1].0);
    }
}

#[test]
fn latest_value_per_key_is_kept_at_its_offset() {
    let fs = FaultFs::new();
    let p = open(&fs, compact_config(400));
    let mut written = BTreeMap::new();
    for i in 0..120 {
        let (k, v) = (format!("k{}", i % 7), format!("v{i}"));
        let o = put_kv(&p, &k, Some(&v), 1000 + i);
        written.insert(o, (k, v));
    }
    p.flush().unwrap();
    let before = all_records(&p);
    let segments_before = p.segment_count();
    let r = p.compact(DAY).unwrap();
    assert!(r.segments_cleaned > 0 && r.records_removed > 0, "{r:?}");
    assert!(
        p.size_bytes() < before.len() as u64 * 30,
        "shrank: {}",
        p.size_bytes()
    );
    assert!(p.segment_count() < segments_before);

    let after = all_records(&p);
    assert_offsets_increase(&after);
    // Every record read is the one written at its offset.
    for (o, k, v) in &after {
        let (wk, wv) = &written[o];
        assert_eq!(
            (k.as_deref(), v.as_deref()),
            (Some(wk.as_bytes()), Some(wv.as_bytes()))
        );
    }
    assert_eq!(last_values(&after), last_values(&before));
    // The active segment was mapped: every key's latest is its only copy.
    assert_eq!(after.len(), 7, "{after:?}");
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (0, 120));

    // A read at any offset, removed or not, starts at the next kept one.
    for o in 0..120 {
        let slice = p.read(o, 1 << 20, true).unwrap();
        let first = decode_records(&slice.bytes).into_iter().find(|r| r.0 >= o);
        let expect = after.iter().find(|r| r.0 >= o);
        assert_eq!(
            first.as_ref().map(|r| r.0),
            expect.map(|r| r.0),
            "read at {o}"
        );
    }

    // A second pass with nothing new is a no-op; a restart keeps it all.
    assert_eq!(p.compact(DAY).unwrap().segments_cleaned, 0);
    p.close().unwrap();
    let p = open(&fs, compact_config(400));
    assert_eq!(all_records(&p), after);
    assert_eq!(
        p.compact(DAY).unwrap().segments_cleaned,
        0,
        "checkpoint survived"
    );
}

#[test]
fn tombstones_go_delete_retention_ms_after_the_cleaner_first_kept_them() {
    let fs = FaultFs::new();
    let config = compact_config(300)
        .with("delete.retention.ms", &(60 * SEC).to_string())
        .unwrap();
    let p = open(&fs, config.clone());
    put_kv(&p, "gone", Some("old"), 1000);
    put_kv(&p, "kept", Some("v"), 1000);
    let tomb = put_kv(&p, "gone", None, 2000);
    for i in 0..20 {
        put_kv(&p, &format!("filler{}", i % 3), Some("x"), 3000 + i);
    }
    p.flush().unwrap();
    let gone = |p: &Partition| -> Vec<KeyedRecord> {
        all_records(p)
            .into_iter()
            .filter(|r| r.1.as_deref() == Some(&b"gone"[..]))
            .collect()
    };

    // The tombstone's own timestamp is ten days old, yet the first pass
    // that sees it keeps it (KIP-534): consumers get delete.retention.ms
    // from now to read it. The old value goes.
    let first = 2000 + 10 * DAY;
    let r = p.compact(first).unwrap();
    assert_eq!(r.tombstones_removed, 0, "{r:?}");
    assert_eq!(gone(&p), vec![(tomb, Some(b"gone".to_vec()), None)]);

    // The horizon is in the batch; the tombstone's timestamp reads as
    // it was written.
    let slice = p.read(tomb, 1 << 20, true).unwrap();
    let (h, batch) = &fjord_log::testing::split_batches(&slice.bytes)[0];
    assert_eq!(h.delete_horizon_ms(), Some(first + 60 * SEC));
    let stamps = fjord_log::batch::record_timestamps(batch).unwrap().unwrap();
    assert_eq!(stamps, vec![(tomb, 2000)]);

    // Before the horizon, with nothing dirty, no pass runs.
    let r = p.compact(first + 30 * SEC).unwrap();
    assert_eq!((r.segments_cleaned, r.tombstones_removed), (0, 0), "{r:?}");
    assert_eq!(gone(&p).len(), 1);

    // The horizon survives a restart (in the batch and the cleaner's
    // checkpoint) and, once passed, makes a pass due although nothing
    // new was written: the tombstone goes, the rest stays.
    p.close().unwrap();
    drop(p);
    let p = open(&fs, config);
    let r = p.compact(first + 61 * SEC).unwrap();
    assert_eq!(r.tombstones_removed, 1, "{r:?}");
    assert!(gone(&p).is_empty());
    let last = last_values(&all_records(&p));
    assert_eq!(last[&b"kept".to_vec()], Some(b"v".to_vec()));
    assert_eq!(last[&b"filler0".to_vec()], Some(b"x".to_vec()));
    // No tombstone left: nothing more is due.
    let r = p.compact(first + 2 * DAY).unwrap();
    assert_eq!(r.segments_cleaned, 0, "{r:?}");
}

#[test]
fn a_batch_keeping_a_tombstone_keeps_its_records_and_timestamps() {
    for codec in [Codec::None, Codec::Zstd] {
        let fs = FaultFs::new();
        let config = compact_config(400)
            .with("delete.retention.ms", &(60 * SEC).to_string())
            .unwrap();
        let p = open(&fs, config);
        // One batch: a value, a tombstone and a value, timestamps apart.
        let mixed = BatchBuilder::new()
            .keyed(Some(b"a"), Some(b"1"), 1000)
            .keyed(Some(b"b"), None, 1500)
            .keyed(Some(b"c"), Some(b"3"), 1700)
            .compressed(codec)
            .build();
        let base = p.append(&mixed, 1700).unwrap().base_offset;
        for i in 0..20 {
            put_kv(&p, &format!("filler{}", i % 3), Some("x"), 3000 + i);
        }
        p.flush().unwrap();

        let now = 10 * DAY;
        p.compact(now).unwrap();
        let slice = p.read(base, 1 << 20, true).unwrap();
        let (h, batch) = &fjord_log::testing::split_batches(&slice.bytes)[0];
        assert_eq!(h.delete_horizon_ms(), Some(now + 60 * SEC), "{codec:?}");
        assert_eq!(
            decode_records(batch),
            vec![
                (base, Some(b"a".to_vec()), Some(b"1".to_vec())),
                (base + 1, Some(b"b".to_vec()), None),
                (base + 2, Some(b"c".to_vec()), Some(b"3".to_vec())),
            ]
        );
        if codec == Codec::None {
            let stamps = fjord_log::batch::record_timestamps(batch).unwrap().unwrap();
            assert_eq!(
                stamps,
                vec![(base, 1000), (base + 1, 1500), (base + 2, 1700)]
            );
        }

        // Past the horizon the tombstone goes, and with it the horizon:
        // the batch's first timestamp is a record's again.
        let r = p.compact(now + 61 * SEC).unwrap();
        assert_eq!(r.tombstones_removed, 1, "{codec:?} {r:?}");
        let slice = p.read(base, 1 << 20, true).unwrap();
        let (h, batch) = &fjord_log::testing::split_batches(&slice.bytes)[0];
        assert_eq!(h.delete_horizon_ms(), None);
        assert_eq!((h.base_timestamp, h.max_timestamp), (1000, 1700));
        assert_eq!(
            decode_records(batch),
            vec![
                (base, Some(b"a".to_vec()), Some(b"1".to_vec())),
                (base + 2, Some(b"c".to_vec()), Some(b"3".to_vec())),
            ]
        );
    }
}

#[test]
fn compressed_batches_of_every_codec_are_compacted() {
    for codec in [
        Codec::Gzip,
        Codec::Snappy { xerial: false },
        Codec::Snappy { xerial: true },
        Codec::Lz4,
        Codec::Zstd,
    ] {
        let fs = FaultFs::new();
        // segment.ms=1 so maintain() can roll everything into closed segments.
        let p = open(&fs, compact_config(2000).with("segment.ms", "1").unwrap());
        let mut n = 0;
        for _ in 0..40 {
            let mut builder = BatchBuilder::new().compressed(codec);
            for _ in 0..5 {
                let v = format!("value-{n}-{}", "x".repeat(n % 40));
                builder = builder
                    .keyed(
                        Some(format!("key{}", n % 9).as_bytes()),
                        Some(v.as_bytes()),
                        1000 + n as i64,
                    )
                    .header(b"trace", Some(format!("t{n}").as_bytes()))
                    .header(b"trace", None);
                n += 1;
            }
            p.append(&builder.build(), 1000).unwrap();
        }
        assert_eq!(p.maintain(DAY).unwrap().segments_rolled, 1);
        let before = all_records(&p);
        let r = p.compact(DAY).unwrap();
        assert!(r.records_removed >= 100, "{codec:?}: {r:?}");
        let after = all_records(&p);
        assert_offsets_increase(&after);
        assert_eq!(last_values(&after), last_values(&before), "{codec:?}");
        assert_eq!(after.len(), 9, "{codec:?}");
        // Survivors are still in their codec, headers and all.
        let slice = p.read(0, 1 << 20, true).unwrap();
        for (h, batch) in fjord_log::testing::split_batches(&slice.bytes) {
            assert_eq!(h.compression(), codec.id(), "{codec:?}");
            let (_, section) = fjord_log::records::records_section(&h, &batch).unwrap();
            for r in fjord_log::records::parse_records(&section, h.records_count).unwrap() {
                let t = format!("t{}", r.offset(&h));
                let hs: Vec<_> = r.headers.iter().map(|h| (h.key, h.value)).collect();
                assert_eq!(
                    hs,
                    vec![(&b"trace"[..], Some(t.as_bytes())), (&b"trace"[..], None)]
                );
            }
        }
    }
}

#[test]
fn keyless_records_are_refused_on_compacted_topics() {
    for policy in ["compact", "compact,delete"] {
        let fs = FaultFs::new();
        let p = open(
            &fs,
            small_config(1000).with("cleanup.policy", policy).unwrap(),
        );
        let keyless = BatchBuilder::new()
            .record(b"k", b"v", 1)
            .record(b"", b"v", 2)
            .build();
        assert!(matches!(
            p.append(&keyless, 1),
            Err(LogError::InvalidRecord { .. })
        ));
        let compressed = BatchBuilder::new()
            .keyed(None, Some(b"v"), 1)
            .compressed(Codec::Zstd)
            .build();
        assert!(matches!(
            p.append(&compressed, 1),
            Err(LogError::InvalidRecord { .. })
        ));
        assert_eq!(p.log_end_offset(), 0);
        put_kv(&p, "k", Some("v"), 1);
    }
    let fs = FaultFs::new();
    let p = open(&fs, small_config(1000));
    p.append(&BatchBuilder::new().record(b"", b"v", 1).build(), 1)
        .unwrap();
}

#[test]
fn min_compaction_lag_and_dirty_ratio_hold_cleaning_back() {
    let fs = FaultFs::new();
    let lag = 60 * SEC;
    let p = open(
        &fs,
        compact_config(300)
            .with("min.compaction.lag.ms", &lag.to_string())
            .unwrap(),
    );
    for i in 0..40 {
        put_kv(&p, "k", Some(&format!("v{i}")), 1000 + i * SEC);
    }
    p.flush().unwrap();
    // Nothing is older than the lag yet.
    assert_eq!(p.compact(1000 + 39 * SEC).unwrap().segments_cleaned, 0);
    // Half of it is: only those segments are cleaned.
    let r = p.compact(1000 + 20 * SEC + lag).unwrap();
    assert!(r.segments_cleaned > 0);
    let recs = all_records(&p);
    assert!(recs.len() > 15 && recs.len() < 35, "{}", recs.len());
    assert!(recs.iter().all(|r| r.0 >= 15 || r.0 == recs[0].0));

    // With a high dirty ratio, a little new data is not worth a pass.
    let fs = FaultFs::new();
    let p = open(
        &fs,
        compact_config(300)
            .with("min.cleanable.dirty.ratio", "0.9")
            .unwrap(),
    );
    for i in 0..60 {
        put_kv(&p, &format!("k{}", i % 30), Some("v"), 1000);
    }
    p.flush().unwrap();
    assert!(p.compact(DAY).unwrap().segments_cleaned > 0);
    for i in 0..8 {
        put_kv(&p, &format!("k{i}"), Some("w"), 2000);
    }
    p.flush().unwrap();
    assert_eq!(p.compact(DAY).unwrap().segments_cleaned, 0);
}

#[test]
fn repeated_passes_keep_the_segment_count_bounded() {
    let fs = FaultFs::new();
    let p = open(&fs, compact_config(2000));
    for round in 0..30 {
        for i in 0..50 {
            put_kv(
                &p,
                &format!("k{}", i % 10),
                Some(&format!("r{round}-{i}")),
                1000 + round,
            );
        }
        p.flush().unwrap();
        p.compact(DAY).unwrap();
        assert!(
            p.segment_count() <= 4,
            "round {round}: {} segments",
            p.segment_count()
        );
    }
    let recs = all_records(&p);
    assert_eq!(
        last_values(&recs)[&b"k3".to_vec()],
        Some(b"r29-43".to_vec())
    );
}

#[test]
fn a_crash_at_any_point_of_a_compaction_recovers() {
    let fs = FaultFs::new();
    fs.set_torn_write(TornWrite::DropAll);
    let config = compact_config(500)
        .with("delete.retention.ms", "1000")
        .unwrap();
    let p = open(&fs, config.clone());
    let mut written = BTreeMap::new();
    for i in 0..150 {
        let k = format!("k{}", i % 11);
        let v = (i % 13 != 0).then(|| format!("v{i}"));
        let o = put_kv(&p, &k, v.as_deref(), 1000 + i);
        written.insert(o, (k, v));
    }
    p.flush().unwrap();
    let before = all_records(&p);
    fs.record_crash_images(true);
    let r = p.compact(DAY).unwrap();
    let images = fs.take_crash_images();
    fs.record_crash_images(false);
    assert!(r.segments_cleaned > 1, "{r:?}");
    let done = all_records(&p);
    assert!(images.len() >= 4, "{} images", images.len());

    // Live keys (tombstones aside) as a consumer sees them.
    let live = |recs: &[KeyedRecord]| {
        last_values(recs)
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .collect::<BTreeMap<_, _>>()
    };
    for (i, image) in images.iter().enumerate() {
        let p = Partition::open(dir(), config.clone(), image.shared())
            .unwrap_or_else(|e| panic!("image {i}: {e}"));
        let recs = all_records(&p);
        assert_offsets_increase(&recs);
        for (o, k, v) in &recs {
            let (wk, wv) = &written[o];
            assert_eq!(
                (k.as_deref(), v.as_deref()),
                (Some(wk.as_bytes()), wv.as_deref().map(str::as_bytes)),
                "image {i}"
            );
        }
        assert_eq!(live(&recs), live(&before), "image {i}");
        assert_eq!(
            (p.log_start_offset(), p.log_end_offset()),
            (0, 150),
            "image {i}"
        );
        // No leftovers, and a pass after recovery ends where the original did.
        assert!(
            segment_files(image, "cleaned").is_empty() && segment_files(image, "swap").is_empty()
        );
        p.compact(DAY).unwrap();
        assert_eq!(
            live(&all_records(&p)),
            live(&done),
            "image {i} after a new pass"
        );
    }
}

#[test]
fn appends_and_reads_proceed_during_compaction() {
    let fs = FaultFs::new();
    let p = Arc::new(open(&fs, compact_config(3000)));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            // Key k{i%20} gets value i: values per key only grow.
            for i in 0..6000i64 {
                put_kv(&p, &format!("k{}", i % 20), Some(&i.to_string()), 1000 + i);
                if i % 100 == 0 {
                    p.flush().unwrap();
                }
            }
            p.flush().unwrap();
        })
    };
    let reader = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut passes = 0;
            while !stop.load(Ordering::SeqCst) {
                let recs = all_records(&p);
                assert_offsets_increase(&recs);
                for (o, k, v) in &recs {
                    // Every record is the one written at its offset.
                    let i: i64 = String::from_utf8(v.clone().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert_eq!(i, *o);
                    assert_eq!(k.clone().unwrap(), format!("k{}", i % 20).into_bytes());
                }
                passes += 1;
            }
            passes
        })
    };
    let cleaner = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut cleaned = 0;
            while !stop.load(Ordering::SeqCst) {
                cleaned += p.compact(DAY).unwrap().segments_cleaned;
            }
            cleaned
        })
    };
    writer.join().unwrap();
    p.compact(DAY).unwrap();
    stop.store(true, Ordering::SeqCst);
    let passes = reader.join().unwrap();
    let cleaned = cleaner.join().unwrap();
    assert!(
        passes > 0 && cleaned > 0,
        "passes {passes}, cleaned {cleaned}"
    );
    let recs = all_records(&p);
    let last = last_values(&recs);
    for k in 0..20 {
        let want = (5980 + k).to_string().into_bytes();
        assert_eq!(last[&format!("k{k}").into_bytes()], Some(want));
    }
}

/// THE MEASUREMENT of issue 3 item 4: 100,000 updates over 100 keys with
/// segment.bytes = 1 MiB leave under 2 MiB on disk after cleaning, and a
/// reader from the earliest offset sees each key's last value. Prints the
/// figures for BENCHMARKS.md (`cargo test --release -p fjord-log --test
/// compaction -- --nocapture hundred_thousand`).
#[test]
fn hundred_thousand_updates_over_hundred_keys_fit_in_two_mib() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("compacted-0");
    let config = LogConfig::default()
        .with("cleanup.policy", "compact")
        .unwrap()
        .with("segment.bytes", &(1 << 20).to_string())
        .unwrap();
    let p = Partition::open(dir.clone(), config, fjord_log::RealFs::shared()).unwrap();
    let value_of = |i: usize| format!("update {i:06} {}", "v".repeat(80));
    let started = std::time::Instant::now();
    for i in 0..100_000usize {
        let b = BatchBuilder::new()
            .keyed(
                Some(format!("key-{:03}", i % 100).as_bytes()),
                Some(value_of(i).as_bytes()),
                1_000 + i as i64,
            )
            .build();
        p.append(&b, 1_000 + i as i64).unwrap();
    }
    p.flush().unwrap();
    let wrote = started.elapsed();
    let disk = |d: &std::path::Path| -> u64 {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let before = disk(&dir);
    let segments_before = p.segment_count();
    let started = std::time::Instant::now();
    let r = p.compact(DAY).unwrap();
    let took = started.elapsed();
    let after = disk(&dir);
    println!(
        "compaction: 100000 updates over 100 keys, segment.bytes=1MiB: {before} bytes in {segments_before} segments \
         -> {after} bytes in {} segments; cleaned {} segments ({} -> {} bytes, {} records removed) in {:.0} ms \
         (appends took {:.0} ms)",
        p.segment_count(),
        r.segments_cleaned,
        r.bytes_before,
        r.bytes_after,
        r.records_removed,
        took.as_secs_f64() * 1000.0,
        wrote.as_secs_f64() * 1000.0,
    );
    assert!(before > 10 << 20, "{before}");
    assert!(after < 2 << 20, "{after} bytes on disk after cleaning");

    let recs = all_records(&p);
    let last = last_values(&recs);
    assert_eq!(last.len(), 100);
    for k in 0..100usize {
        let want = value_of(99_900 + k).into_bytes();
        assert_eq!(last[&format!("key-{k:03}").into_bytes()], Some(want));
    }
}

#[test]
fn leftover_cleaned_files_are_discarded_on_open() {
    use fjord_log::FileSystem;
    let fs = FaultFs::new();
    let p = open(&fs, compact_config(300));
    for i in 0..30 {
        put_kv(&p, &format!("k{}", i % 4), Some(&format!("v{i}")), 1000 + i);
    }
    p.close().unwrap();
    let before = {
        let p = open(&fs, compact_config(300));
        all_records(&p)
    };
    // A pass that died before its commit point left a half-written file.
    let junk = dir().join("00000000000000000000.log.cleaned");
    fs.open(&junk, true)
        .unwrap()
        .write_at(b"half a batch", 0)
        .unwrap();
    let p = open(&fs, compact_config(300));
    assert!(!fs.exists(&junk));
    assert_eq!(all_records(&p), before);
    assert!(p.compact(DAY).unwrap().segments_cleaned > 0);
}
