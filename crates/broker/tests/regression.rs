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

// Symptom: at max_connections, further clients waited in the kernel's
// accept queue until their connect timed out, with nothing counted;
// Kafka closes them at once (and has a per-address limit too).
#[tokio::test]
async fn connections_over_the_limits_are_closed_at_once_and_counted() {
    let b = TestBroker::start_with(|c| {
        c.max_connections = 3;
        c.max_connections_per_ip = 2;
    })
    .await;
    let mut first = b.client().await;
    let _second = b.client().await;
    // A third from the same address: over the per-address limit.
    let mut third = b.client().await;
    assert!(
        third.is_closed_by_peer().await,
        "closed over max_connections_per_ip"
    );
    assert_eq!(b.broker().admission.refused(), 1);
    // The admitted ones are served.
    let r = first
        .send(3, kafka_protocol::messages::ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    // A place comes back when a connection ends.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !answers_api_versions(b.addr).await {
        assert!(
            Instant::now() < deadline,
            "the freed place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(b.broker().admission.refused() >= 1);
}

/// Whether a new connection to `addr` gets an answer to ApiVersions (and
/// is not closed at once).
async fn answers_api_versions(addr: std::net::SocketAddr) -> bool {
    use tokio::io::AsyncReadExt;
    let mut c = Client::connect(addr).await;
    c.send_only(3, &kafka_protocol::messages::ApiVersionsRequest::default())
        .await;
    let mut size = [0u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), c.stream.read_exact(&mut size)).await,
        Ok(Ok(_))
    )
}

// 5,000 idle connections (a misbehaving client pool, a scan) must not slow
// down the clients doing work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_idle_connections_leave_other_clients_unaffected() {
    let b = TestBroker::start().await;
    let rss_before = rss_kib();
    let mut idle = Vec::with_capacity(5000);
    for _ in 0..5000 {
        idle.push(
            tokio::net::TcpStream::connect(b.addr)
                .await
                .expect("an idle connection"),
        );
    }
    let mut c = b.client().await;
    c.create_topic("busy", 1).await;
    let mut slowest = Duration::ZERO;
    for i in 0..50 {
        let started = Instant::now();
        let (err, base) = c.produce("busy", 0, -1, Batch::of(&["x"]).encode()).await;
        assert_eq!((err, base), (0, i));
        slowest = slowest.max(started.elapsed());
    }
    let got = c.fetch("busy", 0, 0, 1 << 20).await;
    assert_eq!(batch_count(got.records.as_deref().unwrap()), 50);
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    eprintln!("5,000 idle connections: slowest acks=all produce {slowest:?}, RSS +{grown_mib} MiB");
    assert!(
        slowest < Duration::from_secs(1),
        "slowest produce {slowest:?}"
    );
    assert_eq!(b.broker().admission.refused(), 0);
    drop(idle);
}

/// This process's resident memory (client and broker both), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
