//! Exactly-once stream processing under kill -9 (fjord-streams with
//! `ProcessingGuarantee::ExactlyOnce` against a `fjord serve` process).
//!
//! A windowed aggregation reads readings, written while it runs, and writes per-key,
//! per-second sums with EMIT FINAL and counts with EMIT CHANGES. The
//! application process is killed with -9 at random points (then the
//! broker, in the other test) and started again until it has read
//! everything. Read with `read_committed`, the outputs must be what the
//! readings say: every window's sum exactly once, and every window's last
//! count its number of readings.
//!
//! The application runs in a child process: this test binary itself,
//! started with `--ignored --exact eos_application_process` and the broker's
//! address in `FJORD_TEST_EOS_BOOTSTRAP`.

mod common;

use std::collections::BTreeMap;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fjord_streams::{
    run, Aggregate, Emit, Format, ProcessingGuarantee, StreamsBuilder, StreamsConfig, TimeWindows,
    Topology, Value, WindowKind,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};

const APP_ENV: &str = "FJORD_TEST_EOS_BOOTSTRAP";
/// Set: the application process keeps the default transactional id
/// (`<application>-<random>`), one of its own.
const OWN_TXN_ID_ENV: &str = "FJORD_TEST_EOS_OWN_TXN_ID";
const PARTITIONS: i32 = 2;
const KEYS_PER_PARTITION: i64 = 5;
const READINGS_PER_PARTITION: i64 = 30_000;
const WINDOW_MS: i64 = 1000;

/// Groups here may use sessions short enough for a test.
const BROKER_TOML: &str = "[broker]\ngroup_initial_rebalance_delay_ms = 0\n\
                           group_min_session_timeout_ms = 1000\n\
                           transaction_abort_check_interval_ms = 500\n";

fn topology() -> Topology {
    let b = StreamsBuilder::new("eos-readings");
    let readings = b.stream("readings", Format::String, Format::Long);
    // Readings arrive up to 400 ms out of order; none is late.
    let windows = || WindowKind::Time(TimeWindows::tumbling(WINDOW_MS).grace(500));
    readings
        .window_aggregate(
            "sums",
            windows(),
            Aggregate::Sum,
            |r| r.value.clone(),
            Emit::Final,
            None,
        )
        .to("sums-final", Format::String, Format::Long);
    readings
        .window_aggregate(
            "counts",
            windows(),
            Aggregate::Count,
            |_| Value::Null,
            Emit::Changes,
            None,
        )
        .to("counts-changes", Format::String, Format::Long);
    b.build().expect("topology")
}

/// The child process: runs the application until killed; restarts it
/// after an error (the broker went away), as a supervisor would.
#[test]
#[ignore = "the application process of the kill tests, which start it"]
fn eos_application_process() {
    let bootstrap = std::env::var(APP_ENV).expect("started by the kill tests");
    // The runtime's log lines (restores, aborts) in the process's log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let mut config = StreamsConfig::new(bootstrap).with_guarantee(ProcessingGuarantee::ExactlyOnce);
    // The same id each start: a new process fences the killed one and
    // aborts its open transaction at once. The zombie test gives each
    // process an id of its own (the default), so only the group's
    // generation fences the paused one.
    if std::env::var(OWN_TXN_ID_ENV).is_err() {
        config.transactional_id = Some("eos-readings-instance".into());
    }
    // A killed instance leaves the group within 2 s.
    config.heartbeat_interval = Duration::from_millis(300);
    config.session_timeout_ms = 2_000;
    config.rebalance_timeout_ms = 10_000;
    let stop = AtomicBool::new(false);
    loop {
        if let Err(e) = run(&topology(), &config, &stop) {
            eprintln!("application stopped: {e}; restarting");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Where application process `n` logs (FJORD_TEST_LOG_DIR keeps the logs
/// after the test).
fn app_log(broker: &Broker, n: usize) -> std::path::PathBuf {
    std::env::var_os("FJORD_TEST_LOG_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| broker.dir.path().to_path_buf())
        .join(format!("app-{n}.log"))
}

fn start_application(broker: &Broker, n: usize) -> Child {
    spawn_test_process(
        "eos_application_process",
        &[(APP_ENV, broker.addr.to_string())],
        &app_log(broker, n),
    )
}

/// An application process with a transactional id of its own.
fn start_application_with_own_txn_id(broker: &Broker, n: usize) -> Child {
    spawn_test_process(
        "eos_application_process",
        &[
            (APP_ENV, broker.addr.to_string()),
            (OWN_TXN_ID_ENV, "1".to_string()),
        ],
        &app_log(broker, n),
    )
}

/// Sends `signal` (STOP, CONT) to the process.
fn signal(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {}", child.id());
}

/// Waits until application process `n` has joined and runs its tasks.
fn wait_running(broker: &Broker, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(app_log(broker, n))
        .unwrap_or_default()
        .contains("running tasks")
    {
        assert!(
            Instant::now() < deadline,
            "application {n} did not start its tasks"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill9(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A small deterministic generator (the seed is printed, so a failure can
/// be replayed).
struct Lcg(u64);

impl Lcg {
    fn seeded() -> Lcg {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        eprintln!("kill schedule seed: {seed}");
        Lcg(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Counts deliveries that failed (after librdkafka's retries).
#[derive(Default, Clone)]
struct Failures(Arc<AtomicU64>);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            eprintln!("reading not delivered: {e}");
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

type Expected = BTreeMap<(String, i64), (i64, i64)>;

/// Writes readings to `readings` (created here) on a thread, paced over
/// about 15 s so the application is killed while it processes them; then
/// one reading per partition far in the future, which closes every window
/// before it. The thread returns (key, window start) -> (sum, count), once
/// every reading is acknowledged.
fn feed_readings(broker: &Broker) -> std::thread::JoinHandle<Expected> {
    broker.ok(&[
        "topic",
        "create",
        "readings",
        "--partitions",
        &PARTITIONS.to_string(),
    ]);
    let bootstrap = broker.addr.to_string();
    std::thread::spawn(move || {
        let failures = Failures::default();
        let producer: ThreadedProducer<Failures> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .create_with_context(failures.clone())
            .unwrap();
        // Event times start ten minutes ago: older ones would be past the
        // output topics' retention (7 days) and deleted as they are written.
        let now = now_ms();
        let t0 = now - now % WINDOW_MS - 600_000;
        let mut expected = Expected::new();
        let send = |key: &str, value: i64, ts: i64, partition: i32| loop {
            let bytes = value.to_be_bytes();
            let record = BaseRecord::<str, [u8]>::to("readings")
                .key(key)
                .payload(&bytes[..])
                .timestamp(ts)
                .partition(partition);
            match producer.send(record) {
                Ok(()) => return,
                Err((e, _)) => {
                    assert!(e.to_string().contains("Queue full"), "{e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        const STEP: i64 = 150;
        for first in (0..READINGS_PER_PARTITION).step_by(STEP as usize) {
            for p in 0..PARTITIONS {
                for i in first..(first + STEP).min(READINGS_PER_PARTITION) {
                    let key = format!("p{p}-k{}", i % KEYS_PER_PARTITION);
                    let value = i % 100 + 1;
                    let ts = t0 + i * 20 - (i * 37) % 400;
                    send(&key, value, ts, p);
                    let e = expected
                        .entry((key, ts - ts.rem_euclid(WINDOW_MS)))
                        .or_default();
                    e.0 += value;
                    e.1 += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(75));
        }
        for p in 0..PARTITIONS {
            send("end", 0, t0 + 3_600_000, p);
        }
        producer.flush(Duration::from_secs(120)).unwrap();
        assert_eq!(failures.0.load(Ordering::SeqCst), 0, "readings lost");
        expected
    })
}

/// Windowed records of `topic` as (key, window start, value), read with
/// read_committed until `want` are there and no more come.
fn read_committed(broker: &Broker, topic: &str, want: usize) -> Vec<(String, i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .set("group.id", "eos-checker")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut quiet_since = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let k = m.key().unwrap_or_default();
                let (key, start) = k.split_at(k.len() - 8);
                let value = m.payload().unwrap_or_default();
                out.push((
                    String::from_utf8(key.to_vec()).unwrap(),
                    i64::from_be_bytes(start.try_into().unwrap()),
                    i64::from_be_bytes(value.try_into().unwrap()),
                ));
                quiet_since = Instant::now();
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
        if out.len() >= want && quiet_since.elapsed() > Duration::from_secs(2) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {} of {want} records after 180 s",
            out.len()
        );
    }
}

/// The outputs, read with read_committed, are exactly the readings'.
fn check_outputs(broker: &Broker, expected: &Expected) {
    let sums = read_committed(broker, "sums-final", expected.len());
    let mut seen: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for (key, start, sum) in sums {
        let previous = seen.insert((key.clone(), start), sum);
        assert!(
            previous.is_none(),
            "EMIT FINAL wrote window ({key}, {start}) twice: {previous:?} then {sum}"
        );
    }
    let want: BTreeMap<(String, i64), i64> = expected
        .iter()
        .map(|(k, (sum, _))| (k.clone(), *sum))
        .collect();
    assert_eq!(seen.len(), want.len(), "one final sum per window");
    assert_eq!(seen, want, "every window's sum, as the readings say");

    // EMIT CHANGES: a count per reading, the last one the window's total
    // (a repeated reading would count twice).
    let changes = read_committed(broker, "counts-changes", expected.len());
    let mut last: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut updates = 0;
    for (key, start, count) in changes {
        if key == "end" {
            continue;
        }
        last.insert((key, start), count);
        updates += 1;
    }
    let want: BTreeMap<(String, i64), i64> = expected
        .iter()
        .map(|(k, (_, count))| (k.clone(), *count))
        .collect();
    assert_eq!(last, want, "every window's last count, as the readings say");
    assert_eq!(
        updates,
        PARTITIONS as i64 * READINGS_PER_PARTITION,
        "one count update per reading, none repeated"
    );
}

#[test]
fn application_killed_at_random_points_writes_every_window_once() {
    let broker = Broker::start_with_config(BROKER_TOML);
    let feeder = feed_readings(&broker);
    let mut rng = Lcg::seeded();
    // Each process is killed at a random point once it has its tasks:
    // while restoring, processing, or inside a commit.
    for n in 0..5 {
        let app = start_application(&broker, n);
        wait_running(&broker, n);
        std::thread::sleep(Duration::from_millis(rng.below(2_500)));
        kill9(app);
    }
    let app = start_application(&broker, 5);
    let expected = feeder.join().unwrap();
    check_outputs(&broker, &expected);
    kill9(app);
}

#[test]
fn broker_killed_at_random_points_under_the_application_writes_every_window_once() {
    let mut broker = Broker::start_with_config(BROKER_TOML);
    let feeder = feed_readings(&broker);
    let mut rng = Lcg::seeded();
    let app = start_application(&broker, 0);
    wait_running(&broker, 0);
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(rng.below(3_000)));
        broker.kill_and_restart();
    }
    let expected = feeder.join().unwrap();
    check_outputs(&broker, &expected);
    kill9(app);
}

/// A zombie: an instance paused (SIGSTOP) in the middle of its work, its
/// tasks taken over by an instance with another transactional id, then
/// resumed `pause` later. Read_committed readers must see every window
/// once; the zombie must notice and rejoin as a new member.
fn zombie_resumed_after(pause: Duration) {
    let broker = Broker::start_with_config(BROKER_TOML);
    let feeder = feed_readings(&broker);
    let mut rng = Lcg::seeded();
    let zombie = start_application_with_own_txn_id(&broker, 0);
    wait_running(&broker, 0);
    std::thread::sleep(Duration::from_millis(500 + rng.below(2_000)));
    signal(&zombie, "STOP");
    let successor = start_application_with_own_txn_id(&broker, 1);
    wait_running(&broker, 1);
    std::thread::sleep(pause);
    signal(&zombie, "CONT");
    let expected = feeder.join().unwrap();
    check_outputs(&broker, &expected);
    // The successor may finish everything before the resumed zombie tries
    // to commit: wait (30 s at most) for the zombie to be refused or
    // fenced and to rejoin.
    let noticed = |log: &str| {
        (log.contains("refused") || log.contains("fenced"))
            && log.matches("running tasks").count() >= 2
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut zombie_log = String::new();
    while Instant::now() < deadline {
        zombie_log = std::fs::read_to_string(app_log(&broker, 0)).unwrap_or_default();
        if noticed(&zombie_log) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    kill9(zombie);
    kill9(successor);
    assert!(
        zombie_log.contains("refused") || zombie_log.contains("fenced"),
        "the zombie was neither refused nor fenced:\n{zombie_log}"
    );
    let joins = zombie_log.matches("running tasks").count();
    assert!(joins >= 2, "the zombie never rejoined:\n{zombie_log}");
}

/// Paused past the session timeout (2 s), not the transaction timeout
/// (10 s): when it resumes its transaction is still open; the group has
/// moved on (its heartbeat or its offsets are refused), so it aborts it.
/// Until then the successor's restore waits at the zombie's open
/// transaction (read_committed).
#[test]
fn a_paused_instance_resumed_within_its_transaction_timeout_writes_nothing_twice() {
    zombie_resumed_after(Duration::from_secs(5));
}

/// Paused past the transaction timeout: the broker aborted its transaction
/// and fenced its producer (a new epoch) meanwhile; on resuming it finds
/// itself fenced, stops that producer and starts again.
#[test]
fn a_paused_instance_resumed_after_its_transaction_timeout_writes_nothing_twice() {
    zombie_resumed_after(Duration::from_secs(12));
}
