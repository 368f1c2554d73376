//! Bad frames close the connection they arrived on, and only that one: other
//! connections keep working, stored data is untouched, and the broker keeps
//! accepting new clients.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::MetadataRequest;

/// Small, so "over the limit" needs no large allocation in the test.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A frame with a v1 request header for (key, version) and `body`.
fn raw_frame(key: i16, version: i16, body: &[u8]) -> Bytes {
    let mut f = BytesMut::new();
    f.put_i32(0);
    f.put_i16(key);
    f.put_i16(version);
    f.put_i32(77);
    f.put_i16(5);
    f.put_slice(b"tests");
    f.put_slice(body);
    let size = (f.len() - 4) as i32;
    f[..4].copy_from_slice(&size.to_be_bytes());
    f.freeze()
}

/// Sends `bytes` on a fresh connection and checks that the broker closes it,
/// that a connection opened before keeps working, and that the data stored
/// before is unchanged.
async fn assert_only_that_connection_closes(what: &str, bytes: &[u8]) {
    let b = TestBroker::start_with(|c| c.max_request_bytes = MAX_REQUEST_BYTES).await;
    let mut witness = b.client().await;
    witness.create_topic("kept", 1).await;
    let stored = Batch::of(&["before", "the", "bad", "frame"]).encode();
    assert_eq!(witness.produce("kept", 0, -1, stored.clone()).await, (0, 0));

    let mut victim = b.client().await;
    // The victim is a working connection until it sends the bad frame.
    victim
        .send(12, MetadataRequest::default().with_topics(None))
        .await;
    victim.write_raw(bytes).await;
    assert!(
        victim.is_closed_by_peer().await,
        "{what}: connection not closed"
    );

    // The other connection still works, and the data is intact.
    let data = witness.fetch("kept", 0, 0, 1 << 20).await;
    assert_eq!(data.error_code, 0, "{what}");
    assert_eq!(data.high_watermark, 4, "{what}");
    assert_same_batch(&data.records.unwrap(), &stored);
    assert_eq!(
        witness
            .produce("kept", 0, 1, Batch::of(&["after"]).encode())
            .await,
        (0, 4),
        "{what}"
    );

    // New connections are served.
    let mut fresh = b.client().await;
    let meta = fresh.metadata(12, Some(&["kept"]), false).await;
    assert_eq!(meta.topics[0].error_code, 0, "{what}");
}

#[tokio::test]
async fn negative_size_closes_the_connection() {
    assert_only_that_connection_closes("negative size", &(-1i32).to_be_bytes()).await;
    assert_only_that_connection_closes("i32::MIN size", &i32::MIN.to_be_bytes()).await;
}

#[tokio::test]
async fn size_over_max_request_bytes_closes_the_connection() {
    // Only the size is sent: the broker must refuse it without waiting for
    // (or allocating) the body.
    let size = (MAX_REQUEST_BYTES as i32 + 1).to_be_bytes();
    assert_only_that_connection_closes("size over the limit", &size).await;
    assert_only_that_connection_closes("i32::MAX size", &i32::MAX.to_be_bytes()).await;
}

#[tokio::test]
async fn truncated_body_closes_the_connection() {
    // A valid Produce request cut in half, with the frame size fitting the cut.
    let full = frame_of_produce();
    let cut = full.len() / 2;
    let mut truncated = BytesMut::from(&full[..cut]);
    truncated[..4].copy_from_slice(&((cut - 4) as i32).to_be_bytes());
    assert_only_that_connection_closes("truncated produce body", &truncated).await;

    // A frame too short to hold even a request header.
    let mut tiny = BytesMut::new();
    tiny.put_i32(3);
    tiny.put_slice(&[0, 3, 0]);
    assert_only_that_connection_closes("frame shorter than a header", &tiny).await;

    // A header whose client id claims more bytes than the frame holds.
    let mut header = BytesMut::new();
    header.put_i32(10);
    header.put_i16(3); // Metadata
    header.put_i16(1);
    header.put_i32(5);
    header.put_i16(200);
    assert_only_that_connection_closes("truncated header", &header).await;
}

#[tokio::test]
async fn unknown_api_key_closes_the_connection() {
    assert_only_that_connection_closes("API key 999", &raw_frame(999, 0, &[])).await;
    assert_only_that_connection_closes("API key -1", &raw_frame(-1, 0, &[])).await;
    // Known to Kafka but not implemented here (JoinGroup = 11).
    assert_only_that_connection_closes("unimplemented API", &raw_frame(11, 5, &[0; 16])).await;
}

#[tokio::test]
async fn unsupported_produce_version_closes_the_connection() {
    let full = frame_of_produce();
    let mut v99 = BytesMut::from(&full[..]);
    v99[6..8].copy_from_slice(&99i16.to_be_bytes());
    assert_only_that_connection_closes("Produce v99", &v99).await;
    let mut v2 = BytesMut::from(&full[..]);
    v2[6..8].copy_from_slice(&2i16.to_be_bytes());
    assert_only_that_connection_closes("Produce v2 (below the floor)", &v2).await;
}

/// A complete Produce v9 frame for topic "kept".
fn frame_of_produce() -> Bytes {
    let req = produce_request("kept", 0, 1, Batch::of(&["never stored"]).encode());
    encode_frame(9, 9, &req)
}

/// A bad frame right behind good pipelined requests: the good ones are still
/// answered, in order, before the connection closes.
#[tokio::test]
async fn requests_before_a_bad_frame_are_still_answered() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("kept", 1).await;
    let (cid1, f1) = c.frame(
        9,
        &produce_request("kept", 0, -1, Batch::of(&["first"]).encode()),
    );
    let (cid2, f2) = c.frame(12, &MetadataRequest::default().with_topics(None));
    let mut all = BytesMut::new();
    all.extend_from_slice(&f1);
    all.extend_from_slice(&f2);
    all.extend_from_slice(&raw_frame(999, 0, &[]));
    c.write_raw(&all).await;
    let (got, resp) = c.recv::<kafka_protocol::messages::ProduceRequest>(9).await;
    assert_eq!(got, cid1);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    let (got, _) = c.recv::<MetadataRequest>(12).await;
    assert_eq!(got, cid2);
    assert!(c.is_closed_by_peer().await);
    let mut other = b.client().await;
    assert_eq!(other.list_offset("kept", 0, -1).await.1, 1);
}

/// The broker's budget for request bytes (queued_max_request_bytes): a
/// client that announces a large frame and sends it slowly holds its size
/// of the budget; another large request waits for room before the broker
/// reads it, and goes through once the first connection is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_requests_wait_for_the_request_bytes_budget() {
    use std::time::Duration;

    let b = TestBroker::start_with(|c| {
        c.max_request_bytes = 4 << 20;
        c.queued_max_request_bytes = 1 << 20;
    })
    .await;
    let mut admin = b.client().await;
    admin.create_topic("big", 1).await;

    // 900 KB announced, 10 bytes sent: the rest never comes.
    let mut hog = Client::connect(b.addr).await;
    let mut partial = BytesMut::new();
    partial.put_i32(900 * 1024);
    partial.put_slice(&[0u8; 10]);
    hog.write_raw(&partial).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A 700 KB produce does not fit beside it: no answer yet.
    let mut producer = Client::connect(b.addr).await;
    let request = produce_request("big", 0, -1, Batch::sized(1, 700 * 1024).encode());
    producer.send_only(9, &request).await;
    let waited = tokio::time::timeout(
        Duration::from_millis(700),
        producer.recv::<kafka_protocol::messages::ProduceRequest>(9),
    )
    .await;
    assert!(
        waited.is_err(),
        "the produce was read although the budget was spent"
    );
    assert!(b.broker().request_budget.waits() >= 1);
    // Small requests that arrive whole still go through.
    assert!(!admin
        .metadata(9, Some(&["big"]), false)
        .await
        .topics
        .is_empty());

    // The hog leaves: its bytes come back and the produce is answered.
    drop(hog);
    let (_, resp) = tokio::time::timeout(
        Duration::from_secs(10),
        producer.recv::<kafka_protocol::messages::ProduceRequest>(9),
    )
    .await
    .expect("the produce is answered once there is room");
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
}
