//! InitProducerId for idempotent producers: a fresh producer id, or (KIP-360)
//! the same id with a bumped epoch when a producer asks to reset its
//! sequences. Transactional ids belong to the transaction coordinator, which
//! this broker does not have yet.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;

pub fn handle(broker: &Broker, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match req.transactional_id.as_ref().map(|id| id.as_str()) {
        None => {}
        // Kafka: an empty transactional id is a malformed request.
        Some("") => return resp.with_error_code(ResponseError::InvalidRequest.code()),
        Some(_) => {
            return resp.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
        }
    }
    // An existing producer bumping its epoch keeps its id until the epoch
    // would overflow, then gets a new id.
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return resp
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match broker.producer_ids.next() {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            resp.with_error_code(ResponseError::CoordinatorNotAvailable.code())
        }
    }
}
