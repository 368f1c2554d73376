//! ListTransactions v0-1: transactional ids, filtered by state names and
//! producer ids, and (v1, KIP-994) by how long their transaction has run.
//! State names this broker does not know come back in
//! `unknown_state_filters`, as in Kafka. (v2's transactional-id regex is
//! not advertised.)

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::txn::TxnState;

pub fn handle(
    broker: &Broker,
    req: ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for name in req.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => states.push(s),
            None => unknown.push(name),
        }
    }
    let resp = ListTransactionsResponse::default().with_unknown_state_filters(unknown.clone());
    // Only unknown names were asked for: nothing can match them.
    if states.is_empty() && !unknown.is_empty() {
        return resp;
    }
    let producers: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let min_duration = if version >= 1 {
        req.duration_filter
    } else {
        -1
    };
    let listed = broker
        .txn
        .list(&states, &producers, min_duration)
        .into_iter()
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(t.transactional_id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(StrBytes::from_static_str(t.state.name()))
        })
        .collect();
    resp.with_transaction_states(listed)
}
