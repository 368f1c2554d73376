//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest
//! local (-4, the same as earliest: there is no tiered storage), or the first
//! offset whose timestamp is at or after a given time.
//!
//! With isolation_level read_committed (1, v2+) "latest" is the last stable
//! offset, and a timestamp lookup only answers offsets below it, as in
//! Kafka: a read_committed consumer must not be sent past data it may not
//! read yet.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use std::future::Future;
use std::sync::Arc;

use fjord_log::Partition;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::reader_sync;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// isolation_level of a read_committed request.
const READ_COMMITTED: i8 = 1;

/// Answers once the partitions asked about have their appended records
/// fsynced: "latest" is the high watermark (the durable end) and lookups
/// by timestamp answer only offsets below it, so acks=0/1 records count
/// once they are on disk rather than only after the background flush.
pub fn handle(
    broker: &Arc<Broker>,
    req: ListOffsetsRequest,
    version: i16,
) -> impl Future<Output = ListOffsetsResponse> + Send + 'static {
    let undurable: Vec<Arc<Partition>> = req
        .topics
        .iter()
        .flat_map(|t| {
            // The earliest offset does not depend on what is durable.
            t.partitions
                .iter()
                .filter(|p| !matches!(p.timestamp, EARLIEST | EARLIEST_LOCAL))
                .filter_map(|p| {
                    broker
                        .topics
                        .partition(t.name.as_str(), p.partition_index)
                        .ok()
                })
        })
        .filter(|part| part.has_undurable_tail())
        .collect();
    let broker = broker.clone();
    async move {
        if !undurable.is_empty() {
            reader_sync::make_durable(undurable).await;
        }
        answer(&broker, req, version)
    }
}

fn answer(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let committed = req.isolation_level == READ_COMMITTED;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let found = lookup(
                        broker,
                        t.name.as_str(),
                        p.partition_index,
                        p.timestamp,
                        committed,
                    );
                    match found {
                        Ok((offset, timestamp)) => {
                            let resp = resp.with_offset(offset).with_timestamp(timestamp);
                            if version >= 4 {
                                resp.with_leader_epoch(0)
                            } else {
                                resp
                            }
                        }
                        Err(e) => resp
                            .with_error_code(e.code().code())
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp) for one partition; (-1, -1) when no record matches.
fn lookup(
    broker: &Broker,
    topic: &str,
    partition: i32,
    timestamp: i64,
    committed: bool,
) -> Result<(i64, i64), BrokerError> {
    let part = broker.topics.partition(topic, partition)?;
    // What the isolation level may see: the last stable offset, or the
    // high watermark (the durable end); the LSO never passes the HW.
    let visible_end = if committed {
        part.last_stable_offset()
    } else {
        part.high_watermark()
    };
    Ok(match timestamp {
        LATEST => (visible_end, -1),
        EARLIEST | EARLIEST_LOCAL => (part.log_start_offset(), -1),
        MAX_TIMESTAMP => match part.max_timestamp() {
            Some((ts, offset)) if offset < visible_end => (offset, ts),
            _ => (-1, -1),
        },
        ts if ts >= 0 => match part.offset_for_timestamp(ts)? {
            Some((offset, _)) if offset >= visible_end => (-1, -1),
            found => found.unwrap_or((-1, -1)),
        },
        other => {
            return Err(BrokerError::InvalidRequest(format!(
                "unknown ListOffsets timestamp {other}"
            )));
        }
    })
}
