//! Conformance with librdkafka through the `rdkafka` crate at its default
//! settings (only bootstrap.servers set; the consumer also needs a group.id,
//! which it never joins): the seed 001 pattern and every compression codec.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Broker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

fn config(broker: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.addr.to_string());
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(broker).create().unwrap();
    let results = runtime()
        .block_on(admin.create_topics(
            [&NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(
        results.iter().all(|r| r.is_ok()),
        "create {name}: {results:?}"
    );
}

/// Produces (key, value) pairs with the given extra producer settings;
/// returns (partition, offset) of each as acknowledged.
fn produce(
    broker: &Broker,
    topic: &str,
    records: &[(String, String)],
    extra: &[(&str, &str)],
) -> Vec<(i32, i64)> {
    let mut c = config(broker);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    let producer: FutureProducer = c.create().unwrap();
    runtime().block_on(async {
        let sends: Vec<_> = records
            .iter()
            .map(|(k, v)| {
                producer.send(
                    FutureRecord::to(topic).key(k).payload(v),
                    Duration::from_secs(30),
                )
            })
            .collect();
        let mut acks = Vec::new();
        for s in sends {
            let d = s.await.map_err(|(e, _)| e).expect("delivered");
            acks.push((d.partition, d.offset));
        }
        acks
    })
}

/// Every record of every partition from the beginning: (partition, offset, key, value).
fn consume_all(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<(i32, i64, String, String)> {
    let consumer: BaseConsumer = config(broker)
        .set("group.id", "never-joined")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < expected {
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} records consumed",
            out.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("fetch without error");
            let text =
                |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
            out.push((m.partition(), m.offset(), text(m.key()), text(m.payload())));
        }
    }
    out
}

#[test]
fn seed_001_keyed_messages_keep_partition_and_order() {
    let broker = Broker::start();
    create_topic(&broker, "streamPayment", 2);
    let records: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("key-{}", i % 10), format!("payment-{i}")))
        .collect();
    let acks = produce(&broker, "streamPayment", &records, &[]);
    let consumed = consume_all(&broker, "streamPayment", 2, 1000);

    // Every record once, where its acknowledgement said.
    let mut by_position: HashMap<(i32, i64), (String, String)> = HashMap::new();
    for (p, o, k, v) in &consumed {
        assert!(
            by_position
                .insert((*p, *o), (k.clone(), v.clone()))
                .is_none(),
            "duplicate at {p}/{o}"
        );
    }
    for (record, ack) in records.iter().zip(&acks) {
        assert_eq!(by_position.get(ack), Some(record), "record at {ack:?}");
    }
    // Same key, same partition; order kept within each key.
    let mut key_partition: HashMap<&str, i32> = HashMap::new();
    let mut last_seq: HashMap<&str, i64> = HashMap::new();
    for (p, _, k, v) in &consumed {
        assert_eq!(
            *key_partition.entry(k).or_insert(*p),
            *p,
            "key {k} moved partition"
        );
        let seq: i64 = v.trim_start_matches("payment-").parse().unwrap();
        let last = last_seq.entry(k).or_insert(-1);
        assert!(seq > *last, "key {k}: {seq} after {last}");
        *last = seq;
    }
    assert_eq!(
        key_partition
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        2,
        "both partitions used"
    );
}

#[test]
fn every_compression_codec_round_trips() {
    let broker = Broker::start();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        create_topic(&broker, &topic, 1);
        let records: Vec<(String, String)> = (0..200)
            .map(|i| {
                (
                    format!("k{i}"),
                    format!("{codec} value {i} {}", "x".repeat(i % 50)),
                )
            })
            .collect();
        produce(
            &broker,
            &topic,
            &records,
            &[("compression.type", codec), ("linger.ms", "20")],
        );
        let consumed = consume_all(&broker, &topic, 1, records.len());
        let got: Vec<(String, String)> = consumed.into_iter().map(|(_, _, k, v)| (k, v)).collect();
        assert_eq!(got, records, "{codec}");
    }
}
