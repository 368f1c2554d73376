//! fjord-connect: a Kafka-Connect-compatible connector runtime.
//!
//! - [`data`]: Connect's data model (schemas, values, structs) that
//!   converters produce and connectors and transforms consume.
//! - [`record`]: the records that flow between them.
//! - [`config`]: `.properties` files and typed access to connector and
//!   worker settings, with Kafka Connect's key names; [`config_def`]: the
//!   declared settings behind the validate endpoint.
//! - [`connector`]: the connector and task traits every plugin implements.
//! - [`converters`], [`transforms`]: bytes to Connect data and back; single
//!   message transforms and predicates.
//! - [`file`], [`jdbc`]: the built-in connectors.
//! - [`runtime`]: the worker, its task runners and stores; [`rest`]: Kafka
//!   Connect's REST API in front of it.

pub mod config;
pub mod config_def;
pub mod connector;
pub mod converters;
pub mod data;
pub mod error;
pub mod file;
pub mod jdbc;
mod launch;
pub mod record;
pub mod rest;
pub mod runtime;
pub mod transforms;

pub use error::ConnectError;
pub use launch::{built_in_plugins, serve_worker, start_worker};
pub use runtime::{Storage, Worker, WorkerSettings};
