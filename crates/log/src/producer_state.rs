//! Idempotent-producer state: per producer id, the current epoch and the
//! last few batches, so retries are recognised and gaps refused.
//!
//! Rules (Kafka's):
//! - producer_id < 0: no checks, no state.
//! - epoch below the current one: InvalidProducerEpoch (a fenced producer).
//! - epoch above the current one: a fresh session; its first batch must
//!   start at sequence 0.
//! - same epoch: a batch equal (first and last sequence) to one of the last
//!   [`CACHED_BATCHES`] is a duplicate, answered with its original offsets
//!   and not written; otherwise it must start at last sequence + 1
//!   (wrapping from i32::MAX to 0).
//! - an unknown producer may start at any sequence (Kafka >= 2.5, KIP-360):
//!   its state may have expired (below), and refusing it would answer an
//!   idle producer that comes back with OutOfOrderSequence for ever. From
//!   its first batch on, the rules above apply.
//!
//! Expiry (Kafka's producer.id.expiration.ms, [`ProducerStates::remove_expired`]):
//! a producer whose last batch's max timestamp is at least the expiration
//! older than now, and that has no open transaction, is forgotten. Like
//! Kafka, the timestamp is the batch's own: under CreateTime that is the
//! client's clock, so a producer whose clock lags (or that sends no
//! timestamps, -1) is forgotten early and one whose clock runs ahead late.
//! Forgetting costs the checks on the producer's next batch only: a retry
//! of a batch from before the expiry would be written again, a gap would
//! pass unnoticed.
//! The removal lasts: the next snapshot leaves the producer out, and
//! recovery drops what is already expired when it loads a snapshot and
//! replays the log, as Kafka does on load.
//!
//! Transactions (a producer with a transactional.id):
//! - a batch with the transactional attribute opens the producer's
//!   transaction in this partition at its base offset, or continues it;
//! - while one is open, a non-transactional batch from the producer is
//!   refused (InvalidTxnState), as Kafka does;
//! - a control batch (a COMMIT or ABORT marker, written only by the broker
//!   for the coordinator) ends it. A marker with an older producer epoch is
//!   fenced (InvalidProducerEpoch), one from an older coordinator epoch too
//!   (TransactionCoordinatorFenced). A marker with a newer producer epoch
//!   (the coordinator bumped it, e.g. aborting an expired transaction)
//!   starts a new session: the next batch must start at sequence 0.
//!   Markers carry no sequence and are not cached for deduplication.
//!
//! The open transactions give the last stable offset: the smallest first
//! offset of an open transaction ([`ProducerStates::first_unstable`]),
//! else the log end.
//!
//! The state is a pure function of the batches in the log (headers, plus
//! the marker record of control batches) and of the clock expiry reads, so
//! it can always be rebuilt by replaying them ([`ProducerStates::apply`]
//! and [`ProducerStates::apply_marker`] in log order) and expiring what is
//! idle; the snapshot written at roll and close only saves the replay.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::batch::BatchHeader;
use crate::error::{LogError, Result};
use crate::txn::ControlMarker;
use crate::Offset;

/// How many recent batches per producer are remembered for deduplication;
/// the Java client keeps at most 5 requests in flight per connection.
pub const CACHED_BATCHES: usize = 5;

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: Offset,
    pub last_offset: Offset,
}

/// What the log knows about one producer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first.
    pub batches: VecDeque<BatchMeta>,
    /// Max timestamp of the producer's last batch or marker: what expiry
    /// measures idleness by.
    pub last_timestamp: i64,
    /// First offset of the producer's open transaction in this partition.
    #[serde(default)]
    pub txn_first_offset: Option<Offset>,
    /// Coordinator epoch of the last marker written for this producer;
    /// -1 before any.
    #[serde(default = "no_coordinator_epoch")]
    pub coordinator_epoch: i32,
}

fn no_coordinator_epoch() -> i32 {
    -1
}

/// A transaction that a marker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: Offset,
    /// The marker's offset.
    pub last_offset: Offset,
    pub commit: bool,
}

impl ProducerEntry {
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }

    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: -1,
            txn_first_offset: None,
            coordinator_epoch: -1,
        }
    }

    /// Idle for at least `expiration_ms` at `now_ms`, with no transaction
    /// open (an open one still holds back the last stable offset, and its
    /// marker must find the producer).
    pub fn is_expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        self.txn_first_offset.is_none()
            && now_ms.saturating_sub(self.last_timestamp) >= expiration_ms
    }
}

/// The verdict on an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Write it.
    Append,
    /// Already written at these offsets; write nothing.
    Duplicate {
        base_offset: Offset,
        last_offset: Offset,
    },
}

/// Sequence after `seq`, wrapping as the Java client does.
pub fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// Last sequence of a batch: base + lastOffsetDelta, wrapping past i32::MAX.
pub fn last_seq_of(h: &BatchHeader) -> i32 {
    ((h.base_sequence as i64 + h.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
}

/// All producers of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStates {
    producers: BTreeMap<i64, ProducerEntry>,
    /// (first offset, producer id) of every open transaction: derived from
    /// `producers` (rebuilt after decoding a snapshot), kept so the LSO is
    /// one lookup rather than a walk over every producer ever seen.
    #[serde(skip)]
    ongoing: BTreeSet<(Offset, i64)>,
}

impl ProducerStates {
    pub fn new() -> ProducerStates {
        ProducerStates::default()
    }

    /// Checks a batch against the state as it would be after `pending`
    /// (batches accepted earlier in the same append but not yet applied).
    pub fn check(&self, h: &BatchHeader, pending: &ProducerStates) -> Result<Check> {
        if h.is_control() {
            return Err(LogError::InvalidRecord {
                reason: "control batches are written by the broker only".into(),
            });
        }
        if h.producer_id < 0 {
            if h.is_transactional() {
                return Err(LogError::InvalidRecord {
                    reason: "a transactional batch needs a producer id".into(),
                });
            }
            return Ok(Check::Append);
        }
        let pid = h.producer_id;
        let entry = pending
            .producers
            .get(&pid)
            .or_else(|| self.producers.get(&pid));
        let Some(entry) = entry else {
            // Any first sequence: the producer's state may have expired.
            return Ok(Check::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id: pid,
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if let (Some(first), false) = (entry.txn_first_offset, h.is_transactional()) {
            return Err(LogError::InvalidTxnState {
                producer_id: pid,
                reason: format!(
                    "a non-transactional batch while its transaction from offset {first} is open"
                ),
            });
        }
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return Err(LogError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(Check::Append);
        }
        let last_seq = last_seq_of(h);
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(Check::Duplicate {
                base_offset: b.base_offset,
                last_offset: b.last_offset,
            });
        }
        let expected = next_seq(entry.last_seq());
        if h.base_sequence != expected {
            return Err(LogError::OutOfOrderSequence {
                producer_id: pid,
                expected,
                got: h.base_sequence,
            });
        }
        Ok(Check::Append)
    }

    /// Applies a batch stored at its assigned offsets (`h.base_offset` set).
    /// Used both after a checked append and when replaying the log.
    pub fn apply(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.is_control() {
            return;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(h.base_offset);
            self.ongoing.insert((h.base_offset, h.producer_id));
        }
        if h.producer_epoch != entry.epoch {
            // A new session starts from scratch (replay also sees older
            // epochs only before newer ones, as the log is in order).
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_seq_of(h),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        entry.last_timestamp = h.max_timestamp;
    }

    /// Checks a marker (control batch `h`, carrying `marker`) against the
    /// producer's state.
    pub fn check_marker(&self, h: &BatchHeader, marker: &ControlMarker) -> Result<()> {
        let pid = h.producer_id;
        if pid < 0 {
            return Err(LogError::InvalidRecord {
                reason: "a transaction marker needs a producer id".into(),
            });
        }
        let Some(entry) = self.producers.get(&pid) else {
            return Ok(());
        };
        if h.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id: pid,
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if marker.coordinator_epoch < entry.coordinator_epoch {
            return Err(LogError::CoordinatorFenced {
                producer_id: pid,
                current: entry.coordinator_epoch,
                got: marker.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Applies a marker stored at `h.base_offset`: ends the producer's open
    /// transaction, if any, and returns it.
    pub fn apply_marker(
        &mut self,
        h: &BatchHeader,
        marker: &ControlMarker,
    ) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        if h.producer_epoch != entry.epoch {
            // The coordinator bumped the epoch: sequences restart at 0.
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.last_timestamp = h.max_timestamp;
        let first = entry.txn_first_offset.take()?;
        self.ongoing.remove(&(first, h.producer_id));
        Some(CompletedTxn {
            producer_id: h.producer_id,
            first_offset: first,
            last_offset: h.base_offset,
            commit: marker.commit,
        })
    }

    /// Merges `other`'s entries over ours (committing a staged append).
    pub fn merge(&mut self, other: ProducerStates) {
        for (pid, entry) in other.producers {
            if let Some(first) = self.producers.get(&pid).and_then(|e| e.txn_first_offset) {
                self.ongoing.remove(&(first, pid));
            }
            if let Some(first) = entry.txn_first_offset {
                self.ongoing.insert((first, pid));
            }
            self.producers.insert(pid, entry);
        }
    }

    /// First offset of the oldest open transaction: the last stable offset
    /// while any is open.
    pub fn first_unstable(&self) -> Option<Offset> {
        self.ongoing.first().map(|&(first, _)| first)
    }

    /// (producer id, first offset) of every open transaction, oldest first.
    pub fn ongoing(&self) -> Vec<(i64, Offset)> {
        self.ongoing
            .iter()
            .map(|&(first, pid)| (pid, first))
            .collect()
    }

    fn rebuild_ongoing(&mut self) {
        self.ongoing = self
            .producers
            .iter()
            .filter_map(|(&pid, e)| e.txn_first_offset.map(|first| (first, pid)))
            .collect();
    }

    /// Stages `h` into `self` (a pending overlay) starting from `base`'s
    /// entry for the producer if the overlay has none yet.
    pub fn stage(&mut self, base: &ProducerStates, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        if let (std::collections::btree_map::Entry::Vacant(slot), Some(e)) = (
            self.producers.entry(h.producer_id),
            base.producers.get(&h.producer_id),
        ) {
            slot.insert(e.clone());
        }
        self.apply(h);
    }

    /// Forgets every producer expired at `now_ms` (see
    /// [`ProducerEntry::is_expired`]); returns how many.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        // Entries with an open transaction never expire, so `ongoing`
        // (which lists only those) stays as it is.
        self.producers
            .retain(|_, e| !e.is_expired(now_ms, expiration_ms));
        before - self.producers.len()
    }

    /// (producer id, epoch, last sequence) of every producer.
    pub fn summary(&self) -> Vec<(i64, i16, i32)> {
        self.producers
            .iter()
            .map(|(&id, e)| (id, e.epoch, e.last_seq()))
            .collect()
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }
}

/// A producer-state snapshot file's contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// On-disk format version; bump (never reuse) on change.
    pub version: u32,
    /// The state covers every batch below this offset.
    pub offset: Offset,
    pub producers: ProducerStates,
}

impl Snapshot {
    /// 2 added open transactions and coordinator epochs to each producer;
    /// a version 1 snapshot (written before transactions were accepted)
    /// reads as having none.
    pub const VERSION: u32 = 2;

    pub fn encode(offset: Offset, producers: &ProducerStates) -> Vec<u8> {
        let snap = Snapshot {
            version: Self::VERSION,
            offset,
            producers: producers.clone(),
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<Snapshot> {
        let mut snap = serde_json::from_slice::<Snapshot>(bytes)
            .ok()
            .filter(|s| s.version == 1 || s.version == Self::VERSION)?;
        snap.producers.rebuild_ongoing();
        Some(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::idempotent_batch;

    fn header(pid: i64, epoch: i16, seq: i32, count: usize, base: Offset) -> BatchHeader {
        stamped(pid, epoch, seq, count, base, 0)
    }

    /// `header` with every record at timestamp `ts`.
    fn stamped(pid: i64, epoch: i16, seq: i32, count: usize, base: Offset, ts: i64) -> BatchHeader {
        let mut h = BatchHeader::parse(&idempotent_batch(pid, epoch, seq, count, ts)).unwrap();
        h.base_offset = base;
        h
    }

    fn append(s: &mut ProducerStates, h: &BatchHeader) -> Result<Check> {
        let c = s.check(h, &ProducerStates::new())?;
        if c == Check::Append {
            s.apply(h);
        }
        Ok(c)
    }

    #[test]
    fn sequences_duplicates_and_epochs() {
        let mut s = ProducerStates::new();
        assert_eq!(
            append(&mut s, &header(1, 0, 0, 3, 0)).unwrap(),
            Check::Append
        );
        assert_eq!(
            append(&mut s, &header(1, 0, 3, 2, 3)).unwrap(),
            Check::Append
        );
        assert_eq!(
            append(&mut s, &header(1, 0, 0, 3, 99)).unwrap(),
            Check::Duplicate {
                base_offset: 0,
                last_offset: 2
            }
        );
        assert!(matches!(
            append(&mut s, &header(1, 0, 6, 1, 5)),
            Err(LogError::OutOfOrderSequence {
                expected: 5,
                got: 6,
                ..
            })
        ));
        assert!(matches!(
            append(&mut s, &header(1, 1, 5, 1, 5)),
            Err(LogError::OutOfOrderSequence { expected: 0, .. })
        ));
        assert_eq!(
            append(&mut s, &header(1, 1, 0, 1, 5)).unwrap(),
            Check::Append
        );
        assert!(matches!(
            append(&mut s, &header(1, 0, 5, 1, 6)),
            Err(LogError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
        assert_eq!(s.summary(), vec![(1, 1, 0)]);
        assert_eq!(
            append(&mut s, &header(-1, -1, -1, 1, 7)).unwrap(),
            Check::Append
        );
    }

    #[test]
    fn an_unknown_producer_may_start_at_any_sequence() {
        let mut s = ProducerStates::new();
        assert_eq!(
            append(&mut s, &header(1, 3, 41, 2, 0)).unwrap(),
            Check::Append,
            "its state may have expired"
        );
        assert_eq!(s.summary(), vec![(1, 3, 42)]);
        // From then on it is a known producer like any other.
        assert!(matches!(
            append(&mut s, &header(1, 3, 44, 1, 2)),
            Err(LogError::OutOfOrderSequence {
                expected: 43,
                got: 44,
                ..
            })
        ));
        assert!(matches!(
            append(&mut s, &header(1, 4, 7, 1, 2)),
            Err(LogError::OutOfOrderSequence { expected: 0, .. })
        ));
        // Within one append too: the second batch follows the first.
        let pending_first = header(2, 0, 100, 1, 2);
        let mut pending = ProducerStates::new();
        assert_eq!(s.check(&pending_first, &pending).unwrap(), Check::Append);
        pending.stage(&s, &pending_first);
        assert!(matches!(
            s.check(&header(2, 0, 102, 1, 3), &pending),
            Err(LogError::OutOfOrderSequence { expected: 101, .. })
        ));
    }

    #[test]
    fn producers_expire_when_idle_long_enough_without_an_open_transaction() {
        const EXPIRY: i64 = 1_000;
        let mut s = ProducerStates::new();
        s.apply(&stamped(1, 0, 0, 1, 0, 5_000));
        s.apply(&stamped(2, 0, 0, 1, 1, 5_500));
        let mut t = BatchHeader::parse(&crate::testing::txn_batch(3, 0, 0, 1, 5_000)).unwrap();
        t.base_offset = 2;
        s.apply(&t);
        assert_eq!(
            s.remove_expired(5_999, EXPIRY),
            0,
            "nobody idle long enough"
        );
        assert_eq!(s.remove_expired(6_000, EXPIRY), 1, "exactly the expiration");
        assert_eq!(
            s.summary(),
            vec![(2, 0, 0), (3, 0, 0)],
            "producer 1 went; 3 is as idle but its transaction is open"
        );
        assert_eq!(s.remove_expired(i64::MAX, EXPIRY), 1);
        assert_eq!(s.summary(), vec![(3, 0, 0)]);
        assert_eq!(s.first_unstable(), Some(2));
        // Once its transaction ends, it may go too.
        let marker = ControlMarker {
            commit: true,
            coordinator_epoch: 0,
        };
        let mut m = BatchHeader::parse(&crate::txn::encode_marker(3, 0, marker, 5_000)).unwrap();
        m.base_offset = 3;
        s.apply_marker(&m, &marker);
        assert_eq!(s.remove_expired(6_000, EXPIRY), 1);
        assert_eq!(s.summary(), vec![]);
        // A timestamp from far in the past does not overflow.
        s.apply(&stamped(4, 0, 0, 1, 4, i64::MIN));
        assert_eq!(s.remove_expired(i64::MAX, EXPIRY), 1);
    }

    #[test]
    fn a_known_producer_is_still_checked_for_gaps_and_duplicates() {
        let mut s = ProducerStates::new();
        append(&mut s, &stamped(5, 0, 0, 2, 0, 100)).unwrap();
        append(&mut s, &stamped(5, 0, 2, 1, 2, 200)).unwrap();
        assert_eq!(s.remove_expired(300, 1_000), 0);
        assert!(matches!(
            append(&mut s, &header(5, 0, 4, 1, 3)),
            Err(LogError::OutOfOrderSequence {
                expected: 3,
                got: 4,
                ..
            })
        ));
        assert_eq!(
            append(&mut s, &header(5, 0, 0, 2, 3)).unwrap(),
            Check::Duplicate {
                base_offset: 0,
                last_offset: 1
            }
        );
        assert_eq!(
            append(&mut s, &header(5, 0, 3, 1, 3)).unwrap(),
            Check::Append
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStates::new();
        for i in 0..7 {
            append(&mut s, &header(2, 0, i, 1, i as i64)).unwrap();
        }
        assert!(matches!(
            append(&mut s, &header(2, 0, 2, 1, 50)).unwrap(),
            Check::Duplicate { base_offset: 2, .. }
        ));
        assert!(append(&mut s, &header(2, 0, 1, 1, 50)).is_err());
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut s = ProducerStates::new();
        s.apply(&header(3, 0, i32::MAX - 1, 2, 0));
        assert_eq!(s.summary(), vec![(3, 0, i32::MAX)]);
        assert_eq!(
            append(&mut s, &header(3, 0, 0, 1, 2)).unwrap(),
            Check::Append
        );
        let h = header(4, 0, i32::MAX, 3, 0);
        assert_eq!(last_seq_of(&h), 1);
    }

    #[test]
    fn snapshots_keep_open_transactions_and_read_version_1() {
        let mut s = ProducerStates::new();
        let mut h = BatchHeader::parse(&crate::testing::txn_batch(4, 0, 0, 2, 0)).unwrap();
        h.base_offset = 7;
        s.apply(&h);
        assert_eq!(s.first_unstable(), Some(7));
        let snap = Snapshot::decode(&Snapshot::encode(9, &s)).unwrap();
        assert_eq!(
            snap.producers.first_unstable(),
            Some(7),
            "rebuilt on decode"
        );
        assert_eq!(snap.producers, s);
        // A version 1 snapshot (before transactions) reads as none open.
        let v1 = r#"{"version":1,"offset":3,"producers":{"producers":{"2":{"epoch":0,"batches":[{"first_seq":0,"last_seq":0,"base_offset":2,"last_offset":2}],"last_timestamp":5}}}}"#;
        let old = Snapshot::decode(v1.as_bytes()).unwrap();
        assert_eq!(old.producers.summary(), vec![(2, 0, 0)]);
        assert_eq!(old.producers.first_unstable(), None);
        assert_eq!(old.producers.get(2).unwrap().coordinator_epoch, -1);
    }

    #[test]
    fn snapshot_round_trip() {
        let mut s = ProducerStates::new();
        s.apply(&header(9, 2, 0, 4, 10));
        let snap = Snapshot::decode(&Snapshot::encode(14, &s)).unwrap();
        assert_eq!((snap.offset, snap.producers), (14, s));
        assert!(Snapshot::decode(b"{garbage").is_none());
    }
}
