//! Two `fjord registry` instances on one topic: they serve the same ids,
//! the non-writer forwards writes to the elected writer, and when the
//! writer dies the other takes over and keeps numbering where it stopped.

mod registry_support;

use std::time::{Duration, Instant};

use registry_support::{call, register, standalone, Serve};
use serde_json::json;

/// Registers until it succeeds (an election in progress answers 50003/50004).
fn register_eventually(
    url: &str,
    subject: &str,
    schema: &str,
    within: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let (code, body) = register(url, subject, schema, None);
        if code == 200 {
            return body;
        }
        let retryable = matches!(body["error_code"].as_u64(), Some(50001..=50004));
        assert!(retryable && Instant::now() < deadline, "{code} {body}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn two_instances_share_ids_forward_writes_and_fail_over() {
    let serve = Serve::start();
    let dir = serve.dir.path();
    // Their own topic and group, apart from the embedded registry's.
    let extra = [
        "--topic",
        "_schemas_pair",
        "--group-id",
        "pair",
        "--session-timeout-ms",
        "6000",
    ];
    let (mut a, url_a) = standalone(&serve.bootstrap(), dir, "a", &extra);
    let (mut b, url_b) = standalone(&serve.bootstrap(), dir, "b", &extra);

    // Writes through either instance land in one numbering.
    let within = Duration::from_secs(30);
    assert_eq!(
        register_eventually(&url_a, "s1", r#""string""#, within),
        json!({"id": 1})
    );
    assert_eq!(
        register_eventually(&url_b, "s2", r#""int""#, within),
        json!({"id": 2})
    );
    assert_eq!(
        register_eventually(&url_b, "s3", r#""string""#, within),
        json!({"id": 1})
    );
    let put = call(
        "PUT",
        &format!("{url_b}/config/s1"),
        Some(&json!({"compatibility": "FULL"})),
    );
    assert_eq!(put, (200, json!({"compatibility": "FULL"})));
    // Both read the same state (each reads the topic itself).
    for url in [&url_a, &url_b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let subjects = call("GET", &format!("{url}/subjects"), None);
            let config = call("GET", &format!("{url}/config/s1"), None);
            if subjects == (200, json!(["s1", "s2", "s3"])) && config.0 == 200 {
                assert_eq!(config.1, json!({"compatibilityLevel": "FULL"}));
                break;
            }
            assert!(Instant::now() < deadline, "{url}: {subjects:?} {config:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            call("GET", &format!("{url}/schemas/ids/2"), None),
            (200, json!({"schema": "\"int\""}))
        );
    }

    // The writer is the eligible member with the smallest URL.
    let a_writes = url_a < url_b;
    let (writer, survivor, survivor_url) = if a_writes {
        (&mut a, &mut b, url_b.clone())
    } else {
        (&mut b, &mut a, url_a.clone())
    };
    // kill -9: no LeaveGroup; the survivor takes over after the session
    // timeout and continues the numbering.
    writer.kill();
    let got = register_eventually(&survivor_url, "s4", r#""long""#, Duration::from_secs(40));
    assert_eq!(got, json!({"id": 3}), "{}", survivor.log_text());
    assert_eq!(
        register_eventually(&survivor_url, "s1", r#""string""#, within),
        json!({"id": 1})
    );

    // A third instance joining later reads everything and forwards to the
    // survivor, which stays the writer.
    let (mut c, url_c) = standalone(&serve.bootstrap(), dir, "c", &extra);
    assert_eq!(
        register_eventually(&url_c, "s5", r#""long""#, within),
        json!({"id": 3})
    );
    assert_eq!(
        register_eventually(&url_c, "s6", r#""bytes""#, within),
        json!({"id": 4})
    );
    let (_, v) = call(
        "GET",
        &format!("{survivor_url}/subjects/s6/versions/1"),
        None,
    );
    assert_eq!(v["id"], 4, "{v}");

    // A clean stop (Ctrl-C) leaves the group, so the last instance takes
    // over at the next heartbeat, well before the 6 s session would expire.
    survivor.interrupt();
    let started = Instant::now();
    let got = register_eventually(&url_c, "s7", r#""float""#, within);
    assert_eq!(got, json!({"id": 5}), "{}", c.log_text());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "takeover after a clean stop took {:?}",
        started.elapsed()
    );
    c.interrupt();
}
