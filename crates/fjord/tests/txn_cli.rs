//! `fjord txn list|describe` and `fjord bench txn` against a real `fjord
//! serve`, with a librdkafka transactional producer holding a transaction
//! open and then committing it.

mod common;

use std::time::Duration;

use common::Broker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);

fn config(broker: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.addr.to_string());
    c
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(broker).create().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime
        .block_on(admin.create_topics(
            [&NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "create: {results:?}");
}

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn list_and_describe_an_open_then_committed_transaction() {
    let broker = Broker::start();
    create_topic(&broker, "orders", 3);
    let producer: ThreadedProducer<DefaultProducerContext> = config(&broker)
        .set("transactional.id", "cli-tx")
        .create()
        .unwrap();
    producer.init_transactions(TIMEOUT).unwrap();
    producer.begin_transaction().unwrap();
    for p in [0, 2] {
        producer
            .send(
                BaseRecord::<(), str>::to("orders")
                    .partition(p)
                    .payload("x"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(TIMEOUT).unwrap();

    // Open: listed as Ongoing, described with its two partitions.
    let listed = json(&broker.ok(&["txn", "list", "--json"]));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["transactional_id"] == "cli-tx")
        .unwrap_or_else(|| panic!("cli-tx not listed: {listed}"));
    assert_eq!(row["state"], "Ongoing", "{listed}");
    let producer_id = row["producer_id"].as_i64().unwrap();
    assert!(producer_id >= 0, "{listed}");

    let table = broker.ok(&["txn", "list"]);
    assert!(
        table.starts_with("TRANSACTIONAL-ID")
            && table.contains("cli-tx")
            && table.contains("Ongoing"),
        "{table}"
    );
    let ongoing = broker.ok(&["txn", "list", "--state", "Ongoing"]);
    assert!(ongoing.contains("cli-tx"), "{ongoing}");
    let committed = broker.ok(&["txn", "list", "--state", "CompleteCommit"]);
    assert!(!committed.contains("cli-tx"), "{committed}");
    let by_pid = broker.ok(&["txn", "list", "--producer-id", &producer_id.to_string()]);
    assert!(by_pid.contains("cli-tx"), "{by_pid}");
    let other_pid = broker.ok(&[
        "txn",
        "list",
        "--producer-id",
        &(producer_id + 1000).to_string(),
    ]);
    assert!(!other_pid.contains("cli-tx"), "{other_pid}");

    let described = json(&broker.ok(&["txn", "describe", "cli-tx", "--format", "json"]));
    let d = &described[0];
    assert_eq!(d["transactional_id"], "cli-tx", "{described}");
    assert_eq!(d["state"], "Ongoing", "{described}");
    assert_eq!(d["producer_id"].as_i64(), Some(producer_id), "{described}");
    assert!(
        d["transaction_start_time_ms"].as_i64().unwrap() > 0,
        "{described}"
    );
    assert!(
        d["transaction_timeout_ms"].as_i64().unwrap() > 0,
        "{described}"
    );
    let mut parts: Vec<i64> = d["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["topic"] == "orders")
        .flat_map(|t| {
            t["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_i64().unwrap())
        })
        .collect();
    parts.sort();
    assert_eq!(parts, vec![0, 2], "{described}");
    let text = broker.ok(&["txn", "describe", "cli-tx"]);
    assert!(
        text.contains("Ongoing") && text.contains("orders-0") && text.contains("orders-2"),
        "{text}"
    );

    // Committed: the coordinator keeps the id, with no partitions.
    producer.commit_transaction(TIMEOUT).unwrap();
    let described = json(&broker.ok(&["txn", "describe", "cli-tx", "--json"]));
    assert_eq!(described[0]["state"], "CompleteCommit", "{described}");
    assert_eq!(
        described[0]["partitions"],
        serde_json::json!([]),
        "{described}"
    );
    let committed = broker.ok(&["txn", "list", "--state", "CompleteCommit"]);
    assert!(committed.contains("cli-tx"), "{committed}");
}

#[test]
fn describe_of_an_unknown_id_fails_clearly() {
    let broker = Broker::start();
    let (code, stderr) = broker.fail(&["txn", "describe", "no-such-tx"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no-such-tx") && stderr.contains("no such transactional id"),
        "{stderr}"
    );
    // An unknown state filter is a warning, not an error: Kafka answers it.
    let out = broker.run(&["txn", "list", "--state", "Bogus"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_connections_fail_clearly() {
    let broker = Broker::start();
    let (_, stderr) = broker.fail(&["txn", "list", "-X", "security.protocol=SSL"]);
    assert!(stderr.contains("PLAINTEXT"), "{stderr}");
    let (_, stderr) = broker.fail(&["txn", "list", "-b", "127.0.0.1:1"]);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    let (_, stderr) = broker.fail(&["txn", "describe"]);
    assert!(stderr.contains("TXN_ID"), "{stderr}");
}

#[test]
fn bench_txn_runs_every_size_and_the_baseline() {
    let broker = Broker::start();
    let out = broker.ok(&["bench", "txn", "--count", "200", "--txn-sizes", "10,100"]);
    let summary = json(out.lines().last().unwrap());
    let runs = summary["runs"].as_array().unwrap();
    let sizes: Vec<Value> = runs.iter().map(|r| r["records_per_txn"].clone()).collect();
    assert_eq!(sizes, vec![Value::Null, 10.into(), 100.into()], "{out}");
    for r in runs {
        assert_eq!(r["records"], 200, "{out}");
    }
    assert_eq!(runs[1]["transactions"], 20, "{out}");
    assert_eq!(runs[2]["transactions"], 2, "{out}");
}
