//! Fetch: stored batches, returned as they were stored. Long-polls: when
//! less than `min_bytes` is available the request waits, up to `max_wait_ms`,
//! for an append to wake it. Limits follow KIP-74: `partition_max_bytes` and
//! the response's `max_bytes` cap the data, except that the first batch of
//! the first partition with data is returned whole even when larger, so a
//! consumer can always make progress. A fetch that starts mid-batch gets the
//! whole batch; the client skips the records before its offset.
//!
//! Fetch sessions (KIP-227) are not kept: every response has session id 0,
//! which tells clients to send full fetch requests.
//!
//! Isolation: read_uncommitted (0) returns everything up to the high
//! watermark; read_committed (1) only the batches below the last stable
//! offset (a long poll waits for the LSO to move: markers wake it like
//! appends), plus the aborted transactions that overlap the returned range
//! (producer id, first offset), from which clients drop aborted batches.
//! Every response carries the partition's LSO, whichever the isolation.
//!
//! Durability: the high watermark is the fsynced end of the log, so a
//! consumer never reads past what a power loss could take back. A fetch
//! that finds only not-yet-fsynced records (acks=0/1) asks for the fsync
//! and reads again (`reader_sync`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_log::{BatchHeader, LogError, Partition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tokio::time::Instant;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::reader_sync;

pub async fn handle(broker: Arc<Broker>, req: FetchRequest, version: i16) -> FetchResponse {
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let deadline = Instant::now() + max_wait;
    let min_bytes = req.min_bytes.max(0) as usize;
    let req = Arc::new(req);
    let mut arrived = broker.subscribe_data_arrived();
    loop {
        arrived.borrow_and_update();
        let mut read = read_off_worker(&broker, &req, version).await;
        if !read.undurable.is_empty() {
            // Records are there but not fsynced yet: make them durable
            // (and so visible) now, then read again.
            reader_sync::make_durable(std::mem::take(&mut read.undurable)).await;
            read = read_off_worker(&broker, &req, version).await;
        }
        if read.bytes >= min_bytes
            || read.errors
            || Instant::now() >= deadline
            || broker.is_shutting_down()
        {
            return read.response;
        }
        match tokio::time::timeout_at(deadline, arrived.changed()).await {
            Ok(Ok(())) => continue,
            // Deadline passed (or the broker is shutting down): answer with
            // whatever there is now.
            _ => return read_off_worker(&broker, &req, version).await.response,
        }
    }
}

/// `read_once`, on the blocking pool when some partition is read from a
/// closed segment: such preads (up to fetch_max_bytes, from disk when the
/// page cache no longer holds them, as for a consumer catching up) must
/// not hold up the async workers, which serve every other connection's
/// heartbeats and produces. Reads at the tail (the active segment, just
/// written, in the page cache) stay inline: there the hand-off only adds
/// latency (end-to-end p50 1.45 -> 1.82 ms in `fjord bench e2e`).
async fn read_off_worker(broker: &Arc<Broker>, req: &Arc<FetchRequest>, version: i16) -> Read {
    if !reads_closed_segments(broker, req, version) {
        return read_once(broker, req, version);
    }
    let (b, r) = (broker.clone(), req.clone());
    match tokio::task::spawn_blocking(move || read_once(&b, &r, version)).await {
        Ok(read) => read,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down; answer from here.
        Err(_) => read_once(broker, req, version),
    }
}

/// Whether any partition of the request is read from below its active
/// segment.
fn reads_closed_segments(broker: &Broker, req: &FetchRequest, version: i16) -> bool {
    req.topics.iter().any(|rt| {
        let topic = if version >= 13 {
            broker.topics.get_by_id(rt.topic_id)
        } else {
            broker.topics.get(rt.topic.as_str())
        };
        topic.is_some_and(|t| {
            rt.partitions.iter().any(|rp| {
                usize::try_from(rp.partition)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
                    .is_some_and(|p| rp.fetch_offset < p.active_segment_base())
            })
        })
    })
}

struct Read {
    response: FetchResponse,
    bytes: usize,
    errors: bool,
    /// Partitions read up to their high watermark with records past it,
    /// waiting for an fsync (acks=0/1 appends).
    undurable: Vec<Arc<Partition>>,
}

/// isolation_level of a read_committed fetch.
const READ_COMMITTED: i8 = 1;

fn read_once(broker: &Broker, req: &FetchRequest, version: i16) -> Read {
    let use_ids = version >= 13;
    let committed = req.isolation_level == READ_COMMITTED;
    // The broker's cap (fetch.max.bytes) bounds what one request can cost,
    // whatever it asks for: i32::MAX per partition, or 0 meaning "no limit".
    let cap = broker.config.fetch_max_bytes;
    let mut remaining = match usize::try_from(req.max_bytes) {
        Ok(asked) if asked > 0 => asked.min(cap),
        _ => cap,
    };
    // A partition named twice is read and answered once (Kafka keys the
    // request's partitions by topic and partition): repeating one must not
    // multiply the work.
    let mut seen = std::collections::HashSet::new();
    let mut total = 0usize;
    let mut errors = false;
    let mut undurable = Vec::new();
    let mut responses = Vec::with_capacity(req.topics.len());
    for rt in &req.topics {
        let topic = if use_ids {
            broker.topics.get_by_id(rt.topic_id)
        } else {
            broker.topics.get(rt.topic.as_str())
        };
        let mut partitions = Vec::with_capacity(rt.partitions.len());
        for rp in &rt.partitions {
            let topic_key = if use_ids {
                (None, rt.topic_id)
            } else {
                (Some(rt.topic.as_str()), uuid::Uuid::nil())
            };
            if !seen.insert((topic_key, rp.partition)) {
                continue;
            }
            let data = PartitionData::default()
                .with_partition_index(rp.partition)
                .with_records(Some(Bytes::new()));
            let Some(topic) = &topic else {
                errors = true;
                let code = if use_ids {
                    ResponseError::UnknownTopicId
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                partitions.push(unknown(data, code));
                continue;
            };
            let Some(part) = usize::try_from(rp.partition)
                .ok()
                .and_then(|i| topic.partitions.get(i))
            else {
                errors = true;
                partitions.push(unknown(data, ResponseError::UnknownTopicOrPartition));
                continue;
            };
            let limit = (rp.partition_max_bytes.max(0) as usize).min(remaining);
            // KIP-74: only the first partition that returns data may exceed
            // the limits, and only by its first batch.
            let min_one = total == 0;
            let read = if committed {
                part.read_committed(rp.fetch_offset, limit, min_one)
            } else {
                part.read_uncommitted(rp.fetch_offset, limit, min_one)
            };
            let data = match read {
                Ok(slice) => {
                    let n = slice.bytes.len();
                    // Short of its limit, the read reached the high
                    // watermark: records past it wait for an fsync. A
                    // consumer catching up (its read full) does not wait.
                    if n < limit && part.has_undurable_tail() {
                        undurable.push(part.clone());
                    }
                    total += n;
                    remaining = remaining.saturating_sub(n);
                    // Only a read_committed reader drops aborted batches;
                    // Kafka sends it a list (possibly empty), others null.
                    let aborted = committed.then(|| {
                        // Only the transactions with data in the returned
                        // batches: [fetch offset, the offset after the last).
                        let returned_end = BatchHeader::walk(&slice.bytes)
                            .last()
                            .map_or(rp.fetch_offset, |(h, _)| h.last_offset() + 1);
                        part.aborted_transactions(rp.fetch_offset, returned_end)
                            .into_iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect()
                    });
                    data.with_high_watermark(slice.high_watermark)
                        .with_last_stable_offset(slice.last_stable_offset)
                        .with_log_start_offset(slice.log_start_offset)
                        .with_aborted_transactions(aborted)
                        .with_records(Some(slice.bytes))
                }
                Err(e) => {
                    errors = true;
                    // The answer carries the high watermark: up to date.
                    if part.has_undurable_tail() {
                        undurable.push(part.clone());
                    }
                    if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                        tracing::error!(topic = %topic.name, partition = rp.partition, error = %e, "fetch read failed");
                    }
                    let code = BrokerError::from(e).code();
                    data.with_error_code(code.code())
                        .with_high_watermark(part.high_watermark())
                        .with_last_stable_offset(part.last_stable_offset())
                        .with_log_start_offset(part.log_start_offset())
                }
            };
            partitions.push(data);
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(rt.topic.clone())
                .with_topic_id(rt.topic_id)
                .with_partitions(partitions),
        );
    }
    if version < 5 {
        for p in responses.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.log_start_offset = -1;
        }
    }
    Read {
        response: FetchResponse::default().with_responses(responses),
        bytes: total,
        errors,
        undurable,
    }
}

fn unknown(data: PartitionData, code: ResponseError) -> PartitionData {
    data.with_error_code(code.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
}
