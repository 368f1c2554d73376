//! Metadata: auto-creation, the all-topics listing, topic ids and old
//! encodings.

mod common;

use common::TestBroker;
use kafka_protocol::messages::MetadataRequest;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

#[tokio::test]
async fn unknown_topic_is_auto_created_with_num_partitions() {
    let b = TestBroker::start_with(|c| c.num_partitions = 3).await;
    let mut c = b.client().await;
    let resp = c.metadata(9, Some(&["auto-made"]), true).await;
    let t = &resp.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.name.as_ref().unwrap().as_str(), "auto-made");
    assert_eq!(t.partitions.len(), 3);
    for (i, p) in t.partitions.iter().enumerate() {
        assert_eq!(p.partition_index, i as i32);
        assert_eq!(p.leader_id.0, 0);
        assert_eq!(p.error_code, 0);
    }
    assert_eq!(resp.brokers.len(), 1);
    assert_eq!(resp.brokers[0].port, b.addr.port() as i32);
    assert!(b.broker().topics.get("auto-made").is_some());
}

#[tokio::test]
async fn no_auto_creation_when_the_client_disallows_it() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    for version in [4, 9, 12] {
        let name = format!("not-made-v{version}");
        let resp = c.metadata(version, Some(&[&name]), false).await;
        assert_eq!(
            resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "v{version}"
        );
        assert!(b.broker().topics.get(&name).is_none(), "v{version}");
    }
}

#[tokio::test]
async fn no_auto_creation_when_the_broker_disables_it() {
    let b = TestBroker::start_with(|c| c.auto_create_topics = false).await;
    let mut c = b.client().await;
    let resp = c.metadata(1, Some(&["nope"]), true).await;
    assert_eq!(resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(b.broker().topics.get("nope").is_none());
}

#[tokio::test]
async fn null_topics_lists_every_topic() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("alpha", 2).await;
    c.create_topic("beta", 1).await;
    let resp = c.metadata(12, None, true).await;
    let mut names: Vec<_> = resp
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.partitions.len()))
        .collect();
    names.sort();
    assert_eq!(names, vec![("alpha".into(), 2), ("beta".into(), 1)]);
    // An empty list (v1+) means no topics, not all.
    let empty = c.metadata(12, Some(&[]), true).await;
    assert!(empty.topics.is_empty());
}

#[tokio::test]
async fn topic_ids_are_present_from_v10() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("with-id", 1).await;
    let id = b.broker().topics.get("with-id").unwrap().id;
    assert!(!id.is_nil());
    for version in [10, 12] {
        let resp = c.metadata(version, Some(&["with-id"]), false).await;
        assert_eq!(resp.topics[0].topic_id, id, "v{version}");
    }
    let v9 = c.metadata(9, Some(&["with-id"]), false).await;
    assert_eq!(v9.topics[0].error_code, 0);
    // And lookup by id alone (v10+).
    let by_id = c
        .send(
            12,
            MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_topic_id(id)
                    .with_name(None),
            ])),
        )
        .await;
    assert_eq!(by_id.topics[0].error_code, 0);
    assert_eq!(by_id.topics[0].name.as_ref().unwrap().as_str(), "with-id");
}

#[tokio::test]
async fn v0_and_v1_encodings_work() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("old-client", 2).await;
    // v0: an empty list means all topics.
    let v0 = c.metadata(0, Some(&[]), true).await;
    assert_eq!(v0.topics.len(), 1);
    assert_eq!(v0.topics[0].partitions.len(), 2);
    assert_eq!(v0.brokers[0].port, b.addr.port() as i32);
    // v0 auto-creates (it cannot opt out).
    let v0_new = c.metadata(0, Some(&["made-by-v0"]), false).await;
    assert_eq!(v0_new.topics[0].error_code, 0);
    assert!(b.broker().topics.get("made-by-v0").is_some());

    let v1 = c.metadata(1, Some(&["old-client"]), true).await;
    assert_eq!(v1.topics[0].error_code, 0);
    assert_eq!(v1.controller_id.0, 0);
    assert!(!v1.topics[0].is_internal);
}
