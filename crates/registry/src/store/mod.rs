//! The registry's store: its state lives in one compacted Kafka topic
//! (`_schemas` by default, one partition) in Confluent's record layout, and
//! is reached only through the Kafka protocol (librdkafka), so the registry
//! runs unchanged against any Kafka cluster.
//!
//! Invariant: the in-memory [`State`] changes only by reading the topic. A
//! write is produced (acks=all, idempotent) and answered only once the
//! reader has applied it, so every instance and every restart sees the
//! same ids in the same order (Confluent's approach).

mod kafka;
pub mod records;
pub mod state;

pub use kafka::{KafkaStore, StoreConfig, StoreError};
pub use records::{Mode, RecordKey, SchemaValue};
pub use state::{RefError, State};
