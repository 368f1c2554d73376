//! The transaction coordinator (Kafka's TransactionCoordinator): one
//! state machine per transactional.id, kept in `__transaction_state`.
//! This broker coordinates every transactional id.
//!
//! - `state`: one id's metadata and its transitions;
//! - `records` / `store`: the `__transaction_state` record layout and the
//!   topic's writes and replay;
//! - `coordinator`: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//!   DescribeTransactions, ListTransactions;
//! - `end`: EndTxn, the markers, the expiry of timed-out transactions and
//!   the completion of transactions found half-done after a restart;
//! - `expiry`: transactional ids idle past transactional.id.expiration.ms
//!   are forgotten;
//! - `produce_guard`: what a Produce must show before a transactional
//!   batch is appended (KIP-890 part 1).
//!
//! Invariants a reader must keep: a state change is fsynced to
//! `__transaction_state` before it is installed in memory and acted on;
//! while it is written the id's `pending` flag is set and every other
//! request for the id gets CONCURRENT_TRANSACTIONS; no lock is held across
//! an await; markers are written only for a PrepareCommit/PrepareAbort that
//! is on disk, so a restart can always finish what was started; a change
//! that set `pending` runs on a task of its own (`run_to_completion`), so
//! it clears `pending` even when the client hangs up and its response
//! future is dropped.

pub mod coordinator;
mod end;
mod expiry;
pub mod produce_guard;
pub mod records;
pub mod state;
pub mod store;

use kafka_protocol::error::ResponseError;

pub use coordinator::{AddOutcome, InitOutcome, TxnCoordinator, TxnListing, TxnSummary};
pub use end::{check_transactions, end_txn, spawn_timeout_loop};
pub use state::TxnState;
pub use store::TXN_TOPIC;

/// Transaction settings (Kafka's transaction.* broker settings).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// Largest transaction.timeout.ms a producer may ask for
    /// (transaction.max.timeout.ms).
    pub max_timeout_ms: i32,
    /// How often timed-out transactions are looked for and aborted
    /// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
    pub abort_check_interval_ms: u64,
    /// Partitions of `__transaction_state` when it is created
    /// (transaction.state.log.num.partitions).
    pub state_partitions: i32,
    /// A transactional id with no transaction under way and no request for
    /// this long is forgotten (transactional.id.expiration.ms, 7 days): its
    /// producer id is not reused, and an InitProducerId with the id later
    /// starts afresh.
    pub id_expiration_ms: i64,
}

/// Why a transaction operation was refused. `code` is the one mapping to
/// Kafka error codes for the coordinator.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TxnError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("transaction timeout {got} ms is outside [1, {max}] ms (transaction.max.timeout.ms)")]
    InvalidTransactionTimeout { got: i32, max: i32 },
    #[error("{0}")]
    InvalidProducerIdMapping(String),
    #[error(
        "producer epoch {got} is fenced: the current epoch of producer {producer_id} is {current}"
    )]
    ProducerFenced {
        producer_id: i64,
        got: i16,
        current: i16,
    },
    #[error("producer epoch {got} of producer {producer_id} is not the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        got: i16,
        current: i16,
    },
    #[error("another transaction operation for '{0}' is in progress; retry")]
    ConcurrentTransactions(String),
    #[error("{0}")]
    InvalidTxnState(String),
    #[error("transactional id '{0}' is not known")]
    TransactionalIdNotFound(String),
    #[error("the transaction coordinator is not available: {0}")]
    CoordinatorNotAvailable(String),
    #[error("{TXN_TOPIC} write failed: {0}")]
    Storage(String),
}

impl TxnError {
    pub fn code(&self) -> ResponseError {
        use TxnError::*;
        match self {
            InvalidRequest(_) => ResponseError::InvalidRequest,
            InvalidTransactionTimeout { .. } => ResponseError::InvalidTransactionTimeout,
            InvalidProducerIdMapping(_) => ResponseError::InvalidProducerIdMapping,
            ProducerFenced { .. } => ResponseError::ProducerFenced,
            InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            ConcurrentTransactions(_) => ResponseError::ConcurrentTransactions,
            InvalidTxnState(_) => ResponseError::InvalidTxnState,
            TransactionalIdNotFound(_) => ResponseError::TransactionalIdNotFound,
            // Clients look for the coordinator again and retry on these.
            CoordinatorNotAvailable(_) | Storage(_) => ResponseError::CoordinatorNotAvailable,
        }
    }

    /// The Kafka error code as the wire carries it.
    pub fn wire(&self) -> i16 {
        self.code().code()
    }
}

/// The wire error code of a result: 0 for success.
pub fn code_of<T>(r: &Result<T, TxnError>) -> i16 {
    r.as_ref().err().map_or(0, TxnError::wire)
}
