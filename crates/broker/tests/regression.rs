//! Regression tests: one per broker bug these tests found, each named after
//! what broke, with the symptom in a comment.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::FetchRequest;

// Symptom: a clean shutdown (Ctrl-C on `fjord serve`) hung for the full
// 10-second connection grace period while a consumer's Fetch was long-polling
// (max_wait_ms 30000): the waiting fetch never learnt of the shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_not_held_up_by_a_long_polling_fetch() {
    let mut b = TestBroker::start().await;
    let mut consumer = b.client().await;
    consumer.create_topic("idle", 1).await;
    let req = fetch_request("idle", 0, 0, 1 << 20)
        .with_max_wait_ms(30_000)
        .with_min_bytes(1);
    let cid = consumer.send_only(12, &req).await;
    // Let the broker start waiting.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    b.stop().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    // The fetch is answered (empty) before its connection closes.
    let (got, resp) = consumer.recv::<FetchRequest>(12).await;
    assert_eq!(got, cid);
    assert_eq!(
        resp.responses[0].partitions[0]
            .records
            .as_ref()
            .map(|r| r.len()),
        Some(0)
    );
    assert!(consumer.is_closed_by_peer().await);
}

// Symptom: a client that opened a connection and went silent held it (and a
// permit of max_connections) for ever; Kafka closes it after
// connections.max.idle.ms.
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let b = TestBroker::start_with(|c| c.connections_max_idle_ms = 300).await;
    let mut silent = b.client().await;
    let mut busy = b.client().await;
    let started = Instant::now();
    // The busy one keeps asking, every 100 ms, for longer than the timeout.
    while started.elapsed() < Duration::from_millis(900) {
        let r = busy
            .send(3, kafka_protocol::messages::ApiVersionsRequest::default())
            .await;
        assert_eq!(r.error_code, 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        silent.is_closed_by_peer().await,
        "the silent connection is closed"
    );
    let r = busy
        .send(3, kafka_protocol::messages::ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0, "the busy one is still served");
}
