//! End-to-end tests of the client subcommands (`topic`, `produce`,
//! `consume`): each test starts `fjord serve` on a free port with a fresh
//! data dir and runs the built `fjord` binary against it, as a user would.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{assert_success, now_ms, Broker};

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn describe(broker: &Broker, topic: &str) -> Value {
    let out = broker.ok(&["topic", "describe", topic, "--format", "json"]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("bad describe JSON {out:?}: {e}"))
}

/// The `configs` entry named `name` in describe output.
fn config<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["configs"]
        .as_array()
        .expect("configs array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("config {name} missing from {doc}"))
}

fn write_file(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write input file");
    path.to_string_lossy().into_owned()
}

#[test]
fn topic_create_list_describe_alter_delete() {
    let broker = Broker::start();
    let out = broker.ok(&[
        "topic",
        "create",
        "streamPayment",
        "--partitions",
        "2",
        "--config",
        "retention.ms=3600000",
    ]);
    assert!(out.contains("streamPayment"), "{out}");
    broker.ok(&["topic", "create", "other"]);

    let listed = broker.ok(&["topic", "list"]);
    let names: Vec<&str> = listed.lines().collect();
    assert!(
        names.contains(&"streamPayment") && names.contains(&"other"),
        "{listed}"
    );

    let doc = describe(&broker, "streamPayment");
    assert_eq!(doc["topic"], "streamPayment");
    let partitions = doc["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 2, "{doc}");
    for (i, p) in partitions.iter().enumerate() {
        assert_eq!(p["partition"], i as i64);
        let leader = p["leader"].as_i64().expect("leader");
        assert!(leader >= 0, "no leader: {doc}");
        assert_eq!(p["replicas"], serde_json::json!([leader]));
        assert_eq!(p["isr"], serde_json::json!([leader]));
        assert_eq!(p["low_watermark"], 0);
        assert_eq!(p["high_watermark"], 0);
    }
    let retention = config(&doc, "retention.ms");
    assert_eq!(retention["value"], "3600000");
    assert_eq!(retention["is_default"], false);
    assert_eq!(retention["source"], "topic");
    assert_eq!(config(&doc, "cleanup.policy")["is_default"], true, "{doc}");

    let text = broker.ok(&["topic", "describe", "streamPayment"]);
    assert!(text.contains("* retention.ms = 3600000"), "{text}");

    // Grow to 3 partitions; swap one config override for another.
    broker.ok(&[
        "topic",
        "alter",
        "streamPayment",
        "--partitions",
        "3",
        "--config",
        "cleanup.policy=compact",
        "--delete-config",
        "retention.ms",
    ]);
    let doc = describe(&broker, "streamPayment");
    assert_eq!(doc["partitions"].as_array().map(Vec::len), Some(3), "{doc}");
    assert_eq!(config(&doc, "cleanup.policy")["value"], "compact");
    assert_eq!(config(&doc, "cleanup.policy")["is_default"], false);
    assert_eq!(config(&doc, "retention.ms")["is_default"], true, "{doc}");

    // Creating it again fails, unless asked not to.
    let (_, err) = broker.fail(&["topic", "create", "streamPayment"]);
    assert!(err.to_lowercase().contains("already exists"), "{err}");
    broker.ok(&["topic", "create", "streamPayment", "--if-not-exists"]);

    // Shrinking is refused.
    let (_, err) = broker.fail(&["topic", "alter", "streamPayment", "--partitions", "1"]);
    assert!(err.contains("partition"), "{err}");

    let out = broker.ok(&["topic", "delete", "streamPayment", "other"]);
    assert!(out.contains("deleted topic streamPayment"), "{out}");
    let listed = broker.ok(&["topic", "list"]);
    assert!(
        !listed.lines().any(|l| l == "streamPayment" || l == "other"),
        "{listed}"
    );
    broker.fail(&["topic", "delete", "streamPayment"]);
    broker.ok(&["topic", "delete", "streamPayment", "--if-exists"]);
}

// `topic alter --config` read every override and wrote the whole set back
// with AlterConfigs, so a change made by someone else in between was lost.
// It now sends IncrementalAlterConfigs, which touches only the named keys.
#[test]
fn topic_alter_changes_only_the_named_configs() {
    let broker = Broker::start();
    broker.ok(&[
        "topic",
        "create",
        "ledger",
        "--config",
        "retention.ms=3600000",
        "--config",
        "segment.bytes=1048576",
    ]);
    broker.ok(&[
        "topic",
        "alter",
        "ledger",
        "--config",
        "retention.ms=7200000",
    ]);
    let doc = describe(&broker, "ledger");
    assert_eq!(config(&doc, "retention.ms")["value"], "7200000", "{doc}");
    assert_eq!(config(&doc, "segment.bytes")["value"], "1048576", "{doc}");
    assert_eq!(config(&doc, "segment.bytes")["is_default"], false, "{doc}");

    broker.ok(&[
        "topic",
        "alter",
        "ledger",
        "--delete-config",
        "segment.bytes",
    ]);
    let doc = describe(&broker, "ledger");
    assert_eq!(config(&doc, "segment.bytes")["is_default"], true, "{doc}");
    assert_eq!(config(&doc, "retention.ms")["value"], "7200000", "{doc}");

    let (_, err) = broker.fail(&["topic", "alter", "nosuch", "--config", "retention.ms=1"]);
    assert!(err.contains("nosuch"), "{err}");
    let (_, err) = broker.fail(&["topic", "alter", "ledger", "--config", "retention.ms=abc"]);
    assert!(err.contains("retention.ms"), "{err}");
    let (_, err) = broker.fail(&[
        "topic",
        "alter",
        "ledger",
        "--config",
        "retention.ms=1",
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanism=PLAIN",
    ]);
    assert!(err.contains("PLAINTEXT"), "{err}");
}

#[test]
fn produce_file_with_keys_and_headers_then_consume_json() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "bids", "--partitions", "2"]);
    let input = write_file(
        broker.dir.path(),
        "bids.txt",
        "lamp:{\"price\": 12}\nvase:ünïcode: with separator\r\n\nchair:\n",
    );
    let before = now_ms();
    let out = broker.ok(&[
        "produce",
        "bids",
        "--file",
        &input,
        "--key-separator",
        ":",
        "--partition",
        "1",
        "--header",
        "source=cli",
        "--header",
        "trace=a=b",
        "--acks",
        "all",
    ]);
    let after = now_ms();
    assert!(out.contains("3 records acknowledged"), "{out}");

    let out = broker.ok(&[
        "consume",
        "bids",
        "--from-beginning",
        "--format",
        "json",
        "--exit-at-end",
    ]);
    let records = json_lines(&out);
    assert_eq!(records.len(), 3, "{out}");
    let expected = [
        ("lamp", "{\"price\": 12}"),
        ("vase", "ünïcode: with separator"),
        ("chair", ""),
    ];
    for (i, (record, (key, value))) in records.iter().zip(expected).enumerate() {
        assert_eq!(record["topic"], "bids");
        assert_eq!(record["partition"], 1);
        assert_eq!(record["offset"], i as i64);
        let ts = record["timestamp"].as_i64().expect("timestamp");
        assert!(
            (before..=after).contains(&ts),
            "timestamp {ts} not in [{before}, {after}]"
        );
        assert_eq!(record["timestamp_type"], "create");
        assert_eq!(record["key"], key);
        assert_eq!(record["value"], value);
        assert_eq!(
            record["headers"],
            serde_json::json!([{"key": "source", "value": "cli"}, {"key": "trace", "value": "a=b"}])
        );
    }

    // Plain output, with keys, from partition 1 only.
    let out = broker.ok(&[
        "consume",
        "bids",
        "--from-beginning",
        "--partition",
        "1",
        "--count",
        "2",
        "--print-key",
        "--key-separator",
        "=",
    ]);
    assert_eq!(out, "lamp={\"price\": 12}\nvase=ünïcode: with separator\n");

    // Partition 0 is empty: --exit-at-end returns at once with nothing.
    let out = broker.ok(&[
        "consume",
        "bids",
        "--from-beginning",
        "--partition",
        "0",
        "--exit-at-end",
    ]);
    assert_eq!(out, "");
}

#[test]
fn produce_from_stdin_without_keys() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "lines", "--partitions", "1"]);
    let out = broker.run_with_stdin(
        &["produce", "lines", "--acks", "1", "--compression", "zstd"],
        Some(b"a\nb\nc"),
    );
    assert_success(&out, &["produce"], &broker);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 records acknowledged"));
    let out = broker.ok(&[
        "consume",
        "lines",
        "--from-beginning",
        "--format",
        "json",
        "--count",
        "3",
    ]);
    let records = json_lines(&out);
    let values: Vec<&str> = records
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["a", "b", "c"]);
    assert!(records.iter().all(|r| r["key"].is_null()), "{out}");
    assert!(
        records
            .iter()
            .all(|r| r["headers"] == serde_json::json!([])),
        "{out}"
    );

    // Bytes that are not UTF-8 come out as base64, flagged.
    let out = broker.run_with_stdin(&["produce", "lines"], Some(b"\xff\xfe\n"));
    assert_success(&out, &["produce"], &broker);
    let out = broker.ok(&[
        "consume", "lines", "--offset", "3", "--format", "json", "--count", "1",
    ]);
    let record = &json_lines(&out)[0];
    assert_eq!(record["value"], "//4=", "{out}");
    assert_eq!(record["value_encoding"], "base64", "{out}");
    assert!(record.get("key_encoding").is_none(), "{out}");
    // Plain output writes the bytes as they are.
    let out = broker.run(&["consume", "lines", "--offset", "3", "--count", "1"]);
    assert_eq!(out.stdout, b"\xff\xfe\n");

    // Plain is the default format; naming it works too.
    let out = broker.ok(&[
        "consume",
        "lines",
        "--from-beginning",
        "--count",
        "2",
        "--format",
        "plain",
    ]);
    assert_eq!(out, "a\nb\n");
}

#[test]
fn consume_from_offset_and_from_timestamp() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "events", "--partitions", "1"]);
    let first = write_file(broker.dir.path(), "first.txt", "v0\nv1\nv2\nv3\nv4\n");
    let second = write_file(broker.dir.path(), "second.txt", "v5\nv6\nv7\nv8\nv9\n");
    broker.ok(&["produce", "events", "--file", &first]);
    std::thread::sleep(Duration::from_millis(20));
    let between = now_ms();
    std::thread::sleep(Duration::from_millis(20));
    broker.ok(&["produce", "events", "--file", &second]);

    let out = broker.ok(&["consume", "events", "--offset", "3", "--count", "2"]);
    assert_eq!(out, "v3\nv4\n");

    let out = broker.ok(&["consume", "events", "--offset", "-2", "--exit-at-end"]);
    assert_eq!(out, "v8\nv9\n");

    let out = broker.ok(&[
        "consume",
        "events",
        "--from-timestamp",
        &between.to_string(),
        "--exit-at-end",
    ]);
    assert_eq!(out, "v5\nv6\nv7\nv8\nv9\n");

    // A timestamp after every record starts at the end: nothing to read.
    let later = (now_ms() + 60_000).to_string();
    let out = broker.ok(&[
        "consume",
        "events",
        "--from-timestamp",
        &later,
        "--exit-at-end",
    ]);
    assert_eq!(out, "");

    // The default start is the end; --timeout-ms stops an idle follower.
    let out = broker.ok(&["consume", "events", "--timeout-ms", "500"]);
    assert_eq!(out, "");

    let doc = describe(&broker, "events");
    assert_eq!(doc["partitions"][0]["high_watermark"], 10, "{doc}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let broker = Broker::start();

    let (_, err) = broker.fail(&["topic", "describe", "no-such-topic"]);
    assert!(
        err.contains("no-such-topic") && err.contains("not"),
        "{err}"
    );
    // Describing must not have auto-created it.
    assert!(!broker
        .ok(&["topic", "list"])
        .lines()
        .any(|l| l == "no-such-topic"));

    let (code, err) = broker.fail(&["topic", "create", "t", "--partitions", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--partitions"), "{err}");

    let (code, err) = broker.fail(&["topic", "list", "-X", "no-equals-sign"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("KEY=VALUE"), "{err}");

    let (_, err) = broker.fail(&["topic", "list", "-X", "no.such.property=1"]);
    assert!(err.contains("no.such.property"), "{err}");

    let (_, err) = broker.fail(&["topic", "create", "t", "--replication-factor", "3"]);
    assert!(err.to_lowercase().contains("replication"), "{err}");

    let (_, err) = broker.fail(&["topic", "create", "bad/name"]);
    assert!(err.contains("bad/name"), "{err}");

    broker.ok(&["topic", "create", "one", "--partitions", "1"]);
    let out = broker.run_with_stdin(&["produce", "one", "--partition", "5"], Some(b"x\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("partition 5"));

    let out = broker.run_with_stdin(
        &["produce", "one", "--key-separator", ":"],
        Some(b"k:v\nnokey\n"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");

    let (_, err) = broker.fail(&["consume", "no-such-topic", "--count", "1"]);
    assert!(err.contains("no-such-topic"), "{err}");

    let (code, err) = broker.fail(&["consume", "one", "--from-beginning", "--offset", "3"]);
    assert_eq!(code, 2, "{err}");

    // Nothing listens on port 1: a clear error within the metadata timeout.
    let started = Instant::now();
    let (_, err) = broker.fail(&["topic", "describe", "one", "-b", "127.0.0.1:1"]);
    assert!(err.contains("metadata"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// `fjord consume ... | head -1`: the reader goes away and fjord stops as
/// Unix tools do (ended by SIGPIPE), without a panic on stderr.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let broker = Broker::start();
    broker.ok(&["topic", "create", "many", "--partitions", "1"]);
    let lines: String = (0..20_000).map(|i| format!("record {i}\n")).collect();
    let out = broker.run_with_stdin(&["produce", "many", "--acks", "1"], Some(lines.as_bytes()));
    assert_success(&out, &["produce"], &broker);
    let mut child = Command::new(common::FJORD)
        .args(["consume", "many", "--from-beginning", "--exit-at-end"])
        .env("FJORD_BOOTSTRAP_SERVERS", broker.addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fjord");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a line");
    // The reader (and the pipe's only read end) is gone now.
    assert_eq!(first, "record 0\n");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc_sigpipe()),
        "{:?} {stderr}",
        out.status
    );
}

/// SIGPIPE's number on Linux (the tests do not link libc).
fn libc_sigpipe() -> i32 {
    13
}
