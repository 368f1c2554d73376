//! Every advertised version of every API is answered with a response that
//! decodes at that version: a scenario written once and run against each
//! version in `fjord_broker::api::SUPPORTED`. A response field that a
//! version cannot carry would make the broker close the connection instead.

mod common;

use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn versions(api: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (min, max) = fjord_broker::api::supported(api).expect("advertised");
    min..=max
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[tokio::test]
async fn produce_fetch_and_list_offsets_at_every_version() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("sweep", 1).await;
    let id = b.broker().topics.get("sweep").unwrap().id;

    let mut expected_offset = 0;
    for v in versions(ApiKey::Produce) {
        eprintln!("Produce v{v}");
        let resp = c
            .send(
                v,
                produce_request("sweep", 0, -1, Batch::of(&[format!("v{v}")]).encode()),
            )
            .await;
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset),
            (0, expected_offset),
            "Produce v{v}"
        );
        expected_offset += 1;
    }

    for v in versions(ApiKey::Fetch) {
        eprintln!("Fetch v{v}");
        let mut req = fetch_request("sweep", 0, 0, 1 << 20);
        if v >= 13 {
            req.topics[0].topic = Default::default();
            req.topics[0].topic_id = id;
        }
        if v >= 15 {
            req.replica_id = BrokerId(-1);
        }
        let resp = c.send(v, req).await;
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "Fetch v{v}");
        assert_eq!(p.high_watermark, expected_offset, "Fetch v{v}");
        assert_eq!(
            values(p.records.as_ref().unwrap()).len() as i64,
            expected_offset,
            "Fetch v{v}"
        );
    }

    for v in versions(ApiKey::ListOffsets) {
        eprintln!("ListOffsets v{v}");
        use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name("sweep"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]);
        let resp = c.send(v, req).await;
        let p = &resp.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.offset),
            (0, expected_offset),
            "ListOffsets v{v}"
        );
    }
}

#[tokio::test]
async fn metadata_and_cluster_apis_at_every_version() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("sweep", 2).await;
    for v in versions(ApiKey::Metadata) {
        eprintln!("Metadata v{v}");
        let resp = c.metadata(v, Some(&["sweep"]), true).await;
        assert_eq!(resp.topics[0].error_code, 0, "Metadata v{v}");
        assert_eq!(resp.topics[0].partitions.len(), 2, "Metadata v{v}");
    }
    for v in versions(ApiKey::ApiVersions) {
        eprintln!("ApiVersions v{v}");
        assert_eq!(c.send(v, ApiVersionsRequest::default()).await.error_code, 0);
    }
    for v in versions(ApiKey::DescribeCluster) {
        eprintln!("DescribeCluster v{v}");
        let resp = c.send(v, DescribeClusterRequest::default()).await;
        assert_eq!(resp.error_code, 0, "DescribeCluster v{v}");
    }
    for v in versions(ApiKey::InitProducerId) {
        eprintln!("InitProducerId v{v}");
        let resp = c
            .send(
                v,
                InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
        assert_eq!(resp.error_code, 0, "InitProducerId v{v}");
        assert!(resp.producer_id.0 >= 0);
    }
    for v in versions(ApiKey::DescribeLogDirs) {
        eprintln!("DescribeLogDirs v{v}");
        let resp = c
            .send(v, DescribeLogDirsRequest::default().with_topics(None))
            .await;
        assert_eq!(resp.results[0].error_code, 0, "DescribeLogDirs v{v}");
        assert_eq!(resp.results[0].topics.len(), 1, "DescribeLogDirs v{v}");
    }
}

#[tokio::test]
async fn topic_admin_apis_at_every_version() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    for v in versions(ApiKey::CreateTopics) {
        eprintln!("CreateTopics v{v}");
        let name = format!("made-v{v}");
        let resp = c
            .send(
                v,
                create_topics_request(&[creatable(&name, 1, 1, &[("retention.ms", "1000")])]),
            )
            .await;
        assert_eq!(
            resp.topics[0].error_code, 0,
            "CreateTopics v{v}: {:?}",
            resp.topics[0].error_message
        );
        assert!(b.broker().topics.get(&name).is_some());

        // CreatePartitions on it, at a version cycling through the range.
        let cp = *versions(ApiKey::CreatePartitions)
            .collect::<Vec<_>>()
            .get((v as usize) % 4)
            .unwrap();
        eprintln!("CreatePartitions v{cp}");
        let resp = c
            .send(
                cp,
                CreatePartitionsRequest::default()
                    .with_topics(vec![
                        create_partitions_request::CreatePartitionsTopic::default()
                            .with_name(topic_name(&name))
                            .with_count(2)
                            .with_assignments(None),
                    ])
                    .with_timeout_ms(5000),
            )
            .await;
        assert_eq!(resp.results[0].error_code, 0, "CreatePartitions v{cp}");
    }
    for v in versions(ApiKey::DeleteRecords) {
        eprintln!("DeleteRecords v{v}");
        let name = "made-v2";
        c.produce(name, 0, 1, Batch::of(&["a", "b"]).encode()).await;
        let resp = c
            .send(
                v,
                DeleteRecordsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                        .with_name(topic_name(name))
                        .with_partitions(vec![
                            delete_records_request::DeleteRecordsPartition::default()
                                .with_partition_index(0)
                                .with_offset(-1),
                        ])]),
            )
            .await;
        assert_eq!(
            resp.topics[0].partitions[0].error_code, 0,
            "DeleteRecords v{v}"
        );
    }
    for v in versions(ApiKey::DescribeConfigs) {
        eprintln!("DescribeConfigs v{v}");
        let resp = c
            .send(
                v,
                DescribeConfigsRequest::default().with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s("made-v2"))
                        .with_configuration_keys(None),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(s("0"))
                        .with_configuration_keys(None),
                ]),
            )
            .await;
        assert_eq!(resp.results[0].error_code, 0, "DescribeConfigs v{v}");
        assert_eq!(resp.results[1].error_code, 0, "DescribeConfigs v{v} broker");
    }
    for v in versions(ApiKey::AlterConfigs) {
        eprintln!("AlterConfigs v{v}");
        use alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let resp = c
            .send(
                v,
                AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default(
                )
                .with_resource_type(2)
                .with_resource_name(s("made-v2"))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s(&format!("{}", 1000 + v as i64))))])]),
            )
            .await;
        assert_eq!(resp.responses[0].error_code, 0, "AlterConfigs v{v}");
    }
    for v in versions(ApiKey::IncrementalAlterConfigs) {
        eprintln!("IncrementalAlterConfigs v{v}");
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let resp = c
            .send(
                v,
                IncrementalAlterConfigsRequest::default().with_resources(vec![
                    AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s("made-v2"))
                        .with_configs(vec![AlterableConfig::default()
                            .with_config_operation(0)
                            .with_name(s("segment.ms"))
                            .with_value(Some(s("100000")))]),
                ]),
            )
            .await;
        assert_eq!(
            resp.responses[0].error_code, 0,
            "IncrementalAlterConfigs v{v}"
        );
    }
    for v in versions(ApiKey::DeleteTopics) {
        eprintln!("DeleteTopics v{v}");
        let name = format!("made-v{}", v + 1);
        let req = if v >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic_name(&name)))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name(&name)])
        };
        let resp = c.send(v, req.with_timeout_ms(5000)).await;
        assert_eq!(resp.responses[0].error_code, 0, "DeleteTopics v{v}");
        assert!(b.broker().topics.get(&name).is_none(), "DeleteTopics v{v}");
    }
}
