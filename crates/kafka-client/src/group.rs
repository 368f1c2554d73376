//! Classic consumer-group membership (FindCoordinator, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup) for groups with their own protocol
//! type, such as the schema registry's writer election ("sr"). The caller
//! runs the loop (join, sync, heartbeat until a rebalance) on its own thread;
//! these calls only speak the protocol and map error codes.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::connection::KafkaConnection;
use crate::error::{Error, Result};

/// Kafka error codes a member reacts to (the rest are failures).
pub mod codes {
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
}

/// What JoinGroup answered.
#[derive(Debug, Clone)]
pub struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub leader: String,
    /// (member id, metadata) of every member; empty unless we lead.
    pub members: Vec<(String, Bytes)>,
}

/// What a JoinGroup came to.
#[derive(Debug, Clone)]
pub enum JoinOutcome {
    Joined(Joined),
    /// Join again with this member id (KIP-394).
    MemberIdRequired(String),
    /// A Kafka error code.
    Error(i16),
}

/// A group call's outcome: done, or a Kafka error code the member handles
/// (rejoin, reset its member id).
pub type GroupResult<T> = Result<std::result::Result<T, i16>>;

/// Finds the group's coordinator and connects to it.
pub fn connect_coordinator(
    bootstrap: &str,
    settings: &[(String, String)],
    group: &str,
    timeout: Duration,
) -> Result<KafkaConnection> {
    let mut conn = KafkaConnection::connect_with(bootstrap, settings, timeout, timeout)?;
    let version = conn.version::<FindCoordinatorRequest>(4)?;
    let mut request = FindCoordinatorRequest::default().with_key_type(0);
    if version >= 4 {
        request = request.with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]);
    } else {
        request = request.with_key(StrBytes::from_string(group.to_string()));
    }
    let resp = conn.call(version, &request)?;
    let (error, host, port) = if version >= 4 {
        let c = resp
            .coordinators
            .first()
            .ok_or_else(|| Error::Protocol("FindCoordinator returned no coordinator".into()))?;
        (c.error_code, c.host.to_string(), c.port)
    } else {
        (resp.error_code, resp.host.to_string(), resp.port)
    };
    if error != 0 {
        return Err(Error::broker(error, None));
    }
    KafkaConnection::connect_with(&format!("{host}:{port}"), settings, timeout, timeout)
}

/// One member's calls to its coordinator.
pub struct GroupMember {
    pub conn: KafkaConnection,
    pub group: String,
    pub protocol_type: String,
}

impl GroupMember {
    /// JoinGroup with one protocol. The coordinator answers when the
    /// rebalance completes, so the connection's timeout must exceed the
    /// rebalance timeout.
    pub fn join(
        &mut self,
        member_id: &str,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        protocol: &str,
        metadata: Bytes,
    ) -> Result<JoinOutcome> {
        let version = self.conn.version::<JoinGroupRequest>(5)?;
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_session_timeout_ms(session_timeout_ms)
            .with_rebalance_timeout_ms(rebalance_timeout_ms)
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_protocol_type(StrBytes::from_string(self.protocol_type.clone()))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_string(protocol.to_string()))
                .with_metadata(metadata)]);
        let resp = self.conn.call(version, &request)?;
        if resp.error_code == codes::MEMBER_ID_REQUIRED {
            // KIP-394: the coordinator named our member id; join again with it.
            return Ok(JoinOutcome::MemberIdRequired(resp.member_id.to_string()));
        }
        if resp.error_code != 0 {
            return Ok(JoinOutcome::Error(resp.error_code));
        }
        Ok(JoinOutcome::Joined(Joined {
            generation: resp.generation_id,
            member_id: resp.member_id.to_string(),
            leader: resp.leader.to_string(),
            members: resp
                .members
                .iter()
                .map(|m| (m.member_id.to_string(), m.metadata.clone()))
                .collect(),
        }))
    }

    /// SyncGroup: the leader sends every member's assignment; everyone gets
    /// its own back.
    pub fn sync(
        &mut self,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> GroupResult<Bytes> {
        let version = self.conn.version::<SyncGroupRequest>(3)?;
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(StrBytes::from_string(m))
                            .with_assignment(a)
                    })
                    .collect(),
            );
        let resp = self.conn.call(version, &request)?;
        if resp.error_code != 0 {
            return Ok(Err(resp.error_code));
        }
        Ok(Ok(resp.assignment))
    }

    pub fn heartbeat(&mut self, generation: i32, member_id: &str) -> GroupResult<()> {
        let version = self.conn.version::<HeartbeatRequest>(3)?;
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(member_id.to_string()));
        let resp = self.conn.call(version, &request)?;
        if resp.error_code != 0 {
            return Ok(Err(resp.error_code));
        }
        Ok(Ok(()))
    }

    /// LeaveGroup, so the others rebalance now rather than after our
    /// session times out.
    pub fn leave(&mut self, member_id: &str) -> Result<()> {
        let version = self.conn.version::<LeaveGroupRequest>(3)?;
        let mut request = LeaveGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())));
        if version >= 3 {
            request = request.with_members(vec![MemberIdentity::default()
                .with_member_id(StrBytes::from_string(member_id.to_string()))]);
        } else {
            request = request.with_member_id(StrBytes::from_string(member_id.to_string()));
        }
        let resp = self.conn.call(version, &request)?;
        if resp.error_code != 0 {
            return Err(Error::broker(resp.error_code, None));
        }
        Ok(())
    }
}
