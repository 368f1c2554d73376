//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest
//! local (-4, the same as earliest: there is no tiered storage), or the first
//! offset whose timestamp is at or after a given time.

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

pub fn handle(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
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
                    match lookup(broker, t.name.as_str(), p.partition_index, p.timestamp) {
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
) -> Result<(i64, i64), BrokerError> {
    let part = broker.topics.partition(topic, partition)?;
    Ok(match timestamp {
        LATEST => (part.log_end_offset(), -1),
        EARLIEST | EARLIEST_LOCAL => (part.log_start_offset(), -1),
        MAX_TIMESTAMP => match part.max_timestamp() {
            Some((ts, offset)) => (offset, ts),
            None => (-1, -1),
        },
        ts if ts >= 0 => part.offset_for_timestamp(ts)?.unwrap_or((-1, -1)),
        other => {
            return Err(BrokerError::InvalidRequest(format!(
                "unknown ListOffsets timestamp {other}"
            )));
        }
    })
}
