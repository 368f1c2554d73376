//! fjord-log: the durable, segmented partition log behind the Fjord broker.
//!
//! One [`Partition`] owns one directory. The broker hands it Kafka v2
//! RecordBatches exactly as a client sent them; the log validates them,
//! assigns offsets (rewriting only baseOffset and partitionLeaderEpoch,
//! which the CRC does not cover), stores the bytes and serves them back
//! unchanged. No networking and no async runtime live here; all file I/O
//! goes through [`FileSystem`] so tests can simulate power loss with
//! [`FaultFs`].
//!
//! On disk, in the partition directory:
//!
//! ```text
//! 00000000000000000000.log        batches, in offset order (one file per segment)
//! 00000000000000000000.index      sparse offset index (closed segments; active on close)
//! 00000000000000000000.timeindex  time index, same
//! 00000000000000000000.txnindex   aborted transactions whose marker is in
//!                                 the segment (written at roll and close)
//! 00000000000000001234.snapshot   producer state below offset 1234 (JSON)
//! meta                            log start offset (JSON)
//! cleaner-checkpoint              offset below which compaction has run (JSON)
//! 00000000000000000000.log.cleaned  a segment being compacted (discarded on open)
//! 00000000000000000000.log.swap     a compacted segment committed but not yet
//!                                   renamed into place (completed on open)
//! .clean_shutdown                 present only between close() and the next open
//! ```
//!
//! Compaction ([`Partition::compact`], module `cleaner`) is the one place
//! records are decoded and decompressed, besides the null-key check that
//! appends to compacted topics make (module `records`).
//!
//! Durability contract: `append` writes; `sync_to(offset)` returns once
//! everything up to `offset` is fsynced, sharing fsyncs between concurrent
//! callers; after a crash, `Partition::open` keeps every batch that was
//! synced and cuts any torn tail. See each module's docs for its invariants.

pub mod batch;
mod cleaner;
pub mod compression;
pub mod config;
pub mod error;
pub mod fault_fs;
pub mod fs;
mod group_commit;
mod index;
mod meta;
pub mod partition;
mod producer_state;
pub mod records;
mod recovery;
mod retention;
mod segment;
pub mod testing;
mod time_lookup;
pub mod txn;

/// A Kafka offset: the position of a record within a partition.
pub type Offset = i64;

pub use batch::{BatchHeader, TimestampType, BATCH_HEADER_LEN};
pub use cleaner::CompactionReport;
pub use compression::Codec;
pub use config::{CleanupPolicy, ConfigEntry, ConfigSource, LogConfig};
pub use error::{LogError, Result};
pub use fault_fs::{DirSyncError, DirSyncFault, FaultFs, TornWrite};
pub use fs::{FileSystem, LogFile, RealFs};
pub use partition::{AppendOutcome, MaintenanceReport, Partition, ReadSlice};
pub use txn::{AbortedTxn, ControlMarker};
