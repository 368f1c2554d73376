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

/// A settings error for the validate endpoint's extra report (the checks
/// across keys), left out when the declared settings already report that
/// key (a missing or mistyped value), so no error shows twice.
fn extra_error(
    def: &crate::config_def::ConfigDef,
    config: &crate::config::Config,
    error: crate::error::ConnectError,
) -> Vec<(String, String)> {
    let (key, message) = match error {
        crate::error::ConnectError::Config { key, message, .. } => (key, message),
        other => ("connection.url".to_string(), other.to_string()),
    };
    match def.key(&key) {
        Some(declared) if !declared.errors(config).is_empty() => Vec::new(),
        _ => vec![(key, message)],
    }
}
