//! The worker end to end through Kafka Connect's REST API, against a real
//! broker: file source → topic → file sink, statuses, pause/resume/stop,
//! restarts, offsets, error shapes and codes, the Host/Origin guard, and a
//! restarted worker resuming its connectors from the topics.

mod common;

use common::{call, wait_lines, TestBroker, TestWorker};
use serde_json::json;

fn source_config(dir: &std::path::Path, topic: &str) -> serde_json::Value {
    // The shape of Kafka's config/connect-file-source.properties.
    json!({
        "connector.class": "FileStreamSource",
        "tasks.max": "1",
        "file": dir.join("in.txt").display().to_string(),
        "topic": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    })
}

fn sink_config(dir: &std::path::Path, topic: &str) -> serde_json::Value {
    // The shape of Kafka's config/connect-file-sink.properties.
    json!({
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "tasks.max": "1",
        "file": dir.join("out.txt").display().to_string(),
        "topics": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    })
}

#[test]
fn lines_flow_from_a_file_through_a_topic_into_another_file_and_resume_after_a_worker_restart() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    std::fs::write(dir.path().join("in.txt"), lines.join("\n") + "\n").unwrap();

    let mut worker = TestWorker::start(&broker, dir.path());
    let (code, body) = worker.call(
        "POST",
        "/connectors",
        Some(&json!({"name": "src", "config": source_config(dir.path(), "lines")})),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["name"], "src");
    assert_eq!(body["type"], "source");
    // As in Kafka, the connector's worker makes its task configs after the
    // create is answered; they show up in the info shortly after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while worker.call("GET", "/connectors/src", None).1["tasks"]
        != json!([{"connector": "src", "task": 0}])
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the task configs never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, body) = worker.call(
        "PUT",
        "/connectors/sink/config",
        Some(&sink_config(dir.path(), "lines")),
    );
    assert_eq!(code, 201, "{body}");
    let (code, _) = worker.call(
        "PUT",
        "/connectors/sink/config",
        Some(&sink_config(dir.path(), "lines")),
    );
    assert_eq!(code, 200, "an update answers 200");

    let out = wait_lines(&dir.path().join("out.txt"), 500);
    assert_eq!(out, lines);
    let status = worker.wait_status("sink", "running", |s| s["tasks"][0]["state"] == "RUNNING");
    assert_eq!(status["connector"]["state"], "RUNNING");
    assert_eq!(status["type"], "sink");
    let (_, topics) = worker.call("GET", "/connectors/src/topics", None);
    assert_eq!(topics, json!({"src": {"topics": ["lines"]}}));

    // The source's offset is its byte position in the file.
    let size = std::fs::metadata(dir.path().join("in.txt")).unwrap().len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, offsets) = worker.call("GET", "/connectors/src/offsets", None);
        if offsets["offsets"][0]["offset"]["position"] == json!(size) {
            assert_eq!(
                offsets["offsets"][0]["partition"]["filename"],
                dir.path().join("in.txt").display().to_string()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "source offset never stored: {offsets}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // A new worker over the same topics runs the same connectors; the
    // source resumes after its stored position: no line twice.
    worker.stop();
    let more: Vec<String> = (500..600).map(|i| format!("line {i}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("in.txt"))
        .unwrap();
    std::io::Write::write_all(&mut file, (more.join("\n") + "\n").as_bytes()).unwrap();
    let worker = TestWorker::start(&broker, dir.path());
    let (_, names) = worker.call("GET", "/connectors", None);
    assert_eq!(names, json!(["sink", "src"]));
    let out = wait_lines(&dir.path().join("out.txt"), 600);
    let expected: Vec<String> = lines.iter().chain(&more).cloned().collect();
    assert_eq!(out, expected);
    // Anything written twice would follow within the next commit interval.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let text = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
    assert_eq!(text.lines().count(), 600, "no line was written twice");
}

#[test]
fn pause_resume_stop_restart_and_delete_answer_as_kafka_connect_does() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "a\n").unwrap();
    let worker = TestWorker::start(&broker, dir.path());
    assert_eq!(
        worker
            .call(
                "PUT",
                "/connectors/src/config",
                Some(&source_config(dir.path(), "t"))
            )
            .0,
        201
    );
    worker.wait_status("src", "running", |s| s["tasks"][0]["state"] == "RUNNING");

    assert_eq!(worker.call("PUT", "/connectors/src/pause", None).0, 202);
    worker.wait_status("src", "paused", |s| {
        s["connector"]["state"] == "PAUSED" && s["tasks"][0]["state"] == "PAUSED"
    });
    assert_eq!(worker.call("PUT", "/connectors/src/resume", None).0, 202);
    worker.wait_status("src", "running", |s| {
        s["connector"]["state"] == "RUNNING" && s["tasks"][0]["state"] == "RUNNING"
    });

    let (code, body) = worker.call("POST", "/connectors/src/restart?includeTasks=true", None);
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["connector"]["state"], "RESTARTING");
    assert_eq!(body["tasks"][0]["state"], "RESTARTING");
    worker.wait_status("src", "running", |s| s["tasks"][0]["state"] == "RUNNING");
    assert_eq!(worker.call("POST", "/connectors/src/restart", None).0, 204);
    assert_eq!(
        worker
            .call("POST", "/connectors/src/tasks/0/restart", None)
            .0,
        204
    );
    assert_eq!(
        worker.call("GET", "/connectors/src/tasks/0/status", None).1["id"],
        0
    );

    // Offsets change only while stopped.
    let (code, body) = worker.call("DELETE", "/connectors/src/offsets", None);
    assert_eq!(code, 400);
    assert!(
        body["message"].as_str().unwrap().contains("STOPPED state"),
        "{body}"
    );
    assert_eq!(worker.call("PUT", "/connectors/src/stop", None).0, 204);
    let status = worker.wait_status("src", "stopped", |s| s["connector"]["state"] == "STOPPED");
    assert_eq!(status["tasks"], json!([]));
    let partition = json!({"filename": dir.path().join("in.txt").display().to_string()});
    let (code, body) = worker.call(
        "PATCH",
        "/connectors/src/offsets",
        Some(&json!({"offsets": [{"partition": partition, "offset": {"position": 1}}]})),
    );
    assert_eq!(code, 200, "{body}");
    let (_, offsets) = worker.call("GET", "/connectors/src/offsets", None);
    assert_eq!(
        offsets,
        json!({"offsets": [{"partition": partition, "offset": {"position": 1}}]})
    );
    assert_eq!(
        worker.call("DELETE", "/connectors/src/offsets", None).0,
        200
    );
    assert_eq!(
        worker.call("GET", "/connectors/src/offsets", None).1,
        json!({"offsets": []})
    );

    assert_eq!(worker.call("DELETE", "/connectors/src", None).0, 204);
    assert_eq!(worker.call("GET", "/connectors", None).1, json!([]));
}

#[test]
fn errors_have_kafka_connects_codes_and_bodies() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let worker = TestWorker::start(&broker, dir.path());

    let (code, body) = worker.call("GET", "/connectors/nope", None);
    assert_eq!(
        (code, body),
        (
            404,
            json!({"error_code": 404, "message": "Connector nope not found"})
        )
    );

    // A bad value: 400 with the validate endpoint's errors in the message.
    let mut bad = sink_config(dir.path(), "t");
    bad["name"] = json!("bad");
    bad["tasks.max"] = json!("zero");
    let (code, body) = worker.call("PUT", "/connectors/bad/config", Some(&bad));
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error_code"], 400);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Connector configuration is invalid and contains the following 1 error(s):"
        ),
        "{message}"
    );
    assert!(
        message.contains("Invalid value zero for configuration tasks.max"),
        "{message}"
    );
    let (code, report) = worker.call(
        "PUT",
        "/connector-plugins/FileStreamSinkConnector/config/validate",
        Some(&bad),
    );
    assert_eq!(code, 200);
    assert_eq!(
        report["name"],
        "org.apache.kafka.connect.file.FileStreamSinkConnector"
    );
    assert_eq!(report["error_count"], 1, "{report}");
    let tasks_max = report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["definition"]["name"] == "tasks.max")
        .unwrap();
    assert_eq!(tasks_max["value"]["errors"].as_array().unwrap().len(), 1);

    // A sink without topics, and one with both topics and topics.regex.
    let mut no_topics = sink_config(dir.path(), "t");
    no_topics.as_object_mut().unwrap().remove("topics");
    let (code, body) = worker.call("PUT", "/connectors/x/config", Some(&no_topics));
    assert_eq!(code, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Must configure one of topics or topics.regex"),
        "{body}"
    );

    // A class that is not built in (Debezium's): 400 listing what is.
    let (code, body) = worker.call(
        "PUT",
        "/connectors/cdc/config",
        Some(&json!({"connector.class": "io.debezium.connector.postgresql.PostgresConnector"})),
    );
    assert_eq!(code, 400);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("io.debezium.connector.postgresql.PostgresConnector"),
        "{message}"
    );
    assert!(
        message.contains("org.apache.kafka.connect.file.FileStreamSinkConnector"),
        "{message}"
    );

    // Creating twice: 409.
    let create = json!({"name": "dup", "config": sink_config(dir.path(), "t")});
    assert_eq!(worker.call("POST", "/connectors", Some(&create)).0, 201);
    let (code, body) = worker.call("POST", "/connectors", Some(&create));
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (409, "Connector dup already exists")
    );

    // Unknown route and malformed JSON keep the JSON error shape.
    assert_eq!(worker.call("GET", "/nowhere", None).1["error_code"], 404);
    let (code, body) = worker.call("GET", "/", None);
    assert_eq!(code, 200);
    assert_eq!(body["kafka_cluster_id"], "test-cluster");
    let (_, plugins) = worker.call("GET", "/connector-plugins", None);
    let classes: Vec<&str> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_str().unwrap())
        .collect();
    assert!(
        classes.contains(&"org.apache.kafka.connect.file.FileStreamSourceConnector"),
        "{classes:?}"
    );

    // A file outside the allowed directories fails the task clearly.
    let (code, _) = worker.call(
        "PUT",
        "/connectors/escape/config",
        Some(&json!({"connector.class": "FileStreamSource", "file": "/etc/passwd", "topic": "t"})),
    );
    assert_eq!(code, 201);
    let status = worker.wait_status("escape", "failed", |s| s["tasks"][0]["state"] == "FAILED");
    assert!(
        status["tasks"][0]["trace"]
            .as_str()
            .unwrap()
            .contains("allowed directories"),
        "{status}"
    );

    // A page elsewhere cannot call the API (DNS rebinding, forged forms).
    let (code, body) = call(
        &worker.url,
        "GET",
        "/connectors",
        None,
        &[("Host", "evil.example:8083")],
    );
    assert_eq!(code, 403, "{body}");
    let host = worker.url.trim_start_matches("http://").to_string();
    let (code, _) = call(
        &worker.url,
        "GET",
        "/connectors",
        None,
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(code, 403);
    let (code, _) = call(
        &worker.url,
        "GET",
        "/connectors",
        None,
        &[("Origin", &format!("http://{host}"))],
    );
    assert_eq!(code, 200);
}

#[test]
fn a_bad_record_goes_to_the_dead_letter_topic_with_its_context_and_the_rest_are_written() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    broker.produce(
        "bids",
        &[
            (Some("k1"), Some(r#"{"item":"lamp","price":10}"#)),
            (Some("k2"), Some(r#"{"item":"vase","price":"#)),
            (Some("k3"), Some(r#"{"item":"desk","price":30}"#)),
        ],
    );
    let worker = TestWorker::start(&broker, dir.path());
    // The error settings as Confluent's DLQ documentation shows them.
    let config = json!({
        "connector.class": "FileStreamSink",
        "file": dir.path().join("out.txt").display().to_string(),
        "topics": "bids",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "dlq_bids",
        "errors.deadletterqueue.context.headers.enable": "true",
    });
    assert_eq!(
        worker
            .call("PUT", "/connectors/bids-file/config", Some(&config))
            .0,
        201
    );
    let out = wait_lines(&dir.path().join("out.txt"), 2);
    assert_eq!(out, ["{item=lamp, price=10}", "{item=desk, price=30}"]);
    let dead = broker.read("dlq_bids", 1);
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.key.as_deref(), Some("k2"));
    assert_eq!(d.value.as_deref(), Some(r#"{"item":"vase","price":"#));
    assert_eq!(d.header("__connect.errors.topic"), Some("bids"));
    assert_eq!(d.header("__connect.errors.partition"), Some("0"));
    assert_eq!(d.header("__connect.errors.offset"), Some("1"));
    assert_eq!(
        d.header("__connect.errors.connector.name"),
        Some("bids-file")
    );
    assert_eq!(d.header("__connect.errors.task.id"), Some("0"));
    assert_eq!(d.header("__connect.errors.stage"), Some("VALUE_CONVERTER"));
    assert_eq!(
        d.header("__connect.errors.class.name"),
        Some("org.apache.kafka.connect.json.JsonConverter")
    );
    assert_eq!(
        d.header("__connect.errors.exception.class.name"),
        Some("org.apache.kafka.connect.errors.DataException")
    );
    assert!(d
        .header("__connect.errors.exception.message")
        .is_some_and(|m| !m.is_empty()));

    // errors.tolerance=none: the same bad record fails the task.
    let mut strict = config.clone();
    strict["errors.tolerance"] = json!("none");
    strict["file"] = json!(dir.path().join("strict.txt").display().to_string());
    assert_eq!(
        worker
            .call("PUT", "/connectors/strict/config", Some(&strict))
            .0,
        201
    );
    let status = worker.wait_status("strict", "failed", |s| s["tasks"][0]["state"] == "FAILED");
    assert!(
        status["tasks"][0]["trace"]
            .as_str()
            .unwrap()
            .contains("Tolerance exceeded"),
        "{status}"
    );
    // As in Kafka, the batch the bad record was in is not handed to the
    // task: nothing is written, and the group's offset stays before it.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("strict.txt")).unwrap_or_default(),
        ""
    );
}
