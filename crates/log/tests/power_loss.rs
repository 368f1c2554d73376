//! Power loss under concurrent acks=all producers: every acknowledged batch
//! survives, exactly once and in order; the torn tail is gone; and group
//! commit shares fsyncs between producers.
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use fjord_log::testing::simple_batch;
use fjord_log::{FaultFs, Offset, TornWrite};

const THREADS: usize = 8;
const BATCHES: usize = 200;

/// (offset, payload) of every acknowledged batch, in acknowledgement order.
type Acks = Arc<Mutex<Vec<(Offset, String)>>>;
/// A crash image and the acknowledgements made before it was taken.
type Crash = (FaultFs, Vec<(Offset, String)>);

fn produce(fs: &FaultFs, segment_bytes: u64, crash_after: usize) -> (Crash, u64) {
    let p = Arc::new(open(fs, small_config(segment_bytes)));
    let acks: Acks = Arc::new(Mutex::new(Vec::new()));
    // The image taken mid-run, and the acknowledgements made before it.
    let crashed: Arc<Mutex<Option<Crash>>> = Arc::new(Mutex::new(None));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (p, acks, fs, crashed) = (p.clone(), acks.clone(), fs.clone(), crashed.clone());
            std::thread::spawn(move || {
                for i in 0..BATCHES {
                    let payload = format!("t{t}-b{i:04}-{}", "x".repeat(i % 40));
                    let out = p
                        .append(&simple_batch(payload.as_bytes(), i as i64), i as i64)
                        .unwrap();
                    p.sync_to(out.last_offset).unwrap();
                    let mut acks = acks.lock().unwrap();
                    acks.push((out.base_offset, payload));
                    if acks.len() == crash_after {
                        // Power fails now: everything acknowledged so far
                        // was acknowledged before the crash.
                        let image = fs.crash();
                        *crashed.lock().unwrap() = Some((image, acks.clone()));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // An unacknowledged tail for the final crash to tear.
    for i in 0..5 {
        p.append(&simple_batch(format!("unacked-{i}").as_bytes(), 0), 0)
            .unwrap();
    }
    let total_acks = acks.lock().unwrap().len() as u64;
    assert_eq!(total_acks, (THREADS * BATCHES) as u64);
    let crash = crashed.lock().unwrap().take().expect("crash taken");
    (crash, fs.fsync_count())
}

fn verify(image: &FaultFs, acked: &[(Offset, String)], segment_bytes: u64) {
    let p = open(image, small_config(segment_bytes));
    let log = read_all(&p, 0);
    // Offsets are contiguous from 0 and every batch's CRC checked out.
    let mut next = 0;
    for (h, _) in &log {
        assert_eq!(h.base_offset, next);
        next = h.last_offset() + 1;
    }
    assert_eq!(next, p.log_end_offset());
    let stored: Vec<(Offset, String)> = log
        .iter()
        .map(|(h, v)| (h.base_offset, String::from_utf8(v[0].clone()).unwrap()))
        .collect();
    for (offset, payload) in acked {
        let at = stored
            .get(*offset as usize)
            .unwrap_or_else(|| panic!("acked offset {offset} lost"));
        assert_eq!(&at.1, payload, "offset {offset}");
    }
    // Exactly once: no payload appears twice.
    let mut seen = std::collections::HashSet::new();
    for (_, v) in &stored {
        assert!(seen.insert(v.clone()), "{v} stored twice");
    }
    // Per producer thread, acknowledged payloads are in send order.
    for t in 0..THREADS {
        let prefix = format!("t{t}-");
        let mine: Vec<&String> = stored
            .iter()
            .map(|(_, v)| v)
            .filter(|v| v.starts_with(&prefix))
            .collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "thread {t} out of order");
    }
}

#[test]
fn acknowledged_batches_survive_power_loss_with_group_commit() {
    let fs = FaultFs::new();
    // A disk flush costs time; that is what group commit amortises.
    fs.set_sync_delay(Duration::from_micros(500));
    fs.set_torn_write(TornWrite::KeepHalf);
    let segment_bytes = 1 << 20;
    let ((image, acked), fsyncs) = produce(&fs, segment_bytes, THREADS * BATCHES / 2);
    let acks = (THREADS * BATCHES) as u64;
    assert!(
        fsyncs < acks,
        "{fsyncs} fsyncs for {acks} acknowledged batches: no group commit"
    );
    eprintln!("{fsyncs} fsyncs for {acks} acknowledged batches");
    verify(&image, &acked, segment_bytes);

    // The final image: all acknowledged, the unacknowledged tail torn.
    let last = fs.crash();
    let p = open(&last, small_config(segment_bytes));
    let vals = values(&p, 0);
    assert!(vals.len() >= THREADS * BATCHES);
    assert!(
        vals.len() < THREADS * BATCHES + 5,
        "half of the unsynced tail was torn away"
    );
}

#[test]
fn power_loss_across_segment_rolls() {
    for (seed, torn) in [
        (1, TornWrite::Zeros),
        (2, TornWrite::Random(99)),
        (3, TornWrite::DropAll),
    ] {
        let fs = FaultFs::new();
        fs.set_torn_write(torn);
        let segment_bytes = 4096;
        let ((image, acked), _) = produce(&fs, segment_bytes, 300 * seed);
        verify(&image, &acked, segment_bytes);
        let p = open(&fs.crash(), small_config(segment_bytes));
        assert!(p.segment_count() > 10);
        assert!(p.log_end_offset() >= (THREADS * BATCHES) as i64);
    }
}

#[test]
fn appends_continue_while_an_fsync_is_in_flight() {
    let fs = FaultFs::new();
    let p = Arc::new(open(&fs, small_config(1 << 20)));
    p.append(&simple_batch(b"first", 0), 0).unwrap();
    fs.set_sync_delay(Duration::from_millis(300));
    let syncer = {
        let p = p.clone();
        std::thread::spawn(move || p.sync_to(0).unwrap())
    };
    std::thread::sleep(Duration::from_millis(50));
    let started = std::time::Instant::now();
    for i in 0..10 {
        p.append(&simple_batch(format!("during-{i}").as_bytes(), 0), 0)
            .unwrap();
        p.read(0, 1 << 20, true).unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(200),
        "appends waited {took:?} for the fsync"
    );
    syncer.join().unwrap();
    assert!(p.durable_offset() >= 1);
    assert!(
        p.durable_offset() < 11,
        "the later appends were not in that fsync"
    );
}

/// A consumer reading as a consumer does (`read_uncommitted`, asking for
/// an fsync when the only records left are not durable yet), committing
/// the offset after each batch it read. Returns (crash image, offset the
/// group had committed when the power failed) for each of `crashes` cuts
/// taken while acks=1 producers keep appending without syncing.
fn consume_through_power_cuts(fs: &FaultFs, crashes: usize) -> Vec<(FaultFs, Offset)> {
    // Large segments: a roll fsyncs, and the unsynced tail should be long.
    let p = Arc::new(open(fs, small_config(1 << 20)));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let (p, done) = (p.clone(), done.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let payload = format!("t{t}-{i}");
                    p.append(&simple_batch(payload.as_bytes(), i), i).unwrap();
                    i += 1;
                    if i % 16 == 0 {
                        // Let the consumer catch up with the log end.
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect();
    let committed = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let consumer = {
        let (p, done, committed) = (p.clone(), done.clone(), committed.clone());
        std::thread::spawn(move || {
            let mut next = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let slice = p.read_uncommitted(next, 64 * 1024, true).unwrap();
                match fjord_log::BatchHeader::walk(&slice.bytes).last() {
                    Some((h, _)) => next = h.last_offset() + 1,
                    None if p.has_undurable_tail() => p.flush().unwrap(),
                    None => std::thread::yield_now(),
                }
                committed.store(next, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let mut cuts = Vec::new();
    for _ in 0..crashes {
        std::thread::sleep(Duration::from_millis(5));
        // The group's offset first, then the power cut: whatever the
        // group had committed by then must be in the image.
        let at = committed.load(std::sync::atomic::Ordering::SeqCst);
        cuts.push((fs.crash(), at));
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in producers {
        t.join().unwrap();
    }
    consumer.join().unwrap();
    cuts
}

// Item: consumers must not run ahead of durability. When the high
// watermark was the log end, a consumer read and committed offsets past
// the fsynced end; a power cut took those records away, the offsets were
// handed to new records, and the group skipped them.
#[test]
fn a_consuming_group_never_commits_past_what_a_power_cut_keeps() {
    let fs = FaultFs::new();
    fs.set_torn_write(TornWrite::DropAll);
    let cuts = consume_through_power_cuts(&fs, 20);
    let mut consumed_something = false;
    for (i, (image, committed)) in cuts.into_iter().enumerate() {
        let p = open(&image, small_config(1 << 20));
        assert!(
            committed <= p.log_end_offset(),
            "cut {i}: the group committed {committed} but the log recovered to {}",
            p.log_end_offset()
        );
        consumed_something |= committed > 0;
    }
    assert!(consumed_something, "the consumer made progress");
}
