//! ListOffsets: earliest, latest, by timestamp and max timestamp.

mod common;

use common::*;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::DeleteRecordsRequest;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

/// Timestamps relative to a recent base, so retention (checked at start-up)
/// never deletes the test's records.
fn t(ms: i64) -> i64 {
    use std::sync::OnceLock;
    static BASE: OnceLock<i64> = OnceLock::new();
    *BASE.get_or_init(|| fjord_broker::server::now_ms() - 3_600_000) + ms
}

/// Three batches: offsets 0..=2 at t(1000..1002), 3..=4 at t(5000..5001),
/// 5 at t(2000) (timestamps need not grow with offsets).
async fn topic_with_timestamps(c: &mut Client) {
    c.create_topic("times", 1).await;
    for batch in [
        Batch::of(&["a", "b", "c"]).timestamps_from(t(1000)),
        Batch::of(&["d", "e"]).timestamps_from(t(5000)),
        Batch::of(&["f"]).timestamps_from(t(2000)),
    ] {
        assert_eq!(c.produce("times", 0, 1, batch.encode()).await.0, 0);
    }
}

#[tokio::test]
async fn earliest_and_latest() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("ends", 1).await;
    assert_eq!(c.list_offset("ends", 0, EARLIEST).await, (0, 0, -1));
    assert_eq!(c.list_offset("ends", 0, LATEST).await, (0, 0, -1));
    topic_with_timestamps(&mut c).await;
    assert_eq!(c.list_offset("times", 0, EARLIEST).await.1, 0);
    assert_eq!(c.list_offset("times", 0, LATEST).await.1, 6);

    // Earliest follows the log start when records are deleted.
    let resp = c
        .send(
            2,
            DeleteRecordsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(topic_name("times"))
                    .with_partitions(vec![DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(2)])]),
        )
        .await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(c.list_offset("times", 0, EARLIEST).await.1, 2);
    assert_eq!(c.list_offset("times", 0, LATEST).await.1, 6);
}

#[tokio::test]
async fn by_timestamp_finds_the_first_offset_at_or_after_it() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    topic_with_timestamps(&mut c).await;
    assert_eq!(c.list_offset("times", 0, 0).await, (0, 0, t(1000)));
    assert_eq!(c.list_offset("times", 0, t(1000)).await, (0, 0, t(1000)));
    assert_eq!(c.list_offset("times", 0, t(1001)).await, (0, 1, t(1001)));
    assert_eq!(c.list_offset("times", 0, t(1500)).await, (0, 3, t(5000)));
    assert_eq!(c.list_offset("times", 0, t(5001)).await, (0, 4, t(5001)));
    // Nothing that late: offset -1.
    assert_eq!(c.list_offset("times", 0, t(9000)).await, (0, -1, -1));
}

#[tokio::test]
async fn max_timestamp() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("empty", 1).await;
    assert_eq!(c.list_offset("empty", 0, MAX_TIMESTAMP).await, (0, -1, -1));
    topic_with_timestamps(&mut c).await;
    assert_eq!(
        c.list_offset("times", 0, MAX_TIMESTAMP).await,
        (0, 4, t(5001))
    );
}
