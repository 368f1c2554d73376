//! A topology run against a real broker (in this process, on a free
//! port): windowed counts with EMIT FINAL, late records in their topic,
//! and an application that moves between instances, restoring its state
//! from the changelog, with the same results as one uninterrupted run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fjord_streams::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// (key, value, headers as text) of a record read back.
type Read = (Vec<u8>, Vec<u8>, Vec<(String, String)>);

/// A broker on a free port, in a runtime of its own; stops when dropped.
struct TestBroker {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestBroker {
    fn start() -> TestBroker {
        // RUST_LOG=info shows the runtime's and the broker's log lines.
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
            _runtime: runtime,
            stop: Some(tx),
        }
    }

    fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt
            .block_on(admin.create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            ))
            .unwrap();
        assert!(r[0].is_ok(), "{r:?}");
    }

    /// (key, event time, partition) records, acknowledged.
    fn produce(&self, topic: &str, records: &[(&str, i64, i32)]) {
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("acks", "all")
            .create()
            .unwrap();
        for (key, ts, partition) in records {
            p.send(
                BaseRecord::<str, str>::to(topic)
                    .key(*key)
                    .payload("{}")
                    .timestamp(*ts)
                    .partition(*partition),
            )
            .unwrap();
        }
        p.flush(Duration::from_secs(10)).unwrap();
    }

    /// Every record of `topic` until `expected` are there (or 30 s).
    fn read(&self, topic: &str, partitions: i32, expected: usize) -> Vec<Read> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&list).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| {
                                let v = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                                (h.key.to_string(), v.unwrap_or_default())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                    headers,
                ));
            }
        }
        // Anything beyond what was expected shows up too.
        std::thread::sleep(Duration::from_millis(300));
        while let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push((
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
                vec![],
            ));
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

fn topology() -> Topology {
    let b = StreamsBuilder::new("click-counts");
    b.stream("clicks", Format::String, Format::Json)
        .window_aggregate(
            "per-second",
            WindowKind::Time(TimeWindows::tumbling(1000)),
            Aggregate::Count,
            |_| Value::Null,
            Emit::Final,
            Some("clicks-late"),
        )
        .to("counts", Format::String, Format::Long);
    b.build().unwrap()
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<fjord_streams::Result<()>>,
}

fn start_instance(bootstrap: &str) -> Running {
    start_instance_with(bootstrap, |_| {})
}

fn start_instance_with(bootstrap: &str, tweak: impl FnOnce(&mut StreamsConfig)) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let mut config = StreamsConfig::new(bootstrap);
    config.commit_interval = Duration::from_millis(200);
    config.heartbeat_interval = Duration::from_millis(200);
    config.session_timeout_ms = 6_000;
    config.rebalance_timeout_ms = 10_000;
    tweak(&mut config);
    let flag = stop.clone();
    let thread = std::thread::spawn(move || run(&topology(), &config, &flag));
    Running { stop, thread }
}

impl Running {
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap().unwrap();
    }
}

/// (key, window start) -> count, from the output records.
fn counts(out: &[Read]) -> BTreeMap<(String, i64), i64> {
    let mut m = BTreeMap::new();
    for (k, v, _) in out {
        let (key, start) = k.split_at(k.len() - 8);
        let start = i64::from_be_bytes(start.try_into().unwrap());
        let count = i64::from_be_bytes(v.as_slice().try_into().unwrap());
        let previous = m.insert((String::from_utf8(key.to_vec()).unwrap(), start), count);
        assert!(
            previous.is_none(),
            "EMIT FINAL wrote a window twice: {key:?} {start}"
        );
    }
    m
}

/// Event times start here: librdkafka takes a timestamp of 0 for "now".
const T0: i64 = 1_000_000;

/// Clicks for keys a and b on both partitions, second by second.
fn clicks(seconds: std::ops::Range<i64>) -> Vec<(&'static str, i64, i32)> {
    let mut out = Vec::new();
    for s in seconds {
        for i in 0..5 {
            out.push(("a", T0 + s * 1000 + i * 100, 0));
            if i % 2 == 0 {
                out.push(("b", T0 + s * 1000 + i * 150, 1));
            }
        }
    }
    out
}

fn expected(seconds: std::ops::Range<i64>) -> BTreeMap<(String, i64), i64> {
    seconds
        .flat_map(|s| {
            let start = T0 + s * 1000;
            [(("a".to_string(), start), 5), (("b".to_string(), start), 3)]
        })
        .collect()
}

#[test]
fn windowed_counts_with_emit_final_and_late_records() {
    let broker = TestBroker::start();
    broker.create_topic("clicks", 2);
    let app = start_instance(&broker.bootstrap());
    broker.produce("clicks", &clicks(0..3));
    // Stream time moves on (closing every window so far); then a click for
    // the first second arrives, late.
    broker.produce(
        "clicks",
        &[
            ("a", T0 + 10_000, 0),
            ("b", T0 + 10_000, 1),
            ("a", T0 + 500, 0),
        ],
    );
    let out = broker.read("counts", 2, 6);
    assert_eq!(counts(&out), expected(0..3));
    let late = broker.read("clicks-late", 2, 1);
    assert_eq!(late.len(), 1);
    let h: BTreeMap<_, _> = late[0].2.iter().cloned().collect();
    assert_eq!(late[0].0, b"a");
    assert_eq!(h["fjord.late.window.start"], T0.to_string());
    assert_eq!(h["fjord.late.stream.time"], (T0 + 10_000).to_string());
    assert_eq!(h["fjord.late.source.topic"], "clicks");
    app.stop();
}

#[test]
fn exactly_once_commits_outputs_with_the_input_offsets() {
    let broker = TestBroker::start();
    broker.create_topic("clicks", 2);
    let app = start_instance_with(&broker.bootstrap(), |c| {
        c.guarantee = ProcessingGuarantee::ExactlyOnce;
        c.transaction_timeout = Duration::from_secs(5);
    });
    broker.produce("clicks", &clicks(0..3));
    broker.produce("clicks", &[("a", T0 + 10_000, 0), ("b", T0 + 10_000, 1)]);
    // The reader is read_committed (librdkafka's default): outputs show
    // once their transaction commits.
    let out = broker.read("counts", 2, 6);
    assert_eq!(counts(&out), expected(0..3));
    app.stop();
    // The offsets went with the transactions: a new instance has nothing
    // left to do, and writes nothing again.
    let again = start_instance_with(&broker.bootstrap(), |c| {
        c.guarantee = ProcessingGuarantee::ExactlyOnce;
    });
    std::thread::sleep(Duration::from_secs(2));
    again.stop();
    assert_eq!(counts(&broker.read("counts", 2, 6)), expected(0..3));
}

#[test]
fn another_instance_takes_over_with_the_state_restored() {
    let broker = TestBroker::start();
    broker.create_topic("clicks", 2);
    // The first instance counts the first second and part of the next,
    // then stops: the second window's count is in its changelog.
    let first = start_instance(&broker.bootstrap());
    let all = clicks(0..3);
    let (early, late_half): (Vec<_>, Vec<_>) = all.iter().partition(|(_, ts, _)| *ts < T0 + 1_250);
    broker.produce("clicks", &early);
    std::thread::sleep(Duration::from_secs(2));
    first.stop();
    // Two instances now: they split the tasks, restore the windows from the
    // changelog and finish them; one leaves on the way.
    let second = start_instance(&broker.bootstrap());
    let third = start_instance(&broker.bootstrap());
    std::thread::sleep(Duration::from_secs(1));
    broker.produce("clicks", &late_half);
    std::thread::sleep(Duration::from_millis(500));
    third.stop();
    broker.produce("clicks", &[("a", T0 + 10_000, 0), ("b", T0 + 10_000, 1)]);
    let out = broker.read("counts", 2, 6);
    assert_eq!(
        counts(&out),
        expected(0..3),
        "the same as one uninterrupted run"
    );
    second.stop();
}

#[test]
fn an_idle_task_closes_its_windows_on_the_wall_clock_when_asked() {
    let broker = TestBroker::start();
    broker.create_topic("clicks", 2);
    let app = start_instance_with(&broker.bootstrap(), |c| {
        c.idle_timeout = Some(Duration::from_millis(300));
    });
    // One second of clicks, then nothing: no later record closes it.
    // The clock starts before the produce: the task can process the record
    // (and start idling) before the produce's acknowledgement returns, and
    // a clock started after it measured the idle time short (seen once).
    let started = Instant::now();
    broker.produce("clicks", &clicks(0..1));
    let out = broker.read("counts", 2, 2);
    assert_eq!(counts(&out), expected(0..1));
    // Stream time moved on only after the idle timeout.
    assert!(started.elapsed() >= Duration::from_millis(300));
    app.stop();
}

#[test]
fn counts_per_new_key_add_up_across_partitions_through_the_repartition_topic() {
    let broker = TestBroker::start();
    broker.create_topic("visits", 2);
    let topology = || {
        let b = StreamsBuilder::new("page-counts");
        b.stream("visits", Format::String, Format::String)
            // The value is the page: every user's visits, counted per page.
            .select_key(|r| Ok(r.value.clone()))
            .aggregate("per-page", Aggregate::Count, |_| Value::Null)
            .to("pages", Format::String, Format::Long);
        b.build().unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut config = StreamsConfig::new(broker.bootstrap());
    config.commit_interval = Duration::from_millis(200);
    let flag = stop.clone();
    let app = std::thread::spawn(move || run(&topology(), &config, &flag));
    // Users on both partitions visit the same pages.
    let p = rdkafka::producer::BaseRecord::<str, str>::to;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    for (user, page, partition) in [
        ("ann", "/a", 0),
        ("bob", "/a", 1),
        ("ann", "/b", 0),
        ("cy", "/a", 1),
    ] {
        producer
            .send(
                p("visits")
                    .key(user)
                    .payload(page)
                    .partition(partition)
                    .timestamp(T0),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let out = broker.read("pages", 2, 4);
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for (k, v, _) in &out {
        last.insert(
            String::from_utf8(k.clone()).unwrap(),
            i64::from_be_bytes(v.as_slice().try_into().unwrap()),
        );
    }
    assert_eq!(
        last,
        BTreeMap::from([("/a".to_string(), 3), ("/b".to_string(), 1)])
    );
    stop.store(true, Ordering::SeqCst);
    app.join().unwrap().unwrap();
}
