//! A data directory written by an earlier release opens and serves as it
//! did: topics, records, committed offsets, a committed transaction and
//! idempotent producer state. The fixture (`fixtures/data-dir-v1`) was
//! written by the broker of commit 90778df with
//! `fixtures/make_data_dir_v1.py`; whatever a later change persists anew
//! must keep this test passing (or come with a migration and its test).

mod common;
mod txn_support;

use std::path::Path;

use common::*;
use txn_support::*;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data-dir-v1")
}

async fn committed_values(c: &mut Client, topic: &str, partition: i32) -> Vec<String> {
    let resp = c
        .send(
            12,
            fetch_request(topic, partition, 0, 1 << 20).with_isolation_level(1),
        )
        .await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{topic}-{partition}");
    let mut bytes = p.records.clone().unwrap_or_default();
    kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes)
        .expect("decode")
        .into_iter()
        .flat_map(|set| set.records)
        .filter(|r| !r.control)
        .map(|r| String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_data_dir_of_the_previous_release_opens_and_serves() {
    let mut b = TestBroker::start_from_copy_of(&fixture()).await;
    let mut c = b.client().await;
    // Records, with the committed transaction's after the plain ones.
    let mut expected: Vec<String> = (0..5).map(|i| format!("plain-0-{i}")).collect();
    expected.extend((0..3).map(|i| format!("txn-{i}")));
    assert_eq!(committed_values(&mut c, "plain", 0).await, expected);
    assert_eq!(
        committed_values(&mut c, "plain", 1).await,
        (0..5).map(|i| format!("plain-1-{i}")).collect::<Vec<_>>()
    );
    // The compacted topic keeps its policy.
    let compacted = b.broker().topics.get("compacted").expect("topic compacted");
    assert!(compacted.config.cleanup_policy().compacts());
    // Committed offsets and the transaction's state.
    assert_eq!(committed(&mut c, "fixture-group", "plain").await, 2);
    assert_eq!(state_of(&mut c, "fixture-tx").await, "CompleteCommit");
    // The transactional id goes on with its next epoch.
    let p = init(&mut c, "fixture-tx").await;
    assert!(p.id >= 0 && p.epoch >= 1, "{p:?}");
    // New writes land after the old ones and survive a restart.
    let (err, base) = c
        .produce("plain", 0, -1, Batch::of(&["new"]).encode())
        .await;
    assert_eq!((err, base), (0, 9), "after 8 records and a commit marker");
    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(
        committed_values(&mut c, "plain", 0)
            .await
            .last()
            .map(String::as_str),
        Some("new")
    );
}
