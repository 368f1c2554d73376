//! AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the
//! producer's transaction, so the TxnOffsetCommit that follows is committed
//! or aborted with it.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::txn;

pub fn handle(
    broker: &Arc<Broker>,
    req: AddOffsetsToTxnRequest,
) -> impl Future<Output = AddOffsetsToTxnResponse> + Send + 'static {
    let refused = |code: i16| {
        let r = AddOffsetsToTxnResponse::default().with_error_code(code);
        Box::pin(std::future::ready(r)) as std::pin::Pin<Box<dyn Future<Output = _> + Send>>
    };
    if req.group_id.is_empty() {
        return refused(ResponseError::InvalidGroupId.code());
    }
    if let Err(e) = broker.groups.ensure_offsets_topic(&broker.topics) {
        return refused(e.wire());
    }
    let Some(partition) = offsets_partition(broker, req.group_id.as_str()) else {
        return refused(ResponseError::CoordinatorNotAvailable.code());
    };
    let add = txn::coordinator::add_partitions(
        broker,
        req.transactional_id.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        vec![(OFFSETS_TOPIC.to_string(), partition)],
    );
    Box::pin(
        async move { AddOffsetsToTxnResponse::default().with_error_code(txn::code_of(&add.await)) },
    )
}

/// The `__consumer_offsets` partition that holds a group's offsets.
pub fn offsets_partition(broker: &Broker, group: &str) -> Option<i32> {
    let topic = broker.topics.get(OFFSETS_TOPIC)?;
    Some(crate::group::records::partition_for(group, topic.partitions.len()) as i32)
}
