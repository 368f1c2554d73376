//! fjord-broker: a single-node broker that speaks the Kafka wire protocol.
//!
//! Layout: `server` accepts connections, `connection` frames them,
//! `dispatch` routes each request to its handler in `api/` (one file per
//! Kafka API), `codec` is the only place wire bytes become typed messages,
//! `topics` is the persisted topic catalogue over `fjord-log` partitions,
//! `group` the consumer-group coordinator and committed offsets, `txn` the
//! transaction coordinator.

mod admission;
pub mod api;
pub mod broker;
pub mod codec;
pub mod config;
pub mod connection;
pub mod dispatch;
mod durable_file;
pub mod error;
pub mod group;
pub mod huge_alloc;
pub mod internal_topic;
mod lock;
pub mod producer_ids;
mod reader_sync;
mod record_fields;
pub mod request_budget;
pub mod schema_validation;
pub mod server;
pub mod topics;
pub mod txn;
pub mod txn_markers;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use error::BrokerError;
pub use server::run;
