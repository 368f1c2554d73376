//! End-to-end tests of `fjord group list|describe|reset-offsets|delete`
//! against a real `fjord serve`, with a real rdkafka consumer making the
//! group commit and, for part of the scenario, staying in it as a member.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::Message;
use serde_json::Value;

mod common;

use common::{now_ms, Broker};

/// No initial rebalance delay: a lone consumer gets its partitions at once.
const FAST_GROUPS: &str = "[broker]\ngroup_initial_rebalance_delay_ms = 0\n";
const TOPIC: &str = "orders";
const GROUP: &str = "billing";

fn consumer(broker: &Broker, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .set("group.id", group)
        .set("client.id", "billing-worker")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("create consumer")
}

/// Produces `count` records to one partition.
fn produce(broker: &Broker, partition: i32, count: usize) {
    let input: String = (0..count).map(|i| format!("order-{i}\n")).collect();
    let out = broker.run_with_stdin(
        &["produce", TOPIC, "--partition", &partition.to_string()],
        Some(input.as_bytes()),
    );
    common::assert_success(&out, &["produce"], broker);
}

/// Joins the group, reads `count` records, commits what it read and leaves.
fn consume_and_commit(broker: &Broker, group: &str, count: usize) {
    let c = consumer(broker, group);
    c.subscribe(&[TOPIC]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < count {
        assert!(Instant::now() < deadline, "read only {seen} of {count}");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            assert_eq!(m.topic(), TOPIC);
            seen += 1;
        }
    }
    c.commit_consumer_state(CommitMode::Sync).expect("commit");
    // Dropping the consumer closes it, which sends LeaveGroup.
}

/// A member that stays in the group, polling, until stopped.
struct ActiveMember {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ActiveMember {
    /// Returns once the member has been assigned partitions.
    fn join(broker: &Broker, group: &str) -> ActiveMember {
        let c = consumer(broker, group);
        let stop = Arc::new(AtomicBool::new(false));
        let (assigned_tx, assigned_rx) = mpsc::channel();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            c.subscribe(&[TOPIC]).expect("subscribe");
            let mut told = false;
            while !stopped.load(Ordering::Relaxed) {
                // Records are not committed: the test checks that the group's
                // offsets move only through the CLI.
                let _ = c.poll(Duration::from_millis(50));
                if !told && c.assignment().map(|a| a.count() > 0).unwrap_or(false) {
                    told = true;
                    let _ = assigned_tx.send(());
                }
            }
        });
        assigned_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("member got no assignment");
        ActiveMember {
            stop,
            thread: Some(thread),
        }
    }

    /// Leaves the group (LeaveGroup on close).
    fn leave(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("member thread");
        }
    }
}

impl Drop for ActiveMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("bad JSON {out:?}: {e}"))
}

fn describe(broker: &Broker, group: &str) -> Value {
    json(&broker.ok(&["group", "describe", group, "--format", "json"]))
}

/// (committed, log end, lag) of a partition in describe output.
fn offsets(doc: &Value, partition: i64) -> (Value, Value, Value) {
    let row = doc["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .find(|r| r["topic"] == TOPIC && r["partition"] == partition)
        .unwrap_or_else(|| panic!("no row for partition {partition}: {doc}"));
    (
        row["committed_offset"].clone(),
        row["log_end_offset"].clone(),
        row["lag"].clone(),
    )
}

fn committed(broker: &Broker) -> (i64, i64) {
    let doc = describe(broker, GROUP);
    let c = |p| offsets(&doc, p).0.as_i64().unwrap_or(-1);
    (c(0), c(1))
}

fn reset(broker: &Broker, extra: &[&str]) -> String {
    let mut args = vec!["group", "reset-offsets", GROUP, "--topic", TOPIC];
    args.extend_from_slice(extra);
    broker.ok(&args)
}

fn wait_until_empty(broker: &Broker) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let doc = describe(broker, GROUP);
        if doc["state"] == "Empty" && doc["members"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        assert!(Instant::now() < deadline, "group never emptied: {doc}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn group_list_describe_reset_delete() {
    let broker = Broker::start_with_config(FAST_GROUPS);
    broker.ok(&["topic", "create", TOPIC, "--partitions", "2"]);
    produce(&broker, 0, 4);
    produce(&broker, 1, 6);
    consume_and_commit(&broker, GROUP, 10);
    // Records written after the commit: the group lags by them. Their
    // timestamps are all after `mid`.
    std::thread::sleep(Duration::from_millis(20));
    let mid = now_ms();
    std::thread::sleep(Duration::from_millis(20));
    produce(&broker, 0, 3);
    produce(&broker, 1, 2);

    // list, with and without a state filter.
    let listed = json(&broker.ok(&["group", "list", "--format", "json"]));
    let entry = listed
        .as_array()
        .expect("list is an array")
        .iter()
        .find(|g| g["group"] == GROUP)
        .unwrap_or_else(|| panic!("{GROUP} not listed: {listed}"));
    assert_eq!(entry["state"], "Empty", "{listed}");
    assert_eq!(entry["protocol_type"], "consumer", "{listed}");
    let text = broker.ok(&["group", "list", "--state", "empty"]);
    assert!(text.lines().any(|l| l.starts_with(GROUP)), "{text}");
    let text = broker.ok(&["group", "list", "--state", "Stable"]);
    assert!(!text.contains(GROUP), "{text}");

    // describe: committed, log end and lag per partition; no members.
    let doc = describe(&broker, GROUP);
    assert_eq!(doc["state"], "Empty", "{doc}");
    assert_eq!(doc["members"], serde_json::json!([]), "{doc}");
    assert_eq!(offsets(&doc, 0), (4.into(), 7.into(), 3.into()), "{doc}");
    assert_eq!(offsets(&doc, 1), (6.into(), 8.into(), 2.into()), "{doc}");
    let text = broker.ok(&["group", "describe", GROUP]);
    assert!(text.contains("State: Empty"), "{text}");
    assert!(text.contains("LAG"), "{text}");

    // While a member is in the group: describe shows it with its
    // partitions, and reset-offsets and delete refuse.
    let member = ActiveMember::join(&broker, GROUP);
    let doc = describe(&broker, GROUP);
    assert_eq!(doc["state"], "Stable", "{doc}");
    assert_eq!(doc["protocol_type"], "consumer", "{doc}");
    let members = doc["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{doc}");
    assert_eq!(members[0]["client_id"], "billing-worker", "{doc}");
    assert!(
        members[0]["host"]
            .as_str()
            .is_some_and(|h| h.contains("127.0.0.1")),
        "{doc}"
    );
    assert_eq!(
        members[0]["assignment"],
        serde_json::json!([{"topic": TOPIC, "partitions": [0, 1]}]),
        "{doc}"
    );
    let member_id = members[0]["member_id"].clone();
    for row in doc["offsets"].as_array().expect("offsets") {
        assert_eq!(row["member_id"], member_id, "{doc}");
    }
    let text = broker.ok(&["group", "describe", GROUP]);
    assert!(
        text.contains("billing-worker") && text.contains("orders:0,1"),
        "{text}"
    );
    let (_, err) = broker.fail(&[
        "group",
        "reset-offsets",
        GROUP,
        "--topic",
        TOPIC,
        "--to-earliest",
        "--execute",
    ]);
    assert!(err.contains("active member"), "{err}");
    let (_, err) = broker.fail(&["group", "delete", GROUP]);
    assert!(err.contains("not empty"), "{err}");
    member.leave();
    wait_until_empty(&broker);
    assert_eq!(committed(&broker), (4, 6), "the member committed nothing");

    // A dry run prints the plan and changes nothing.
    let plan = reset(&broker, &["--to-earliest"]);
    assert!(plan.contains("NEW-OFFSET"), "{plan}");
    assert_eq!(committed(&broker), (4, 6));
    let plan = json(&reset(&broker, &["--to-earliest", "--format", "json"]));
    assert_eq!(plan["executed"], false, "{plan}");
    assert_eq!(plan["partitions"][0]["current_offset"], 4, "{plan}");
    assert_eq!(plan["partitions"][0]["new_offset"], 0, "{plan}");
    assert_eq!(committed(&broker), (4, 6));

    // Each target, executed.
    reset(&broker, &["--to-earliest", "--execute"]);
    assert_eq!(committed(&broker), (0, 0));
    reset(&broker, &["--to-latest", "--execute"]);
    assert_eq!(committed(&broker), (7, 8));
    reset(
        &broker,
        &["--to-offset", "2", "--partition", "0", "--execute"],
    );
    assert_eq!(committed(&broker), (2, 8), "--partition limits the reset");
    reset(
        &broker,
        &["--shift-by", "-1", "--partition", "0", "--execute"],
    );
    assert_eq!(committed(&broker), (1, 8));
    reset(&broker, &["--shift-by", "100", "--execute"]);
    assert_eq!(committed(&broker), (7, 8), "kept within the log end");
    reset(&broker, &["--to-offset", "-5", "--execute"]);
    assert_eq!(committed(&broker), (0, 0), "kept within the log start");
    reset(&broker, &["--to-timestamp", &mid.to_string(), "--execute"]);
    assert_eq!(committed(&broker), (4, 6), "first records after {mid}");
    reset(
        &broker,
        &[
            "--to-timestamp",
            &(now_ms() + 60_000).to_string(),
            "--execute",
        ],
    );
    assert_eq!(committed(&broker), (7, 8), "no record that late: log end");

    // Bad input is a clear error.
    let (_, err) = broker.fail(&["group", "reset-offsets", GROUP, "--topic", TOPIC]);
    assert!(err.contains("--to-earliest"), "{err}");
    let (_, err) = broker.fail(&[
        "group",
        "reset-offsets",
        GROUP,
        "--topic",
        TOPIC,
        "--partition",
        "5",
        "--to-latest",
    ]);
    assert!(err.contains("partition 5 does not exist"), "{err}");
    let (_, err) = broker.fail(&[
        "group",
        "reset-offsets",
        GROUP,
        "--topic",
        "nosuch",
        "--to-latest",
    ]);
    assert!(err.contains("nosuch"), "{err}");
    let (_, err) = broker.fail(&[
        "group",
        "reset-offsets",
        "fresh",
        "--topic",
        TOPIC,
        "--shift-by",
        "1",
    ]);
    assert!(err.contains("no committed offset"), "{err}");

    // delete removes the group and its offsets.
    let out = broker.ok(&["group", "delete", GROUP]);
    assert!(out.contains("deleted group billing"), "{out}");
    let listed = broker.ok(&["group", "list"]);
    assert!(!listed.contains(GROUP), "{listed}");
    let (_, err) = broker.fail(&["group", "describe", GROUP]);
    assert!(err.contains("does not exist"), "{err}");
    let (_, err) = broker.fail(&["group", "delete", GROUP]);
    assert!(err.contains("does not exist"), "{err}");
    broker.ok(&["group", "delete", GROUP, "--if-exists"]);
}

#[test]
fn reset_offsets_creates_offsets_for_a_new_group() {
    let broker = Broker::start_with_config(FAST_GROUPS);
    broker.ok(&["topic", "create", TOPIC, "--partitions", "2"]);
    produce(&broker, 1, 5);
    let (_, err) = broker.fail(&["group", "describe", "newcomer"]);
    assert!(err.contains("does not exist"), "{err}");
    broker.ok(&[
        "group",
        "reset-offsets",
        "newcomer",
        "--topic",
        TOPIC,
        "--to-latest",
        "--execute",
    ]);
    let doc = describe(&broker, "newcomer");
    assert_eq!(offsets(&doc, 0), (0.into(), 0.into(), 0.into()), "{doc}");
    assert_eq!(offsets(&doc, 1), (5.into(), 5.into(), 0.into()), "{doc}");
}

#[test]
fn group_commands_report_an_unreachable_cluster() {
    // Nothing listens on port 1.
    let out = std::process::Command::new(common::FJORD)
        .args(["group", "list", "-b", "127.0.0.1:1"])
        .env_remove("FJORD_BOOTSTRAP_SERVERS")
        .output()
        .expect("run fjord");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error:") && !err.contains("panicked"), "{err}");
}
