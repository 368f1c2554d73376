//! The client's errors: the registry's error bodies as typed kinds
//! (Confluent's `error_code`s), and the ways a request can fail before the
//! registry answers.

use std::fmt;

/// Confluent's error codes, by meaning. Codes are the registry's, listed
/// here as the client understands them; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryErrorKind {
    /// 40401
    SubjectNotFound,
    /// 40402
    VersionNotFound,
    /// 40403
    SchemaNotFound,
    /// 40404
    SubjectSoftDeleted,
    /// 40405
    SubjectNotSoftDeleted,
    /// 40406
    VersionSoftDeleted,
    /// 40407
    VersionNotSoftDeleted,
    /// 409
    Incompatible,
    /// 42201
    InvalidSchema,
    /// 42202
    InvalidVersion,
    /// 42203
    InvalidCompatibilityLevel,
    /// 42205
    OperationNotPermitted,
    /// 42206
    ReferenceExists,
    /// 404 on a route the registry does not serve
    NotFound,
    /// 50001..50004 and other 5xx
    ServerError,
    Other,
}

impl RegistryErrorKind {
    pub fn from_code(code: i32, status: u16) -> RegistryErrorKind {
        use RegistryErrorKind::*;
        match code {
            40401 => SubjectNotFound,
            40402 => VersionNotFound,
            40403 => SchemaNotFound,
            40404 => SubjectSoftDeleted,
            40405 => SubjectNotSoftDeleted,
            40406 => VersionSoftDeleted,
            40407 => VersionNotSoftDeleted,
            409 => Incompatible,
            42201 => InvalidSchema,
            42202 => InvalidVersion,
            42203 => InvalidCompatibilityLevel,
            42205 => OperationNotPermitted,
            42206 => ReferenceExists,
            404 => NotFound,
            _ if status >= 500 => ServerError,
            _ => Other,
        }
    }
}

impl fmt::Display for RegistryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RegistryErrorKind::*;
        f.write_str(match self {
            SubjectNotFound => "subject not found",
            VersionNotFound => "version not found",
            SchemaNotFound => "schema not found",
            SubjectSoftDeleted => "subject was soft deleted",
            SubjectNotSoftDeleted => "subject was not soft deleted first",
            VersionSoftDeleted => "version was soft deleted",
            VersionNotSoftDeleted => "version was not soft deleted first",
            Incompatible => "incompatible schema",
            InvalidSchema => "invalid schema",
            InvalidVersion => "invalid version",
            InvalidCompatibilityLevel => "invalid compatibility level",
            OperationNotPermitted => "operation not permitted",
            ReferenceExists => "schema is referenced by another schema",
            NotFound => "not found",
            ServerError => "registry server error",
            Other => "registry error",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry answered with an error body.
    #[error("{kind}: {message} (error code {code}, HTTP {status})")]
    Registry {
        kind: RegistryErrorKind,
        code: i32,
        status: u16,
        message: String,
    },
    #[error("cannot reach the schema registry at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("unexpected answer from the schema registry ({url}): {reason}")]
    BadResponse { url: String, reason: String },
    #[error(
        "the schema registry at {url} cannot look schemas up by GUID \
         (data framed with magic byte 1 needs a registry that serves /schemas/guids/)"
    )]
    GuidUnsupported { url: String },
}

impl ClientError {
    /// The registry's error kind, if the registry answered with one.
    pub fn kind(&self) -> Option<RegistryErrorKind> {
        match self {
            ClientError::Registry { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_kinds() {
        assert_eq!(
            RegistryErrorKind::from_code(40401, 404),
            RegistryErrorKind::SubjectNotFound
        );
        assert_eq!(
            RegistryErrorKind::from_code(409, 409),
            RegistryErrorKind::Incompatible
        );
        assert_eq!(
            RegistryErrorKind::from_code(50001, 500),
            RegistryErrorKind::ServerError
        );
    }
}
