//! Helpers for the transaction coordinator's wire tests: raw requests
//! for each transaction API, transactional batches, and readers of what a
//! fetch returned (batch kinds, marker types).
//!
//! Every test file that includes this module uses only part of it.
#![allow(dead_code)]

use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use fjord_broker::txn::TxnState;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Record;

pub const OFFSETS: &str = "__consumer_offsets";

pub fn code(e: ResponseError) -> i16 {
    e.code()
}

pub fn tid(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

pub fn gid(id: &str) -> GroupId {
    GroupId(StrBytes::from_string(id.to_string()))
}

/// A producer as the coordinator knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pid {
    pub id: i64,
    pub epoch: i16,
}

/// A transactional producer's batch (attributes bit 4 set).
pub fn txn_batch(p: Pid, base_sequence: i32, values: &[&str]) -> Bytes {
    let now = fjord_broker::server::now_ms();
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: true,
            producer_id: p.id,
            producer_epoch: p.epoch,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp: now,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(v.to_string())),
            ..data_record()
        })
        .collect();
    encode_batch(&records)
}

pub async fn init_as(
    c: &mut Client,
    id: &str,
    timeout_ms: i32,
    expected: Option<Pid>,
) -> (i16, Pid) {
    let (pid, epoch) = expected.map_or((-1, -1), |p| (p.id, p.epoch));
    let r = c
        .send(
            4,
            InitProducerIdRequest::default()
                .with_transactional_id(Some(tid(id)))
                .with_transaction_timeout_ms(timeout_ms)
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
        )
        .await;
    (
        r.error_code,
        Pid {
            id: r.producer_id.0,
            epoch: r.producer_epoch,
        },
    )
}

pub async fn init(c: &mut Client, id: &str) -> Pid {
    let (err, p) = init_as(c, id, 60_000, None).await;
    assert_eq!(err, 0, "InitProducerId({id})");
    p
}

/// AddPartitionsToTxn v3: the error of every partition, in request order.
pub async fn add(c: &mut Client, id: &str, p: Pid, parts: &[(&str, i32)]) -> Vec<i16> {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (t, n) in parts {
        match topics.iter_mut().find(|x| x.name.as_str() == *t) {
            Some(x) => x.partitions.push(*n),
            None => topics.push(
                AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(vec![*n]),
            ),
        }
    }
    let r = c
        .send(
            3,
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tid(id))
                .with_v3_and_below_producer_id(ProducerId(p.id))
                .with_v3_and_below_producer_epoch(p.epoch)
                .with_v3_and_below_topics(topics),
        )
        .await;
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

pub async fn add_offsets(c: &mut Client, id: &str, p: Pid, group: &str) -> i16 {
    c.send(
        3,
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(tid(id))
            .with_producer_id(ProducerId(p.id))
            .with_producer_epoch(p.epoch)
            .with_group_id(gid(group)),
    )
    .await
    .error_code
}

pub async fn end(c: &mut Client, id: &str, p: Pid, commit: bool) -> i16 {
    c.send(
        3,
        EndTxnRequest::default()
            .with_transactional_id(tid(id))
            .with_producer_id(ProducerId(p.id))
            .with_producer_epoch(p.epoch)
            .with_committed(commit),
    )
    .await
    .error_code
}

/// Produce v9 with (or without) a transactional id; the partition's error.
pub async fn produce_as(
    c: &mut Client,
    id: Option<&str>,
    topic: &str,
    part: i32,
    records: Bytes,
) -> i16 {
    let req = ProduceRequest::default()
        .with_transactional_id(id.map(tid))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(part)
                .with_records(Some(records))])]);
    c.send(9, req).await.responses[0].partition_responses[0].error_code
}

/// TxnOffsetCommit v3 of `topic`-0 without the consumer's group metadata
/// (generation -1, no member id).
pub async fn txn_offset_commit(
    c: &mut Client,
    id: &str,
    p: Pid,
    group: &str,
    topic: &str,
    offset: i64,
) -> i16 {
    txn_offset_commit_as(c, id, p, (group, "", -1), topic, offset).await
}

/// TxnOffsetCommit v3 of `topic`-0 with (group, member id, generation).
pub async fn txn_offset_commit_as(
    c: &mut Client,
    id: &str,
    p: Pid,
    (group, member, generation): (&str, &str, i32),
    topic: &str,
    offset: i64,
) -> i16 {
    let r = c
        .send(
            3,
            TxnOffsetCommitRequest::default()
                .with_transactional_id(tid(id))
                .with_group_id(gid(group))
                .with_producer_id(ProducerId(p.id))
                .with_producer_epoch(p.epoch)
                .with_generation_id(generation)
                .with_member_id(StrBytes::from_string(member.to_string()))
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)])]),
        )
        .await;
    r.topics[0].partitions[0].error_code
}

/// The group's committed offset of `topic`-0 (-1: none).
pub async fn committed(c: &mut Client, group: &str, topic: &str) -> i64 {
    let r = c
        .send(
            7,
            OffsetFetchRequest::default()
                .with_group_id(gid(group))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(vec![0])])),
        )
        .await;
    assert_eq!(r.error_code, 0);
    r.topics[0].partitions[0].committed_offset
}

pub async fn describe(c: &mut Client, id: &str) -> TransactionState {
    let r = c
        .send(
            0,
            DescribeTransactionsRequest::default().with_transactional_ids(vec![tid(id)]),
        )
        .await;
    r.transaction_states[0].clone()
}

pub async fn state_of(c: &mut Client, id: &str) -> String {
    describe(c, id).await.transaction_state.to_string()
}

/// Waits (up to 10 s) until `id` is in `state`.
pub async fn wait_for_state(c: &mut Client, id: &str, state: TxnState) -> TransactionState {
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    loop {
        let d = describe(c, id).await;
        if d.transaction_state.as_str() == state.name() {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} stayed {} instead of becoming {}",
            d.transaction_state.as_str(),
            state.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (is control batch, is transactional) of every batch in a fetch.
pub fn batch_kinds(records: &Bytes) -> Vec<(bool, bool)> {
    batch_spans(records)
        .into_iter()
        .map(|(start, _)| {
            let attributes = i16::from_be_bytes([records[start + 21], records[start + 22]]);
            (attributes & 0x20 != 0, attributes & 0x10 != 0)
        })
        .collect()
}

/// The control batches' marker types (0 abort, 1 commit) in a fetch.
pub fn markers(records: &Bytes) -> Vec<i16> {
    let mut buf = records.clone();
    kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .into_iter()
        .flat_map(|b| b.records)
        .filter(|r| r.control)
        .map(|r| {
            let k = r.key.expect("a control record has a key");
            i16::from_be_bytes([k[2], k[3]])
        })
        .collect()
}

pub async fn fetch_all(c: &mut Client, topic: &str, part: i32) -> Bytes {
    let p = c.fetch(topic, part, 0, 1 << 20).await;
    assert_eq!(p.error_code, 0);
    p.records.unwrap_or_default()
}

/// One non-transactional batch of one keyed record.
pub fn keyed_batch(key: Bytes, value: Bytes) -> Bytes {
    encode_batch(&[Record {
        timestamp: fjord_broker::server::now_ms(),
        key: Some(key),
        value: Some(value),
        ..data_record()
    }])
}
