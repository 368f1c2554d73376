//! The client's one error type.

use kafka_protocol::error::ResponseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to a broker. Messages carry the address or API
/// involved and the underlying error's text, so a caller can show them as
/// they are; the underlying error is not also exposed as `source()`, which
/// would print it twice in anyhow's `{:#}` chains.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no bootstrap server given")]
    NoBootstrap,
    #[error("cannot resolve {addr}: {cause}")]
    Resolve { addr: String, cause: std::io::Error },
    #[error("cannot connect to {addr}: {cause}")]
    Connect { addr: String, cause: std::io::Error },
    /// A `security.protocol` other than PLAINTEXT was asked for.
    #[error(
        "this command uses Fjord's built-in Kafka client, which speaks only \
         PLAINTEXT; security.protocol={0} is not supported by it yet"
    )]
    UnsupportedSecurity(String),
    /// The handshake with one bootstrap address failed.
    #[error("talking to {addr}: {cause}")]
    Handshake { addr: String, cause: Box<Error> },
    #[error("{what}: {cause}")]
    Io {
        what: &'static str,
        cause: std::io::Error,
    },
    /// kafka-protocol could not encode a request or decode a response.
    #[error("{what}: {cause}")]
    Codec {
        what: String,
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The broker's answer breaks the protocol (wrong correlation id, size).
    #[error("{0}")]
    Protocol(String),
    /// The broker lacks an API or a version both sides speak.
    #[error("{0}")]
    Unsupported(String),
    /// The broker answered with an error code.
    #[error("{0}")]
    Broker(String),
}

impl Error {
    /// An answer carrying Kafka error `code`, with the broker's message when
    /// it sent one.
    pub fn broker(code: i16, message: Option<&str>) -> Error {
        match message {
            Some(msg) if !msg.is_empty() => Error::Broker(format!("{}: {msg}", error_name(code))),
            _ => Error::Broker(error_name(code)),
        }
    }
}

/// A Kafka error code's name (`NON_EMPTY_GROUP`-style names are what users
/// search for), or the number when this library does not know it.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "no error".to_string(),
        Some(ResponseError::Unknown(code)) => format!("error code {code}"),
        Some(err) => format!("{err:?} ({code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_readable() {
        assert_eq!(error_name(68), "NonEmptyGroup (68)");
        assert_eq!(error_name(-12345), "error code -12345");
    }
}
