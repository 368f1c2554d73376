//! `--client raw`: produce and consume through `fjord-kafka-client`, sending
//! pre-built record batches and counting fetched records from batch headers.
//!
//! librdkafka spends about a microsecond of client CPU per record; with the
//! client and the broker on the same two cores, that cost, not the broker,
//! bounds the librdkafka figures. This mode keeps the Kafka protocol and the
//! broker's work identical (Produce with batches to append and fsync, Fetch
//! of stored batches) while the client's per-record cost disappears, so it
//! measures what the broker sustains.

use std::collections::VecDeque;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use fjord_log::testing::BatchBuilder;
use fjord_log::BatchHeader;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Payloads;
use fjord_kafka_client::KafkaConnection;

/// Produce requests kept in flight on the connection.
const WINDOW: usize = 16;

pub struct RawProduce<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
    pub record_size: usize,
    pub count: u64,
    /// -1, 0 or 1.
    pub acks: i16,
    pub batch_bytes: usize,
}

/// Produces `count` records in batches of about `batch_bytes`; returns the
/// records acknowledged and the elapsed seconds.
pub fn produce(p: &RawProduce<'_>) -> Result<(u64, f64)> {
    let mut conn = KafkaConnection::connect(p.bootstrap)?;
    let version = conn.version::<ProduceRequest>(9)?;
    let per_batch = (p.batch_bytes / (p.record_size + 8)).max(1) as u64;
    let payloads = Payloads::new(p.record_size);
    let now = crate::bench::now_ms();
    let mut builder = BatchBuilder::new();
    for i in 0..per_batch {
        builder = builder.record(b"", payloads.get(i), now);
    }
    let batch = Bytes::from(builder.build());
    let name = TopicName(StrBytes::from_string(p.topic.to_string()));
    let request_for = |partition: i32| {
        ProduceRequest::default()
            .with_acks(p.acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name.clone())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch.clone()))])])
    };
    let requests = p.count.div_ceil(per_batch);
    let start = Instant::now();
    let mut in_flight: VecDeque<i32> = VecDeque::new();
    for i in 0..requests {
        if in_flight.len() == WINDOW {
            check_produce(
                &mut conn,
                version,
                in_flight.pop_front().expect("window is full"),
            )?;
        }
        let id = conn.send(version, &request_for((i % p.partitions as u64) as i32))?;
        if p.acks != 0 {
            in_flight.push_back(id);
        }
    }
    while let Some(id) = in_flight.pop_front() {
        check_produce(&mut conn, version, id)?;
    }
    Ok((requests * per_batch, start.elapsed().as_secs_f64()))
}

fn check_produce(conn: &mut KafkaConnection, version: i16, id: i32) -> Result<()> {
    let resp = conn.receive::<ProduceRequest>(version, id)?;
    for t in &resp.responses {
        for p in &t.partition_responses {
            if p.error_code != 0 {
                bail!(
                    "produce to partition {} failed with error code {}",
                    p.index,
                    p.error_code
                );
            }
        }
    }
    Ok(())
}

/// Reads `target` records from the start of every partition; returns the
/// records and bytes seen and the elapsed seconds.
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    target: u64,
) -> Result<(u64, u64, f64)> {
    let mut conn = KafkaConnection::connect(bootstrap)?;
    let version = conn.version::<FetchRequest>(12)?;
    let mut offsets = vec![0i64; partitions as usize];
    let (mut records, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    while records < target {
        let topics = vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                offsets
                    .iter()
                    .enumerate()
                    .map(|(i, &o)| {
                        FetchPartition::default()
                            .with_partition(i as i32)
                            .with_fetch_offset(o)
                            .with_partition_max_bytes(8 << 20)
                    })
                    .collect(),
            )];
        let req = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(32 << 20)
            .with_topics(topics);
        let resp = conn.call(version, &req)?;
        let mut progressed = false;
        for p in resp.responses.iter().flat_map(|t| &t.partitions) {
            if p.error_code != 0 {
                bail!(
                    "fetch from partition {} failed with error code {}",
                    p.partition_index,
                    p.error_code
                );
            }
            let mut data = p.records.as_deref().unwrap_or_default();
            while let Ok(h) = BatchHeader::parse(data) {
                let len = h.total_len();
                if len > data.len() {
                    break; // a partial batch at the end of the response
                }
                let next = h.last_offset() + 1;
                let slot = &mut offsets[p.partition_index as usize];
                if next > *slot {
                    // Count only the records at or past our position.
                    records += (next - (*slot).max(h.base_offset)) as u64;
                    *slot = next;
                    progressed = true;
                }
                bytes += len as u64;
                data = &data[len..];
            }
        }
        if !progressed && start.elapsed().as_secs() > 30 {
            bail!("only {records} of {target} records after 30 s");
        }
    }
    Ok((records, bytes, start.elapsed().as_secs_f64()))
}

/// How many records a topic holds (sum of high watermarks minus log start).
pub fn available(bootstrap: &str, topic: &str, partitions: i32) -> Result<u64> {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::ListOffsetsRequest;
    let mut conn = KafkaConnection::connect(bootstrap)?;
    let version = conn.version::<ListOffsetsRequest>(5)?;
    let mut total = 0i64;
    for ts in [-1i64, -2] {
        let req = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    (0..partitions)
                        .map(|i| {
                            ListOffsetsPartition::default()
                                .with_partition_index(i)
                                .with_timestamp(ts)
                        })
                        .collect(),
                )]);
        let resp = conn.call(version, &req).context("ListOffsets")?;
        for p in resp.topics.iter().flat_map(|t| &t.partitions) {
            total += if ts == -1 { p.offset } else { -p.offset };
        }
    }
    Ok(total.max(0) as u64)
}
