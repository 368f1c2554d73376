//! InitProducerId. Without a transactional id (idempotent producers): a
//! fresh producer id at epoch 0, always, whatever id and epoch the request
//! names (Kafka does the same: a producer resetting its sequences starts
//! over as a new producer, and no client can take over another producer's
//! id and sequence state by naming it). With one: the transaction
//! coordinator's id for it, its epoch bumped on every call so older
//! instances of the producer are fenced (see `txn::coordinator`).

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::txn;

pub fn handle(
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
) -> impl Future<Output = InitProducerIdResponse> + Send + 'static {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let transactional = match req.transactional_id.as_ref().map(|id| id.as_str()) {
        None => None,
        // Kafka: an empty transactional id is a malformed request.
        Some("") => {
            let r = resp.with_error_code(ResponseError::InvalidRequest.code());
            return Box::pin(std::future::ready(r))
                as std::pin::Pin<Box<dyn Future<Output = _> + Send>>;
        }
        Some(id) => Some(id.to_string()),
    };
    let Some(id) = transactional else {
        return Box::pin(std::future::ready(idempotent(broker, resp)));
    };
    let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let init =
        txn::coordinator::init_producer_id(broker, &id, req.transaction_timeout_ms, expected);
    Box::pin(async move {
        match init.await {
            Ok((pid, epoch)) => resp
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(e) => {
                tracing::debug!(transactional_id = %id, error = %e, "InitProducerId refused");
                resp.with_error_code(e.wire())
            }
        }
    })
}

fn idempotent(broker: &Broker, resp: InitProducerIdResponse) -> InitProducerIdResponse {
    match broker.producer_ids.next() {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            resp.with_error_code(ResponseError::CoordinatorNotAvailable.code())
        }
    }
}
