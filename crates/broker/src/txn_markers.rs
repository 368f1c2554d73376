//! Transaction markers: what the transaction coordinator calls to end a
//! transaction in one partition (Kafka's WriteTxnMarkers, without the
//! network hop: on one node the coordinator calls [`write_txn_marker`]
//! directly, so there is no WriteTxnMarkers API handler).
//!
//! The marker is a control batch built by the broker (fjord-log's
//! `encode_marker`), appended to the partition and fsynced before the call
//! returns: a commit is only as durable as its markers. Appending it moves
//! the partition's last stable offset, so waiting read_committed fetches
//! are woken.

use std::sync::Arc;

use fjord_log::{ControlMarker, LogError};
use kafka_protocol::error::ResponseError;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::server::now_ms;

/// Appends a COMMIT (`commit`) or ABORT marker for `producer_id`'s
/// transaction to `topic`/`partition` and returns its offset once it is
/// durable.
///
/// Errors, as the coordinator should treat them:
/// - UNKNOWN_TOPIC_OR_PARTITION: the partition does not exist (deleted
///   since it was added to the transaction);
/// - INVALID_PRODUCER_EPOCH: `producer_epoch` is older than the epoch the
///   partition has seen for the producer (a fenced producer);
/// - TRANSACTION_COORDINATOR_FENCED: `coordinator_epoch` is older than the
///   last marker's for the producer (a zombie coordinator);
/// - KAFKA_STORAGE_ERROR: the write or fsync failed; retry.
pub async fn write_txn_marker(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Result<i64, (ResponseError, String)> {
    let part = broker
        .topics
        .partition(topic, partition)
        .map_err(|e| (e.code(), e.to_string()))?;
    let marker = ControlMarker {
        commit,
        coordinator_epoch,
    };
    let outcome = part
        .append_marker(producer_id, producer_epoch, marker, now_ms())
        .map_err(|e| {
            tracing::warn!(topic, partition, producer_id, error = %e, "transaction marker refused");
            to_wire(e)
        })?;
    let offset = outcome.last_offset;
    if part.durable_offset() <= offset {
        let synced = part.clone();
        tokio::task::spawn_blocking(move || synced.sync_to(offset))
            .await
            .map_err(|e| {
                (
                    ResponseError::KafkaStorageError,
                    format!("fsync task failed: {e}"),
                )
            })?
            .map_err(to_wire)?;
    }
    // The LSO moved (data of a committed transaction became readable, or
    // an aborted one's became skippable): wake read_committed fetches.
    broker.notify_data_arrived();
    Ok(offset)
}

fn to_wire(e: LogError) -> (ResponseError, String) {
    let msg = e.to_string();
    (BrokerError::from(e).code(), msg)
}
