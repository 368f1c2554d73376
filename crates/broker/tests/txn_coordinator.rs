//! The transaction coordinator over the wire: InitProducerId with a
//! transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! DescribeTransactions, ListTransactions, fencing, and the produce checks
//! of KIP-890 part 1. Requests are raw kafka-protocol messages against an
//! in-process broker. Offsets, timeouts and restarts: txn_recovery.rs.

mod common;
mod txn_support;

use common::*;
use fjord_broker::txn::TxnState;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use txn_support::*;

#[tokio::test]
async fn find_coordinator_for_a_transactional_id_is_this_broker() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let r = c
        .send(
            3,
            FindCoordinatorRequest::default()
                .with_key(StrBytes::from_static_str("tx"))
                .with_key_type(1),
        )
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.port, b.addr.port() as i32);
    let r = c
        .send(
            4,
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![
                    StrBytes::from_static_str("a"),
                    StrBytes::from_static_str("b"),
                ]),
        )
        .await;
    assert_eq!(r.coordinators.len(), 2);
    assert!(r
        .coordinators
        .iter()
        .all(|c| c.error_code == 0 && c.port == b.addr.port() as i32));
    // As in Kafka, the lookup creates the internal topic.
    let md = c.metadata(12, Some(&["__transaction_state"]), false).await;
    assert_eq!(md.topics[0].error_code, 0);
}

#[tokio::test]
async fn init_producer_id_validates_and_bumps_the_epoch() {
    let b = TestBroker::start_with(|c| c.transaction_max_timeout_ms = 60_000).await;
    let mut c = b.client().await;
    assert_eq!(
        init_as(&mut c, "tx", 60_001, None).await.0,
        code(ResponseError::InvalidTransactionTimeout)
    );
    assert_eq!(
        init_as(&mut c, "tx", 0, None).await.0,
        code(ResponseError::InvalidTransactionTimeout)
    );
    assert_eq!(
        init_as(&mut c, "", 1000, None).await.0,
        code(ResponseError::InvalidRequest)
    );
    let first = init(&mut c, "tx").await;
    assert!(first.id >= 0);
    assert_eq!(first.epoch, 0);
    let second = init(&mut c, "tx").await;
    assert_eq!(
        second,
        Pid {
            id: first.id,
            epoch: 1
        },
        "same id, next epoch"
    );
    let other = init(&mut c, "other").await;
    assert_ne!(other.id, first.id);
    // KIP-360: a producer bumping its own epoch names its current one...
    let (err, third) = init_as(&mut c, "tx", 60_000, Some(second)).await;
    assert_eq!(
        (err, third),
        (
            0,
            Pid {
                id: first.id,
                epoch: 2
            }
        )
    );
    // ...a retry of that bump gets the same answer, not another bump...
    let (err, again) = init_as(&mut c, "tx", 60_000, Some(second)).await;
    assert_eq!((err, again), (0, third));
    // ...and an older instance is fenced.
    let (err, _) = init_as(&mut c, "tx", 60_000, Some(first)).await;
    assert_eq!(err, code(ResponseError::ProducerFenced));
    // A new instance's InitProducerId fences the previous epoch for good:
    // its owner cannot pass a bump of it off as a retry.
    let fresh = init(&mut c, "tx").await;
    assert_eq!(
        fresh,
        Pid {
            id: first.id,
            epoch: 3
        }
    );
    let (err, _) = init_as(&mut c, "tx", 60_000, Some(third)).await;
    assert_eq!(err, code(ResponseError::ProducerFenced));
}

#[tokio::test]
async fn commit_and_abort_follow_the_state_machine_and_write_markers() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 2).await;
    let p = init(&mut c, "tx").await;
    assert_eq!(state_of(&mut c, "tx").await, "Empty");
    // Nothing to end yet.
    assert_eq!(
        end(&mut c, "tx", p, true).await,
        code(ResponseError::InvalidTxnState)
    );

    assert_eq!(
        add(&mut c, "tx", p, &[("t", 0), ("t", 1)]).await,
        vec![0, 0]
    );
    let d = describe(&mut c, "tx").await;
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!((d.producer_id.0, d.producer_epoch), (p.id, p.epoch));
    assert_eq!(d.topics.len(), 1);
    assert_eq!(d.topics[0].partitions, vec![0, 1]);
    assert!(d.transaction_start_time_ms > 0);
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(p, 0, &["a", "b"])).await,
        0
    );
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 1, txn_batch(p, 0, &["c"])).await,
        0
    );
    // Adding a partition already in the transaction is fine.
    assert_eq!(add(&mut c, "tx", p, &[("t", 0)]).await, vec![0]);

    assert_eq!(end(&mut c, "tx", p, true).await, 0);
    let d = describe(&mut c, "tx").await;
    assert_eq!(d.transaction_state.as_str(), "CompleteCommit");
    assert!(d.topics.is_empty());
    for part in 0..2 {
        let records = fetch_all(&mut c, "t", part).await;
        assert_eq!(
            batch_kinds(&records),
            vec![(false, true), (true, true)],
            "data then marker"
        );
        assert_eq!(markers(&records), vec![1], "a COMMIT marker");
    }
    // A retried commit succeeds; an abort of the committed transaction does not.
    assert_eq!(end(&mut c, "tx", p, true).await, 0);
    assert_eq!(
        end(&mut c, "tx", p, false).await,
        code(ResponseError::InvalidTxnState)
    );

    // The next transaction, aborted.
    assert_eq!(add(&mut c, "tx", p, &[("t", 0)]).await, vec![0]);
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(p, 2, &["d"])).await,
        0
    );
    assert_eq!(end(&mut c, "tx", p, false).await, 0);
    assert_eq!(state_of(&mut c, "tx").await, "CompleteAbort");
    let records = fetch_all(&mut c, "t", 0).await;
    assert_eq!(markers(&records), vec![1, 0], "COMMIT then ABORT");
    assert_eq!(
        end(&mut c, "tx", p, true).await,
        code(ResponseError::InvalidTxnState)
    );
    // A transaction with no data (only partitions added) ends cleanly too.
    assert_eq!(add(&mut c, "tx", p, &[("t", 1)]).await, vec![0]);
    assert_eq!(end(&mut c, "tx", p, true).await, 0);
}

#[tokio::test]
async fn unknown_partitions_are_refused_and_the_rest_not_attempted() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let p = init(&mut c, "tx").await;
    assert_eq!(
        add(&mut c, "tx", p, &[("t", 0), ("t", 5), ("missing", 0)]).await,
        vec![
            code(ResponseError::OperationNotAttempted),
            code(ResponseError::UnknownTopicOrPartition),
            code(ResponseError::UnknownTopicOrPartition)
        ]
    );
    assert_eq!(state_of(&mut c, "tx").await, "Empty", "nothing was added");
    // An unknown transactional id or a producer id that is not its own.
    assert_eq!(
        add(&mut c, "nope", p, &[("t", 0)]).await,
        vec![code(ResponseError::InvalidProducerIdMapping)]
    );
    let wrong = Pid {
        id: p.id + 1000,
        epoch: p.epoch,
    };
    assert_eq!(
        add(&mut c, "tx", wrong, &[("t", 0)]).await,
        vec![code(ResponseError::InvalidProducerIdMapping)]
    );
}

#[tokio::test]
async fn produce_must_come_from_the_transaction_that_added_the_partition() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 2).await;
    let p = init(&mut c, "tx").await;
    // KIP-890 part 1: not added yet.
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(p, 0, &["x"])).await,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(add(&mut c, "tx", p, &[("t", 0)]).await, vec![0]);
    // Partition 1 is not in the transaction.
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 1, txn_batch(p, 0, &["x"])).await,
        code(ResponseError::InvalidTxnState)
    );
    // A transactional producer's id without the transactional id, either as
    // a plain idempotent batch or as a transactional one.
    let plain = Batch::of(&["x"]).idempotent(p.id, p.epoch, 0).encode();
    assert_eq!(
        produce_as(&mut c, None, "t", 0, plain.clone()).await,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        produce_as(&mut c, None, "t", 0, txn_batch(p, 0, &["x"])).await,
        code(ResponseError::InvalidTxnState)
    );
    // A non-transactional batch under the transactional id.
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, plain).await,
        code(ResponseError::InvalidTxnState)
    );
    // Another id's producer.
    let q = init(&mut c, "other").await;
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(q, 0, &["x"])).await,
        code(ResponseError::InvalidTxnState)
    );
    // None of the refusals wrote anything; the real one does.
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(p, 0, &["ok"])).await,
        0
    );
    assert_eq!(batch_kinds(&fetch_all(&mut c, "t", 0).await).len(), 1);
    assert!(fetch_all(&mut c, "t", 1).await.is_empty());
    // Idempotent producers without a transactional id are unaffected.
    let (ipid, iepoch) = c.init_producer_id().await;
    let idem = Batch::of(&["i"]).idempotent(ipid, iepoch, 0).encode();
    assert_eq!(produce_as(&mut c, None, "t", 1, idem).await, 0);
}

#[tokio::test]
async fn a_fenced_producer_cannot_add_produce_or_commit() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let zombie = init(&mut c, "tx").await;
    assert_eq!(add(&mut c, "tx", zombie, &[("t", 0)]).await, vec![0]);
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(zombie, 0, &["z1"])).await,
        0
    );

    // A new instance: the first InitProducerId aborts the zombie's open
    // transaction and asks to retry; the retry gets the bumped epoch.
    let (err, _) = init_as(&mut c, "tx", 60_000, None).await;
    assert_eq!(err, code(ResponseError::ConcurrentTransactions));
    wait_for_state(&mut c, "tx", TxnState::CompleteAbort).await;
    let fresh = init(&mut c, "tx").await;
    assert_eq!(fresh.id, zombie.id);
    assert!(
        fresh.epoch > zombie.epoch + 1,
        "fence bump plus init bump: {fresh:?}"
    );
    assert_eq!(
        markers(&fetch_all(&mut c, "t", 0).await),
        vec![0],
        "zombie's data aborted"
    );

    // The zombie cannot add partitions, produce, commit or commit offsets.
    assert_eq!(
        add(&mut c, "tx", zombie, &[("t", 0)]).await,
        vec![code(ResponseError::ProducerFenced)]
    );
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(zombie, 1, &["z2"])).await,
        code(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(
        end(&mut c, "tx", zombie, true).await,
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(
        add_offsets(&mut c, "tx", zombie, "g").await,
        code(ResponseError::ProducerFenced)
    );

    // The new instance works.
    assert_eq!(add(&mut c, "tx", fresh, &[("t", 0)]).await, vec![0]);
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(fresh, 0, &["f"])).await,
        0
    );
    // A zombie's produce to a partition the new transaction holds is refused too.
    assert_eq!(
        produce_as(&mut c, Some("tx"), "t", 0, txn_batch(zombie, 1, &["z3"])).await,
        code(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(
        end(&mut c, "tx", zombie, false).await,
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(end(&mut c, "tx", fresh, true).await, 0);
    assert_eq!(markers(&fetch_all(&mut c, "t", 0).await), vec![0, 1]);
}

#[tokio::test]
async fn describe_and_list_transactions() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let a = init(&mut c, "a").await;
    let _b = init(&mut c, "b").await;
    assert_eq!(add(&mut c, "a", a, &[("t", 0)]).await, vec![0]);

    let d = describe(&mut c, "zzz").await;
    assert_eq!(d.error_code, code(ResponseError::TransactionalIdNotFound));
    let d = describe(&mut c, "a").await;
    assert_eq!((d.error_code, d.transaction_timeout_ms), (0, 60_000));

    let list = |states: &[&str], pids: &[i64]| {
        ListTransactionsRequest::default()
            .with_state_filters(
                states
                    .iter()
                    .map(|s| StrBytes::from_string(s.to_string()))
                    .collect(),
            )
            .with_producer_id_filters(pids.iter().map(|p| ProducerId(*p)).collect())
            .with_duration_filter(-1)
    };
    let ids = |r: &ListTransactionsResponse| {
        r.transaction_states
            .iter()
            .map(|t| {
                (
                    t.transactional_id.to_string(),
                    t.transaction_state.to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let all = c.send(1, list(&[], &[])).await;
    assert_eq!(
        ids(&all),
        vec![("a".into(), "Ongoing".into()), ("b".into(), "Empty".into())]
    );
    let ongoing = c.send(0, list(&["Ongoing", "Bogus"], &[])).await;
    assert_eq!(ids(&ongoing), vec![("a".into(), "Ongoing".into())]);
    assert_eq!(
        ongoing.unknown_state_filters,
        vec![StrBytes::from_static_str("Bogus")]
    );
    let by_pid = c.send(0, list(&[], &[a.id])).await;
    assert_eq!(ids(&by_pid), vec![("a".into(), "Ongoing".into())]);
    assert_eq!(by_pid.transaction_states[0].producer_id.0, a.id);
    // v1: only transactions running for at least an hour: none.
    let long = c
        .send(1, list(&[], &[]).with_duration_filter(3_600_000))
        .await;
    assert!(long.transaction_states.is_empty());
    let short = c.send(1, list(&[], &[]).with_duration_filter(0)).await;
    assert_eq!(
        ids(&short),
        vec![("a".into(), "Ongoing".into())],
        "only started ones"
    );
}

/// Every advertised version of the transaction APIs decodes and answers
/// with a response of that version (the harness checks no bytes are left).
#[tokio::test]
async fn every_advertised_version_answers() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1).await;
    let range = |api: ApiKey| {
        let (_, min, max) = *fjord_broker::api::SUPPORTED
            .iter()
            .find(|(k, _, _)| *k == api)
            .expect("advertised");
        min..=max
    };
    for v in range(ApiKey::InitProducerId) {
        let r = c
            .send(
                v,
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(tid(&format!("v{v}"))))
                    .with_transaction_timeout_ms(10_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
        assert_eq!(
            (r.error_code, r.producer_epoch),
            (0, 0),
            "InitProducerId v{v}"
        );
    }
    let p = init(&mut c, "tx").await;
    for v in range(ApiKey::AddPartitionsToTxn) {
        let r = c
            .send(
                v,
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(tid("tx"))
                    .with_v3_and_below_producer_id(ProducerId(p.id))
                    .with_v3_and_below_producer_epoch(p.epoch)
                    .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                        .with_name(topic_name("t"))
                        .with_partitions(vec![0])]),
            )
            .await;
        let codes: Vec<i16> = r
            .results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            })
            .collect();
        assert_eq!(codes, vec![0], "AddPartitionsToTxn v{v}");
    }
    for v in range(ApiKey::AddOffsetsToTxn) {
        let r = c
            .send(
                v,
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(tid("tx"))
                    .with_producer_id(ProducerId(p.id))
                    .with_producer_epoch(p.epoch)
                    .with_group_id(gid("g")),
            )
            .await;
        assert_eq!(r.error_code, 0, "AddOffsetsToTxn v{v}");
    }
    for v in range(ApiKey::TxnOffsetCommit) {
        let r = c
            .send(
                v,
                TxnOffsetCommitRequest::default()
                    .with_transactional_id(tid("tx"))
                    .with_group_id(gid("g"))
                    .with_producer_id(ProducerId(p.id))
                    .with_producer_epoch(p.epoch)
                    .with_generation_id(-1)
                    .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                        .with_name(topic_name("t"))
                        .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(v as i64)])]),
            )
            .await;
        assert_eq!(
            r.topics[0].partitions[0].error_code, 0,
            "TxnOffsetCommit v{v}"
        );
    }
    for v in range(ApiKey::EndTxn) {
        // The first commits; the later ones are retries of a done commit.
        let r = c
            .send(
                v,
                EndTxnRequest::default()
                    .with_transactional_id(tid("tx"))
                    .with_producer_id(ProducerId(p.id))
                    .with_producer_epoch(p.epoch)
                    .with_committed(true),
            )
            .await;
        assert_eq!(r.error_code, 0, "EndTxn v{v}");
    }
    assert_eq!(
        committed(&mut c, "g", "t").await,
        4,
        "the last TxnOffsetCommit's offset"
    );
    for v in range(ApiKey::DescribeTransactions) {
        let r = c
            .send(
                v,
                DescribeTransactionsRequest::default().with_transactional_ids(vec![tid("tx")]),
            )
            .await;
        assert_eq!(
            r.transaction_states[0].transaction_state.as_str(),
            "CompleteCommit"
        );
    }
    for v in range(ApiKey::ListTransactions) {
        let r = c
            .send(
                v,
                ListTransactionsRequest::default().with_duration_filter(-1),
            )
            .await;
        assert_eq!(r.transaction_states.len(), 7, "ListTransactions v{v}");
    }
}

/// A topic deleted after it joined a transaction has no partition left to
/// mark: the commit completes with the markers it can write.
#[tokio::test]
async fn a_deleted_partition_does_not_hold_the_commit_up() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("keep", 1).await;
    c.create_topic("gone", 1).await;
    let p = init(&mut c, "tx").await;
    assert_eq!(
        add(&mut c, "tx", p, &[("keep", 0), ("gone", 0)]).await,
        vec![0, 0]
    );
    assert_eq!(
        produce_as(&mut c, Some("tx"), "keep", 0, txn_batch(p, 0, &["k"])).await,
        0
    );
    let r = c
        .send(
            4,
            DeleteTopicsRequest::default()
                .with_topic_names(vec![topic_name("gone")])
                .with_timeout_ms(10_000),
        )
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(end(&mut c, "tx", p, true).await, 0);
    assert_eq!(state_of(&mut c, "tx").await, "CompleteCommit");
    assert_eq!(markers(&fetch_all(&mut c, "keep", 0).await), vec![1]);
}
