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

use crate::broker::Broker;
use crate::error::BrokerError;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// isolation_level of a read_committed request.
const READ_COMMITTED: i8 = 1;

pub fn handle(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
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
    Ok(match timestamp {
        LATEST if committed => (part.last_stable_offset(), -1),
        LATEST => (part.log_end_offset(), -1),
        EARLIEST | EARLIEST_LOCAL => (part.log_start_offset(), -1),
        MAX_TIMESTAMP => match part.max_timestamp() {
            Some((ts, offset)) => (offset, ts),
            None => (-1, -1),
        },
        ts if ts >= 0 => match part.offset_for_timestamp(ts)? {
            Some((offset, _)) if committed && offset >= part.last_stable_offset() => (-1, -1),
            found => found.unwrap_or((-1, -1)),
        },
        other => {
            return Err(BrokerError::InvalidRequest(format!(
                "unknown ListOffsets timestamp {other}"
            )));
        }
    })
}
