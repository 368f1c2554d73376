//! One transactional id's coordinator state (Kafka's TransactionMetadata)
//! and the state machine it follows:
//!
//! ```text
//! Empty / CompleteCommit / CompleteAbort --AddPartitions--> Ongoing
//! Ongoing --EndTxn(commit)--> PrepareCommit --markers--> CompleteCommit
//! Ongoing --EndTxn(abort) / timeout / InitProducerId--> PrepareAbort --markers--> CompleteAbort
//! Ongoing --timeout / InitProducerId--> PrepareEpochFence (epoch bumped, in memory only) --> PrepareAbort
//! ```
//!
//! A transition is computed here as a new `TxnMetadata`, written to
//! `__transaction_state`, and only then installed; while it is being
//! written `pending` is set and every other request for the id gets
//! CONCURRENT_TRANSACTIONS.

use std::collections::BTreeSet;

use super::records::TxnValue;

/// Kafka's transaction states. `id` values are Kafka's on-disk status
/// bytes: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The name DescribeTransactions and ListTransactions report (Kafka's).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// No transaction open or completing: a new one may begin.
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }

    /// Markers are being written (or must be, after a restart).
    pub fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// The coordinator's view of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (-1 when unknown, e.g. after a
    /// restart): lets an InitProducerId retried after a lost response get
    /// the epoch it already caused instead of bumping again (KIP-360).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// Partitions in the current transaction, (topic, partition).
    pub partitions: BTreeSet<(String, i32)>,
    /// When the current transaction began; -1 when none has.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The state a transition being written to `__transaction_state` leads
    /// to; None when no write is under way.
    pub pending: Option<TxnState>,
}

impl TxnMetadata {
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            // Bumped to 0 by the InitProducerId that creates it.
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now,
            pending: None,
        }
    }

    pub fn from_value(transactional_id: &str, v: TxnValue) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: v.producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: -1,
            timeout_ms: v.timeout_ms,
            state: v.state,
            partitions: v.partitions,
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
            pending: None,
        }
    }

    pub fn to_value(&self) -> TxnValue {
        TxnValue {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
        }
    }

    /// The transaction has run past its timeout.
    pub fn expired(&self, now: i64) -> bool {
        self.state == TxnState::Ongoing
            && self.pending.is_none()
            && self.start_ms >= 0
            && now > self.start_ms.saturating_add(self.timeout_ms as i64)
    }

    /// State after an InitProducerId that keeps the producer id: the epoch
    /// bumped, no transaction.
    pub fn bumped(&self, timeout_ms: i32, now: i64) -> TxnMetadata {
        TxnMetadata {
            producer_epoch: self.producer_epoch + 1,
            last_producer_epoch: self.producer_epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now,
            pending: None,
            ..self.clone()
        }
    }

    /// State after an InitProducerId that needs a new producer id (the
    /// epoch would overflow).
    pub fn with_new_producer_id(&self, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        TxnMetadata {
            producer_id,
            producer_epoch: 0,
            last_producer_epoch: -1,
            ..self.bumped(timeout_ms, now)
        }
    }

    /// State after adding partitions: Ongoing, started now unless it was
    /// already.
    pub fn with_partitions(
        &self,
        add: impl IntoIterator<Item = (String, i32)>,
        now: i64,
    ) -> TxnMetadata {
        let mut next = self.clone();
        if self.state != TxnState::Ongoing {
            next.start_ms = now;
            next.partitions.clear();
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(add);
        next.last_update_ms = now;
        next
    }

    /// State of a transaction moving to `state` (PrepareX, CompleteX).
    pub fn moved(&self, state: TxnState, now: i64) -> TxnMetadata {
        let mut next = self.clone();
        next.state = state;
        next.last_update_ms = now;
        if matches!(state, TxnState::CompleteCommit | TxnState::CompleteAbort) {
            next.partitions.clear();
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_ids_and_names_round_trip() {
        for s in TxnState::ALL {
            assert_eq!(TxnState::from_id(s.id()), Some(s));
            assert_eq!(TxnState::from_name(s.name()), Some(s));
        }
        assert_eq!(TxnState::from_id(8), None);
    }

    #[test]
    fn expiry_counts_from_the_transaction_start() {
        let m = TxnMetadata::new("t", 1, 1000, 0)
            .bumped(1000, 0)
            .with_partitions([("a".to_string(), 0)], 500);
        assert!(!m.expired(1500));
        assert!(m.expired(1501));
        // Adding partitions later does not restart the clock.
        let m = m.with_partitions([("a".to_string(), 1)], 1400);
        assert!(m.expired(1501));
        assert!(!m.moved(TxnState::PrepareAbort, 0).expired(5000));
    }

    #[test]
    fn completion_clears_partitions_and_a_new_transaction_restarts_the_clock() {
        let m = TxnMetadata::new("t", 1, 1000, 0)
            .bumped(1000, 0)
            .with_partitions([("a".to_string(), 0)], 10);
        let done = m.moved(TxnState::CompleteCommit, 20);
        assert!(done.partitions.is_empty());
        let next = done.with_partitions([("b".to_string(), 0)], 30);
        assert_eq!(next.start_ms, 30);
        assert_eq!(next.partitions.len(), 1);
    }
}
