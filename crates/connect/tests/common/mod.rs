//! A real broker and a real worker (REST API included) on free ports, for
//! the worker tests, and a small HTTP client for Kafka Connect's API.
#![allow(dead_code)] // each test file uses some of these

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_connect::config::Config;
use fjord_connect::{Worker, WorkerSettings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value as Json;

/// A broker on a free port, in a runtime of its own; stops when dropped.
pub struct TestBroker {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestBroker {
    pub fn start() -> TestBroker {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let path = dir.path().to_path_buf();
        let addr = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut config = fjord_broker::BrokerConfig::new(&path);
            config.listen = addr;
            config.group_initial_rebalance_delay_ms = 0;
            let broker = fjord_broker::Broker::open(config, addr).unwrap();
            tokio::spawn(fjord_broker::run(listener, broker, async {
                let _ = rx.await;
            }));
            addr
        });
        TestBroker {
            addr,
            _dir: dir,
            runtime,
            stop: Some(tx),
        }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Produces (key, value) records to partition 0 and waits for them.
    pub fn produce(&self, topic: &str, records: &[(Option<&str>, Option<&str>)]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .unwrap();
        for (k, v) in records {
            let mut r: BaseRecord<'_, str, str> = BaseRecord::to(topic).partition(0);
            if let Some(k) = k {
                r = r.key(k);
            }
            if let Some(v) = v {
                r = r.payload(v);
            }
            producer.send(r).map_err(|(e, _)| e).unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Every record of partition 0 of `topic` up to `count` of them
    /// (waiting up to 30 s): (key, value, headers).
    pub fn read(&self, topic: &str, count: usize) -> Vec<Consumed> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&list).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut out = Vec::new();
        while out.len() < count && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Consumed {
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: m.payload().map(|v| String::from_utf8_lossy(v).into_owned()),
                    headers,
                });
            }
        }
        out
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug, Clone)]
pub struct Consumed {
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Consumed {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A distributed-mode worker with its REST API on a free port, files
/// confined to `files`; stops when dropped.
pub struct TestWorker {
    pub url: String,
    pub worker: Arc<Worker>,
    pub files: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<std::sync::mpsc::Receiver<()>>,
}

impl TestWorker {
    pub fn start(broker: &TestBroker, files: &Path) -> TestWorker {
        let mut raw = Config::default();
        raw.set("bootstrap.servers", broker.bootstrap());
        raw.set("allowed.paths", files.display().to_string());
        raw.set("offset.flush.interval.ms", "500");
        raw.set("offset.storage.partitions", "2");
        raw.set("status.storage.partitions", "1");
        let mut settings = WorkerSettings::from_config(raw, true).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done) = std::sync::mpsc::channel();
        let (url, worker) = broker.runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            settings.worker_id = addr.to_string();
            let worker = fjord_connect::start_worker(settings).await.unwrap();
            let serving = worker.clone();
            tokio::spawn(async move {
                let _ = fjord_connect::serve_worker(
                    listener,
                    serving,
                    Some("test-cluster".into()),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await;
                let _ = done_tx.send(());
            });
            (format!("http://{addr}"), worker)
        });
        TestWorker {
            url,
            worker,
            files: files.to_path_buf(),
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Stops the REST API and every task, and waits for them.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            if let Some(done) = self.done.take() {
                let _ = done.recv_timeout(Duration::from_secs(30));
            }
        }
    }

    /// Calls the API: (status, JSON body or Null).
    pub fn call(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        call(&self.url, method, path, body, &[])
    }

    /// Waits (up to 30 s) until `check` holds for the connector's status.
    pub fn wait_status(&self, name: &str, what: &str, check: impl Fn(&Json) -> bool) -> Json {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, body) = self.call("GET", &format!("/connectors/{name}/status"), None);
            if code == 200 && check(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never became {what}: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn call(
    url: &str,
    method: &str,
    path: &str,
    body: Option<&Json>,
    headers: &[(&str, &str)],
) -> (u16, Json) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{url}{path}");
    macro_rules! with_headers {
        ($req:expr) => {{
            let mut r = $req;
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r
        }};
    }
    let response = match (method, body) {
        ("GET", _) => with_headers!(agent.get(&url)).call(),
        ("DELETE", _) => with_headers!(agent.delete(&url)).call(),
        ("POST", Some(b)) => with_headers!(agent.post(&url)).send_json(b),
        ("POST", None) => with_headers!(agent.post(&url)).send_empty(),
        ("PUT", Some(b)) => with_headers!(agent.put(&url)).send_json(b),
        ("PUT", None) => with_headers!(agent.put(&url)).send_empty(),
        ("PATCH", Some(b)) => with_headers!(agent.patch(&url)).send_json(b),
        _ => panic!("unsupported {method}"),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Json::Null))
}

/// Waits (up to 30 s) until `path` holds `lines` lines; returns them.
pub fn wait_lines(path: &Path, lines: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        if got.len() >= lines || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
