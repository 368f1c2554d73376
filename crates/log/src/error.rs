//! The one error type of fjord-log. The broker maps each variant to a Kafka
//! error code in one place; keep variants stable and add new ones rather than
//! changing the meaning of existing ones (`Closed` and `Io` map to
//! KAFKA_STORAGE_ERROR).

use crate::Offset;

/// Result alias used throughout the crate.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A batch failed validation: bad CRC, bad length, truncated, ...
    #[error("corrupt record batch: {reason}")]
    CorruptRecord { reason: String },
    /// Magic 0 or 1 (or anything but 2): only RecordBatch v2 is stored.
    #[error("unsupported message format: magic {magic} (only v2 record batches are accepted)")]
    UnsupportedMessageFormat { magic: i8 },
    /// A batch exceeds max.message.bytes.
    #[error("record batch of {size} bytes exceeds max.message.bytes={max}")]
    RecordTooLarge { size: usize, max: usize },
    /// A read or delete asked for an offset outside [log_start, log_end].
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: Offset,
        log_start: Offset,
        log_end: Offset,
    },
    /// An idempotent producer skipped or reordered a sequence number.
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    /// A producer epoch older than the one already seen (a fenced producer).
    #[error("producer {producer_id} has epoch {got}, older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    /// A batch that the producer's transaction state forbids, e.g. a
    /// non-transactional batch while its transaction is open (Kafka's
    /// INVALID_TXN_STATE).
    #[error("invalid transaction state for producer {producer_id}: {reason}")]
    InvalidTxnState { producer_id: i64, reason: String },
    /// A transaction marker from a coordinator epoch older than one already
    /// seen for the producer: a zombie coordinator
    /// (TRANSACTION_COORDINATOR_FENCED).
    #[error("transaction marker for producer {producer_id} has coordinator epoch {got}, older than {current}")]
    CoordinatorFenced {
        producer_id: i64,
        current: i32,
        got: i32,
    },
    /// The log has no state for this producer id. The log itself answers an
    /// unknown producer's non-zero first sequence with OutOfOrderSequence
    /// (see `producer_state`); this variant is for callers that track
    /// producer ids themselves.
    #[error("unknown producer id {producer_id}")]
    UnknownProducerId { producer_id: i64 },
    /// A well-formed batch the topic refuses: a record without a key on a
    /// compacted topic (Kafka's INVALID_RECORD).
    #[error("invalid record: {reason}")]
    InvalidRecord { reason: String },
    /// A topic config key is unknown or its value is invalid.
    #[error("invalid config {key}: {reason}")]
    InvalidConfig { key: String, reason: String },
    /// The partition was closed; no further appends or reads.
    #[error("partition {dir} is closed")]
    Closed { dir: String },
    /// An I/O error, with what the log was doing at the time.
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    /// Wraps an I/O error with the operation and path that failed.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> LogError {
        LogError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> LogError {
        LogError::CorruptRecord {
            reason: reason.into(),
        }
    }
}
