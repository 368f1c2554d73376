//! `fjord bench produce`, and the producer load engine `bench consume` uses
//! to fill a topic first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;
use serde_json::json;

use super::histogram::{Histogram, LatencySummary};
use super::{create_bench_topic, print_summary, reported_settings, thousands, Payloads};
use crate::client::{self, ClientArgs};
use crate::produce::{Acks, Compression};

/// librdkafka settings for throughput: large batches, a short linger so
/// batches fill, and a local queue deep enough that the sending thread never
/// waits on it. `-X` overrides any of them; the report lists what was used.
pub(super) const THROUGHPUT_SETTINGS: &[(&str, &str)] = &[
    ("linger.ms", "5"),
    ("batch.size", "1000000"),
    ("batch.num.messages", "1000000"),
    ("queue.buffering.max.messages", "2000000"),
    ("queue.buffering.max.kbytes", "1048576"),
    ("message.timeout.ms", "60000"),
];

/// Arguments of `fjord bench produce`.
#[derive(Args, Debug)]
pub struct ProduceBenchArgs {
    /// Topic to write [default: a new topic `fjord-bench-produce-<ms>` with
    /// --partitions partitions, kept afterwards for `bench consume --topic`].
    #[arg(long)]
    topic: Option<String>,
    /// Bytes of value per record (no key).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    record_size: u32,
    /// Records to produce in total [default: 1000000 unless --duration].
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Produce for this many seconds instead of a fixed count.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Acknowledgements to wait for.
    #[arg(long, value_enum, default_value = "all")]
    acks: Acks,
    /// Compression codec for record batches.
    #[arg(long, value_enum, default_value = "none")]
    compression: Compression,
    /// Partitions of the topic the bench creates (with --topic and
    /// --client-kind raw: how many of its partitions to write).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Parallel producer instances, each its own librdkafka client and thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    producers: u32,
    /// Client that drives the load (raw: pre-built batches, see bench/raw.rs).
    #[arg(long, value_enum, default_value = "librdkafka")]
    client_kind: super::ClientKind,
    /// Bytes per batch with --client-kind raw.
    #[arg(long, default_value = "1000000", value_parser = super::parse_size)]
    batch_bytes: u64,
    #[command(flatten)]
    client: ClientArgs,
}

/// How long a load runs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Limit {
    /// This many records in total, split over the producers.
    Count(u64),
    /// Until this much time has passed.
    Duration(Duration),
}

/// One producer load: what to send and how.
pub(super) struct Load<'a> {
    pub topic: &'a str,
    pub record_size: usize,
    pub limit: Limit,
    pub acks: Acks,
    pub compression: Compression,
    pub producers: u32,
    pub client: &'a ClientArgs,
}

/// What a load achieved.
pub(super) struct LoadOutcome {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub latency: LatencySummary,
    pub settings: std::collections::BTreeMap<String, String>,
}

/// Every this many records, one carries its send time so its delivery
/// latency is measured. Reading the clock for every record costs more than
/// producing it on some virtual machines (clock_gettime was 18% of the
/// profile), and 1/16 of a run still gives thousands of samples.
const LATENCY_SAMPLE_EVERY: u64 = 16;

/// Shared by every producer of one load; fed by delivery callbacks.
#[derive(Default)]
struct Stats {
    acknowledged: AtomicU64,
    bytes: AtomicU64,
    failures: DeliveryFailures,
    /// Send-to-acknowledgement latency of sampled records, nanoseconds.
    latency: Histogram,
}

/// Failed deliveries of a run: how many, and the first one's error. Both
/// `bench produce` and `bench txn` count them in their delivery callbacks
/// and refuse the run afterwards the same way, so they share this.
#[derive(Default)]
pub(super) struct DeliveryFailures {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl DeliveryFailures {
    /// Counts one failed delivery (keeping the first error's text).
    pub(super) fn record(&self, err: &impl std::fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(|| err.to_string());
    }

    /// An error if any delivery failed.
    pub(super) fn check(&self) -> Result<()> {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = self
                .first_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            bail!(
                "{failed} records were not delivered; first error: {}",
                first.unwrap_or_default()
            );
        }
        Ok(())
    }
}

struct BenchContext {
    stats: Arc<Stats>,
    start: Instant,
}

impl ClientContext for BenchContext {}

impl ProducerContext for BenchContext {
    /// For sampled records, 1 + nanoseconds from the start of the run to the
    /// send; 0 for the others.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: usize) {
        let stats = &self.stats;
        match result {
            Ok(message) => {
                stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                let len = message.payload_len() as u64;
                stats.bytes.fetch_add(len, Ordering::Relaxed);
                if sent != 0 {
                    let now_ns = self.start.elapsed().as_nanos() as u64;
                    stats.latency.record(now_ns.saturating_sub(sent as u64 - 1));
                }
            }
            Err((err, _)) => stats.failures.record(err),
        }
    }
}

/// Runs `fjord bench produce`.
pub fn run(args: ProduceBenchArgs) -> Result<()> {
    let topic = match &args.topic {
        Some(topic) => topic.clone(),
        None => create_bench_topic(&args.client, "produce", args.partitions)?,
    };
    let limit = match (args.count, args.duration) {
        (_, Some(secs)) if secs > 0.0 && secs.is_finite() => {
            Limit::Duration(Duration::from_secs_f64(secs))
        }
        (_, Some(secs)) => bail!("--duration must be a positive number of seconds, not {secs}"),
        (Some(count), None) => Limit::Count(count),
        (None, None) => Limit::Count(1_000_000),
    };
    if args.client_kind == super::ClientKind::Raw {
        return run_raw(&args, &topic, limit);
    }
    let load = Load {
        topic: &topic,
        record_size: args.record_size as usize,
        limit,
        acks: args.acks,
        compression: args.compression,
        producers: args.producers,
        client: &args.client,
    };
    println!(
        "bench produce: topic {topic}, {} B records, acks={}, compression={}, {} producer(s)",
        load.record_size,
        load.acks.as_config(),
        load.compression.as_config(),
        load.producers
    );
    let outcome = run_load(&load)?;
    let secs = outcome.elapsed.as_secs_f64();
    let rate = outcome.records as f64 / secs;
    let mb_per_s = outcome.bytes as f64 / secs / 1e6;
    println!(
        "  {} records in {secs:.3} s: {} records/s, {mb_per_s:.1} MB/s (of record values)",
        outcome.records,
        thousands(rate)
    );
    println!("  send-to-ack latency: {}", outcome.latency);
    println!("  librdkafka: {:?}", outcome.settings);
    print_summary(json!({
        "bench": "produce",
        "topic": topic,
        "partitions": if args.topic.is_some() { None } else { Some(args.partitions) },
        "record_size": load.record_size,
        "acks": load.acks.as_config(),
        "compression": load.compression.as_config(),
        "producers": load.producers,
        "records": outcome.records,
        "elapsed_s": secs,
        "records_per_s": rate,
        "mb_per_s": mb_per_s,
        "latency_ms": outcome.latency,
        "client_config": outcome.settings,
    }));
    Ok(())
}

/// `--client-kind raw`: one connection, pre-built batches, 16 requests in flight.
fn run_raw(args: &ProduceBenchArgs, topic: &str, limit: Limit) -> Result<()> {
    let Limit::Count(count) = limit else {
        bail!("--duration is not supported with --client-kind raw; use --count");
    };
    // With --topic, --partitions says how many of its partitions to write.
    let partitions = args.partitions;
    let acks = match args.acks {
        Acks::None => 0,
        Acks::Leader => 1,
        Acks::All => -1,
    };
    println!(
        "bench produce (raw client): topic {topic}, {} B records, acks={}, batches of {} B",
        args.record_size,
        args.acks.as_config(),
        args.batch_bytes
    );
    let (records, secs) = super::raw::produce(&super::raw::RawProduce {
        bootstrap: &args.client.bootstrap_servers,
        topic,
        partitions,
        record_size: args.record_size as usize,
        count,
        acks,
        batch_bytes: args.batch_bytes as usize,
    })?;
    let rate = records as f64 / secs;
    let mb_per_s = records as f64 * args.record_size as f64 / secs / 1e6;
    println!(
        "  {records} records in {secs:.3} s: {} records/s, {mb_per_s:.1} MB/s (of record values)",
        thousands(rate)
    );
    print_summary(json!({
        "bench": "produce", "client": "raw", "topic": topic, "record_size": args.record_size,
        "acks": args.acks.as_config(), "batch_bytes": args.batch_bytes, "records": records,
        "elapsed_s": secs, "records_per_s": rate, "mb_per_s": mb_per_s,
    }));
    Ok(())
}

/// Runs a producer load to completion and waits for every acknowledgement.
/// Fails if any record was not delivered.
pub(super) fn run_load(load: &Load<'_>) -> Result<LoadOutcome> {
    let mut config = load.client.config_with(&[]);
    config.set("acks", load.acks.as_config());
    config.set("compression.type", load.compression.as_config());
    for (key, value) in THROUGHPUT_SETTINGS {
        config.set(*key, *value);
    }
    // The user's -X settings win over the bench's choices.
    for (key, value) in &load.client.client_config {
        config.set(key, value);
    }
    let settings = reported_settings(&config);

    let payloads = Payloads::new(load.record_size);
    let stats = Arc::new(Stats::default());
    let producers = load.producers as u64;
    // Everyone connects and learns the topic's leaders before the clock starts.
    let ready = Barrier::new(load.producers as usize + 1);
    let mut elapsed = Duration::ZERO;
    let results: Vec<Result<()>> = thread::scope(|scope| {
        let mut handles = Vec::new();
        let start = Instant::now();
        for index in 0..producers {
            let (config, stats, payloads, ready) = (&config, &stats, &payloads, &ready);
            handles.push(scope.spawn(move || -> Result<()> {
                let context = BenchContext {
                    stats: Arc::clone(stats),
                    start,
                };
                let producer: Result<BaseProducer<BenchContext>> = config
                    .create_with_context(context)
                    .context("cannot create producer (check the -X settings)");
                let producer = match producer
                    .and_then(|p| client::topic_metadata(p.client(), load.topic).map(|_| p))
                {
                    Ok(p) => p,
                    Err(err) => {
                        ready.wait();
                        return Err(err);
                    }
                };
                ready.wait();
                let run_start = Instant::now();
                let (first, end) = match load.limit {
                    Limit::Count(total) => {
                        (total * index / producers, total * (index + 1) / producers)
                    }
                    Limit::Duration(_) => (index << 40, u64::MAX),
                };
                let deadline = match load.limit {
                    Limit::Duration(d) => Some(run_start + d),
                    Limit::Count(_) => None,
                };
                let mut i = first;
                while i < end {
                    if i % 1024 == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let sent = if i % LATENCY_SAMPLE_EVERY == 0 {
                        start.elapsed().as_nanos() as usize + 1
                    } else {
                        0
                    };
                    let mut record =
                        BaseRecord::<(), [u8], usize>::with_opaque_to(load.topic, sent)
                            .payload(payloads.get(i));
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                r,
                            )) => {
                                record = r;
                                producer.poll(Duration::from_millis(1));
                            }
                            Err((err, _)) => bail!("send failed: {err}"),
                        }
                    }
                    // Serve delivery reports now and then; each event
                    // carries a whole batch of them.
                    if i % 256 == 0 {
                        producer.poll(Duration::ZERO);
                    }
                    i += 1;
                }
                producer.flush(Timeout::Never).context("flush failed")?;
                Ok(())
            }));
        }
        ready.wait();
        let run_start = Instant::now();
        let results = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("producer thread panicked")))
            })
            .collect();
        // Every producer has flushed: every record is acknowledged.
        elapsed = run_start.elapsed();
        results
    });
    for result in results {
        result?;
    }
    stats.failures.check()?;
    Ok(LoadOutcome {
        records: stats.acknowledged.load(Ordering::Relaxed),
        bytes: stats.bytes.load(Ordering::Relaxed),
        elapsed: elapsed.max(Duration::from_nanos(1)),
        latency: stats.latency.summary_ms(),
        settings,
    })
}
