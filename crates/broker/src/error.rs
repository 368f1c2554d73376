//! The broker's error type and its one mapping to Kafka error codes.
//!
//! Handlers return `BrokerError`; the Kafka error code a client sees is chosen
//! here, in `BrokerError::code`, and nowhere else.

use fjord_log::LogError;
use kafka_protocol::error::ResponseError;

/// Everything a broker operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("partition {partition} of topic '{topic}' does not exist")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("topic id {0} does not exist")]
    UnknownTopicId(uuid::Uuid),
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    #[error("invalid topic name '{name}': {reason}")]
    InvalidTopicName { name: String, reason: String },
    #[error("{0}")]
    InvalidPartitions(String),
    #[error(
        "replication factor {0} is not possible: Fjord is a single-node broker, use 1 or -1 \
         (run against a Kafka cluster for replication)"
    )]
    InvalidReplicationFactor(i16),
    #[error("manual replica assignment is not supported on a single node")]
    InvalidReplicaAssignment,
    #[error("invalid config '{key}': {reason}")]
    InvalidConfig { key: String, reason: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("cannot {action} internal topic '{topic}': the broker alone writes it")]
    InternalTopic { topic: String, action: &'static str },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata file {path} is unreadable: {reason}")]
    CorruptMetadata { path: String, reason: String },
}

impl BrokerError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BrokerError::Io {
            context: context.into(),
            source,
        }
    }

    /// The Kafka error code for this error: the single place where the
    /// broker's failures become protocol errors.
    pub fn code(&self) -> ResponseError {
        match self {
            BrokerError::Log(e) => log_error_code(e),
            BrokerError::UnknownTopic(_) | BrokerError::UnknownPartition { .. } => {
                ResponseError::UnknownTopicOrPartition
            }
            BrokerError::UnknownTopicId(_) => ResponseError::UnknownTopicId,
            BrokerError::TopicExists(_) => ResponseError::TopicAlreadyExists,
            BrokerError::InvalidTopicName { .. } | BrokerError::InternalTopic { .. } => {
                ResponseError::InvalidTopicException
            }
            BrokerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            BrokerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            BrokerError::InvalidReplicaAssignment => ResponseError::InvalidReplicaAssignment,
            BrokerError::InvalidConfig { .. } => ResponseError::InvalidConfig,
            BrokerError::InvalidRequest(_) => ResponseError::InvalidRequest,
            BrokerError::Io { .. } | BrokerError::CorruptMetadata { .. } => {
                ResponseError::KafkaStorageError
            }
        }
    }
}

fn log_error_code(e: &LogError) -> ResponseError {
    match e {
        LogError::CorruptRecord { .. } => ResponseError::CorruptMessage,
        LogError::UnsupportedMessageFormat { .. } => ResponseError::UnsupportedForMessageFormat,
        LogError::RecordTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        LogError::UnknownProducerId { .. } => ResponseError::UnknownProducerId,
        LogError::InvalidConfig { .. } => ResponseError::InvalidConfig,
        LogError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        LogError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
        LogError::CoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
        _ => ResponseError::KafkaStorageError,
    }
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
