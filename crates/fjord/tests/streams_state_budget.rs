//! A state store larger than its memory budget: an application counts a
//! million distinct 256-byte keys with a 64 MiB budget for its stores.
//! The counts must be right (keys seen twice were read back from disk
//! after being evicted), and the process's peak RSS must stay under the
//! budget plus 150 MiB (librdkafka's buffers, the binary, the allocator).
//!
//! The application runs in a child process, this test binary started again
//! (`--ignored --exact budget_application_process`), so its RSS is its own.

mod common;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::*;
use fjord_streams::{run, Aggregate, Format, StreamsBuilder, StreamsConfig, Value};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const BOOTSTRAP_ENV: &str = "FJORD_TEST_BUDGET_BOOTSTRAP";
const STATE_DIR_ENV: &str = "FJORD_TEST_BUDGET_STATE_DIR";
const KEYS: usize = 1_000_000;
/// Every this many keys, a key comes a second time, after the rest.
const AGAIN_EVERY: usize = 10;
const BUDGET: usize = 64 << 20;
const HEADROOM: u64 = 150 << 20;

fn key(i: usize) -> String {
    format!("{i:0>256}")
}

#[test]
#[ignore = "the application process of the memory budget test, which starts it"]
fn budget_application_process() {
    let bootstrap = std::env::var(BOOTSTRAP_ENV).expect("started by the budget test");
    let b = StreamsBuilder::new("budget-counts");
    b.stream("keys", Format::String, Format::String)
        .aggregate("counts", Aggregate::Count, |_| Value::Null)
        .to("key-counts", Format::String, Format::Long);
    let topology = b.build().expect("topology");
    let mut config = StreamsConfig::new(bootstrap);
    config.commit_interval = Duration::from_secs(1);
    config.state_memory_bytes = BUDGET;
    config.state_dir = std::env::var(STATE_DIR_ENV).expect("state dir").into();
    run(&topology, &config, &AtomicBool::new(false)).expect("the application runs");
}

/// (VmRSS, VmHWM) of a process, in bytes.
fn rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Uncompressed: with these keys (mostly zeros) compressed 50 to 1,
/// librdkafka's read-ahead, bounded in compressed bytes, held hundreds of
/// MiB once decompressed, which is not what this test measures.
fn produce_keys(broker: &Broker) {
    broker.ok(&["topic", "create", "keys", "--partitions", "2"]);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .set("linger.ms", "50")
        .create()
        .unwrap();
    let again = (0..KEYS).step_by(AGAIN_EVERY);
    for i in (0..KEYS).chain(again) {
        let k = key(i);
        let mut record = BaseRecord::<str, str>::to("keys").key(&k).payload("x");
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(e.to_string().contains("Queue full"), "{e}");
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

#[test]
fn a_million_keys_aggregate_within_the_memory_budget() {
    let broker = Broker::start_with_config("[broker]\ngroup_initial_rebalance_delay_ms = 0\n");
    produce_keys(&broker);
    let state_dir = broker.dir.path().join("state");
    let app = spawn_test_process(
        "budget_application_process",
        &[
            (BOOTSTRAP_ENV, broker.addr.to_string()),
            (STATE_DIR_ENV, state_dir.display().to_string()),
        ],
        &broker.dir.path().join("app.log"),
    );
    let pid = app.id();
    let app = KillOnDrop(app);

    // Read the counts as they come, watching the application's memory.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .set("group.id", "budget-checker")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..2 {
        list.add_partition_offset("key-counts", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let want = KEYS + KEYS.div_ceil(AGAIN_EVERY);
    let mut counts: HashMap<Vec<u8>, i64> = HashMap::with_capacity(KEYS);
    let mut outputs = 0usize;
    let mut peak = 0u64;
    let mut last_sample = Instant::now();
    let mut last_progress = Instant::now();
    while outputs < want {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("reading key-counts");
            let count = i64::from_be_bytes(m.payload().unwrap().try_into().unwrap());
            counts.insert(m.key().unwrap().to_vec(), count);
            outputs += 1;
            last_progress = Instant::now();
        }
        if last_sample.elapsed() > Duration::from_millis(200) {
            last_sample = Instant::now();
            if let Some((now, _)) = rss(pid) {
                peak = peak.max(now);
            }
        }
        assert!(
            last_progress.elapsed() < Duration::from_secs(60),
            "no count for 60 s after {outputs} of {want}; application log:\n{}",
            tail(
                &std::fs::read_to_string(broker.dir.path().join("app.log")).unwrap_or_default(),
                30
            )
        );
    }
    let (_, hwm) = rss(pid).expect("the application is still running");
    drop(app);
    eprintln!(
        "peak RSS {} MiB (sampled {} MiB) for {KEYS} keys, budget {} MiB",
        hwm >> 20,
        peak >> 20,
        BUDGET >> 20
    );
    assert_eq!(counts.len(), KEYS, "every key counted");
    for i in 0..KEYS {
        let want = if i % AGAIN_EVERY == 0 { 2 } else { 1 };
        assert_eq!(counts[key(i).as_bytes()], want, "count of key {i}");
    }
    assert!(
        hwm < BUDGET as u64 + HEADROOM,
        "peak RSS {} MiB is over the budget ({} MiB) plus {} MiB",
        hwm >> 20,
        BUDGET >> 20,
        HEADROOM >> 20
    );
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
