//! fjord-connect: a Kafka-Connect-compatible connector runtime.
//!
//! - [`data`]: Connect's data model (schemas, values, structs) that
//!   converters produce and connectors and transforms consume.
//! - [`record`]: the records that flow between them.
//! - [`config`]: `.properties` files and typed access to connector and
//!   worker settings, with Kafka Connect's key names; [`config_def`]: the
//!   declared settings behind the validate endpoint.
//! - [`connector`]: the connector and task traits every plugin implements.

pub mod config;
pub mod config_def;
pub mod connector;
pub mod converters;
pub mod data;
pub mod error;
pub mod file;
pub mod jdbc;
pub mod record;
pub mod transforms;

pub use error::ConnectError;
