//! DescribeGroups: state, protocol and members (with their metadata and
//! assignment once the group is Stable, as Kafka shows them).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::AUTHORIZED_OPERATIONS_OMITTED;
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    let s = StrBytes::from_string;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            let described = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
            match broker.groups.describe(id.as_str()) {
                // Before v6 an unknown group is described as Dead.
                Err(_) if version < 6 => described.with_group_state(s("Dead".into())),
                Err(e) => described
                    .with_group_state(s("Dead".into()))
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(s(e.to_string()))),
                Ok(g) => described
                    .with_group_state(s(g.state_name.into()))
                    .with_protocol_type(s(g.protocol_type))
                    .with_protocol_data(s(g.protocol))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                let wire = DescribedGroupMember::default()
                                    .with_member_id(s(m.member_id))
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment);
                                if version >= 4 {
                                    wire.with_group_instance_id(m.instance_id.map(s))
                                } else {
                                    wire
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
