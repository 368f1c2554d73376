//! Produce and Fetch: offsets by acks, pipelining, byte-exact storage,
//! KIP-74 limits, long polling, lookups by id and the error codes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest};

const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const UNKNOWN_TOPIC_ID: i16 = 100;

#[tokio::test]
async fn acks_1_and_all_return_base_offsets_in_sequence() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("seq", 1).await;
    let mut expected = 0;
    for (i, acks) in [1, -1, 1, -1, -1].into_iter().enumerate() {
        let n = i + 1; // batches of growing record counts
        let (err, base) = c
            .produce("seq", 0, acks, Batch::sized(n, 10).encode())
            .await;
        assert_eq!(err, 0, "acks={acks}");
        assert_eq!(base, expected, "acks={acks}");
        expected += n as i64;
    }
    let (_, latest, _) = c.list_offset("seq", 0, -1).await;
    assert_eq!(latest, expected);
}

/// acks=0 gets no response at all; the request after it is answered, and
/// pipelined responses come back in request order.
#[tokio::test]
async fn acks_0_is_silent_and_pipelined_responses_keep_order() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("pipe", 1).await;

    let silent = produce_request("pipe", 0, 0, Batch::of(&["zero"]).encode());
    let acked = produce_request("pipe", 0, 1, Batch::of(&["one", "two"]).encode());
    let (_, f1) = c.frame(9, &silent);
    let (cid_meta, f2) = c.frame(12, &MetadataRequest::default().with_topics(None));
    let (cid_prod, f3) = c.frame(9, &acked);
    let (_, f4) = c.frame(9, &silent);
    let (cid_fetch, f5) = c.frame(12, &fetch_request("pipe", 0, 0, 1 << 20));
    let mut all = Vec::new();
    for f in [f1, f2, f3, f4, f5] {
        all.extend_from_slice(&f);
    }
    // Everything in one write: the broker sees all requests before answering.
    c.write_raw(&all).await;

    let (cid, meta) = c.recv::<MetadataRequest>(12).await;
    assert_eq!(cid, cid_meta, "first response answers the metadata request");
    assert_eq!(meta.topics.len(), 1);
    let (cid, prod) = c.recv::<ProduceRequest>(9).await;
    assert_eq!(cid, cid_prod);
    assert_eq!(prod.responses[0].partition_responses[0].base_offset, 1);
    let (cid, fetch) = c.recv::<FetchRequest>(12).await;
    assert_eq!(cid, cid_fetch);
    let recs = fetch.responses[0].partitions[0].records.clone().unwrap();
    let vals: Vec<Vec<u8>> = values(&recs);
    assert_eq!(
        vals,
        vec![
            b"zero".to_vec(),
            b"one".to_vec(),
            b"two".to_vec(),
            b"zero".to_vec()
        ]
    );
}

#[tokio::test]
async fn fetch_returns_stored_bytes_exactly() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("exact", 1).await;
    let sent: Vec<_> = (0..3)
        .map(|i| {
            Batch::sized(i + 2, 50 + i)
                .timestamps_from(fjord_broker::server::now_ms() - 60_000 + i as i64 * 1000)
                .encode()
        })
        .collect();
    for s in &sent {
        assert_eq!(c.produce("exact", 0, -1, s.clone()).await.0, 0);
    }
    let data = c.fetch("exact", 0, 0, 1 << 20).await;
    assert_eq!(data.error_code, 0);
    assert_eq!(data.high_watermark, 2 + 3 + 4);
    let got = data.records.unwrap();
    let spans = batch_spans(&got);
    assert_eq!(spans.len(), 3);
    let mut offset = 0;
    for ((start, len), s) in spans.into_iter().zip(&sent) {
        assert_same_batch(&got[start..start + len], s);
        assert_eq!(base_offset_at(&got, start), offset);
        offset += batch_count_records(s);
    }
}

fn batch_count_records(batch: &[u8]) -> i64 {
    i32::from_be_bytes(batch[57..61].try_into().unwrap()) as i64
}

#[tokio::test]
async fn fetch_starting_mid_batch_returns_the_whole_batch() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("mid", 1).await;
    let first = Batch::of(&["a", "b", "c", "d"]).encode();
    let second = Batch::of(&["e", "f"]).encode();
    c.produce("mid", 0, 1, first.clone()).await;
    c.produce("mid", 0, 1, second.clone()).await;
    let data = c.fetch("mid", 0, 2, 1 << 20).await;
    let got = data.records.unwrap();
    let spans = batch_spans(&got);
    assert_eq!(spans.len(), 2);
    assert_eq!(
        base_offset_at(&got, 0),
        0,
        "starts with the batch holding offset 2"
    );
    assert_same_batch(&got[..spans[0].1], &first);
    let from_second = c.fetch("mid", 0, 5, 1 << 20).await.records.unwrap();
    assert_eq!(batch_count(&from_second), 1);
    assert_eq!(base_offset_at(&from_second, 0), 4);
}

/// KIP-74: partition_max_bytes caps the data, except that the first batch
/// is returned whole however large, so a consumer always makes progress.
#[tokio::test]
async fn partition_max_bytes_is_respected_except_for_the_first_batch() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("limits", 1).await;
    let batch = Batch::sized(4, 1000).encode(); // ~4 KB
    let len = batch.len();
    for _ in 0..5 {
        c.produce("limits", 0, 1, batch.clone()).await;
    }
    // Smaller than one batch: still exactly one whole batch.
    let one = c.fetch("limits", 0, 0, 100).await.records.unwrap();
    assert_eq!(one.len(), len);
    // Room for two and a half: two whole batches, never a partial one.
    let two = c
        .fetch("limits", 0, 0, (len * 5 / 2) as i32)
        .await
        .records
        .unwrap();
    assert_eq!(two.len(), 2 * len);
    assert_eq!(batch_count(&two), 2);
    // Plenty: all five.
    let all = c.fetch("limits", 0, 0, 1 << 20).await.records.unwrap();
    assert_eq!(batch_count(&all), 5);

    // The response-level max_bytes caps it too.
    let req = fetch_request("limits", 0, 0, 1 << 20).with_max_bytes((len * 3) as i32);
    let resp = c.send(12, req).await;
    let capped = resp.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(batch_count(&capped), 3);
}

// Symptom: a hostile Fetch naming one 64 MB partition 16 times with
// i32::MAX limits was answered with 1,059 MB, and the broker peaked at 2 GB
// of memory: every repeat was read again and nothing capped the response.
#[tokio::test]
async fn the_broker_caps_a_fetch_and_answers_a_repeated_partition_once() {
    let b = TestBroker::start_with(|c| c.fetch_max_bytes = 10_000).await;
    let mut c = b.client().await;
    c.create_topic("greedy", 1).await;
    let batch = Batch::sized(4, 1000).encode(); // ~4 KB
    let len = batch.len();
    for _ in 0..10 {
        c.produce("greedy", 0, 1, batch.clone()).await;
    }
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(0)
        .with_partition_max_bytes(i32::MAX);
    for max_bytes in [i32::MAX, 0, -1] {
        let req = FetchRequest::default()
            .with_max_bytes(max_bytes)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name("greedy"))
                .with_partitions(vec![partition.clone(); 16])]);
        let resp = c.send(12, req).await;
        let parts = &resp.responses[0].partitions;
        assert_eq!(
            parts.len(),
            1,
            "one answer for the partition named 16 times"
        );
        let got = parts[0].records.clone().unwrap();
        assert_eq!(
            batch_count(&got),
            10_000 / len,
            "max_bytes {max_bytes}: whole batches under the cap"
        );
    }
    // A first batch larger than the cap still comes whole (KIP-74).
    c.create_topic("big", 1).await;
    let big = Batch::sized(4, 5000).encode();
    assert!(big.len() > 10_000);
    c.produce("big", 0, 1, big.clone()).await;
    assert_eq!(
        c.fetch("big", 0, 0, i32::MAX).await.records.unwrap().len(),
        big.len()
    );
}

// Consumers must not run ahead of durability: an acks=1 record is not
// fsynced when it is acknowledged, and a consumer that read (and a group
// that committed) it before the fsync could, after a power cut, skip the
// record given that offset next. It becomes visible with the fsync the
// reader asks for, not at the background flush (here a minute away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_1_records_become_visible_once_a_reader_has_them_fsynced() {
    let b = TestBroker::start_with(|c| c.flush_interval_ms = 60_000).await;
    let mut c = b.client().await;
    c.create_topic("lazy", 1).await;
    for _ in 0..3 {
        c.produce("lazy", 0, 1, Batch::of(&["x"]).encode()).await;
    }
    let part = b.broker().topics.partition("lazy", 0).unwrap();
    assert_eq!(part.durable_offset(), 0, "acknowledged, not fsynced");
    assert_eq!(part.high_watermark(), 0);

    let started = Instant::now();
    let got = c.fetch("lazy", 0, 0, 1 << 20).await;
    assert_eq!(batch_count(got.records.as_deref().unwrap()), 3);
    assert_eq!(got.high_watermark, 3);
    assert!(
        part.durable_offset() >= 3,
        "the fetch had them fsynced first"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // ListOffsets "latest" is the high watermark, fsynced the same way.
    c.produce("lazy", 0, 1, Batch::of(&["y"]).encode()).await;
    assert_eq!(part.durable_offset(), 3);
    assert_eq!(c.list_offset("lazy", 0, -1).await.1, 4);
    assert_eq!(part.durable_offset(), 4);
}

/// A waiting fetch wakes when another connection produces, well before
/// max_wait_ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_produce_from_another_connection() {
    let b = TestBroker::start().await;
    let mut consumer = b.client().await;
    let mut producer = b.client().await;
    consumer.create_topic("poll", 1).await;

    let req = fetch_request("poll", 0, 0, 1 << 20)
        .with_max_wait_ms(2000)
        .with_min_bytes(1);
    let started = Instant::now();
    let cid = consumer.send_only(12, &req).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (err, _) = producer
        .produce("poll", 0, 1, Batch::of(&["wake"]).encode())
        .await;
    assert_eq!(err, 0);
    let (got, resp) = consumer.recv::<FetchRequest>(12).await;
    let waited = started.elapsed();
    assert_eq!(got, cid);
    let recs = resp.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(values(&recs), vec![b"wake".to_vec()]);
    assert!(
        waited < Duration::from_millis(1500),
        "fetch waited {waited:?}"
    );
}

/// A fetch waits until min_bytes have arrived, not just the first byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_waits_for_min_bytes() {
    let b = TestBroker::start().await;
    let mut consumer = b.client().await;
    let mut producer = b.client().await;
    consumer.create_topic("min-bytes", 1).await;
    let req = fetch_request("min-bytes", 0, 0, 1 << 20)
        .with_max_wait_ms(5000)
        .with_min_bytes(1000);
    let started = Instant::now();
    let cid = consumer.send_only(12, &req).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    producer
        .produce("min-bytes", 0, 1, Batch::sized(1, 100).encode())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let small_sent_at = started.elapsed();
    producer
        .produce("min-bytes", 0, 1, Batch::sized(1, 1000).encode())
        .await;
    let (got, resp) = consumer.recv::<FetchRequest>(12).await;
    let waited = started.elapsed();
    assert_eq!(got, cid);
    let recs = resp.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(
        batch_count(&recs),
        2,
        "answered only once both batches were there"
    );
    assert!(waited >= small_sent_at, "answered after {waited:?}");
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
}

/// With nothing produced, the fetch answers empty after max_wait_ms (tokio
/// time is paused, so the wait costs no wall-clock time).
#[tokio::test(start_paused = true)]
async fn long_poll_answers_empty_after_max_wait() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("quiet", 1).await;
    let req = fetch_request("quiet", 0, 0, 1 << 20)
        .with_max_wait_ms(2000)
        .with_min_bytes(1);
    let started = tokio::time::Instant::now();
    let resp = c.send(12, req).await;
    let waited = started.elapsed();
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(
        p.records.as_ref().map(|r| r.len()),
        Some(0),
        "empty records, not null"
    );
    assert!(
        waited >= Duration::from_millis(2000),
        "answered after {waited:?}"
    );
}

#[tokio::test]
async fn fetch_by_topic_id_from_v13() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("by-id", 1).await;
    c.produce("by-id", 0, 1, Batch::of(&["x"]).encode()).await;
    let id = b.broker().topics.get("by-id").unwrap().id;
    for version in [13, 16] {
        let req = FetchRequest::default().with_topics(vec![FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
        let resp = c.send(version, req).await;
        let t = &resp.responses[0];
        assert_eq!(t.topic_id, id, "v{version}");
        assert_eq!(t.partitions[0].error_code, 0, "v{version}");
        assert_eq!(
            values(t.partitions[0].records.as_ref().unwrap()),
            vec![b"x".to_vec()]
        );

        let unknown = FetchRequest::default().with_topics(vec![FetchTopic::default()
            .with_topic_id(uuid::Uuid::new_v4())
            .with_partitions(vec![
                FetchPartition::default().with_partition_max_bytes(1024)
            ])]);
        let resp = c.send(version, unknown).await;
        assert_eq!(
            resp.responses[0].partitions[0].error_code, UNKNOWN_TOPIC_ID,
            "v{version}"
        );
    }
}

#[tokio::test]
async fn unknown_topic_or_partition() {
    let b = TestBroker::start_with(|c| c.auto_create_topics = false).await;
    let mut c = b.client().await;
    assert_eq!(
        c.fetch("missing", 0, 0, 1024).await.error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    c.create_topic("present", 1).await;
    assert_eq!(
        c.fetch("present", 1, 0, 1024).await.error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let (err, base) = c.produce("missing", 0, 1, Batch::of(&["v"]).encode()).await;
    assert_eq!((err, base), (UNKNOWN_TOPIC_OR_PARTITION, -1));
    let (err, _) = c.produce("present", 7, 1, Batch::of(&["v"]).encode()).await;
    assert_eq!(err, UNKNOWN_TOPIC_OR_PARTITION);
    let (err, _, _) = c.list_offset("missing", 0, -1).await;
    assert_eq!(err, UNKNOWN_TOPIC_OR_PARTITION);
}

#[tokio::test]
async fn offset_out_of_range() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("range", 1).await;
    c.produce("range", 0, 1, Batch::of(&["a", "b"]).encode())
        .await;
    let past = c.fetch("range", 0, 3, 1024).await;
    assert_eq!(past.error_code, OFFSET_OUT_OF_RANGE);
    assert_eq!(past.high_watermark, 2);
    let negative = c.fetch("range", 0, -5, 1024).await;
    assert_eq!(negative.error_code, OFFSET_OUT_OF_RANGE);
    // The log end itself is in range: an empty answer.
    let at_end = c.fetch("range", 0, 2, 1024).await;
    assert_eq!(at_end.error_code, 0);
    assert_eq!(at_end.records.unwrap().len(), 0);
}
