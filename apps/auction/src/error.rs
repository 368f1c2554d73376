//! The crate's one error enum. Client input never becomes one of these: a bad
//! bid is a [`crate::bid::BidRejection`] with a message for the bidder.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuctionError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid items file {path}: {message}")]
    ItemsFile { path: PathBuf, message: String },
    #[error("invalid item: {0}")]
    Item(String),
    #[error("database: {context}: {source}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("unsupported database URL `{0}` (use sqlite://, postgres:// or mysql://)")]
    DatabaseUrl(String),
    #[error("Kafka: {context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("bid codec: {0}")]
    Codec(String),
    #[error("backup file {path}: {message}")]
    Backup { path: PathBuf, message: String },
    #[error("HTTP server: {0}")]
    Http(#[source] std::io::Error),
    /// `--on-bad-record stop`: the writer exits on a record that is not a
    /// bid (see [`crate::dead_letter`]).
    #[error("`{topic}` partition {partition} offset {offset} is not a bid ({error}); group {group} stops there (--on-bad-record stop) and committed nothing past it, so it is read again after a restart (or use --on-bad-record dead-letter)")]
    BadRecord {
        topic: String,
        partition: i32,
        offset: i64,
        group: String,
        error: String,
    },
    /// The bid statistics (stream processing) failed.
    #[error("bid statistics: {0}")]
    Stats(#[from] fjord_streams::Error),
    #[error("invalid dead-letter topic `{0}`: a topic name is 1 to 249 letters, digits, '.', '_' or '-', and not `bids`")]
    DeadLetterTopic(String),
}

pub type Result<T, E = AuctionError> = std::result::Result<T, E>;

/// Shorthand for wrapping sqlx errors with what was being done.
pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> AuctionError {
    let context = context.into();
    move |source| AuctionError::Database { context, source }
}

/// Shorthand for wrapping rdkafka errors with what was being done.
pub(crate) fn kafka(
    context: impl Into<String>,
) -> impl FnOnce(rdkafka::error::KafkaError) -> AuctionError {
    let context = context.into();
    move |source| AuctionError::Kafka { context, source }
}
