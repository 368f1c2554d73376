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
