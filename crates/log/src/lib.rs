//! fjord-log: the durable, segmented partition log behind the Fjord broker.
//!
//! One [`Partition`] owns one directory of segments. The broker hands it
//! Kafka v2 RecordBatches exactly as a client sent them; the log assigns
//! offsets, stores the bytes, and serves them back unchanged. No networking
//! and no async runtime live here.

pub mod batch;
pub mod config;
pub mod error;
pub mod fault_fs;
pub mod fs;
mod group_commit;
pub mod index;
mod meta;
pub mod partition;
pub mod producer_state;
mod recovery;
mod retention;
mod segment;
pub mod testing;
mod time_lookup;

/// A Kafka offset: the position of a record within a partition.
pub type Offset = i64;

pub use batch::{BatchHeader, TimestampType, BATCH_HEADER_LEN};
pub use config::{CleanupPolicy, ConfigEntry, ConfigSource, LogConfig};
pub use error::{LogError, Result};
pub use fault_fs::{FaultFs, TornWrite};
pub use fs::{FileSystem, LogFile, RealFs};
pub use partition::{AppendOutcome, MaintenanceReport, Partition, ReadSlice};
