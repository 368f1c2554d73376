//! DescribeTransactions: each transactional id's state, producer, timeout
//! and the partitions of its current transaction.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

pub fn handle(broker: &Broker, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let state = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            match broker.txn.describe(id.as_str()) {
                Err(e) => state.with_error_code(e.wire()),
                Ok(s) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for (t, p) in s.partitions {
                        match topics.last_mut() {
                            Some(last) if last.topic.as_str() == t => last.partitions.push(p),
                            _ => topics.push(
                                TopicData::default()
                                    .with_topic(TopicName(StrBytes::from_string(t)))
                                    .with_partitions(vec![p]),
                            ),
                        }
                    }
                    state
                        .with_transaction_state(StrBytes::from_static_str(s.state.name()))
                        .with_transaction_timeout_ms(s.timeout_ms)
                        .with_transaction_start_time_ms(s.start_ms)
                        .with_producer_id(ProducerId(s.producer_id))
                        .with_producer_epoch(s.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
