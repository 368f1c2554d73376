//! AddPartitionsToTxn v0-3, the client's form: one transactional id, the
//! partitions it is about to produce to. Partitions that do not exist get
//! UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as in
//! Kafka; otherwise every partition gets the coordinator's answer. (v4+,
//! the brokers' batched verification form, is not advertised: on a single
//! node the produce path asks the coordinator directly.)

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName};

use crate::broker::Broker;
use crate::txn;

/// A partition and its error code if decided before asking the coordinator.
type Decided = (i32, Option<i16>);

pub fn handle(
    broker: &Arc<Broker>,
    req: AddPartitionsToTxnRequest,
) -> impl Future<Output = AddPartitionsToTxnResponse> + Send + 'static {
    let mut requested: Vec<(TopicName, Vec<i32>)> = Vec::new();
    let mut missing = false;
    for t in &req.v3_and_below_topics {
        let topic = broker.topics.get(t.name.as_str());
        missing |= t.partitions.iter().any(|p| {
            !topic
                .as_ref()
                .is_some_and(|tp| *p >= 0 && (*p as usize) < tp.partitions.len())
        });
        requested.push((t.name.clone(), t.partitions.clone()));
    }
    let exists = |name: &TopicName, p: i32| {
        broker
            .topics
            .get(name.as_str())
            .is_some_and(|tp| p >= 0 && (p as usize) < tp.partitions.len())
    };
    // Per partition: Some(code) decided now, None: the coordinator's answer.
    let decided: Vec<(TopicName, Vec<Decided>)> = requested
        .iter()
        .map(|(name, parts)| {
            let parts = parts
                .iter()
                .map(|&p| {
                    let code = if !missing {
                        None
                    } else if exists(name, p) {
                        Some(ResponseError::OperationNotAttempted.code())
                    } else {
                        Some(ResponseError::UnknownTopicOrPartition.code())
                    };
                    (p, code)
                })
                .collect();
            (name.clone(), parts)
        })
        .collect();
    let add = (!missing).then(|| {
        let partitions = requested
            .iter()
            .flat_map(|(name, parts)| parts.iter().map(move |p| (name.to_string(), *p)))
            .collect();
        txn::coordinator::add_partitions(
            broker,
            req.v3_and_below_transactional_id.as_str(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            partitions,
        )
    });
    async move {
        let code = match add {
            Some(add) => txn::code_of(&add.await),
            None => 0,
        };
        let results = decided
            .into_iter()
            .map(|(name, parts)| {
                AddPartitionsToTxnTopicResult::default()
                    .with_name(name)
                    .with_results_by_partition(
                        parts
                            .into_iter()
                            .map(|(p, c)| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(p)
                                    .with_partition_error_code(c.unwrap_or(code))
                            })
                            .collect(),
                    )
            })
            .collect();
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
    }
}
