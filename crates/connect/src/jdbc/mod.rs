//! The JDBC connectors (Confluent's class names and settings) on SQLite,
//! PostgreSQL and MySQL/MariaDB, through sqlx's `Any` driver.
//!
//! - [`JdbcSinkConnector`] / [`JdbcSinkTask`]: records into tables
//!   (insert, upsert, update, delete; auto.create and auto.evolve), with
//!   per-record failure isolation and, as a Fjord extension, exactly-once
//!   delivery (`exactly.once=true`): rows and offsets in one transaction.
//! - [`JdbcSourceConnector`] / [`JdbcSourceTask`]: tables or a query into
//!   records (bulk, incrementing, timestamp, timestamp+incrementing).
//!
//! Layout: [`dialect`] (URLs, quoting, types, error classes), [`values`]
//! (Connect values as bind parameters), [`rows`] (records as rows),
//! [`ddl`] (create/evolve), [`dml`] (statements), `writer` (transactions,
//! retries, savepoints), `sink`, and the source in `source*`.

pub mod ddl;
pub mod dialect;
pub mod dml;
pub mod rows;
mod sink;
pub mod sink_config;
mod source;
pub mod source_config;
pub mod source_query;
pub mod values;
mod writer;

pub use sink::{JdbcSinkConnector, JdbcSinkTask};
pub use source::{JdbcSourceConnector, JdbcSourceTask};
