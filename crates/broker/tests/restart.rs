//! A clean shutdown and a restart on the same data directory keep
//! everything: topics, partition counts, topic ids and configs, data, and
//! producer ids and sequences.

mod common;

use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::CreatePartitionsRequest;

#[tokio::test]
async fn topics_configs_data_and_producer_ids_survive_a_clean_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with(
        "events",
        3,
        &[("retention.ms", "86400000"), ("cleanup.policy", "compact")],
    )
    .await;
    c.create_topic("plain", 1).await;
    // Grown after creation: the new count must persist too.
    let resp = c
        .send(
            3,
            CreatePartitionsRequest::default()
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(topic_name("plain"))
                    .with_count(2)
                    .with_assignments(None)])
                .with_timeout_ms(5000),
        )
        .await;
    assert_eq!(resp.results[0].error_code, 0);

    let mut sent = Vec::new();
    for p in 0..3 {
        for acks in [1, -1, 0] {
            let batch = Batch::of(&[format!("p{p}-acks{acks}")]).encode();
            if acks == 0 {
                c.send_only(9, &produce_request("events", p, 0, batch.clone()))
                    .await;
            } else {
                assert_eq!(c.produce("events", p, acks, batch.clone()).await.0, 0);
            }
            sent.push((p, batch));
        }
    }
    c.produce("plain", 1, 1, Batch::of(&["in the new partition"]).encode())
        .await;
    let (pid, epoch) = c.init_producer_id().await;
    let idem = Batch::of(&["once"]).idempotent(pid, epoch, 0).encode();
    assert_eq!(c.produce("plain", 0, -1, idem.clone()).await, (0, 0));
    let ids_before: Vec<_> = ["events", "plain"]
        .iter()
        .map(|t| b.broker().topics.get(t).unwrap().id)
        .collect();
    let cluster_before = b.broker().cluster_id.clone();
    drop(c);

    b.restart().await;
    let mut c = b.client().await;

    // Topics, partition counts, ids.
    let meta = c.metadata(12, None, false).await;
    let mut topics: Vec<_> = meta
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().to_string(),
                t.partitions.len(),
                t.topic_id,
            )
        })
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        vec![
            ("events".to_string(), 3, ids_before[0]),
            ("plain".to_string(), 2, ids_before[1]),
        ]
    );
    assert_eq!(b.broker().cluster_id, cluster_before);

    // Configs, with their sources.
    let r = c
        .send(
            4,
            kafka_protocol::messages::DescribeConfigsRequest::default().with_resources(vec![
                kafka_protocol::messages::describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name("events".into())
                    .with_configuration_keys(None),
            ]),
        )
        .await;
    let overrides: Vec<_> = r.results[0]
        .configs
        .iter()
        .filter(|e| e.config_source == 1)
        .map(|e| {
            (
                e.name.to_string(),
                e.value.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        overrides,
        vec![
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("retention.ms".to_string(), "86400000".to_string()),
        ]
    );

    // Data, byte for byte, at the same offsets.
    for p in 0..3 {
        let data = c.fetch("events", p, 0, 1 << 20).await;
        assert_eq!(data.high_watermark, 3, "partition {p}");
        let got = data.records.unwrap();
        let spans = batch_spans(&got);
        let expected: Vec<_> = sent
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(spans.len(), expected.len());
        for (i, ((start, len), want)) in spans.into_iter().zip(expected).enumerate() {
            assert_same_batch(&got[start..start + len], want);
            assert_eq!(base_offset_at(&got, start), i as i64);
        }
    }
    assert_eq!(c.list_offset("plain", 1, -1).await.1, 1);

    // Producer state: the retry is still recognised; new ids are new.
    assert_eq!(c.produce("plain", 0, -1, idem).await, (0, 0));
    assert_eq!(c.list_offset("plain", 0, -1).await.1, 1);
    let (new_pid, _) = c.init_producer_id().await;
    assert_ne!(new_pid, pid);

    // And the log keeps going from where it was.
    assert_eq!(
        c.produce("events", 0, 1, Batch::of(&["after"]).encode())
            .await,
        (0, 3)
    );
}

/// Two restarts in a row (the second with nothing written in between) change
/// nothing: recovery is idempotent.
#[tokio::test]
async fn repeated_restarts_are_harmless() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("steady", 1).await;
    let batch = Batch::sized(5, 64).encode();
    c.produce("steady", 0, -1, batch.clone()).await;
    drop(c);
    for round in 0..3 {
        b.restart().await;
        let mut c = b.client().await;
        let data = c.fetch("steady", 0, 0, 1 << 20).await;
        assert_eq!(data.high_watermark, 5, "round {round}");
        assert_same_batch(&data.records.unwrap(), &batch);
    }
}

/// Without a clean shutdown (no partition closed, no snapshots written),
/// the restart recovers every acknowledged batch and the producer state
/// from the log itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_stop_recovers_data_and_producer_state() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic_with("abrupt", 2, &[("segment.bytes", "400")])
        .await;
    let (pid, epoch) = c.init_producer_id().await;
    let mut sent = Vec::new();
    for i in 0..10 {
        let batch = Batch::of(&[format!("r{i}")])
            .idempotent(pid, epoch, i)
            .encode();
        assert_eq!(
            c.produce("abrupt", 0, -1, batch.clone()).await,
            (0, i as i64)
        );
        sent.push(batch);
    }
    c.produce("abrupt", 1, -1, Batch::of(&["other partition"]).encode())
        .await;
    drop(c);

    b.crash_and_restart().await;
    let mut c = b.client().await;
    let mut offset = 0;
    while offset < 10 {
        let records = c.fetch("abrupt", 0, offset, 1 << 20).await.records.unwrap();
        let spans = batch_spans(&records);
        assert!(!spans.is_empty(), "nothing at offset {offset}");
        for (start, len) in spans {
            assert_eq!(base_offset_at(&records, start), offset);
            assert_same_batch(&records[start..start + len], &sent[offset as usize]);
            offset += 1;
        }
    }
    assert_eq!(c.list_offset("abrupt", 0, -1).await.1, 10);
    assert_eq!(c.list_offset("abrupt", 1, -1).await.1, 1);
    // Retries of recent batches are still recognised; the sequence goes on.
    assert_eq!(c.produce("abrupt", 0, -1, sent[9].clone()).await, (0, 9));
    assert_eq!(c.produce("abrupt", 0, -1, sent[7].clone()).await, (0, 7));
    let next = Batch::of(&["next"]).idempotent(pid, epoch, 10).encode();
    assert_eq!(c.produce("abrupt", 0, -1, next).await, (0, 10));
    let (new_pid, _) = c.init_producer_id().await;
    assert_ne!(new_pid, pid);
}

// Symptom (found by reading the code): topic deletion removed the metadata
// file without a directory fsync and then each partition directory; a crash
// in between could bring the topic back with some partitions gone, or leave
// directories that a topic created later under the same name picked up,
// old records and all.
#[tokio::test]
async fn an_interrupted_topic_deletion_never_resurrects_data() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("doomed", 3).await;
    c.create_topic("grown", 2).await;
    for p in 0..3 {
        let (err, _) = c
            .produce("doomed", p, -1, Batch::of(&["old"]).encode())
            .await;
        assert_eq!(err, 0);
    }
    // A crash right after the deletion was committed (metadata gone) and
    // before any partition directory was removed; a directory renamed
    // aside and not yet removed; and a partition increase of `grown` whose
    // metadata was never written.
    b.restart_after(|dir| {
        std::fs::remove_file(dir.join("meta/topics/doomed.json")).unwrap();
        std::fs::rename(dir.join("doomed-2"), dir.join("doomed-2.0123-delete")).unwrap();
        copy_dir(&dir.join("grown-1"), &dir.join("grown-2"));
        std::fs::create_dir(dir.join("notes-2024")).unwrap();
    })
    .await;
    let data = b.data_dir();
    for leftover in ["doomed-0", "doomed-1", "doomed-2.0123-delete", "grown-2"] {
        assert!(
            !data.join(leftover).exists(),
            "{leftover} was removed at start"
        );
    }
    assert!(data.join("grown-1").exists() && data.join("notes-2024").exists());
    // The same names again: empty.
    let mut c = b.client().await;
    c.create_topic("doomed", 3).await;
    for p in 0..3 {
        assert_eq!(
            c.list_offset("doomed", p, -1).await.1,
            0,
            "doomed-{p} is new"
        );
    }
    // A normal deletion leaves nothing behind either.
    assert_eq!(c.delete_topic("grown").await, 0);
    let left: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("grown"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
