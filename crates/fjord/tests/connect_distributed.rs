//! Two distributed connect workers (`fjord connect distributed`, real
//! processes) share a JDBC sink into SQLite; one is killed with -9 while
//! records stream in. Its tasks move to the survivor after
//! scheduled.rebalance.max.delay.ms, the REST status shows the move, and
//! the tables end with every record: exactly once with `exactly.once=true`
//! (offsets in the same database transaction as the rows), at least once
//! without.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, FJORD};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::{json, Value as Json};

const RECORDS: usize = 20_000;

struct Worker {
    child: Child,
    url: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_worker(broker: &Broker, name: &str) -> Worker {
    start_worker_with(broker, name, "")
}

/// A worker with `extra` lines in its properties file.
fn start_worker_with(broker: &Broker, name: &str, extra: &str) -> Worker {
    let dir = broker.dir.path();
    let properties = dir.join(format!("{name}.properties"));
    // Kafka's connect-distributed.properties keys, with test-sized timings.
    std::fs::write(
        &properties,
        format!(
            "group.id=test-connect\noffset.flush.interval.ms=500\nscheduled.rebalance.max.delay.ms=3000\n\
             session.timeout.ms=6000\nheartbeat.interval.ms=500\nallowed.paths={}\n\
             consumer.session.timeout.ms=6000\nconsumer.heartbeat.interval.ms=500\n",
            dir.display()
        ) + extra,
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(FJORD)
        .args([
            "connect",
            "distributed",
            "--bootstrap-servers",
            &broker.addr.to_string(),
        ])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(&properties)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let worker = Worker {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&worker, "GET", "/", None).is_none() {
        assert!(Instant::now() < deadline, "worker {name} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    worker
}

fn call(worker: &Worker, method: &str, path: &str, body: Option<&Json>) -> Option<(u16, Json)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", worker.url);
    let response = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        ("PUT", Some(b)) => agent.put(&url).send_json(b),
        _ => panic!("unsupported"),
    }
    .ok()?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    Some((status, serde_json::from_str(&text).unwrap_or(Json::Null)))
}

/// The worker ids running `connector`'s tasks, as the REST API says.
fn task_workers(worker: &Worker, connector: &str) -> Vec<String> {
    let Some((200, status)) = call(
        worker,
        "GET",
        &format!("/connectors/{connector}/status"),
        None,
    ) else {
        return Vec::new();
    };
    status["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "RUNNING")
        .map(|t| t["worker_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn sink(db: &std::path::Path, table: &str, exactly_once: bool) -> Json {
    // Confluent's JDBC sink quick-start shape, with JSON schemas instead of
    // Avro, and the Fjord extension exactly.once.
    json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "tasks.max": "4",
        "topics": "orders",
        "connection.url": format!("jdbc:sqlite:{}", db.display()),
        "table.name.format": table,
        "auto.create": "true",
        "insert.mode": "insert",
        "pk.mode": "none",
        "batch.size": "200",
        "exactly.once": exactly_once.to_string(),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
    })
}

fn produce_orders(bootstrap: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let schema = json!({"type": "struct", "name": "order", "optional": false, "fields": [
        {"field": "id", "type": "int64", "optional": false},
        {"field": "product", "type": "string", "optional": false},
        {"field": "quantity", "type": "int32", "optional": false}]});
    for i in 0..RECORDS {
        let value = json!({"schema": schema, "payload": {"id": i, "product": format!("p{}", i % 97), "quantity": i % 7}})
            .to_string();
        let key = i.to_string();
        loop {
            match producer.send(BaseRecord::to("orders").key(&key).payload(&value)) {
                Ok(()) => break,
                Err((_, _)) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        if i % 1000 == 999 {
            // Spread the stream over a few seconds: the kill lands mid-way.
            producer.flush(Duration::from_secs(30)).unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// (rows, distinct ids) of `table`, or None before it exists.
fn count(db: &std::path::Path, table: &str) -> Option<(i64, i64)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite:{}?mode=ro", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.ok()?;
        let row: (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM \"{table}\""
        ))
        .fetch_one(&pool)
        .await
        .ok()?;
        pool.close().await;
        Some(row)
    })
}

#[test]
fn a_worker_killed_mid_stream_hands_its_tasks_over_and_no_record_is_lost_or_doubled_in_exactly_once_mode(
) {
    let broker = Broker::start_with_config("[broker]\ngroup_initial_rebalance_delay_ms = 0\n");
    broker.ok(&["topic", "create", "orders", "--partitions", "4"]);
    let db = broker.dir.path().join("orders.db");
    let a = start_worker(&broker, "worker-a");
    let mut b = Some(start_worker(&broker, "worker-b"));
    let (code, body) = call(
        &a,
        "PUT",
        "/connectors/orders-eos/config",
        Some(&sink(&db, "orders_eos", true)),
    )
    .unwrap();
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(
        &a,
        "PUT",
        "/connectors/orders-alos/config",
        Some(&sink(&db, "orders_alos", false)),
    )
    .unwrap();
    assert_eq!(code, 201, "{body}");

    // Both workers run some of the tasks.
    let a_id = a.url.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut workers = task_workers(&a, "orders-eos");
        workers.extend(task_workers(&a, "orders-alos"));
        workers.sort();
        workers.dedup();
        if workers.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tasks never spread over both workers: {workers:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let bootstrap = broker.addr.to_string();
    let producer = std::thread::spawn(move || produce_orders(&bootstrap));
    // Kill b once rows are arriving.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "orders_eos").is_none_or(|(rows, _)| rows < (RECORDS / 5) as i64) {
        assert!(
            Instant::now() < deadline,
            "no rows arrived: {:?}",
            count(&db, "orders_eos")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut killed = b.take().unwrap();
    let _ = killed.child.kill();
    let _ = killed.child.wait();
    producer.join().unwrap();

    // After the delay every task runs on a, and the tables fill up.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let eos = count(&db, "orders_eos").unwrap_or_default();
        let alos = count(&db, "orders_alos").unwrap_or_default();
        let on_a = task_workers(&a, "orders-eos")
            .iter()
            .chain(&task_workers(&a, "orders-alos"))
            .all(|w| *w == a_id);
        if eos.1 == RECORDS as i64 && alos.1 == RECORDS as i64 && on_a {
            assert_eq!(eos.0, RECORDS as i64, "exactly once: no row twice");
            assert!(alos.0 >= RECORDS as i64, "at least once");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "eos {eos:?} alos {alos:?} on a: {on_a}; worker a log:\n{}",
            std::fs::read_to_string(broker.dir.path().join("worker-a.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, status) = call(&a, "GET", "/connectors/orders-eos/status", None).unwrap();
    assert_eq!(status["tasks"].as_array().unwrap().len(), 4);
    assert!(
        status["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["worker_id"] == a_id.as_str()),
        "{status}"
    );
}

/// Every record value of partition 0 of `topic`, read_committed, until
/// `count` are read or 60 s pass, then 2 s more for any duplicate.
fn read_committed(bootstrap: &str, topic: &str, count: usize) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "test-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let mut out = Vec::new();
    let mut deadline = Instant::now() + Duration::from_secs(60);
    let mut settling = false;
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        if out.len() >= count && !settling {
            settling = true;
            deadline = Instant::now() + Duration::from_secs(2);
        }
    }
    out
}

#[test]
fn an_exactly_once_source_killed_mid_file_resumes_without_a_line_lost_or_doubled() {
    let broker = Broker::start_with_config("[broker]\ngroup_initial_rebalance_delay_ms = 0\n");
    broker.ok(&["topic", "create", "lines", "--partitions", "1"]);
    let dir = broker.dir.path();
    let lines: Vec<String> = (0..60_000).map(|i| format!("line {i}")).collect();
    std::fs::write(dir.join("in.txt"), lines.join("\n") + "\n").unwrap();
    // Without this line the same run doubled some 40k lines (tried once).
    let extra = "exactly.once.source.support=enabled\n";
    let first = start_worker_with(&broker, "eos-a", extra);
    // Kafka's file source; each poll's lines and their offset committed in
    // one transaction (KIP-618).
    let config = json!({
        "connector.class": "FileStreamSource",
        "file": dir.join("in.txt").display().to_string(),
        "topic": "lines",
        "batch.size": "500",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    });
    let (code, body) = call(&first, "PUT", "/connectors/lines-src/config", Some(&config)).unwrap();
    assert_eq!(code, 201, "{body}");
    // Kill the worker once part of the file is in the topic.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = broker.ok(&["topic", "describe", "lines", "--format", "json"]);
        let described: Json = serde_json::from_str(&out).unwrap();
        let end = described["partitions"][0]["high_watermark"]
            .as_i64()
            .unwrap_or(0);
        if end > 10_000 {
            // The kill must land mid-file, or the test shows nothing.
            assert!(
                end < 60_000,
                "the whole file was written before the kill: {end}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the source wrote nothing: {out}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(first);
    // Another worker of the group takes the connector over and resumes
    // from the offset committed with the last transaction.
    let _second = start_worker_with(&broker, "eos-b", extra);
    let read = read_committed(&broker.addr.to_string(), "lines", lines.len());
    assert_eq!(read.len(), lines.len(), "every line once");
    assert!(read == lines, "the lines in order, none lost or doubled");
}
