//! CreatePartitions: grow a topic. Assignments, when given, must name this
//! broker alone.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::error::BrokerError;

pub fn handle(broker: &Broker, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let node = broker.node_id();
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let bad_assignment = t
                .assignments
                .iter()
                .flatten()
                .any(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != node);
            let outcome = if bad_assignment {
                Err(BrokerError::InvalidReplicaAssignment)
            } else {
                broker.topics.add_partitions(
                    t.name.as_str(),
                    t.count,
                    broker.config.max_partitions_per_topic,
                    req.validate_only,
                )
            };
            let result = CreatePartitionsTopicResult::default().with_name(t.name);
            match outcome {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(e.code().code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
