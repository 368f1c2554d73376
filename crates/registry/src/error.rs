//! The registry's errors, each with Confluent's HTTP status and
//! `error_code`, so clients that branch on the code (confluent-kafka's
//! SchemaRegistryError) behave as they do against Confluent.
//!
//! The numeric codes are Confluent's and are never reused for another
//! meaning.

use crate::schema::SchemaError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    #[error("Schema {0} not found")]
    SchemaNotFound(i32),
    /// A look-up of a schema text that the subject does not hold.
    #[error("Schema not found")]
    SchemaTextNotFound,
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    #[error("Subject '{0}' Version {1} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted(String, i32),
    #[error("Subject '{0}' Version {1} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted(String, i32),
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectConfigNotFound(String),
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotFound(String),
    /// 409 with Confluent's message: the reasons, the old version, the level.
    #[error("{0}")]
    Incompatible(String),
    #[error("{0}")]
    InvalidSchema(String),
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    #[error("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibility,
    #[error("Invalid mode. Valid values are READWRITE, READONLY, IMPORT")]
    InvalidMode,
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("{0}")]
    ReferenceExists(String),
    #[error("{0}")]
    IdDoesNotMatch(String),
    #[error("{0}")]
    InvalidSubject(String),
    /// The request body is not the JSON the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    #[error("Error in the backend data store: {0}")]
    Store(StoreError),
    #[error("{0}")]
    ForwardingFailed(String),
    #[error("{0}")]
    UnknownLeader(String),
}

impl RegistryError {
    /// (HTTP status, Confluent error_code).
    pub fn codes(&self) -> (u16, u32) {
        use RegistryError::*;
        match self {
            SubjectNotFound(_) => (404, 40401),
            VersionNotFound(_) => (404, 40402),
            SchemaNotFound(_) | SchemaTextNotFound => (404, 40403),
            SubjectSoftDeleted(_) => (404, 40404),
            SubjectNotSoftDeleted(_) => (404, 40405),
            VersionSoftDeleted(..) => (404, 40406),
            VersionNotSoftDeleted(..) => (404, 40407),
            SubjectConfigNotFound(_) => (404, 40408),
            SubjectModeNotFound(_) => (404, 40409),
            Incompatible(_) => (409, 409),
            InvalidSchema(_) => (422, 42201),
            InvalidVersion(_) => (422, 42202),
            InvalidCompatibility => (422, 42203),
            InvalidMode => (422, 42204),
            OperationNotPermitted(_) => (422, 42205),
            ReferenceExists(_) => (422, 42206),
            IdDoesNotMatch(_) => (422, 42207),
            InvalidSubject(_) => (422, 42208),
            BadRequest(_) => (400, 400),
            Store(StoreError::Timeout(_)) => (500, 50002),
            Store(_) => (500, 50001),
            ForwardingFailed(_) => (500, 50003),
            UnknownLeader(_) => (500, 50004),
        }
    }
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        RegistryError::Store(e)
    }
}

impl From<SchemaError> for RegistryError {
    fn from(e: SchemaError) -> Self {
        match e {
            SchemaError::UnknownCompatibilityLevel(_) => RegistryError::InvalidCompatibility,
            other => RegistryError::InvalidSchema(other.to_string()),
        }
    }
}
