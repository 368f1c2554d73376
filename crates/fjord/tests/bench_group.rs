//! `fjord bench group` with tiny parameters against a real `fjord serve`
//! (no initial rebalance delay, 100 ms heartbeats): every part runs to the
//! end and its one-line JSON summary holds sane figures.

mod common;

use common::Broker;
use serde_json::Value;

/// No initial rebalance delay: a fresh group gets its partitions at once.
const FAST_GROUPS: &str = "[broker]\ngroup_initial_rebalance_delay_ms = 0\n";

/// The median of a `spread` object, checked to lie in `low..high`.
fn median_within(summary: &Value, path: &str, low: f64, high: f64) -> f64 {
    let value = summary
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing from {summary}"));
    assert!(
        (low..high).contains(&value),
        "{path} = {value}, expected {low}..{high}: {summary}"
    );
    value
}

#[test]
fn bench_group_reports_every_part() {
    let broker = Broker::start_with_config(FAST_GROUPS);
    let stdout = broker.ok(&[
        "bench",
        "group",
        "--runs",
        "1",
        "--count",
        "3000",
        "--record-size",
        "64",
        "--group-sizes",
        "2",
        "--rebalance-partitions",
        "3",
        "-X",
        "heartbeat.interval.ms=100",
    ]);
    let last = stdout.lines().last().expect("a summary line");
    let summary: Value = serde_json::from_str(last).expect("the last line is JSON");
    assert_eq!(summary["bench"], "group");
    assert_eq!(summary["records"], 3000);
    assert_eq!(summary["partitions"], 4);
    assert_eq!(summary["heartbeat_interval_ms"], 100);
    assert!(
        summary["host"]["cores"].as_u64().unwrap_or(0) >= 1,
        "{summary}"
    );
    assert!(summary["host"]["cpu"].is_string(), "{summary}");

    // With no initial delay a fresh group reads within seconds, and gets
    // its partitions before its first record.
    let first = median_within(
        &summary,
        "/first_record_ms/first_record/median",
        0.1,
        20_000.0,
    );
    let assigned = median_within(&summary, "/first_record_ms/assigned/median", 0.0, 20_000.0);
    assert!(assigned <= first, "{summary}");

    let rebalances = summary["rebalance"].as_array().expect("rebalance results");
    let assignors: Vec<&str> = rebalances
        .iter()
        .map(|r| r["assignor"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(assignors, ["range", "cooperative-sticky"]);
    for r in rebalances {
        assert_eq!(r["members"], 2);
        assert_eq!(r["join_ms"]["runs"].as_array().map(Vec::len), Some(1));
        median_within(r, "/join_ms/median", 0.1, 20_000.0);
        median_within(r, "/leave_ms/median", 0.1, 20_000.0);
    }

    let single = median_within(
        &summary,
        "/throughput/single_records_per_s/median",
        1.0,
        1e9,
    );
    let group = median_within(&summary, "/throughput/group_records_per_s/median", 1.0, 1e9);
    let ratio = summary["throughput"]["group_over_single"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (ratio - group / single).abs() < 0.05 * ratio.max(1.0),
        "{summary}"
    );
}
