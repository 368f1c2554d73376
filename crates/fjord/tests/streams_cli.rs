//! `fjord streams describe` and `reset` against a running application:
//! `fjord auction stats`, the auction's stream processing.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const APP: &str = "auction-stats";

fn start_stats(broker: &Broker) -> Child {
    Command::new(FJORD)
        .args(["auction", "stats"])
        .env("FJORD_BOOTSTRAP_SERVERS", broker.addr.to_string())
        .current_dir(broker.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(broker.dir.path().join("stats.log")).unwrap(),
        ))
        .spawn()
        .expect("start fjord auction stats")
}

/// SIGTERM: the instance commits and leaves the group.
fn stop_cleanly(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "auction stats did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn describe(broker: &Broker) -> Value {
    serde_json::from_str(&broker.ok(&[
        "streams",
        "describe",
        "--application-id",
        APP,
        "--format",
        "json",
    ]))
    .unwrap()
}

/// describe's JSON, or Null while the application is not there yet.
fn try_describe(broker: &Broker) -> Value {
    let out = broker.run(&[
        "streams",
        "describe",
        "--application-id",
        APP,
        "--format",
        "json",
    ]);
    if !out.status.success() {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn total(d: &Value, field: &str) -> i64 {
    d["tasks"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|t| t[field].as_i64().unwrap_or(0))
        .sum()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn describe_shows_the_tasks_and_reset_makes_the_application_start_over() {
    let broker = Broker::start_with_config("[broker]\ngroup_initial_rebalance_delay_ms = 0\n");
    let stats = start_stats(&broker);
    wait_for("the topic bids", || {
        broker.run(&["topic", "describe", "bids"]).status.success()
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let lines: String = (0..3)
        .map(|i| {
            format!(
                "bike|{{\"id\":\"b{i}\",\"item\":\"bike\",\"name\":\"Ann\",\"price\":{},\"bid_ts\":{now}}}\n",
                10 + i
            )
        })
        .collect();
    let file = broker.dir.path().join("bids.txt");
    std::fs::write(&file, lines).unwrap();
    broker.ok(&[
        "produce",
        "bids",
        "-f",
        file.to_str().unwrap(),
        "--key-separator",
        "|",
    ]);

    // Every task reports; the three bids are processed, nothing lags.
    let mut d = Value::Null;
    wait_for("the three bids processed and reported", || {
        d = try_describe(&broker);
        total(&d, "processed") == 3 && total(&d, "lag") == 0
    });
    assert_eq!(
        d["tasks"].as_array().unwrap().len(),
        4,
        "one task per partition of bids: {d}"
    );
    assert_eq!(d["instances"], 1);
    let text = broker.ok(&["streams", "describe", "--application-id", APP]);
    assert!(
        text.contains("STREAM-TIME") && text.contains("bids-per-minute="),
        "{text}"
    );

    // Not while an instance runs.
    let (_, err) = broker.fail(&[
        "streams",
        "reset",
        "--application-id",
        APP,
        "--to-earliest",
        "--execute",
    ]);
    assert!(err.contains("stop every instance first"), "{err}");
    stop_cleanly(stats);

    // A dry run changes nothing; --execute moves the offsets back and
    // deletes the internal topics.
    let plan = broker.ok(&["streams", "reset", "--application-id", APP, "--to-earliest"]);
    assert!(plan.contains("to delete"), "{plan}");
    assert_eq!(total(&describe(&broker), "lag"), 0);
    let done = broker.ok(&[
        "streams",
        "reset",
        "--application-id",
        APP,
        "--to-earliest",
        "--execute",
    ]);
    assert!(
        done.contains(&format!(
            "internal topic {APP}-bids-per-minute-changelog: deleted"
        )),
        "{done}"
    );
    assert!(
        done.contains(&format!("internal topic {APP}-status: deleted")),
        "{done}"
    );
    let after = describe(&broker);
    assert_eq!(
        total(&after, "lag"),
        3,
        "the bids are to be read again: {after}"
    );

    // Started again, the application recomputes from the beginning.
    let stats = start_stats(&broker);
    wait_for("the bids processed again", || {
        let d = try_describe(&broker);
        total(&d, "processed") == 3 && total(&d, "lag") == 0
    });
    stop_cleanly(stats);
}
