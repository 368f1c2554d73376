//! Reads and timestamp lookups over a partition of many small segments,
//! before and after a restart: every offset finds the batch holding it.

mod common;

use common::*;

#[tokio::test]
async fn every_offset_and_timestamp_is_found_across_segments_and_restarts() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with("segmented", 1, &[("segment.bytes", "300")])
        .await;
    // Recent timestamps, so retention (7 days by default) keeps every segment.
    let base_ts = fjord_broker::server::now_ms() - 60_000;
    let mut batches = Vec::new(); // (base offset, record count, bytes, first timestamp)
    let mut next = 0i64;
    for i in 0..20 {
        let n = (i % 3) + 1;
        let ts = base_ts + i as i64 * 100;
        let batch = Batch::sized(n, 40).timestamps_from(ts).encode();
        assert_eq!(c.produce("segmented", 0, 1, batch.clone()).await, (0, next));
        batches.push((next, n as i64, batch, ts));
        next += n as i64;
    }
    let segments = b.broker().topics.get("segmented").unwrap().partitions[0].segment_count();
    assert!(segments > 5, "only {segments} segments");

    for round in ["before restart", "after restart"] {
        for offset in 0..next {
            // partition_max_bytes 1: exactly the one batch holding `offset`.
            let f = c.fetch("segmented", 0, offset, 1).await;
            assert_eq!(f.error_code, 0, "offset {offset} {round}");
            let records = f.records.unwrap();
            let (base, _, batch, _) = batches
                .iter()
                .find(|(b, n, _, _)| *b <= offset && offset < b + n)
                .unwrap();
            assert_eq!(
                base_offset_at(&records, 0),
                *base,
                "offset {offset} {round}"
            );
            assert_same_batch(&records, batch);
        }
        for (base, n, _, ts) in &batches {
            assert_eq!(
                c.list_offset("segmented", 0, *ts).await,
                (0, *base, *ts),
                "{round}"
            );
            assert_eq!(
                c.list_offset("segmented", 0, ts - 50).await.1,
                *base,
                "{round}"
            );
            let last = ts + n - 1;
            assert_eq!(
                c.list_offset("segmented", 0, last).await,
                (0, base + n - 1, last),
                "{round}"
            );
        }
        let (last_base, last_n, _, last_ts) = batches.last().unwrap();
        assert_eq!(
            c.list_offset("segmented", 0, -3).await,
            (0, last_base + last_n - 1, last_ts + last_n - 1),
            "max timestamp {round}"
        );
        drop(c);
        b.restart().await;
        c = b.client().await;
    }
}
