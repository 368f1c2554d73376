//! The group coordinator: Kafka's classic group protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup), committed offsets, and the group
//! admin APIs. This broker is the coordinator of every group.
//!
//! - `state`: one group's members and its state machine
//!   (Empty -> PreparingRebalance -> CompletingRebalance -> Stable, Dead);
//! - `coordinator`: the groups, the membership operations and the tokio
//!   timers for session and rebalance timeouts;
//! - `offsets`: committed offsets and the admin operations;
//! - `store` / `records`: persistence in `__consumer_offsets` in Kafka's
//!   record layout, and its replay on start;
//! - `txn_offsets`: offsets committed inside a producer's transaction,
//!   applied by its COMMIT marker;
//! - `expiry`: offsets of long-empty groups and of deleted topics removed;
//! - `consumer_protocol`: the KIP-848 consumer protocol
//!   (ConsumerGroupHeartbeat, broker-side assignors); such a group is the
//!   same `Group` with its `consumer` part set; `consumer_records` keeps
//!   its members and assignments across restarts.
//!
//! Invariants a reader must keep: every group lives in one map under one
//! mutex, and nothing awaits while holding it; waiting requests (JoinGroup,
//! SyncGroup) hold a oneshot receiver whose sender sits in the member, and
//! every path that removes a member or changes the generation answers the
//! senders it drops; timers hold only a `Weak` to the coordinator and
//! re-check the state they were started for (a token per member, an id per
//! rebalance) before acting.

pub mod consumer_protocol;
mod consumer_records;
mod coordinator;
mod expiry;
mod offsets;
pub mod records;
mod state;
pub mod store;
mod timers;
mod txn_offsets;

use kafka_protocol::error::ResponseError;

pub use coordinator::{
    GroupCoordinator, JoinOutcome, JoinRequest, JoinedMember, LeaveOutcome, SyncOutcome,
    SyncRequest,
};
pub use offsets::{CommitRequest, Committed, GroupListing, GroupSummary, MemberSummary};
pub use state::GroupState;
pub use store::{TxnProducer, OFFSETS_TOPIC};

/// Group settings (Kafka's group.* broker settings).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// How long a rebalance of a new (Empty) group waits for more members
    /// before completing (group.initial.rebalance.delay.ms).
    pub initial_rebalance_delay_ms: u64,
    /// Bounds on a member's session timeout (group.min/max.session.timeout.ms).
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// Largest committed-offset metadata string (offset.metadata.max.bytes).
    pub max_metadata_bytes: usize,
    /// Session timeout of consumer-protocol members
    /// (group.consumer.session.timeout.ms; the broker sets it, not the client).
    pub consumer_session_timeout_ms: i32,
    /// Heartbeat interval told to consumer-protocol members
    /// (group.consumer.heartbeat.interval.ms).
    pub consumer_heartbeat_interval_ms: i32,
}

/// Why a group operation was refused. `code` is the one mapping to Kafka
/// error codes for the coordinator.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GroupError {
    #[error("the group id is empty")]
    InvalidGroupId,
    #[error("group '{0}' does not exist")]
    GroupIdNotFound(String),
    #[error("member '{0}' is not a member of the group")]
    UnknownMemberId(String),
    #[error("a member id is required: rejoin with the id given")]
    MemberIdRequired,
    #[error("generation {got} is not the group's current generation {current}")]
    IllegalGeneration { got: i32, current: i32 },
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    #[error("static member '{0}' was replaced by a newer member with the same instance id")]
    FencedInstanceId(String),
    #[error("{0}")]
    InconsistentGroupProtocol(String),
    #[error("session timeout {got} ms is outside [{min}, {max}] ms")]
    InvalidSessionTimeout { got: i32, min: i32, max: i32 },
    #[error("the group still has members")]
    NonEmptyGroup,
    #[error("the group is subscribed to topic '{0}'")]
    GroupSubscribedToTopic(String),
    #[error("committed metadata of {0} bytes is too large")]
    OffsetMetadataTooLarge(usize),
    #[error("the coordinator is not available: {0}")]
    CoordinatorNotAvailable(String),
    #[error("__consumer_offsets write failed: {0}")]
    Storage(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidRegex(String),
    #[error("assignor '{0}' is not supported: use 'uniform' or 'range'")]
    UnsupportedAssignor(String),
    #[error("instance id '{0}' is still used by another member: it must leave first")]
    UnreleasedInstanceId(String),
    #[error("group '{0}' is not a consumer-protocol group (it uses the classic protocol)")]
    NotConsumerGroup(String),
    #[error("member epoch {got} is fenced: the member's epoch is {current}; rejoin")]
    FencedMemberEpoch { got: i32, current: i32 },
    #[error("member epoch {got} is stale: the member's epoch is {current}")]
    StaleMemberEpoch { got: i32, current: i32 },
}

impl GroupError {
    pub fn code(&self) -> ResponseError {
        use GroupError::*;
        match self {
            InvalidGroupId => ResponseError::InvalidGroupId,
            GroupIdNotFound(_) => ResponseError::GroupIdNotFound,
            UnknownMemberId(_) => ResponseError::UnknownMemberId,
            MemberIdRequired => ResponseError::MemberIdRequired,
            IllegalGeneration { .. } => ResponseError::IllegalGeneration,
            RebalanceInProgress => ResponseError::RebalanceInProgress,
            FencedInstanceId(_) => ResponseError::FencedInstanceId,
            InconsistentGroupProtocol(_) => ResponseError::InconsistentGroupProtocol,
            InvalidSessionTimeout { .. } => ResponseError::InvalidSessionTimeout,
            NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupSubscribedToTopic(_) => ResponseError::GroupSubscribedToTopic,
            OffsetMetadataTooLarge(_) => ResponseError::OffsetMetadataTooLarge,
            // Clients rediscover the coordinator and retry on these.
            CoordinatorNotAvailable(_) | Storage(_) => ResponseError::CoordinatorNotAvailable,
            InvalidRequest(_) => ResponseError::InvalidRequest,
            InvalidRegex(_) => ResponseError::InvalidRegularExpression,
            UnsupportedAssignor(_) => ResponseError::UnsupportedAssignor,
            UnreleasedInstanceId(_) => ResponseError::UnreleasedInstanceId,
            NotConsumerGroup(_) => ResponseError::GroupIdNotFound,
            FencedMemberEpoch { .. } => ResponseError::FencedMemberEpoch,
            StaleMemberEpoch { .. } => ResponseError::StaleMemberEpoch,
        }
    }

    /// The Kafka error code as the wire carries it.
    pub fn wire(&self) -> i16 {
        self.code().code()
    }
}

/// The wire error code of a result: 0 for success.
pub fn code_of<T>(r: &Result<T, GroupError>) -> i16 {
    r.as_ref().err().map_or(0, GroupError::wire)
}
