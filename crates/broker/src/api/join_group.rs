//! JoinGroup: answered when the group's join phase completes (or at once
//! for errors and for members rejoining a settled group).

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::dispatch::ClientInfo;
use crate::group::{GroupError, JoinOutcome, JoinRequest};

pub fn handle(
    broker: &Arc<Broker>,
    req: JoinGroupRequest,
    version: i16,
    client: &ClientInfo,
) -> impl Future<Output = JoinGroupResponse> + Send + 'static {
    let join = JoinRequest {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: client.client_id.clone(),
        client_host: client.host.clone(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            -1
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let member_id = join.member_id.clone();
    let rx = match broker.groups.ensure_offsets_topic(&broker.topics) {
        Ok(()) => broker.groups.join(join),
        Err(e) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = tx.send(JoinOutcome {
                error: Some(e),
                generation: -1,
                member_id: member_id.clone(),
                ..Default::default()
            });
            rx
        }
    };
    async move {
        let outcome = rx.await.unwrap_or_else(|_| JoinOutcome {
            error: Some(GroupError::RebalanceInProgress),
            generation: -1,
            member_id,
            ..Default::default()
        });
        to_wire(outcome, version)
    }
}

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

fn to_wire(o: JoinOutcome, version: i16) -> JoinGroupResponse {
    let members = o
        .members
        .into_iter()
        .map(|m| {
            let wire = JoinGroupResponseMember::default()
                .with_member_id(s(m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                wire.with_group_instance_id(m.instance_id.map(s))
            } else {
                wire
            }
        })
        .collect();
    // Before v7 the protocol name is a non-null string.
    let protocol_name = match o.protocol_name {
        None if version < 7 => Some(StrBytes::default()),
        n => n.map(s),
    };
    let mut resp = JoinGroupResponse::default()
        .with_error_code(o.error.as_ref().map_or(0, GroupError::wire))
        .with_generation_id(o.generation)
        .with_protocol_name(protocol_name)
        .with_leader(s(o.leader))
        .with_member_id(s(o.member_id))
        .with_members(members);
    if version >= 7 {
        resp = resp.with_protocol_type(o.protocol_type.map(s));
    }
    if version >= 9 {
        resp = resp.with_skip_assignment(o.skip_assignment);
    }
    resp
}
