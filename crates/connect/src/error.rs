//! The crate's error type.

/// What can go wrong in a connector pipeline. Each variant says which
/// stage failed, since that is what `errors.tolerance` and the
/// dead-letter headers (`__connect.errors.stage`) report.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A setting is missing or has a bad value (a 400 on the REST API).
    #[error("Invalid value {value:?} for configuration {key}: {message}")]
    Config {
        key: String,
        value: String,
        message: String,
    },
    /// A converter could not turn bytes into a value or back.
    #[error("conversion failed: {0}")]
    Conversion(String),
    /// A transform could not apply to a record.
    #[error("transformation failed: {0}")]
    Transform(String),
    /// The external system refused (a database error, a file error).
    #[error("{0}")]
    External(String),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl ConnectError {
    pub fn config(key: &str, value: &str, message: impl Into<String>) -> ConnectError {
        ConnectError::Config {
            key: key.to_string(),
            value: value.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = ConnectError> = std::result::Result<T, E>;
