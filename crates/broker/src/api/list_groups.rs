//! ListGroups: every group, optionally filtered by state (v4+) and type
//! (v5+: "classic", or "consumer" for KIP-848 consumer-protocol groups).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

pub fn handle(broker: &Broker, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let wanted = |filter: &[StrBytes], value: &str| {
        filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
    };
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| wanted(&req.states_filter, g.state_name))
        .filter(|g| wanted(&req.types_filter, g.group_type))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            let listed = if version >= 4 {
                listed.with_group_state(StrBytes::from_static_str(g.state_name))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(StrBytes::from_static_str(g.group_type))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
