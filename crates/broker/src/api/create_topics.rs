//! CreateTopics. Replication factors other than 1 (or -1, "the default")
//! are refused: Fjord is a single node, replication comes from running
//! against a Kafka cluster.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::describe_configs::source_code;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::internal_topic::refuse_client_change;

pub fn handle(broker: &Broker, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.as_str().to_string();
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            match create(broker, &t, req.validate_only) {
                Ok(topic) => {
                    let configs = topic
                        .config
                        .describe()
                        .into_iter()
                        .map(|e| {
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_string(e.name))
                                .with_value(Some(StrBytes::from_string(e.value)))
                                .with_read_only(e.read_only)
                                .with_config_source(source_code(e.source))
                                .with_is_sensitive(e.sensitive)
                        })
                        .collect();
                    let result = if version >= 7 {
                        result.with_topic_id(topic.id)
                    } else {
                        result
                    };
                    if version >= 5 {
                        result
                            .with_num_partitions(num_partitions(broker, &t))
                            .with_replication_factor(1)
                            .with_configs(Some(configs))
                    } else {
                        result
                    }
                }
                Err(e) => {
                    tracing::info!(topic = name, error = %e, "create topic refused");
                    result
                        .with_error_code(e.code().code())
                        .with_error_message(Some(StrBytes::from_string(e.to_string())))
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn num_partitions(
    broker: &Broker,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> i32 {
    if !t.assignments.is_empty() {
        t.assignments.len() as i32
    } else if t.num_partitions == -1 {
        broker.config.num_partitions
    } else {
        t.num_partitions
    }
}

fn create(
    broker: &Broker,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    validate_only: bool,
) -> Result<std::sync::Arc<crate::topics::Topic>, BrokerError> {
    if t.replication_factor != -1 && t.replication_factor != 1 {
        return Err(BrokerError::InvalidReplicationFactor(t.replication_factor));
    }
    // The coordinators create their topics on first use, compacted and
    // with their own partition counts; once one exists, the answer is
    // TOPIC_ALREADY_EXISTS as for any topic.
    if broker.topics.get(t.name.as_str()).is_none() {
        refuse_client_change(t.name.as_str(), "create")?;
    }
    // Manual assignment is accepted only when it names this broker alone.
    let node = broker.node_id();
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "give either replica assignments or partitions and replication factor, not both"
                    .into(),
            ));
        }
        if t.assignments
            .iter()
            .any(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != node)
        {
            return Err(BrokerError::InvalidReplicaAssignment);
        }
    }
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        if let Some(v) = &c.value {
            configs.insert(c.name.as_str().to_string(), v.as_str().to_string());
        }
    }
    broker.topics.create(
        t.name.as_str(),
        num_partitions(broker, t),
        configs,
        broker.config.max_partitions_per_topic,
        validate_only,
    )
}
