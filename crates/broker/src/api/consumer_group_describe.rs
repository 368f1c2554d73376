//! ConsumerGroupDescribe (KIP-848): a consumer-protocol group's epochs,
//! assignor and members with their current and target assignments.

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::AUTHORIZED_OPERATIONS_OMITTED;
use crate::broker::Broker;
use crate::group::consumer_protocol;

pub fn handle(broker: &Broker, req: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    let s = StrBytes::from_string;
    let to_wire = |a: consumer_protocol::Assignment| {
        let topic_partitions = a
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .filter_map(|(name, p)| {
                let t = broker.topics.get(&name)?;
                Some(
                    TopicPartitions::default()
                        .with_topic_id(t.id)
                        .with_topic_name(TopicName(s(name)))
                        .with_partitions(p.into_iter().collect()),
                )
            })
            .collect();
        Assignment::default().with_topic_partitions(topic_partitions)
    };
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let described = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
            match broker.groups.consumer_describe(id.as_str()) {
                Err(e) => described
                    .with_group_state(s("Dead".into()))
                    .with_error_code(e.wire())
                    .with_error_message(Some(s(e.to_string()))),
                Ok(g) => described
                    .with_group_state(StrBytes::from_static_str(g.state))
                    .with_group_epoch(g.epoch)
                    .with_assignment_epoch(g.assignment_epoch)
                    .with_assignor_name(s(g.assignor))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                Member::default()
                                    .with_member_id(s(m.member_id))
                                    .with_instance_id(m.instance_id.map(s))
                                    .with_rack_id(m.rack_id.map(s))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed.into_iter().map(|t| TopicName(s(t))).collect(),
                                    )
                                    .with_assignment(to_wire(m.assigned))
                                    .with_target_assignment(to_wire(m.target))
                                    // 1: the consumer protocol (0 would be classic).
                                    .with_member_type(1)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
