//! `fjord connect standalone` with Kafka's sample property files, managed
//! with `fjord connect list|status|pause|resume|stop|restart|offsets|
//! delete|plugins`; and the worker `fjord serve` embeds.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, FJORD};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fjord(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(FJORD)
        .args(args)
        .args(["--url", url])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn standalone_runs_kafkas_sample_files_and_the_cli_manages_it() {
    let broker = Broker::start();
    let dir = broker.dir.path();
    let port = free_port();
    // Kafka's config/connect-standalone.properties, with this broker, port
    // and directory.
    std::fs::write(
        dir.join("connect-standalone.properties"),
        format!(
            "bootstrap.servers={}\nkey.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\nkey.converter.schemas.enable=true\n\
             value.converter.schemas.enable=true\noffset.storage.file.filename={}\noffset.flush.interval.ms=500\n\
             listeners=http://127.0.0.1:{port}\nallowed.paths={}\n",
            broker.addr,
            dir.join("connect.offsets").display(),
            dir.display()
        ),
    )
    .unwrap();
    // Kafka's config/connect-file-source.properties and
    // connect-file-sink.properties (file paths made absolute).
    std::fs::write(
        dir.join("connect-file-source.properties"),
        format!(
            "name=local-file-source\nconnector.class=FileStreamSource\ntasks.max=1\nfile={}\ntopic=connect-test\n",
            dir.join("test.txt").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("connect-file-sink.properties"),
        format!(
            "name=local-file-sink\nconnector.class=FileStreamSink\ntasks.max=1\nfile={}\ntopics=connect-test\n",
            dir.join("test.sink.txt").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("test.txt"), "foo\nbar\n").unwrap();
    let log = std::fs::File::create(dir.join("standalone.log")).unwrap();
    let _worker = Proc(
        Command::new(FJORD)
            .args(["connect", "standalone"])
            .arg(dir.join("connect-standalone.properties"))
            .arg(dir.join("connect-file-source.properties"))
            .arg(dir.join("connect-file-sink.properties"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    // Kafka's quick start: the lines arrive in the sink file.
    wait_for("the sink file", || {
        std::fs::read_to_string(dir.join("test.sink.txt")).unwrap_or_default() == "foo\nbar\n"
    });

    let (ok, list) = fjord(&url, &["connect", "list"]);
    assert!(ok, "{list}");
    assert!(
        list.contains("local-file-source") && list.contains("local-file-sink"),
        "{list}"
    );
    assert!(list.contains("RUNNING"), "{list}");
    let (ok, status) = fjord(&url, &["connect", "status", "local-file-sink"]);
    assert!(ok && status.contains("task 0: RUNNING"), "{status}");
    let (ok, plugins) = fjord(&url, &["connect", "plugins"]);
    assert!(
        ok && plugins.contains("io.confluent.connect.jdbc.JdbcSinkConnector"),
        "{plugins}"
    );

    assert!(fjord(&url, &["connect", "pause", "local-file-source"]).0);
    wait_for("paused", || {
        fjord(&url, &["connect", "status", "local-file-source"])
            .1
            .contains("task 0: PAUSED")
    });
    assert!(fjord(&url, &["connect", "resume", "local-file-source"]).0);
    wait_for("resumed", || {
        fjord(&url, &["connect", "status", "local-file-source"])
            .1
            .contains("task 0: RUNNING")
    });
    assert!(
        fjord(
            &url,
            &["connect", "restart", "local-file-source", "--include-tasks"]
        )
        .0
    );

    // Offsets: shown; refused while running; reset once stopped.
    wait_for("stored offsets", || {
        fjord(&url, &["connect", "offsets", "local-file-source"])
            .1
            .contains("\"position\": 8")
    });
    let (ok, refused) = fjord(
        &url,
        &["connect", "offsets", "local-file-source", "--reset"],
    );
    assert!(
        !ok && refused.contains("400") && refused.contains("STOPPED"),
        "{refused}"
    );
    assert!(fjord(&url, &["connect", "stop", "local-file-source"]).0);
    let (ok, reset) = fjord(
        &url,
        &["connect", "offsets", "local-file-source", "--reset"],
    );
    assert!(ok, "{reset}");
    assert!(fjord(&url, &["connect", "offsets", "local-file-source"])
        .1
        .contains("\"offsets\": []"));

    let (ok, missing) = fjord(&url, &["connect", "status", "nope"]);
    assert!(
        !ok && missing.contains("404: Connector nope not found"),
        "{missing}"
    );
    assert!(fjord(&url, &["connect", "delete", "local-file-sink"]).0);
    assert!(!fjord(&url, &["connect", "list"])
        .1
        .contains("local-file-sink"));
}

#[test]
fn serve_embeds_a_worker_that_answers_kafka_connects_api() {
    let dir = tempfile::tempdir().unwrap();
    let (kafka, connect) = (free_port(), free_port());
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let _serve = Proc(
        Command::new(FJORD)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{kafka}"),
                "--no-registry",
            ])
            .args([
                "--connect-listen",
                &format!("127.0.0.1:{connect}"),
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .current_dir(dir.path())
            .env_remove("FJORD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{connect}");
    // The file connectors may use the data dir (the default allowed path).
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("in.txt"), "hello\n").unwrap();
    let config = serde_json::json!({"name": "lines", "config": {
        "connector.class": "FileStreamSource", "file": data.join("in.txt").display().to_string(), "topic": "lines"}});
    std::fs::write(dir.path().join("lines.json"), config.to_string()).unwrap();
    wait_for("the embedded worker", || {
        fjord(&url, &["connect", "list"]).0
    });
    let (ok, created) = fjord(
        &url,
        &[
            "connect",
            "create",
            "-f",
            dir.path().join("lines.json").to_str().unwrap(),
        ],
    );
    assert!(ok, "{created}");
    wait_for("the source task", || {
        fjord(&url, &["connect", "status", "lines"])
            .1
            .contains("task 0: RUNNING")
    });
    // The worker's default converter is JsonConverter with schemas, as in
    // Kafka's sample worker files: the line arrives in its envelope.
    wait_for("the line in the topic", || {
        let out = Command::new(FJORD)
            .args([
                "consume",
                "lines",
                "--bootstrap-servers",
                &format!("127.0.0.1:{kafka}"),
                "--from-beginning",
            ])
            .args(["--count", "1"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(r#""payload":"hello""#)
    });
}
