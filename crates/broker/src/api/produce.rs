//! Produce: append the client's record batches as they are (the log only
//! sets each batch's base offset), then acknowledge by `acks`:
//! 0 — no response; 1 — once written; -1 (all) — once fsynced. Concurrent
//! acks=all producers share fsyncs (group commit, in fjord-log).

use std::future::Future;
use std::sync::Arc;

use fjord_log::{AppendOutcome, Partition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::internal_topic::refuse_client_change;
use crate::schema_validation;
use crate::server::now_ms;

/// The outcome of one partition's append, before acknowledgement.
struct PartitionResult {
    index: i32,
    outcome: Result<AppendOutcome, (ResponseError, String)>,
    /// Set for acks=all: the partition to sync and the offset to sync to.
    sync: Option<(Arc<Partition>, i64)>,
    /// Schema validation's per-record reasons (Produce v8+ record_errors).
    record_errors: Vec<BatchIndexAndErrorMessage>,
}

/// The appends (writes, and a segment roll's fsyncs under the partition
/// lock) run on the blocking pool, so a slow disk holds up this request,
/// not the async workers that serve every other client's heartbeats and
/// fetches. The connection awaits them before it dispatches its next
/// request: requests still take effect in the order they were sent.
/// Returns the acknowledgement, which may wait for an fsync.
pub async fn handle(
    broker: &Arc<Broker>,
    req: ProduceRequest,
    version: i16,
) -> impl Future<Output = Option<ProduceResponse>> + Send + 'static {
    let acks = req.acks;
    // Kept to answer every partition should the append task itself fail.
    let named: Vec<(TopicName, Vec<i32>)> = req
        .topic_data
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partition_data.iter().map(|p| p.index).collect(),
            )
        })
        .collect();
    let b = broker.clone();
    let topics = match tokio::task::spawn_blocking(move || append_all(&b, req)).await {
        Ok(topics) => topics,
        Err(e) => {
            tracing::error!(error = %e, "produce append task failed");
            failed_all(named, format!("append task failed: {e}"))
        }
    };
    async move {
        if acks == 0 {
            return None;
        }
        let topics = if acks == -1 {
            sync_all(topics).await
        } else {
            topics
        };
        let responses = topics
            .into_iter()
            .map(|(name, parts)| {
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_partition_responses(
                        parts.into_iter().map(|p| to_wire(p, version)).collect(),
                    )
            })
            .collect();
        Some(ProduceResponse::default().with_responses(responses))
    }
}

type TopicResults = Vec<(TopicName, Vec<PartitionResult>)>;

/// Every partition of the request refused with a storage error.
fn failed_all(named: Vec<(TopicName, Vec<i32>)>, msg: String) -> TopicResults {
    named
        .into_iter()
        .map(|(name, indexes)| {
            let parts = indexes
                .into_iter()
                .map(|index| PartitionResult {
                    index,
                    outcome: Err((ResponseError::KafkaStorageError, msg.clone())),
                    sync: None,
                    record_errors: Vec::new(),
                })
                .collect();
            (name, parts)
        })
        .collect()
}

/// Validates and appends every partition's records (blocking: file writes,
/// and rolls with their fsyncs).
fn append_all(broker: &Arc<Broker>, req: ProduceRequest) -> TopicResults {
    let acks = req.acks;
    let now = now_ms();
    let refuse_all = if !matches!(acks, -1..=1) {
        Some((
            ResponseError::InvalidRequiredAcks,
            format!("acks must be -1, 0 or 1, got {acks}"),
        ))
    } else {
        None
    };
    let txn_id = req.transactional_id.as_ref().map(|id| id.to_string());

    let mut appended_any = false;
    let topics: Vec<_> = req
        .topic_data
        .into_iter()
        .map(|topic| {
            let name = topic.name.as_str().to_string();
            let results: Vec<PartitionResult> = topic
                .partition_data
                .into_iter()
                .map(|p| {
                    let outcome = match &refuse_all {
                        Some(refusal) => Err(refusal.clone()),
                        // Transactions: KIP-890's checks, then the append.
                        None => crate::txn::produce_guard::guarded(
                            broker,
                            txn_id.as_deref(),
                            &name,
                            p.index,
                            p.records.as_deref(),
                            || append(broker, &name, p.index, p.records.as_deref(), now),
                        ),
                    };
                    // A duplicate is synced too: its original may have been
                    // written with acks=1 and not be on disk yet.
                    let sync = match (&outcome, acks) {
                        (Ok((o, part)), -1) => Some((part.clone(), o.last_offset)),
                        _ => None,
                    };
                    appended_any |= outcome.is_ok();
                    PartitionResult {
                        index: p.index,
                        record_errors: record_errors(broker, &name, &outcome, p.records.as_deref()),
                        outcome: outcome.map(|(o, _)| o),
                        sync,
                    }
                })
                .collect();
            (topic.name, results)
        })
        .collect();
    if appended_any {
        broker.notify_data_arrived();
    }
    topics
}

type Appended = (AppendOutcome, Arc<Partition>);

fn append(
    broker: &Broker,
    topic: &str,
    partition: i32,
    records: Option<&[u8]>,
    now: i64,
) -> Result<Appended, (ResponseError, String)> {
    let fail = |e: BrokerError| (e.code(), e.to_string());
    refuse_client_change(topic, "produce to").map_err(fail)?;
    let part = broker.topics.partition(topic, partition).map_err(fail)?;
    let records = records.ok_or((
        ResponseError::CorruptMessage,
        "no records in produce request".to_string(),
    ))?;
    if let Some(refusal) = schema_validation::Validation::refuse(broker, topic, records) {
        return Err((ResponseError::InvalidRecord, refusal.message));
    }
    match part.append(records, now) {
        Ok(outcome) => Ok((outcome, part)),
        Err(e) => {
            let (code, message) = fail(BrokerError::from(e));
            if code == ResponseError::KafkaStorageError {
                // The disk, not the client: an operator must hear of it.
                tracing::warn!(topic, partition, error = %message, "append failed");
            } else {
                tracing::debug!(topic, partition, error = %message, "produce refused");
            }
            Err((code, message))
        }
    }
}

/// KIP-467: which records made the partition's batch INVALID_RECORD, and
/// why (the batch is refused whole; clients fail the named records with
/// the reason and the others with INVALID_DIFFERENT_RECORD). Either schema
/// validation's reasons, or a compacted topic's records without a key.
/// Found again here, so only refused produces pay for the list.
fn record_errors(
    broker: &Broker,
    topic: &str,
    outcome: &Result<Appended, (ResponseError, String)>,
    records: Option<&[u8]>,
) -> Vec<BatchIndexAndErrorMessage> {
    let (Err((ResponseError::InvalidRecord, _)), Some(records)) = (outcome, records) else {
        return Vec::new();
    };
    let reasons = match schema_validation::Validation::refuse(broker, topic, records) {
        Some(refusal) => refusal.record_errors,
        None => fjord_log::records::null_key_records(records)
            .into_iter()
            .map(|i| {
                (
                    i,
                    "compacted topic cannot accept a record without a key".to_string(),
                )
            })
            .collect(),
    };
    reasons
        .into_iter()
        .map(|(index, msg)| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(index)
                .with_batch_index_error_message(Some(StrBytes::from_string(msg)))
        })
        .collect()
}

/// Waits until every acks=all append is on disk. The fsyncs run on the
/// blocking pool; a partition whose fsync fails reports a storage error
/// instead of an acknowledgement.
async fn sync_all(mut topics: TopicResults) -> TopicResults {
    let mut work: Vec<(usize, usize, Arc<Partition>, i64)> = topics
        .iter_mut()
        .enumerate()
        .flat_map(|(ti, (_, parts))| {
            parts
                .iter_mut()
                .enumerate()
                .filter_map(move |(pi, p)| p.sync.take().map(|(part, off)| (ti, pi, part, off)))
        })
        .collect();
    // Already on disk (another request's fsync covered it): nothing to wait for.
    work.retain(|(_, _, part, off)| part.durable_offset() <= *off);
    if work.is_empty() {
        return topics;
    }
    let failures = tokio::task::spawn_blocking(move || {
        work.into_iter()
            .filter_map(|(ti, pi, part, off)| {
                part.sync_to(off).err().map(|e| (ti, pi, e.to_string()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_else(|e| vec![(usize::MAX, usize::MAX, format!("fsync task failed: {e}"))]);
    for (ti, pi, msg) in failures {
        let topic = topics
            .get(ti)
            .map(|(t, _)| t.to_string())
            .unwrap_or_default();
        let partition = topics
            .get(ti)
            .and_then(|(_, parts)| parts.get(pi))
            .map_or(-1, |p| p.index);
        tracing::error!(%topic, partition, error = %msg,
            "fsync failed; acks=all produce not acknowledged (the partition refuses writes until the broker restarts)");
        if let Some(p) = topics.get_mut(ti).and_then(|(_, parts)| parts.get_mut(pi)) {
            p.outcome = Err((ResponseError::KafkaStorageError, msg));
        } else {
            // The blocking task itself died: fail every partition.
            for (_, parts) in topics.iter_mut() {
                for p in parts.iter_mut() {
                    p.outcome = Err((ResponseError::KafkaStorageError, msg.clone()));
                }
            }
        }
    }
    topics
}

fn to_wire(p: PartitionResult, version: i16) -> PartitionProduceResponse {
    let resp = PartitionProduceResponse::default()
        .with_index(p.index)
        .with_log_append_time_ms(-1);
    match p.outcome {
        Ok(o) if version >= 5 => resp
            .with_base_offset(o.base_offset)
            .with_log_start_offset(o.log_start_offset),
        Ok(o) => resp.with_base_offset(o.base_offset),
        Err((code, msg)) => {
            let resp = resp.with_error_code(code.code()).with_base_offset(-1);
            if version >= 8 {
                resp.with_error_message(Some(StrBytes::from_string(msg)))
                    .with_record_errors(p.record_errors)
            } else {
                resp
            }
        }
    }
}
