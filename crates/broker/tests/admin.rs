//! Admin APIs: topics, partitions, records, configs, cluster and log dirs.

mod common;

use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_ID: i16 = 100;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn create(c: &mut Client, version: i16, topics: &[CreatableTopic]) -> CreateTopicsResponse {
    c.send(version, create_topics_request(topics)).await
}

use kafka_protocol::messages::create_topics_request::CreatableTopic;

#[tokio::test]
async fn create_topics_with_partitions_and_configs() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let resp = create(
        &mut c,
        7,
        &[creatable(
            "orders",
            4,
            1,
            &[("retention.ms", "3600000"), ("cleanup.policy", "compact")],
        )],
    )
    .await;
    let t = &resp.topics[0];
    assert_eq!(t.error_code, 0, "{:?}", t.error_message);
    assert_eq!(t.num_partitions, 4);
    assert_eq!(t.replication_factor, 1);
    let topic = b.broker().topics.get("orders").unwrap();
    assert_eq!(t.topic_id, topic.id);
    assert_eq!(topic.partitions.len(), 4);
    let configs = t.configs.as_ref().unwrap();
    let retention = configs
        .iter()
        .find(|e| e.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.config_source, DYNAMIC_TOPIC_CONFIG);
    let meta = c.metadata(12, Some(&["orders"]), false).await;
    assert_eq!(meta.topics[0].partitions.len(), 4);

    // -1 partitions: the broker default.
    let resp = create(&mut c, 7, &[creatable("defaulted", -1, -1, &[])]).await;
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(
        b.broker().topics.get("defaulted").unwrap().partitions.len(),
        1
    );
}

#[tokio::test]
async fn replication_factor_above_one_is_refused_as_single_node() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let resp = create(&mut c, 5, &[creatable("replicated", 1, 3, &[])]).await;
    let t = &resp.topics[0];
    assert_eq!(t.error_code, INVALID_REPLICATION_FACTOR);
    let msg = t.error_message.as_ref().unwrap().to_lowercase();
    assert!(
        msg.contains("single node") || msg.contains("single-node"),
        "message: {msg}"
    );
    assert!(b.broker().topics.get("replicated").is_none());

    let resp = create(
        &mut c,
        5,
        &[
            creatable("rf-minus-one", 1, -1, &[]),
            creatable("rf-one", 1, 1, &[]),
        ],
    )
    .await;
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[1].error_code, 0);
}

#[tokio::test]
async fn invalid_names_and_duplicates_are_refused() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let long = "x".repeat(250);
    for bad in ["", ".", "..", "has space", "slash/name", long.as_str()] {
        let resp = create(&mut c, 5, &[creatable(bad, 1, 1, &[])]).await;
        assert_eq!(
            resp.topics[0].error_code, INVALID_TOPIC_EXCEPTION,
            "{bad:?}"
        );
    }
    c.create_topic("twice", 1).await;
    let resp = create(&mut c, 5, &[creatable("twice", 3, 1, &[])]).await;
    assert_eq!(resp.topics[0].error_code, TOPIC_ALREADY_EXISTS);
    assert_eq!(b.broker().topics.get("twice").unwrap().partitions.len(), 1);
    // Partition counts out of range.
    let resp = create(&mut c, 5, &[creatable("zero-parts", 0, 1, &[])]).await;
    assert_eq!(resp.topics[0].error_code, INVALID_PARTITIONS);
}

#[tokio::test]
async fn validate_only_creates_nothing() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let req = create_topics_request(&[creatable("dry-run", 2, 1, &[("retention.ms", "1000")])])
        .with_validate_only(true);
    let resp = c.send(5, req).await;
    assert_eq!(resp.topics[0].error_code, 0);
    assert!(b.broker().topics.get("dry-run").is_none());
    assert!(!b.data_dir().join("dry-run-0").exists());
    let meta = c.metadata(12, None, false).await;
    assert!(meta.topics.is_empty());
    // Validation still happens.
    let req = create_topics_request(&[creatable("dry-run", 2, 3, &[])]).with_validate_only(true);
    assert_eq!(
        c.send(5, req).await.topics[0].error_code,
        INVALID_REPLICATION_FACTOR
    );
}

#[tokio::test]
async fn invalid_config_values_are_refused() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let resp = create(
        &mut c,
        5,
        &[creatable("bad-config", 1, 1, &[("retention.ms", "soon")])],
    )
    .await;
    assert_eq!(resp.topics[0].error_code, INVALID_CONFIG);
    assert!(b.broker().topics.get("bad-config").is_none());

    c.create_topic("good", 1).await;
    let resp = alter_configs(&mut c, "good", &[("cleanup.policy", "sometimes")]).await;
    assert_eq!(resp.responses[0].error_code, INVALID_CONFIG);
    let resp = incremental(&mut c, "good", &[(0, "max.message.bytes", Some("-5"))]).await;
    assert_eq!(resp.responses[0].error_code, INVALID_CONFIG);
    // Nothing changed.
    let d = describe_topic(&mut c, "good").await;
    assert_eq!(
        entry(&d, "cleanup.policy"),
        ("delete".into(), DEFAULT_CONFIG)
    );
    assert_eq!(entry(&d, "max.message.bytes").1, DEFAULT_CONFIG);
}

#[tokio::test]
async fn delete_topics_by_name_and_by_id() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("doomed-a", 2).await;
    c.create_topic("doomed-b", 1).await;
    c.produce("doomed-a", 1, 1, Batch::of(&["x"]).encode())
        .await;

    // By name, at an old version (topic_names).
    let resp = c
        .send(
            4,
            DeleteTopicsRequest::default()
                .with_topic_names(vec![topic_name("doomed-a"), topic_name("never-was")])
                .with_timeout_ms(5000),
        )
        .await;
    assert_eq!(resp.responses[0].error_code, 0);
    assert_eq!(resp.responses[1].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(b.broker().topics.get("doomed-a").is_none());
    assert!(!b.data_dir().join("doomed-a-1").exists());

    // By id (v6).
    let id = b.broker().topics.get("doomed-b").unwrap().id;
    let resp = c
        .send(
            6,
            DeleteTopicsRequest::default()
                .with_topics(vec![
                    DeleteTopicState::default()
                        .with_name(None)
                        .with_topic_id(id),
                    DeleteTopicState::default()
                        .with_name(None)
                        .with_topic_id(uuid::Uuid::new_v4()),
                ])
                .with_timeout_ms(5000),
        )
        .await;
    assert_eq!(resp.responses[0].error_code, 0);
    assert_eq!(
        resp.responses[0].name.as_ref().unwrap().as_str(),
        "doomed-b"
    );
    assert_eq!(resp.responses[1].error_code, UNKNOWN_TOPIC_ID);
    assert!(b.broker().topics.get("doomed-b").is_none());

    // A deleted topic can be created again, empty.
    c.create_topic("doomed-a", 1).await;
    assert_eq!(c.list_offset("doomed-a", 0, -1).await.1, 0);
}

#[tokio::test]
async fn create_partitions_grows_and_refuses_shrinking() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("growing", 2).await;
    let grow = |count: i32, validate_only: bool| {
        CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name("growing"))
                .with_count(count)
                .with_assignments(None)])
            .with_timeout_ms(5000)
            .with_validate_only(validate_only)
    };
    let resp = c.send(3, grow(5, true)).await;
    assert_eq!(resp.results[0].error_code, 0);
    assert_eq!(
        b.broker().topics.get("growing").unwrap().partitions.len(),
        2
    );

    let resp = c.send(3, grow(5, false)).await;
    assert_eq!(resp.results[0].error_code, 0);
    let meta = c.metadata(12, Some(&["growing"]), false).await;
    assert_eq!(meta.topics[0].partitions.len(), 5);
    let (err, base) = c
        .produce("growing", 4, 1, Batch::of(&["new"]).encode())
        .await;
    assert_eq!((err, base), (0, 0));

    for count in [3, 5] {
        let resp = c.send(3, grow(count, false)).await;
        assert_eq!(
            resp.results[0].error_code, INVALID_PARTITIONS,
            "count {count}"
        );
    }
    assert_eq!(
        b.broker().topics.get("growing").unwrap().partitions.len(),
        5
    );
}

#[tokio::test]
async fn delete_records_raises_the_low_watermark() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("trim", 1).await;
    for _ in 0..3 {
        c.produce("trim", 0, 1, Batch::of(&["a", "b"]).encode())
            .await;
    }
    let delete = |offset: i64| {
        DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(topic_name("trim"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])])
    };
    let resp = c.send(2, delete(3)).await;
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 3));
    assert_eq!(c.list_offset("trim", 0, -2).await.1, 3);
    assert_eq!(
        c.fetch("trim", 0, 1, 1 << 20).await.error_code,
        1,
        "below the log start"
    );
    let f = c.fetch("trim", 0, 3, 1 << 20).await;
    assert_eq!(f.log_start_offset, 3);
    // -1: up to the high watermark.
    let resp = c.send(0, delete(-1)).await;
    assert_eq!(resp.topics[0].partitions[0].low_watermark, 6);
    assert_eq!(c.list_offset("trim", 0, -2).await.1, 6);
}

async fn describe(c: &mut Client, resource_type: i8, name: &str) -> DescribeConfigsResult {
    let resp = c
        .send(
            4,
            DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(s(name))
                    .with_configuration_keys(None),
            ]),
        )
        .await;
    resp.results.into_iter().next().unwrap()
}

async fn describe_topic(c: &mut Client, name: &str) -> DescribeConfigsResult {
    let r = describe(c, TOPIC, name).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r
}

/// (value, source) of one key.
fn entry(r: &DescribeConfigsResult, key: &str) -> (String, i8) {
    let e = r
        .configs
        .iter()
        .find(|e| e.name.as_str() == key)
        .unwrap_or_else(|| panic!("{key} is described"));
    (
        e.value.as_deref().unwrap_or("").to_string(),
        e.config_source,
    )
}

#[tokio::test]
async fn describe_configs_reports_sources() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with("described", 1, &[("retention.ms", "12345")])
        .await;
    let r = describe_topic(&mut c, "described").await;
    assert_eq!(
        entry(&r, "retention.ms"),
        ("12345".into(), DYNAMIC_TOPIC_CONFIG)
    );
    for e in &r.configs {
        if e.name.as_str() != "retention.ms" {
            assert_eq!(e.config_source, DEFAULT_CONFIG, "{}", e.name.as_str());
        }
    }
    assert_eq!(
        entry(&r, "max.message.bytes"),
        ("1048588".into(), DEFAULT_CONFIG)
    );

    let broker = describe(&mut c, BROKER, "0").await;
    assert_eq!(broker.error_code, 0);
    assert!(!broker.configs.is_empty());
    assert!(broker.configs.iter().all(|e| e.read_only));
    assert_eq!(entry(&broker, "broker.id").0, "0");

    let missing = describe(&mut c, TOPIC, "no-such").await;
    assert_eq!(missing.error_code, UNKNOWN_TOPIC_OR_PARTITION);
}

async fn alter_configs(
    c: &mut Client,
    topic: &str,
    configs: &[(&str, &str)],
) -> AlterConfigsResponse {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    c.send(
        2,
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(s(topic))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            )]),
    )
    .await
}

async fn incremental(
    c: &mut Client,
    topic: &str,
    ops: &[(i8, &str, Option<&str>)],
) -> IncrementalAlterConfigsResponse {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    c.send(
        1,
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s(topic))
                .with_configs(
                    ops.iter()
                        .map(|(op, k, v)| {
                            AlterableConfig::default()
                                .with_config_operation(*op)
                                .with_name(s(k))
                                .with_value(v.map(s))
                        })
                        .collect(),
                ),
        ]),
    )
    .await
}

#[tokio::test]
async fn alter_configs_replaces_every_override() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with(
        "replaced",
        1,
        &[("retention.ms", "1000"), ("segment.bytes", "100000")],
    )
    .await;
    let resp = alter_configs(&mut c, "replaced", &[("cleanup.policy", "compact")]).await;
    assert_eq!(
        resp.responses[0].error_code, 0,
        "{:?}",
        resp.responses[0].error_message
    );
    let r = describe_topic(&mut c, "replaced").await;
    assert_eq!(
        entry(&r, "cleanup.policy"),
        ("compact".into(), DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        entry(&r, "retention.ms"),
        ("604800000".into(), DEFAULT_CONFIG)
    );
    assert_eq!(entry(&r, "segment.bytes").1, DEFAULT_CONFIG);
}

#[tokio::test]
async fn incremental_alter_configs_set_delete_append() {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with("tweaked", 1, &[("retention.ms", "1000")])
        .await;

    let resp = incremental(&mut c, "tweaked", &[(SET, "segment.bytes", Some("200000"))]).await;
    assert_eq!(
        resp.responses[0].error_code, 0,
        "{:?}",
        resp.responses[0].error_message
    );
    let r = describe_topic(&mut c, "tweaked").await;
    assert_eq!(
        entry(&r, "segment.bytes"),
        ("200000".into(), DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        entry(&r, "retention.ms"),
        ("1000".into(), DYNAMIC_TOPIC_CONFIG),
        "SET keeps others"
    );

    let resp = incremental(&mut c, "tweaked", &[(DELETE, "retention.ms", None)]).await;
    assert_eq!(resp.responses[0].error_code, 0);
    let r = describe_topic(&mut c, "tweaked").await;
    assert_eq!(
        entry(&r, "retention.ms"),
        ("604800000".into(), DEFAULT_CONFIG)
    );
    assert_eq!(entry(&r, "segment.bytes").1, DYNAMIC_TOPIC_CONFIG);

    let resp = incremental(
        &mut c,
        "tweaked",
        &[(APPEND, "cleanup.policy", Some("compact"))],
    )
    .await;
    assert_eq!(
        resp.responses[0].error_code, 0,
        "{:?}",
        resp.responses[0].error_message
    );
    let r = describe_topic(&mut c, "tweaked").await;
    let (policy, source) = entry(&r, "cleanup.policy");
    assert_eq!(source, DYNAMIC_TOPIC_CONFIG);
    let mut words: Vec<_> = policy.split(',').collect();
    words.sort();
    assert_eq!(words, vec!["compact", "delete"]);

    // The new config is in force: max.message.bytes set low refuses a batch.
    let resp = incremental(
        &mut c,
        "tweaked",
        &[(SET, "max.message.bytes", Some("100"))],
    )
    .await;
    assert_eq!(resp.responses[0].error_code, 0);
    let (err, _) = c
        .produce("tweaked", 0, 1, Batch::sized(1, 200).encode())
        .await;
    assert_eq!(err, 10, "MESSAGE_TOO_LARGE after the change");
}

#[tokio::test]
async fn describe_cluster() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    for version in [0, 1] {
        let resp = c.send(version, DescribeClusterRequest::default()).await;
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.cluster_id.as_str(), b.broker().cluster_id);
        assert_eq!(resp.controller_id.0, 0);
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].broker_id.0, 0);
        assert_eq!(resp.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(resp.brokers[0].port, b.addr.port() as i32);
    }
    let meta = c.metadata(12, None, false).await;
    assert_eq!(
        meta.cluster_id.as_ref().unwrap().as_str(),
        b.broker().cluster_id
    );
}

#[tokio::test]
async fn describe_log_dirs_sizes_grow_after_produce() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("sized", 2).await;
    let size_of = |resp: &DescribeLogDirsResponse, partition: i32| -> i64 {
        let dir = &resp.results[0];
        let t = dir
            .topics
            .iter()
            .find(|t| t.name.as_str() == "sized")
            .unwrap();
        t.partitions
            .iter()
            .find(|p| p.partition_index == partition)
            .unwrap()
            .partition_size
    };
    let req = DescribeLogDirsRequest::default().with_topics(None);
    let before = c.send(4, req.clone()).await;
    assert_eq!(before.results.len(), 1);
    assert_eq!(before.results[0].error_code, 0);
    assert!(!before.results[0].log_dir.is_empty());
    let (b0, b1) = (size_of(&before, 0), size_of(&before, 1));

    let batch = Batch::sized(10, 100).encode();
    c.produce("sized", 1, -1, batch.clone()).await;
    let after = c.send(4, req).await;
    assert_eq!(size_of(&after, 0), b0, "untouched partition");
    assert_eq!(size_of(&after, 1), b1 + batch.len() as i64);
    // v1 (non-flexible) works too.
    let v1 = c
        .send(1, DescribeLogDirsRequest::default().with_topics(None))
        .await;
    assert_eq!(size_of(&v1, 1), b1 + batch.len() as i64);
}

/// Creates `__consumer_offsets` and `__transaction_state` the way clients
/// do: a group coordinator lookup and a transactional InitProducerId.
async fn create_internal_topics(c: &mut Client) {
    for key_type in [0i8, 1] {
        let r = c
            .send(
                3,
                FindCoordinatorRequest::default()
                    .with_key(s("owner"))
                    .with_key_type(key_type),
            )
            .await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    }
    let r = c
        .send(
            4,
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("tx"))))
                .with_transaction_timeout_ms(60_000),
        )
        .await;
    assert_eq!(r.error_code, 0);
    for topic in INTERNAL {
        assert!(c.metadata(12, Some(&[topic]), false).await.topics[0].error_code == 0);
    }
}

const INTERNAL: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

#[tokio::test]
async fn clients_cannot_write_delete_grow_or_uncompact_internal_topics() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_internal_topics(&mut c).await;
    for topic in INTERNAL {
        let partitions = b.broker().topics.get(topic).unwrap().partitions.len();
        let (err, _) = c.produce(topic, 0, -1, Batch::of(&["x"]).encode()).await;
        assert_eq!(err, INVALID_TOPIC_EXCEPTION, "produce to {topic}");

        let r = c
            .send(
                2,
                DeleteRecordsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(vec![DeleteRecordsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(-1)])]),
            )
            .await;
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            INVALID_TOPIC_EXCEPTION
        );

        let r = c
            .send(
                3,
                CreatePartitionsRequest::default()
                    .with_topics(vec![CreatePartitionsTopic::default()
                        .with_name(topic_name(topic))
                        .with_count(partitions as i32 + 1)
                        .with_assignments(None)])
                    .with_timeout_ms(5000),
            )
            .await;
        assert_eq!(r.results[0].error_code, INVALID_TOPIC_EXCEPTION);

        // Either alteration would let retention delete the coordinator's
        // state: a delete policy, or replacing the overrides without it.
        for configs in [
            &[("cleanup.policy", "delete")][..],
            &[("cleanup.policy", "compact,delete")][..],
            &[("retention.ms", "1000")][..],
        ] {
            let r = alter_configs(&mut c, topic, configs).await;
            assert_eq!(r.responses[0].error_code, INVALID_CONFIG, "{configs:?}");
        }
        let r = incremental(&mut c, topic, &[(0, "cleanup.policy", Some("delete"))]).await;
        assert_eq!(r.responses[0].error_code, INVALID_CONFIG);
        // Other settings may change, compaction kept.
        let r = incremental(&mut c, topic, &[(0, "segment.ms", Some("3600000"))]).await;
        assert_eq!(
            r.responses[0].error_code, 0,
            "{:?}",
            r.responses[0].error_message
        );

        assert_eq!(c.delete_topic(topic).await, INVALID_TOPIC_EXCEPTION);
        let r = describe_topic(&mut c, topic).await;
        let policy = r
            .configs
            .iter()
            .find(|e| e.name.as_str() == "cleanup.policy");
        assert_eq!(policy.and_then(|e| e.value.as_deref()), Some("compact"));
        assert_eq!(
            b.broker().topics.get(topic).unwrap().partitions.len(),
            partitions
        );
    }
}

#[tokio::test]
async fn only_the_coordinators_topics_are_internal() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    // Before a coordinator made it, a client can neither create an
    // internal topic nor have a metadata request auto-create it.
    let r = create(&mut c, 7, &[creatable("__transaction_state", 1, 1, &[])]).await;
    assert_eq!(r.topics[0].error_code, INVALID_TOPIC_EXCEPTION);
    let md = c.metadata(12, Some(&["__consumer_offsets"]), true).await;
    assert_eq!(md.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(b.broker().topics.get("__consumer_offsets").is_none());

    create_internal_topics(&mut c).await;
    // _schemas and names that merely start with "__" are ordinary topics,
    // as in Kafka.
    c.create_topic("_schemas", 1).await;
    c.create_topic("__mine", 1).await;
    for topic in ["_schemas", "__mine"] {
        let (err, _) = c.produce(topic, 0, -1, Batch::of(&["x"]).encode()).await;
        assert_eq!(err, 0, "produce to {topic}");
    }
    let md = c
        .metadata(
            12,
            Some(&[
                "__consumer_offsets",
                "__transaction_state",
                "_schemas",
                "__mine",
            ]),
            false,
        )
        .await;
    let internal: Vec<bool> = md.topics.iter().map(|t| t.is_internal).collect();
    assert_eq!(internal, vec![true, true, false, false]);
    // Once it exists, creating it again is TOPIC_ALREADY_EXISTS as for any topic.
    let r = create(&mut c, 7, &[creatable("__transaction_state", 1, 1, &[])]).await;
    assert_eq!(r.topics[0].error_code, TOPIC_ALREADY_EXISTS);
}
