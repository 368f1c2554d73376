//! Metadata: brokers (this one), topics and their partitions. Asking for an
//! unknown topic creates it when auto-creation is on (Kafka's default) and
//! the client allows it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::api::AUTHORIZED_OPERATIONS_OMITTED;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::internal_topic::is_broker_internal;
use crate::topics::Topic;

/// Every topic operation (Kafka's AclOperation bits READ..DESCRIBE_CONFIGS),
/// reported when a client asks: there is no authorization on this broker.
const ALL_TOPIC_OPERATIONS: i32 = 0b1_1111_1111_1000;
const ALL_CLUSTER_OPERATIONS: i32 = 0b111_1111_1111_1000;

pub fn handle(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    let node = broker.node_id();
    let (host, port) = broker.advertised.clone();
    // v0 has no way to say "all topics" but an empty list; v1+ uses null.
    let wanted: Option<Vec<_>> = match req.topics {
        Some(t) if version == 0 && t.is_empty() => None,
        other => other,
    };
    // Clients before v4 cannot opt out of auto-creation.
    let allow_create =
        broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let with_ops = req.include_topic_authorized_operations;

    let topics: Vec<MetadataResponseTopic> = match wanted {
        None => broker
            .topics
            .list()
            .iter()
            .map(|t| describe(t, node, with_ops))
            .collect(),
        Some(requested) => requested
            .into_iter()
            .map(|rt| match rt.name {
                Some(name) => lookup_or_create(broker, &name, allow_create, with_ops),
                None => match broker.topics.get_by_id(rt.topic_id) {
                    Some(t) => describe(&t, node, with_ops),
                    None => MetadataResponseTopic::default()
                        .with_topic_id(rt.topic_id)
                        .with_error_code(ResponseError::UnknownTopicId.code()),
                },
            })
            .collect(),
    };

    let resp = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(node))
            .with_host(StrBytes::from_string(host))
            .with_port(port as i32)])
        .with_topics(
            topics
                .into_iter()
                .map(|t| for_version(t, version))
                .collect(),
        )
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            ALL_CLUSTER_OPERATIONS
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        });
    let resp = if version >= 1 {
        resp.with_controller_id(BrokerId(node))
    } else {
        resp
    };
    if version >= 2 {
        resp.with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
    } else {
        resp
    }
}

/// Clears the fields that `version` cannot carry (the encoder refuses a
/// non-default value in a field the version lacks).
fn for_version(mut t: MetadataResponseTopic, version: i16) -> MetadataResponseTopic {
    if version < 1 {
        t.is_internal = false;
    }
    if version < 10 {
        t.topic_id = uuid::Uuid::nil();
    }
    if version < 7 {
        for p in &mut t.partitions {
            p.leader_epoch = -1;
        }
    }
    t
}

fn lookup_or_create(
    broker: &Broker,
    name: &TopicName,
    allow_create: bool,
    with_ops: bool,
) -> MetadataResponseTopic {
    let node = broker.node_id();
    if let Some(t) = broker.topics.get(name.as_str()) {
        return describe(&t, node, with_ops);
    }
    let error = |code: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(code.code())
    };
    // An internal topic is created by its coordinator, compacted, never by
    // a client's metadata request.
    if !allow_create || is_broker_internal(name.as_str()) {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    let created = broker.topics.create(
        name.as_str(),
        broker.config.num_partitions,
        Default::default(),
        broker.config.max_partitions_per_topic,
        false,
    );
    match created {
        Ok(t) => describe(&t, node, with_ops),
        // Two clients raced to create it: the other one won, which is fine.
        Err(BrokerError::TopicExists(_)) => match broker.topics.get(name.as_str()) {
            Some(t) => describe(&t, node, with_ops),
            None => error(ResponseError::LeaderNotAvailable),
        },
        Err(e) => {
            tracing::warn!(topic = name.as_str(), error = %e, "auto-create refused");
            error(e.code())
        }
    }
}

fn describe(topic: &Topic, node: i32, with_ops: bool) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions.len() as i32)
        .map(|i| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(node))
                .with_leader_epoch(0)
                .with_replica_nodes(vec![BrokerId(node)])
                .with_isr_nodes(vec![BrokerId(node)])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(is_broker_internal(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(if with_ops {
            ALL_TOPIC_OPERATIONS
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        })
}
