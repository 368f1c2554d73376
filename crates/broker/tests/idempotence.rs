//! Idempotent produce: producer ids, duplicate retries answered with their
//! original offsets, sequence gaps and fenced epochs refused, and the
//! producer state recovered after a restart.

mod common;

use std::collections::HashSet;

use common::*;
use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

#[tokio::test]
async fn init_producer_id_gives_distinct_ids_across_restarts() {
    let mut b = TestBroker::start().await;
    let mut seen = HashSet::new();
    for _ in 0..2 {
        let mut c1 = b.client().await;
        let mut c2 = b.client().await;
        for c in [&mut c1, &mut c2] {
            for _ in 0..5 {
                let (id, epoch) = c.init_producer_id().await;
                assert!(id >= 0);
                assert_eq!(epoch, 0);
                assert!(seen.insert(id), "producer id {id} handed out twice");
            }
        }
        b.restart().await;
    }
    assert_eq!(seen.len(), 20);
}

// Symptom: an idempotent InitProducerId naming an existing producer id got
// that id back with the epoch bumped, so any client could take over another
// producer's id (and fence it) by naming it. Kafka always allocates anew.
#[tokio::test]
async fn idempotent_init_producer_id_always_allocates_a_fresh_id() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let (id, epoch) = c.init_producer_id().await;
    let mut seen = std::collections::HashSet::from([id]);
    for (named_id, named_epoch) in [(id, epoch), (id, 7), (id + 1000, 0)] {
        let resp = c
            .send(
                4,
                InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(named_id))
                    .with_producer_epoch(named_epoch),
            )
            .await;
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.producer_epoch, 0, "naming ({named_id}, {named_epoch})");
        assert!(
            seen.insert(resp.producer_id.0),
            "a fresh id, not {}",
            resp.producer_id.0
        );
    }
}

/// A retry (same producer id, epoch and sequence) is acknowledged with the
/// offset it got the first time and is not written again.
#[tokio::test]
async fn resent_batch_gets_its_original_offset_and_is_stored_once() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("dedupe", 1).await;
    let (pid, epoch) = c.init_producer_id().await;

    let first = Batch::of(&["a", "b", "c"])
        .idempotent(pid, epoch, 0)
        .encode();
    assert_eq!(c.produce("dedupe", 0, -1, first.clone()).await, (0, 0));
    // Someone else writes in between, so the log end moves on.
    assert_eq!(
        c.produce("dedupe", 0, 1, Batch::of(&["other"]).encode())
            .await,
        (0, 3)
    );

    for acks in [-1, 1] {
        assert_eq!(
            c.produce("dedupe", 0, acks, first.clone()).await,
            (0, 0),
            "acks={acks}"
        );
    }
    // The next sequence goes on normally.
    let next = Batch::of(&["d"]).idempotent(pid, epoch, 3).encode();
    assert_eq!(c.produce("dedupe", 0, -1, next.clone()).await, (0, 4));
    assert_eq!(
        c.produce("dedupe", 0, -1, next).await,
        (0, 4),
        "retry of the latest batch"
    );

    let all = c.fetch("dedupe", 0, 0, 1 << 20).await.records.unwrap();
    assert_eq!(
        values(&all),
        vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"c".to_vec(),
            b"other".to_vec(),
            b"d".to_vec()
        ]
    );
    assert_eq!(c.list_offset("dedupe", 0, -1).await.1, 5);
}

#[tokio::test]
async fn sequence_gap_is_out_of_order() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("gaps", 1).await;
    let (pid, epoch) = c.init_producer_id().await;
    assert_eq!(
        c.produce(
            "gaps",
            0,
            1,
            Batch::of(&["a", "b"]).idempotent(pid, epoch, 0).encode()
        )
        .await
        .0,
        0
    );
    let (err, base) = c
        .produce(
            "gaps",
            0,
            1,
            Batch::of(&["x"]).idempotent(pid, epoch, 5).encode(),
        )
        .await;
    assert_eq!((err, base), (OUT_OF_ORDER_SEQUENCE_NUMBER, -1));
    assert_eq!(c.list_offset("gaps", 0, -1).await.1, 2, "nothing stored");
    // A producer the partition has no state for (new, or expired) may start
    // anywhere, as in Kafka >= 2.5 (KIP-360); then it is checked too.
    let (pid2, _) = c.init_producer_id().await;
    let y = |seq| Batch::of(&["y"]).idempotent(pid2, 0, seq).encode();
    assert_eq!(c.produce("gaps", 0, 1, y(7)).await, (0, 2));
    assert_eq!(
        c.produce("gaps", 0, 1, y(9)).await.0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // The expected sequence is still accepted.
    let (err, base) = c
        .produce(
            "gaps",
            0,
            1,
            Batch::of(&["z"]).idempotent(pid, epoch, 2).encode(),
        )
        .await;
    assert_eq!((err, base), (0, 3));
}

/// Kafka's producer.id.expiration.ms: a producer whose last batch is older
/// than the expiration loses its sequence state, so after a pause its next
/// batch is taken at any sequence; before that, a gap is still refused.
#[tokio::test]
async fn an_idle_producer_expires_and_may_then_start_at_any_sequence() {
    const EXPIRATION_MS: i64 = 2_000;
    let b = TestBroker::start_with(|c| {
        c.producer_id_expiration_ms = EXPIRATION_MS;
        c.producer_id_expiration_check_interval_ms = 50;
    })
    .await;
    let mut c = b.client().await;
    c.create_topic("idle", 1).await;
    let (pid, epoch) = c.init_producer_id().await;
    let t0 = fjord_broker::server::now_ms();
    let first = Batch::of(&["a", "b"])
        .idempotent(pid, epoch, 0)
        .timestamps_from(t0)
        .encode();
    assert_eq!(c.produce("idle", 0, -1, first).await, (0, 0));
    let gap = |seq| Batch::of(&["x"]).idempotent(pid, epoch, seq).encode();
    assert_eq!(
        c.produce("idle", 0, -1, gap(40)).await,
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1),
        "before the expiration a gap is refused"
    );
    // The sweep runs every 50 ms; the same gap goes through once the last
    // batch (max timestamp t0 + 1) is EXPIRATION_MS old.
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    loop {
        let (err, base) = c.produce("idle", 0, -1, gap(40)).await;
        if err == 0 {
            assert_eq!(base, 2);
            break;
        }
        assert_eq!(err, OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        fjord_broker::server::now_ms() - (t0 + 1) >= EXPIRATION_MS,
        "accepted only after the expiration"
    );
    // Known again from that batch on: gaps refused, retries deduplicated.
    assert_eq!(
        c.produce("idle", 0, -1, gap(42)).await.0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(c.produce("idle", 0, -1, gap(40)).await, (0, 2), "a retry");
    assert_eq!(c.produce("idle", 0, -1, gap(41)).await, (0, 3));
    assert_eq!(c.list_offset("idle", 0, -1).await.1, 4);
}

#[tokio::test]
async fn old_epoch_is_fenced() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("fenced", 1).await;
    let (pid, _) = c.init_producer_id().await;
    let old = Batch::of(&["old"]).idempotent(pid, 0, 0).encode();
    assert_eq!(c.produce("fenced", 0, 1, old).await.0, 0);
    // A new epoch starts again at sequence 0.
    let new = Batch::of(&["new"]).idempotent(pid, 1, 0).encode();
    assert_eq!(c.produce("fenced", 0, 1, new).await, (0, 1));
    let zombie = Batch::of(&["zombie"]).idempotent(pid, 0, 1).encode();
    let (err, _) = c.produce("fenced", 0, 1, zombie).await;
    assert_eq!(err, INVALID_PRODUCER_EPOCH);
    assert_eq!(c.list_offset("fenced", 0, -1).await.1, 2);
}

#[tokio::test]
async fn dedupe_survives_a_clean_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("durable-dedupe", 1).await;
    let (pid, epoch) = c.init_producer_id().await;
    let b0 = Batch::of(&["a"]).idempotent(pid, epoch, 0).encode();
    let b1 = Batch::of(&["b", "c"]).idempotent(pid, epoch, 1).encode();
    assert_eq!(c.produce("durable-dedupe", 0, -1, b0.clone()).await, (0, 0));
    assert_eq!(c.produce("durable-dedupe", 0, -1, b1.clone()).await, (0, 1));
    drop(c);

    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(
        c.produce("durable-dedupe", 0, -1, b1).await,
        (0, 1),
        "retry after restart"
    );
    assert_eq!(
        c.produce("durable-dedupe", 0, -1, b0).await,
        (0, 0),
        "older retry after restart"
    );
    let gap = Batch::of(&["gap"]).idempotent(pid, epoch, 9).encode();
    assert_eq!(
        c.produce("durable-dedupe", 0, -1, gap).await.0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    let next = Batch::of(&["d"]).idempotent(pid, epoch, 3).encode();
    assert_eq!(c.produce("durable-dedupe", 0, -1, next).await, (0, 3));
    assert_eq!(c.list_offset("durable-dedupe", 0, -1).await.1, 4);
}
