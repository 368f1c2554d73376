//! Idempotent producers: duplicates, gaps, epochs, and state across restarts.
mod common;

use common::*;
use fjord_log::testing::idempotent_batch;
use fjord_log::{FaultFs, LogConfig, LogError, TornWrite};

#[test]
fn duplicate_is_dropped_with_original_offsets() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    put(&p, "other", 1);
    let b0 = idempotent_batch(1000, 0, 0, 3, 5);
    let first = p.append(&b0, 1).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (1, 3, false)
    );
    p.append(&idempotent_batch(1000, 0, 3, 2, 5), 1).unwrap();
    let again = p.append(&b0, 1).unwrap();
    assert_eq!(
        (again.base_offset, again.last_offset, again.duplicate),
        (1, 3, true)
    );
    assert_eq!(p.log_end_offset(), 6);
    assert_eq!(p.producer_ids(), vec![(1000, 0, 4)]);
}

#[test]
fn gaps_and_old_epochs_are_refused() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    p.append(&idempotent_batch(7, 0, 0, 2, 0), 0).unwrap();
    assert!(matches!(
        p.append(&idempotent_batch(7, 0, 5, 1, 0), 0),
        Err(LogError::OutOfOrderSequence {
            expected: 2,
            got: 5,
            ..
        })
    ));
    p.append(&idempotent_batch(7, 1, 0, 1, 0), 0).unwrap();
    assert!(matches!(
        p.append(&idempotent_batch(7, 0, 2, 1, 0), 0),
        Err(LogError::InvalidProducerEpoch {
            current: 1,
            got: 0,
            ..
        })
    ));
    assert!(matches!(
        p.append(&idempotent_batch(7, 2, 4, 1, 0), 0),
        Err(LogError::OutOfOrderSequence {
            expected: 0,
            got: 4,
            ..
        })
    ));
    assert_eq!(p.log_end_offset(), 3, "refused batches wrote nothing");
}

// Kafka >= 2.5 (KIP-360): a producer the log has no state for (it may have
// expired) is taken at its word; from its first batch on it is checked.
#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    let first = p.append(&idempotent_batch(8, 2, 30, 2, 0), 0).unwrap();
    assert_eq!((first.base_offset, first.duplicate), (0, false));
    assert_eq!(p.producer_ids(), vec![(8, 2, 31)]);
    assert!(matches!(
        p.append(&idempotent_batch(8, 2, 33, 1, 0), 0),
        Err(LogError::OutOfOrderSequence {
            expected: 32,
            got: 33,
            ..
        })
    ));
    assert!(
        p.append(&idempotent_batch(8, 2, 30, 2, 0), 0)
            .unwrap()
            .duplicate
    );
    p.append(&idempotent_batch(8, 2, 32, 1, 0), 0).unwrap();
    assert_eq!(p.log_end_offset(), 3);
}

/// Batches of two producers, stamped now: state recovered from older
/// timestamps would expire at the reopen (producer_id_expiration_ms).
fn exercise(p: &fjord_log::Partition) {
    let now = now_ms();
    for seq in 0..12 {
        p.append(&idempotent_batch(42, 3, seq, 1, now + seq as i64), now)
            .unwrap();
    }
    p.append(&idempotent_batch(43, 0, 0, 2, now), now).unwrap();
}

fn check_state(p: &fjord_log::Partition) {
    assert_eq!(p.producer_ids(), vec![(42, 3, 11), (43, 0, 1)]);
    let dup = p.append(&idempotent_batch(42, 3, 10, 1, 10), 0).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, 10);
    assert!(matches!(
        p.append(&idempotent_batch(42, 3, 13, 1, 0), 0),
        Err(LogError::OutOfOrderSequence { expected: 12, .. })
    ));
    assert!(matches!(
        p.append(&idempotent_batch(42, 2, 0, 1, 0), 0),
        Err(LogError::InvalidProducerEpoch { .. })
    ));
    assert!(
        !p.append(&idempotent_batch(42, 3, 12, 1, 0), 0)
            .unwrap()
            .duplicate
    );
}

#[test]
fn state_survives_close_and_reopen() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(400));
    exercise(&p);
    p.close().unwrap();
    drop(p);
    check_state(&open(&fs, small_config(400)));
}

#[test]
fn state_survives_a_crash() {
    for segment_bytes in [400, 1 << 20] {
        let fs = FaultFs::new();
        let p = open(&fs, small_config(segment_bytes));
        exercise(&p);
        p.flush().unwrap();
        // An unsynced batch that the crash tears off must not count.
        p.append(&idempotent_batch(42, 3, 12, 1, 0), 0).unwrap();
        fs.set_torn_write(TornWrite::KeepHalf);
        let p2 = open(&fs.crash(), small_config(segment_bytes));
        check_state(&p2);
    }
}

#[test]
fn state_is_rebuilt_from_the_log_without_snapshots() {
    let fs = FaultFs::new();
    let p = open(&fs, small_config(400));
    exercise(&p);
    p.close().unwrap();
    drop(p);
    use fjord_log::FileSystem;
    for f in segment_files(&fs, "snapshot") {
        fs.remove_file(&f).unwrap();
    }
    check_state(&open(&fs, small_config(400)));
}
