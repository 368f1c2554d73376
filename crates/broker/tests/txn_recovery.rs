//! The transaction coordinator's durable side over the wire: offsets
//! committed inside transactions (TxnOffsetCommit), the abort of
//! transactions past their timeout, and what a restart (clean or a crash)
//! recovers: state replayed from __transaction_state, a PrepareCommit
//! completed, an Ongoing transaction aborted once it times out.

mod common;
mod group_support;
mod txn_support;

use common::*;
use fjord_broker::txn::records::{encode_key, TxnValue};
use fjord_broker::txn::TxnState;
use group_support::{join_req, member_id, subscription, sync_req};
use kafka_protocol::error::ResponseError;
use txn_support::*;

#[tokio::test]
async fn transactions_past_their_timeout_are_aborted_with_an_epoch_bump() {
    let b = TestBroker::start_with(|c| c.transaction_abort_check_interval_ms = 50).await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let (err, p) = init_as(&mut c, "slow", 300, None).await;
    assert_eq!(err, 0);
    assert_eq!(add(&mut c, "slow", p, &[("t", 0)]).await, vec![0]);
    assert_eq!(
        produce_as(&mut c, Some("slow"), "t", 0, txn_batch(p, 0, &["late"])).await,
        0
    );
    let d = wait_for_state(&mut c, "slow", TxnState::CompleteAbort).await;
    assert_eq!(
        d.producer_epoch,
        p.epoch + 1,
        "the abort fenced the producer"
    );
    assert_eq!(markers(&fetch_all(&mut c, "t", 0).await), vec![0]);
    // The producer finds out when it tries to finish.
    assert_eq!(
        end(&mut c, "slow", p, true).await,
        code(ResponseError::ProducerFenced)
    );
    // Nor can it bump its way back (KIP-360's InitProducerId with its epoch).
    let (err, _) = init_as(&mut c, "slow", 300, Some(p)).await;
    assert_eq!(err, code(ResponseError::ProducerFenced));
    assert_eq!(
        produce_as(&mut c, Some("slow"), "t", 0, txn_batch(p, 1, &["later"])).await,
        code(ResponseError::InvalidProducerEpoch)
    );
}

#[tokio::test]
async fn txn_offsets_become_visible_only_when_the_transaction_commits() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("in", 1).await;
    c.create_topic("out", 1).await;
    let p = init(&mut c, "tx").await;

    // Without AddOffsetsToTxn first, the offsets are refused.
    assert_eq!(add(&mut c, "tx", p, &[("out", 0)]).await, vec![0]);
    assert_eq!(
        txn_offset_commit(&mut c, "tx", p, "g", "in", 5).await,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(add_offsets(&mut c, "tx", p, "g").await, 0);
    let d = describe(&mut c, "tx").await;
    assert!(
        d.topics.iter().any(|t| t.topic.as_str() == OFFSETS),
        "{d:?}"
    );
    assert_eq!(txn_offset_commit(&mut c, "tx", p, "g", "in", 5).await, 0);
    assert_eq!(
        committed(&mut c, "g", "in").await,
        -1,
        "pending until commit"
    );
    assert_eq!(end(&mut c, "tx", p, true).await, 0);
    assert_eq!(committed(&mut c, "g", "in").await, 5);

    // An aborted transaction's offsets are dropped.
    assert_eq!(add_offsets(&mut c, "tx", p, "g").await, 0);
    assert_eq!(txn_offset_commit(&mut c, "tx", p, "g", "in", 9).await, 0);
    assert_eq!(end(&mut c, "tx", p, false).await, 0);
    assert_eq!(committed(&mut c, "g", "in").await, 5);

    // And a fenced producer's offsets never land.
    let fresh = init(&mut c, "tx").await;
    assert_eq!(
        txn_offset_commit(&mut c, "tx", p, "g", "in", 11).await,
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(add_offsets(&mut c, "tx", fresh, "g").await, 0);
    assert_eq!(
        txn_offset_commit(&mut c, "tx", fresh, "g", "in", 12).await,
        0
    );
    assert_eq!(end(&mut c, "tx", fresh, true).await, 0);
    assert_eq!(committed(&mut c, "g", "in").await, 12);
}

#[tokio::test]
async fn state_and_offsets_survive_a_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("in", 1).await;
    let p = init(&mut c, "tx").await;
    assert_eq!(add_offsets(&mut c, "tx", p, "g").await, 0);
    assert_eq!(txn_offset_commit(&mut c, "tx", p, "g", "in", 7).await, 0);
    assert_eq!(end(&mut c, "tx", p, true).await, 0);
    // A second transaction's offsets are aborted: replay must drop them.
    assert_eq!(add_offsets(&mut c, "tx", p, "g").await, 0);
    assert_eq!(txn_offset_commit(&mut c, "tx", p, "g", "in", 8).await, 0);
    assert_eq!(end(&mut c, "tx", p, false).await, 0);

    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(committed(&mut c, "g", "in").await, 7);
    let d = describe(&mut c, "tx").await;
    assert_eq!(d.transaction_state.as_str(), "CompleteAbort");
    assert_eq!((d.producer_id.0, d.producer_epoch), (p.id, p.epoch));
    // The restarted coordinator still fences and bumps from where it was.
    let next = init(&mut c, "tx").await;
    assert_eq!(
        next,
        Pid {
            id: p.id,
            epoch: p.epoch + 1
        }
    );
    // And new producer ids do not collide with the restored one.
    assert_ne!(init(&mut c, "new").await.id, p.id);
}

#[tokio::test]
async fn a_transaction_left_preparing_by_a_crash_is_completed_on_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    c.create_topic("in", 1).await;
    let p = init(&mut c, "tx").await;
    assert_eq!(add(&mut c, "tx", p, &[("t", 0)]).await, vec![0]);
    assert_eq!(add_offsets(&mut c, "tx", p, "g").await, 0);
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(p, 0, &["a"])).await,
        0
    );
    assert_eq!(txn_offset_commit(&mut c, "tx", p, "g", "in", 3).await, 0);
    // The coordinator wrote PrepareCommit and died before any marker: the
    // record it would have written, in __transaction_state.
    let d = describe(&mut c, "tx").await;
    let offsets_partition = d
        .topics
        .iter()
        .find(|t| t.topic.as_str() == OFFSETS)
        .expect("offsets partition in the transaction")
        .partitions[0];
    let prepare = TxnValue {
        producer_id: p.id,
        producer_epoch: p.epoch,
        timeout_ms: 60_000,
        state: TxnState::PrepareCommit,
        partitions: [
            ("t".to_string(), 0),
            (OFFSETS.to_string(), offsets_partition),
        ]
        .into_iter()
        .collect(),
        last_update_ms: d.transaction_start_time_ms,
        start_ms: d.transaction_start_time_ms,
    };
    // Written as the coordinator writes it: clients may not produce there.
    let batch = keyed_batch(encode_key("tx"), prepare.encode());
    b.broker()
        .topics
        .partition("__transaction_state", 0)
        .expect("the transaction state partition")
        .append(&batch, fjord_broker::server::now_ms())
        .expect("append");
    b.crash_and_restart().await;

    let mut c = b.client().await;
    wait_for_state(&mut c, "tx", TxnState::CompleteCommit).await;
    assert_eq!(markers(&fetch_all(&mut c, "t", 0).await), vec![1]);
    assert_eq!(
        committed(&mut c, "g", "in").await,
        3,
        "offsets applied by the marker"
    );
}

#[tokio::test]
async fn an_ongoing_transaction_is_aborted_after_a_restart_once_it_times_out() {
    let mut b = TestBroker::start_with(|c| c.transaction_abort_check_interval_ms = 50).await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    c.create_topic("in", 1).await;
    let (err, p) = init_as(&mut c, "tx", 1500, None).await;
    assert_eq!(err, 0);
    assert_eq!(add(&mut c, "tx", p, &[("t", 0)]).await, vec![0]);
    assert_eq!(add_offsets(&mut c, "tx", p, "g").await, 0);
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(p, 0, &["a"])).await,
        0
    );
    assert_eq!(txn_offset_commit(&mut c, "tx", p, "g", "in", 4).await, 0);
    b.crash_and_restart().await;

    let mut c = b.client().await;
    let d = describe(&mut c, "tx").await;
    assert_eq!(
        d.transaction_state.as_str(),
        "Ongoing",
        "restored as it was"
    );
    let d = wait_for_state(&mut c, "tx", TxnState::CompleteAbort).await;
    assert_eq!(d.producer_epoch, p.epoch + 1);
    assert_eq!(markers(&fetch_all(&mut c, "t", 0).await), vec![0]);
    assert_eq!(
        committed(&mut c, "g", "in").await,
        -1,
        "aborted offsets dropped"
    );
}

/// A producer that has the consumer's group metadata (TxnOffsetCommit v3+)
/// is checked against the live group; one without it (v0-2's form) is
/// not, as in Kafka.
#[tokio::test]
async fn txn_offsets_for_a_live_group_check_only_the_member_given() {
    let b = TestBroker::start_with(|c| c.group_initial_rebalance_delay_ms = 0).await;
    let mut c = b.client().await;
    c.create_topic("in", 1).await;
    let member = member_id(&mut c, "g", 10_000, &["in"]).await;
    let j = c
        .send(
            9,
            join_req("g", &member, None, 10_000, subscription(&["in"])),
        )
        .await;
    assert_eq!(j.error_code, 0);
    let r = c
        .send(
            5,
            sync_req("g", j.generation_id, &member, &[(&member, b"a")]),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let generation = j.generation_id;

    let p = init(&mut c, "tx").await;
    assert_eq!(add_offsets(&mut c, "tx", p, "g").await, 0);
    let unknown = txn_offset_commit_as(&mut c, "tx", p, ("g", "nobody", generation), "in", 1);
    assert_eq!(unknown.await, code(ResponseError::UnknownMemberId));
    let stale = txn_offset_commit_as(&mut c, "tx", p, ("g", &member, generation + 1), "in", 1);
    assert_eq!(stale.await, code(ResponseError::IllegalGeneration));
    assert_eq!(txn_offset_commit(&mut c, "tx", p, "g", "in", 2).await, 0);
    let current = txn_offset_commit_as(&mut c, "tx", p, ("g", &member, generation), "in", 3);
    assert_eq!(current.await, 0);
    assert_eq!(end(&mut c, "tx", p, true).await, 0);
    assert_eq!(committed(&mut c, "g", "in").await, 3);
}

/// Sends a long-polling Fetch of `big` (whose answer is larger than the
/// connection's write buffer) and then EndTxn on one connection, and resets
/// the connection while the fetch is still waiting: the broker's write of
/// the fetch answer fails, and the EndTxn answer queued behind it is never
/// written.
async fn end_txn_and_reset(addr: std::net::SocketAddr, id: &str, p: Pid) {
    let mut c = Client::connect(addr).await;
    let fetch = fetch_request("big", 0, 0, 1 << 20)
        .with_max_wait_ms(300)
        .with_min_bytes(i32::MAX);
    c.send_only(12, &fetch).await;
    c.send_only(
        3,
        &kafka_protocol::messages::EndTxnRequest::default()
            .with_transactional_id(tid(id))
            .with_producer_id(kafka_protocol::messages::ProducerId(p.id))
            .with_producer_epoch(p.epoch)
            .with_committed(true),
    )
    .await;
    // Let the broker read and dispatch both before the reset arrives.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    #[allow(deprecated)] // a zero linger is the point: close with a reset
    c.stream
        .set_linger(Some(std::time::Duration::ZERO))
        .expect("linger");
    drop(c);
}

// Symptom: a client that sent EndTxn and closed its socket before the answer
// left the transactional id `pending` for good: the coordinator cleared it
// only inside the response future, which the connection dropped. Every later
// InitProducerId answered CONCURRENT_TRANSACTIONS and the partition's last
// stable offset never moved again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_end_txn_response_does_not_wedge_the_transaction() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("big", 1).await;
    c.create_topic("t", 1).await;
    let big = Batch::sized(4, 60_000).encode();
    assert_eq!(
        c.send(9, produce_request("big", 0, -1, big))
            .await
            .responses[0]
            .partition_responses[0]
            .error_code,
        0
    );
    for round in 0..5 {
        let p = init_retrying(&mut c, "tx").await;
        assert_eq!(
            add(&mut c, "tx", p, &[("t", 0)]).await,
            vec![0],
            "round {round}"
        );
        let batch = txn_batch(p, 0, &["a", "b"]);
        assert_eq!(produce_as(&mut c, Some("tx"), "t", 0, batch).await, 0);
        end_txn_and_reset(b.addr, "tx", p).await;
    }
    // The id still works, and every transaction was committed: the last
    // stable offset reached the high watermark.
    init_retrying(&mut c, "tx").await;
    let resp = c
        .send(
            12,
            fetch_request("t", 0, 0, 1 << 20).with_isolation_level(1),
        )
        .await;
    let part = &resp.responses[0].partitions[0];
    assert_eq!(part.high_watermark, 15, "5 x (2 records + a marker)");
    assert_eq!(part.last_stable_offset, part.high_watermark);
    assert_eq!(
        markers(&fetch_all(&mut c, "t", 0).await),
        vec![1; 5],
        "five commit markers"
    );
}

/// InitProducerId, retried while an earlier request for the id is still
/// being completed (CONCURRENT_TRANSACTIONS), for at most IO_TIMEOUT.
async fn init_retrying(c: &mut Client, id: &str) -> Pid {
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    loop {
        let (err, p) = init_as(c, id, 60_000, None).await;
        if err == 0 {
            return p;
        }
        assert_eq!(err, code(ResponseError::ConcurrentTransactions), "{id}");
        assert!(
            std::time::Instant::now() < deadline,
            "'{id}' stayed busy (CONCURRENT_TRANSACTIONS) for {IO_TIMEOUT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// transactional.id.expiration.ms: an id with no transaction under way and
// no request for that long is forgotten (and stays forgotten after a
// restart); its next InitProducerId starts afresh with a new producer id.
// An id with a transaction under way is kept.
#[tokio::test]
async fn idle_transactional_ids_expire_and_busy_ones_stay() {
    let mut b = TestBroker::start_with(|c| {
        c.transactional_id_expiration_ms = 300;
        c.transaction_abort_check_interval_ms = 50;
    })
    .await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let idle = init(&mut c, "idle").await;
    let busy = init(&mut c, "busy").await;
    assert_eq!(add(&mut c, "busy", busy, &[("t", 0)]).await, vec![0]);
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    loop {
        let r = c
            .send(
                0,
                kafka_protocol::messages::DescribeTransactionsRequest::default()
                    .with_transactional_ids(vec![tid("idle")]),
            )
            .await;
        if r.transaction_states[0].error_code == code(ResponseError::TransactionalIdNotFound) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "'idle' never expired");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        state_of(&mut c, "busy").await,
        "Ongoing",
        "a transaction under way is kept"
    );
    b.restart().await;
    let mut c = b.client().await;
    let r = c
        .send(
            0,
            kafka_protocol::messages::DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![tid("idle")]),
        )
        .await;
    assert_eq!(
        r.transaction_states[0].error_code,
        code(ResponseError::TransactionalIdNotFound),
        "still gone after a restart"
    );
    let again = init(&mut c, "idle").await;
    assert_ne!(again.id, idle.id, "a new producer id");
    assert_eq!(again.epoch, 0);
}
