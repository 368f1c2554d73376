//! EndTxn: commit or abort the producer's transaction. Answered once the
//! markers are written to every partition of the transaction (see
//! `txn::end`).

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::broker::Broker;
use crate::txn;

pub fn handle(
    broker: &Arc<Broker>,
    req: EndTxnRequest,
) -> impl Future<Output = EndTxnResponse> + Send + 'static {
    let id = req.transactional_id.to_string();
    let end = txn::end_txn(
        broker,
        &id,
        req.producer_id.0,
        req.producer_epoch,
        req.committed,
    );
    async move {
        let result = end.await;
        if let Err(e) = &result {
            tracing::debug!(transactional_id = %id, error = %e, "EndTxn refused");
        }
        EndTxnResponse::default().with_error_code(txn::code_of(&result))
    }
}
