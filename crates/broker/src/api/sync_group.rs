//! SyncGroup: the leader hands in the assignment; every member (the leader
//! too) gets its own part once the leader's is stored.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::{GroupError, SyncRequest};

pub fn handle(
    broker: &Arc<Broker>,
    req: SyncGroupRequest,
    version: i16,
) -> impl Future<Output = SyncGroupResponse> + Send + 'static {
    let sync = SyncRequest {
        group_id: req.group_id.to_string(),
        generation: req.generation_id,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let rx = broker.groups.sync(sync);
    async move {
        let outcome = rx.await.unwrap_or(Err(GroupError::RebalanceInProgress));
        match outcome {
            Ok((assignment, protocol_type, protocol_name)) => {
                let resp = SyncGroupResponse::default().with_assignment(assignment);
                if version >= 5 {
                    resp.with_protocol_type(protocol_type.map(StrBytes::from_string))
                        .with_protocol_name(protocol_name.map(StrBytes::from_string))
                } else {
                    resp
                }
            }
            Err(e) => SyncGroupResponse::default().with_error_code(e.wire()),
        }
    }
}
