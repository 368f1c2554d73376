//! Produce validation: batches over max.message.bytes and batches with a
//! bad CRC are refused and leave the log untouched.

mod common;

use common::*;

const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;

#[tokio::test]
async fn batch_over_max_message_bytes_is_refused_and_not_stored() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with("small", 1, &[("max.message.bytes", "1000")])
        .await;
    let big = Batch::sized(3, 500).encode();
    assert!(big.len() > 1000);
    for acks in [1, -1] {
        let (err, base) = c.produce("small", 0, acks, big.clone()).await;
        assert_eq!((err, base), (MESSAGE_TOO_LARGE, -1), "acks={acks}");
    }
    assert_eq!(c.list_offset("small", 0, -1).await.1, 0, "nothing stored");
    let fits = Batch::sized(3, 100).encode();
    assert!(fits.len() <= 1000);
    assert_eq!(c.produce("small", 0, 1, fits).await, (0, 0));
}

#[tokio::test]
async fn batch_with_bad_crc_is_corrupt_and_not_stored() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("crc", 1).await;
    assert_eq!(
        c.produce("crc", 0, 1, Batch::of(&["good"]).encode()).await,
        (0, 0)
    );

    let good = Batch::of(&["payload-that-will-be-damaged"]).encode();
    let mut bad = good.to_vec();
    let last = bad.len() - 3;
    bad[last] ^= 0x55; // inside the record value, covered by the CRC
    let (err, base) = c.produce("crc", 0, -1, bad.into()).await;
    assert_eq!((err, base), (CORRUPT_MESSAGE, -1));

    // A damaged CRC field itself is caught the same way.
    let mut bad_crc = good.to_vec();
    bad_crc[17] ^= 0xff;
    assert_eq!(
        c.produce("crc", 0, 1, bad_crc.into()).await.0,
        CORRUPT_MESSAGE
    );

    assert_eq!(c.list_offset("crc", 0, -1).await.1, 1, "nothing stored");
    // The connection and partition are fine: the next good batch lands next.
    assert_eq!(c.produce("crc", 0, 1, good.clone()).await, (0, 1));
    let all = c.fetch("crc", 0, 0, 1 << 20).await.records.unwrap();
    assert_eq!(
        values(&all),
        vec![b"good".to_vec(), b"payload-that-will-be-damaged".to_vec()]
    );
}

#[tokio::test]
async fn empty_or_truncated_record_set_is_corrupt() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("trunc", 1).await;
    let good = Batch::of(&["x", "y"]).encode();
    let (err, _) = c.produce("trunc", 0, 1, good.slice(..good.len() - 5)).await;
    assert_eq!(err, CORRUPT_MESSAGE);
    let (err, _) = c.produce("trunc", 0, 1, bytes::Bytes::new()).await;
    assert_eq!(err, CORRUPT_MESSAGE);
    assert_eq!(c.list_offset("trunc", 0, -1).await.1, 0);
}

// KIP-467: a batch a compacted topic refuses because some records have no
// key is refused whole (INVALID_RECORD), and the response names those
// records, so a client fails them with the reason and the others as
// collateral instead of failing all with one message.
#[tokio::test]
async fn a_compacted_topic_names_the_records_without_a_key() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with("keyed", 1, &[("cleanup.policy", "compact")])
        .await;
    let now = fjord_broker::server::now_ms();
    let records: Vec<_> = [Some("a"), None, Some("c"), None]
        .iter()
        .enumerate()
        .map(|(i, key)| kafka_protocol::records::Record {
            offset: i as i64,
            sequence: i as i32,
            timestamp: now,
            key: key.map(|k| bytes::Bytes::from(k.to_string())),
            value: Some(bytes::Bytes::from(format!("v{i}"))),
            ..data_record()
        })
        .collect();
    let resp = c
        .send(9, produce_request("keyed", 0, -1, encode_batch(&records)))
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 87, "INVALID_RECORD: {:?}", p.error_message);
    let named: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(named, vec![1, 3]);
    assert!(p.record_errors[0]
        .batch_index_error_message
        .as_deref()
        .unwrap_or_default()
        .contains("without a key"));
    assert_eq!(c.list_offset("keyed", 0, -1).await.1, 0, "nothing stored");
}
