//! A minimal blocking Kafka protocol client on kafka-protocol's `client`
//! feature, for what the rdkafka crate does not offer: sending pre-built
//! record batches (`fjord bench --client raw`, which measures the broker
//! rather than librdkafka's per-record cost), IncrementalAlterConfigs
//! (`fjord topic alter`), decoding the consumer protocol's assignment
//! bytes (`fjord group describe`), and classic group membership with a
//! custom protocol type (the schema registry's writer election). Other admin
//! gaps of the rdkafka crate belong here too (DESIGN.md: one module, here one
//! small crate).
//!
//! It speaks PLAINTEXT only: [`KafkaConnection::connect_with`] refuses
//! `security.protocol=SSL|SASL_*` with a clear message rather than sending
//! requests in the clear to a listener that expects TLS or SASL.
//!
//! One connection, requests pipelined: `send` writes a request and returns
//! its correlation id; `receive` reads the next response, which Kafka
//! guarantees arrive in request order.

mod admin;
mod assignment;
mod connection;
mod error;
pub mod group;

pub use admin::{incremental_alter_topic_configs, ConfigChange};
pub use assignment::decode_consumer_assignment;
pub use connection::KafkaConnection;
pub use error::{error_name, Error, Result};

/// The kafka-protocol crate this client is built on, re-exported so callers
/// build requests with the same version of its message types.
pub use kafka_protocol;
