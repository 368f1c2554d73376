//! The engine's errors.

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A record's key or value does not decode in its stream's format.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// A computed key or value does not fit the output's format.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// A user function failed on a record.
    #[error("{0}")]
    Operator(String),
    /// The topology is not valid (found when it is built or started).
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A state store's disk part failed.
    #[error("{0}")]
    Store(String),
    /// Talking to the Kafka cluster failed.
    #[error("{0}")]
    Kafka(String),
}

pub type Result<T> = std::result::Result<T, Error>;
