//! LeaveGroup: one member (v0..=2) or a batch of members by member id or
//! group instance id (v3+); the group rebalances without them.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::code_of;

pub fn handle(broker: &Broker, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    match broker.groups.leave(req.group_id.as_str(), members) {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.wire()),
        Ok(results) if version >= 3 => LeaveGroupResponse::default().with_members(
            results
                .into_iter()
                .map(|(id, instance, r)| {
                    MemberResponse::default()
                        .with_member_id(StrBytes::from_string(id))
                        .with_group_instance_id(instance.map(StrBytes::from_string))
                        .with_error_code(code_of(&r))
                })
                .collect(),
        ),
        Ok(results) => LeaveGroupResponse::default()
            .with_error_code(results.first().map_or(0, |(_, _, r)| code_of(r))),
    }
}
