//! Heartbeat: keeps a member's session alive and tells it when the group
//! is rebalancing (REBALANCE_IN_PROGRESS: rejoin).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;
use crate::group::code_of;

pub fn handle(broker: &Broker, req: HeartbeatRequest) -> HeartbeatResponse {
    let r = broker.groups.heartbeat(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
    );
    HeartbeatResponse::default().with_error_code(code_of(&r))
}
