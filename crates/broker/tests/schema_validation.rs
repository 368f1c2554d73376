//! Broker-side schema validation (`confluent.value.schema.validation`,
//! `confluent.key.schema.validation`): records must carry a schema id
//! registered under the topic's subject, as `_schemas` (written here in
//! the registry's own key/value layout) says; otherwise the partition's
//! produce is refused with INVALID_RECORD and per-record errors.

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::records::Record;

const INVALID_RECORD: i16 = 87;

/// A record's key and value (None is null).
type Kv = (Option<Vec<u8>>, Option<Vec<u8>>);

/// One uncompressed batch of (key, value) records.
fn batch(records: &[Kv]) -> Bytes {
    let now = fjord_broker::server::now_ms();
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            offset: i as i64,
            sequence: -1i32.wrapping_add(i as i32),
            timestamp: now,
            key: k.clone().map(Bytes::from),
            value: v.clone().map(Bytes::from),
            ..data_record()
        })
        .collect();
    encode_batch(&records)
}

/// A value framed with schema id `id`.
fn framed(id: i32, payload: &[u8]) -> Option<Vec<u8>> {
    let mut v = vec![0];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(payload);
    Some(v)
}

/// The registry's record for one version, as Confluent lays it out.
fn schema_record(subject: &str, version: i32, id: i32, deleted: bool) -> Kv {
    (
        Some(
            format!(r#"{{"keytype":"SCHEMA","subject":"{subject}","version":{version},"magic":1}}"#)
                .into_bytes(),
        ),
        Some(
            format!(
                r#"{{"subject":"{subject}","version":{version},"id":{id},"schema":"\"string\"","deleted":{deleted}}}"#
            )
            .into_bytes(),
        ),
    )
}

/// Produces at v9 and returns the partition's response.
async fn produce(
    c: &mut Client,
    topic: &str,
    records: Bytes,
) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
    let resp = c.send(9, produce_request(topic, 0, -1, records)).await;
    resp.responses[0].partition_responses[0].clone()
}

async fn setup(configs: &[(&str, &str)]) -> (TestBroker, Client) {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with("_schemas", 1, &[("cleanup.policy", "compact")])
        .await;
    c.create_topic_with("bids", 1, configs).await;
    (b, c)
}

#[tokio::test]
async fn value_validation_refuses_unframed_and_unregistered_and_accepts_registered() {
    let (_b, mut c) = setup(&[("confluent.value.schema.validation", "true")]).await;
    assert_eq!(
        c.produce(
            "_schemas",
            0,
            -1,
            batch(&[schema_record("bids-value", 1, 7, false)])
        )
        .await
        .0,
        0
    );

    // No header at all.
    let r = produce(
        &mut c,
        "bids",
        batch(&[(None, Some(b"plain text".to_vec()))]),
    )
    .await;
    assert_eq!(r.error_code, INVALID_RECORD);
    let msg = r
        .error_message
        .as_deref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("schema validation failed for topic 'bids'"),
        "{msg}"
    );
    assert!(msg.contains("magic byte 0x70"), "{msg}");
    assert_eq!(r.record_errors.len(), 1);
    assert_eq!(r.record_errors[0].batch_index, 0);

    // A header with an id the subject does not have; the good record in the
    // same batch goes down with it, and only the bad one is named.
    let r = produce(
        &mut c,
        "bids",
        batch(&[(None, framed(7, b"ok")), (None, framed(8, b"bad"))]),
    )
    .await;
    assert_eq!(r.error_code, INVALID_RECORD);
    assert_eq!(r.record_errors.len(), 1);
    assert_eq!(r.record_errors[0].batch_index, 1);
    let why = r.record_errors[0]
        .batch_index_error_message
        .as_deref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        why.contains("schema id 8 is not registered under subject 'bids-value'"),
        "{why}"
    );
    assert_eq!(c.list_offset("bids", 0, -1).await.1, 0, "nothing stored");

    // Registered id: accepted. A tombstone (null value) is not checked.
    let r = produce(
        &mut c,
        "bids",
        batch(&[(None, framed(7, b"ok")), (Some(b"k".to_vec()), None)]),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));

    // The registry registers a new version later: the broker reads on.
    let r = produce(&mut c, "bids", batch(&[(None, framed(8, b"v2"))])).await;
    assert_eq!(r.error_code, INVALID_RECORD);
    c.produce(
        "_schemas",
        0,
        -1,
        batch(&[schema_record("bids-value", 2, 8, false)]),
    )
    .await;
    let r = produce(&mut c, "bids", batch(&[(None, framed(8, b"v2"))])).await;
    assert_eq!((r.error_code, r.base_offset), (0, 2));

    // Soft-deleting version 1 stops id 7.
    c.produce(
        "_schemas",
        0,
        -1,
        batch(&[schema_record("bids-value", 1, 7, true)]),
    )
    .await;
    let r = produce(&mut c, "bids", batch(&[(None, framed(7, b"old"))])).await;
    assert_eq!(r.error_code, INVALID_RECORD);
}

#[tokio::test]
async fn an_id_of_another_subject_is_refused() {
    let (_b, mut c) = setup(&[("confluent.value.schema.validation", "true")]).await;
    c.produce(
        "_schemas",
        0,
        -1,
        batch(&[schema_record("other-value", 1, 3, false)]),
    )
    .await;
    let r = produce(&mut c, "bids", batch(&[(None, framed(3, b"x"))])).await;
    assert_eq!(r.error_code, INVALID_RECORD);
}

#[tokio::test]
async fn key_validation_checks_keys_only() {
    let (_b, mut c) = setup(&[("confluent.key.schema.validation", "true")]).await;
    c.produce(
        "_schemas",
        0,
        -1,
        batch(&[schema_record("bids-key", 1, 5, false)]),
    )
    .await;
    // Values are free; keys must be framed with a registered id.
    let r = produce(
        &mut c,
        "bids",
        batch(&[(framed(5, b"k"), Some(b"anything".to_vec()))]),
    )
    .await;
    assert_eq!(r.error_code, 0);
    let r = produce(
        &mut c,
        "bids",
        batch(&[(Some(b"raw key".to_vec()), framed(5, b"v"))]),
    )
    .await;
    assert_eq!(r.error_code, INVALID_RECORD);
    let msg = r.error_message.unwrap().to_string();
    assert!(msg.contains("key:"), "{msg}");
}

#[tokio::test]
async fn topics_without_the_config_accept_anything() {
    let (_b, mut c) = setup(&[]).await;
    let r = produce(&mut c, "bids", batch(&[(None, Some(b"plain".to_vec()))])).await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn validation_can_be_turned_on_at_run_time_and_survives_restart() {
    let (mut b, mut c) = setup(&[]).await;
    c.produce(
        "_schemas",
        0,
        -1,
        batch(&[schema_record("bids-value", 1, 1, false)]),
    )
    .await;
    let resp = c
        .send(
            1,
            kafka_protocol::messages::IncrementalAlterConfigsRequest::default().with_resources(vec![
                kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(kafka_protocol::protocol::StrBytes::from_static_str("bids"))
                    .with_configs(vec![
                        kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(kafka_protocol::protocol::StrBytes::from_static_str(
                                "confluent.value.schema.validation",
                            ))
                            .with_config_operation(0)
                            .with_value(Some(kafka_protocol::protocol::StrBytes::from_static_str("true"))),
                    ]),
            ]),
        )
        .await;
    assert_eq!(
        resp.responses[0].error_code, 0,
        "{:?}",
        resp.responses[0].error_message
    );
    let r = produce(&mut c, "bids", batch(&[(None, Some(b"plain".to_vec()))])).await;
    assert_eq!(r.error_code, INVALID_RECORD);

    b.restart().await;
    let mut c = b.client().await;
    let r = produce(&mut c, "bids", batch(&[(None, Some(b"plain".to_vec()))])).await;
    assert_eq!(r.error_code, INVALID_RECORD, "the config persisted");
    let r = produce(&mut c, "bids", batch(&[(None, framed(1, b"x"))])).await;
    assert_eq!(
        r.error_code, 0,
        "ids read back from _schemas after a restart"
    );
}

#[tokio::test]
async fn old_produce_versions_get_the_error_code() {
    let (_b, mut c) = setup(&[("confluent.value.schema.validation", "true")]).await;
    let resp = c
        .send(
            3,
            produce_request("bids", 0, 1, batch(&[(None, Some(b"x".to_vec()))])),
        )
        .await;
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code,
        INVALID_RECORD
    );
}

/// `batch` with its attributes claiming `codec` (1 gzip) over records that
/// are not compressed, the CRC made right again: well-formed for the log,
/// unreadable for anyone who decodes it.
fn claiming_codec(batch: Bytes, codec: u8) -> Bytes {
    let mut b = batch.to_vec();
    b[22] |= codec;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

// Symptom (found by reading the code): with validation on, a batch whose
// records could not be read (a codec claim that does not decompress, a
// record overrunning its batch) was let through unchecked, so anything
// could land on a validated topic that way.
#[tokio::test]
async fn records_that_cannot_be_read_are_refused_not_let_through() {
    let (_b, mut c) = setup(&[("confluent.value.schema.validation", "true")]).await;
    let unframed = batch(&[(None, Some(b"not framed".to_vec()))]);
    let r = produce(&mut c, "bids", claiming_codec(unframed, 1)).await;
    assert_eq!(r.error_code, INVALID_RECORD, "{:?}", r.error_message);
    assert!(
        r.error_message
            .as_deref()
            .unwrap_or_default()
            .contains("cannot be read"),
        "{:?}",
        r.error_message
    );
    // A record whose length runs past its batch, the CRC made right.
    let mut overrun = batch(&[(None, Some(b"x".to_vec()))]).to_vec();
    overrun[61] = 0x7e; // the first record's length varint: 63 bytes
    let crc = crc32c::crc32c(&overrun[21..]);
    overrun[17..21].copy_from_slice(&crc.to_be_bytes());
    let r = produce(&mut c, "bids", Bytes::from(overrun)).await;
    assert_eq!(r.error_code, INVALID_RECORD, "{:?}", r.error_message);
    assert_eq!(c.list_offset("bids", 0, -1).await.1, 0, "nothing stored");
}
