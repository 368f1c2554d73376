//! Transactions in the log: open/commit/abort, the last stable offset, the
//! aborted-transaction index, read_committed reads, fencing, and all of it
//! across close/reopen, crashes and retention.
mod common;

use common::*;
use fjord_log::testing::{idempotent_batch, split_batches, txn_batch, BatchBuilder};
use fjord_log::txn::decode_marker;
use fjord_log::{
    AbortedTxn, ControlMarker, FaultFs, FileSystem, LogConfig, LogError, Offset, Partition,
};

fn commit(epoch: i32) -> ControlMarker {
    ControlMarker {
        commit: true,
        coordinator_epoch: epoch,
    }
}

fn abort(epoch: i32) -> ControlMarker {
    ControlMarker {
        commit: false,
        coordinator_epoch: epoch,
    }
}

fn txn(p: &Partition, pid: i64, epoch: i16, seq: i32, count: usize) -> Offset {
    p.append(&txn_batch(pid, epoch, seq, count, 1), 1)
        .expect("transactional append")
        .base_offset
}

fn marker(p: &Partition, pid: i64, epoch: i16, m: ControlMarker) -> Offset {
    p.append_marker(pid, epoch, m, 2)
        .expect("marker")
        .base_offset
}

/// The last stable offset once everything appended is durable (it never
/// passes the high watermark, the fsynced end; these tests are about the
/// transactions, not the fsyncs).
fn lso(p: &Partition) -> Offset {
    p.flush().unwrap();
    p.last_stable_offset()
}

/// Offsets of the batches a read_committed read from `from` returns, once
/// everything appended is durable.
fn committed_offsets(p: &Partition, from: Offset) -> Vec<(Offset, Offset)> {
    p.flush().unwrap();
    let slice = p.read_committed(from, 1 << 20, true).unwrap();
    split_batches(&slice.bytes)
        .into_iter()
        .map(|(h, _)| (h.base_offset, h.last_offset()))
        .collect()
}

#[test]
fn commit_and_abort_move_the_lso_and_fill_the_index() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    put(&p, "plain", 0); // 0
    assert_eq!(lso(&p), 1);
    let a = txn(&p, 10, 0, 0, 2); // 1..=2
    assert_eq!((a, lso(&p)), (1, 1));
    assert_eq!(txn(&p, 20, 0, 0, 1), 3);
    put(&p, "plain", 0); // 4
    txn(&p, 10, 0, 2, 1); // 5: continues A's transaction
    assert_eq!(lso(&p), 1, "A's transaction is the oldest open");
    assert_eq!(p.open_transactions(), vec![(10, 1), (20, 3)]);

    let m = marker(&p, 10, 0, commit(0)); // 6
    assert_eq!(m, 6);
    assert_eq!(lso(&p), 3, "B still open from 3");
    assert!(
        p.aborted_transactions(0, 100).is_empty(),
        "a commit is not indexed"
    );

    let m = marker(&p, 20, 0, abort(0)); // 7
    assert_eq!(lso(&p), 8);
    assert_eq!(
        p.aborted_transactions(0, 100),
        vec![AbortedTxn {
            producer_id: 20,
            first_offset: 3,
            last_offset: m,
            last_stable_offset: 8,
        }]
    );
    assert!(p.open_transactions().is_empty());

    // The markers are stored control batches the log can read back.
    let stored = p.read(6, 1 << 20, true).unwrap();
    let batches = split_batches(&stored.bytes);
    let (h, bytes) = &batches[0];
    assert!(h.is_control() && h.is_transactional());
    assert_eq!(decode_marker(h, bytes).unwrap(), commit(0));
    assert_eq!(
        decode_marker(&batches[1].0, &batches[1].1).unwrap(),
        abort(0)
    );
}

#[test]
fn read_committed_stops_at_the_lso() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    put(&p, "a", 0); // 0
    txn(&p, 1, 0, 0, 2); // 1..=2 open
    put(&p, "b", 0); // 3, above the LSO
    p.flush().unwrap();
    let all = p.read(0, 1 << 20, true).unwrap();
    assert_eq!((all.high_watermark, all.last_stable_offset), (4, 1));
    assert_eq!(split_batches(&all.bytes).len(), 3);
    assert_eq!(committed_offsets(&p, 0), vec![(0, 0)]);
    // At or past the LSO but inside the log: nothing yet, not an error.
    assert!(committed_offsets(&p, 1).is_empty());
    assert!(committed_offsets(&p, 3).is_empty());
    assert!(matches!(
        p.read_committed(5, 1 << 20, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));

    marker(&p, 1, 0, commit(0)); // 4
    assert_eq!(lso(&p), 5);
    assert_eq!(
        committed_offsets(&p, 0),
        vec![(0, 0), (1, 2), (3, 3), (4, 4)]
    );
    // The range matters: an abort before `from` is not reported.
    txn(&p, 2, 0, 0, 1); // 5
    marker(&p, 2, 0, abort(0)); // 6
    assert_eq!(p.aborted_transactions(5, 7).len(), 1);
    assert_eq!(p.aborted_transactions(7, 100).len(), 0);
    assert_eq!(p.aborted_transactions(0, 5).len(), 0);
}

#[test]
fn transactional_producers_keep_sequence_checks_and_are_fenced() {
    let fs = FaultFs::new();
    let p = open(&fs, LogConfig::default());
    let b0 = txn_batch(5, 0, 0, 2, 1);
    p.append(&b0, 1).unwrap();
    // A retry is answered with the original offsets and written once.
    let again = p.append(&b0, 1).unwrap();
    assert!(again.duplicate);
    assert_eq!(p.log_end_offset(), 2);
    assert!(matches!(
        p.append(&txn_batch(5, 0, 3, 1, 1), 1),
        Err(LogError::OutOfOrderSequence {
            expected: 2,
            got: 3,
            ..
        })
    ));
    // A non-transactional write while the transaction is open.
    assert!(matches!(
        p.append(&idempotent_batch(5, 0, 2, 1, 1), 1),
        Err(LogError::InvalidTxnState { producer_id: 5, .. })
    ));
    // Clients may not write control batches.
    let fake = BatchBuilder::new()
        .producer(5, 0, 2)
        .transactional()
        .control()
        .record(b"k", b"v", 1)
        .build();
    assert!(matches!(
        p.append(&fake, 1),
        Err(LogError::InvalidRecord { .. })
    ));
    // A transactional batch needs a producer id.
    let anonymous = BatchBuilder::new()
        .transactional()
        .record(b"", b"x", 1)
        .build();
    assert!(matches!(
        p.append(&anonymous, 1),
        Err(LogError::InvalidRecord { .. })
    ));

    // The coordinator aborts with a bumped epoch (an expired transaction):
    // the old epoch is fenced and the new one starts at sequence 0.
    marker(&p, 5, 1, abort(3));
    assert!(matches!(
        p.append_marker(5, 0, commit(3), 2),
        Err(LogError::InvalidProducerEpoch {
            current: 1,
            got: 0,
            ..
        })
    ));
    assert!(matches!(
        p.append_marker(5, 1, commit(2), 2),
        Err(LogError::CoordinatorFenced {
            current: 3,
            got: 2,
            ..
        })
    ));
    assert!(matches!(
        p.append(&txn_batch(5, 0, 2, 1, 1), 1),
        Err(LogError::InvalidProducerEpoch { .. })
    ));
    assert!(matches!(
        p.append(&txn_batch(5, 1, 2, 1, 1), 1),
        Err(LogError::OutOfOrderSequence { expected: 0, .. })
    ));
    txn(&p, 5, 1, 0, 1);
    assert_eq!(p.producer_ids(), vec![(5, 1, 0)]);
    // A marker for a producer with nothing open is written, indexes nothing.
    marker(&p, 5, 1, commit(3));
    marker(&p, 5, 1, abort(3));
    assert_eq!(p.aborted_transactions(0, 100).len(), 1);
    assert_eq!(lso(&p), p.log_end_offset());
}

/// A partition with closed segments holding aborts and an open
/// transaction in the active one; returns (aborted, LSO, open).
fn build_history(p: &Partition) -> (Vec<AbortedTxn>, Offset, Vec<(i64, Offset)>) {
    for round in 0..6 {
        let seq = round * 2;
        txn(p, 1, 0, seq, 2);
        put(p, &format!("filler-{round}-{}", "x".repeat(100)), 0);
        marker(p, 1, 0, if round % 2 == 0 { abort(0) } else { commit(0) });
    }
    txn(p, 2, 0, 0, 1);
    put(p, "after", 0);
    txn(p, 3, 0, 0, 1);
    marker(p, 3, 0, abort(0));
    let state = (
        p.aborted_transactions(0, Offset::MAX),
        lso(p),
        p.open_transactions(),
    );
    assert_eq!(state.0.len(), 4);
    assert!(p.segment_count() > 2, "the history spans segments");
    state
}

#[test]
fn index_and_lso_survive_close_and_reopen() {
    let fs = FaultFs::new();
    let config = small_config(400);
    let p = open(&fs, config.clone());
    let before = build_history(&p);
    p.close().unwrap();
    let txnindex_files = fs
        .list_dir(&dir())
        .unwrap()
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "txnindex"))
        .count();
    assert_eq!(txnindex_files, p.segment_count(), "one per segment");
    let p = open(&fs, config);
    let after = (
        p.aborted_transactions(0, Offset::MAX),
        lso(&p),
        p.open_transactions(),
    );
    assert_eq!(after, before);
    // The reopened log goes on: producer 2 commits.
    marker(&p, 2, 0, commit(0));
    assert_eq!(lso(&p), p.log_end_offset());
}

#[test]
fn index_and_lso_survive_a_crash() {
    let fs = FaultFs::new();
    let config = small_config(400);
    let p = open(&fs, config.clone());
    let before = build_history(&p);
    p.flush().unwrap();
    // An unsynced abort that the crash loses must not stay in the index.
    txn(&p, 4, 0, 0, 1);
    marker(&p, 4, 0, abort(0));
    fs.set_torn_write(fjord_log::TornWrite::DropAll);
    let crashed = fs.crash();
    let p = open(&crashed, config);
    let after = (
        p.aborted_transactions(0, Offset::MAX),
        lso(&p),
        p.open_transactions(),
    );
    let mut expected = before;
    // The marker's roll may have fsynced producer 4's batch: then its
    // transaction is open, with the marker lost.
    let end = p.log_end_offset();
    if end > expected.1 && expected.2.len() == 1 && end == 29 {
        expected.2.push((4, 28));
    } else {
        assert_eq!(end, 28, "only synced data survives");
    }
    assert_eq!(after, expected);
}

#[test]
fn index_is_rebuilt_from_the_log_when_snapshots_and_indexes_are_gone() {
    let fs = FaultFs::new();
    let config = small_config(400);
    let p = open(&fs, config.clone());
    let before = build_history(&p);
    p.flush().unwrap();
    let crashed = fs.crash();
    for f in crashed.list_dir(&dir()).unwrap() {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "snapshot" || ext == "txnindex" {
            crashed.remove_file(&f).unwrap();
        }
    }
    let p = open(&crashed, config);
    let after = (
        p.aborted_transactions(0, Offset::MAX),
        lso(&p),
        p.open_transactions(),
    );
    assert_eq!(after, before);
}

#[test]
fn deleting_segments_drops_their_index_entries() {
    let fs = FaultFs::new();
    let config = small_config(400);
    let p = open(&fs, config.clone());
    let before = build_history(&p);
    let first_abort = before.0[0];
    // Delete past the first abort's marker.
    p.delete_records_before(first_abort.last_offset + 1)
        .unwrap();
    let left = p.aborted_transactions(0, Offset::MAX);
    assert!(!left.contains(&first_abort), "{left:?}");
    assert_eq!(left.len(), before.0.len() - 1);
    p.close().unwrap();
    let p = open(&fs, config);
    assert_eq!(p.aborted_transactions(0, Offset::MAX), left);
}

fn keyed_txn(p: &Partition, pid: i64, seq: i32, key: &str, value: &str, ts: i64) -> Offset {
    let b = BatchBuilder::new()
        .producer(pid, 0, seq)
        .transactional()
        .keyed(Some(key.as_bytes()), Some(value.as_bytes()), ts)
        .build();
    p.append(&b, ts).expect("append").base_offset
}

fn keyed(p: &Partition, key: &str, value: &str, ts: i64) -> Offset {
    let b = BatchBuilder::new()
        .keyed(Some(key.as_bytes()), Some(value.as_bytes()), ts)
        .build();
    p.append(&b, ts).expect("append").base_offset
}

fn has_record(p: &Partition, offset: Offset) -> bool {
    let mut next = p.log_start_offset();
    while next < p.log_end_offset() {
        let slice = p.read(next, 1 << 20, true).unwrap();
        let batches = split_batches(&slice.bytes);
        for (h, _) in &batches {
            if h.base_offset <= offset && offset <= h.last_offset() {
                return fjord_log::testing::decode_records(&slice.bytes)
                    .iter()
                    .any(|(o, _, _)| *o == offset);
            }
        }
        next = batches.last().unwrap().0.last_offset() + 1;
    }
    false
}

/// Compaction of a transactional topic (as __consumer_offsets is with
/// TxnOffsetCommit): an aborted record must not remove the committed value
/// it would have replaced, nor may a record of a still-open transaction.
#[test]
fn compaction_never_lets_aborted_or_open_records_supersede_committed_ones() {
    let fs = FaultFs::new();
    let config = small_config(300).with("cleanup.policy", "compact").unwrap();
    let p = open(&fs, config);
    let ts = 1_000;
    let k1 = keyed(&p, "k1", "committed-1", ts);
    let k2 = keyed(&p, "k2", "committed-2", ts);
    keyed_txn(&p, 1, 0, "k1", "aborted", ts);
    p.append_marker(1, 0, abort(0), ts).unwrap();
    let open_at = keyed_txn(&p, 2, 0, "k2", "undecided", ts);
    for i in 0..12 {
        keyed(&p, &format!("filler-{i}"), &"x".repeat(60), ts);
    }
    assert!(p.segment_count() > 3);
    p.flush().unwrap();
    p.compact(ts + 10).unwrap();
    assert!(
        has_record(&p, k1),
        "an aborted record superseded a committed one"
    );
    assert!(
        has_record(&p, k2),
        "an open transaction's record superseded a committed one"
    );

    // Once committed, the new value supersedes the old as usual.
    p.append_marker(2, 0, commit(0), ts).unwrap();
    for i in 0..12 {
        keyed(&p, &format!("filler-b-{i}"), &"x".repeat(60), ts);
    }
    p.flush().unwrap();
    p.compact(ts + 20).unwrap();
    assert!(!has_record(&p, k2), "the committed value supersedes");
    assert!(has_record(&p, open_at));
    assert!(has_record(&p, k1));
}
