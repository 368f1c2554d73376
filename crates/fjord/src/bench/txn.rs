//! `fjord bench txn`: throughput of transactional produce at several
//! transaction sizes against the same producer without transactions.
//!
//! Each mode runs one librdkafka producer on one thread with the settings
//! of `bench produce` (THROUGHPUT_SETTINGS) and acks=all. The baseline is
//! idempotent (`enable.idempotence=true`), as every transactional producer
//! is, so the difference between the rows is the cost of the transactions
//! alone: AddPartitionsToTxn per new partition, the flush that
//! commit_transaction forces, EndTxn, and the coordinator's markers.
//!
//! The producer is a `BaseProducer` that this loop polls itself: the rdkafka
//! crate's `flush` (which its `commit_transaction` calls first) polls in
//! 100 ms slices and `BaseProducer::poll` waits out its whole timeout, so
//! every commit would cost at least 100 ms of client-side waiting (measured:
//! p50 101 ms per commit, against 1-7 ms for the same transactions through
//! confluent-kafka). Draining the delivery reports in short polls before
//! committing leaves librdkafka's own flush nothing to wait for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use serde_json::{json, Value};

use super::histogram::Histogram;
use super::produce::{DeliveryFailures, THROUGHPUT_SETTINGS};
use super::{create_bench_topic, print_summary, reported_settings, thousands, Payloads};
use crate::client::{self, ClientArgs, REQUEST_TIMEOUT};

/// Arguments of `fjord bench txn`.
#[derive(Args, Debug)]
pub struct TxnBenchArgs {
    /// Topic to write [default: a new topic `fjord-bench-txn-<ms>` with
    /// --partitions partitions].
    #[arg(long)]
    topic: Option<String>,
    /// Partitions of the topic the bench creates.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Bytes of value per record (no key).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    record_size: u32,
    /// Records per transaction, one run each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000",
          value_parser = clap::value_parser!(u64).range(1..))]
    txn_sizes: Vec<u64>,
    /// Records per run [default: 100000 unless --duration].
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Seconds per run instead of a fixed count (a transactional run stops
    /// at the first transaction boundary after it).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Skip the non-transactional baseline.
    #[arg(long)]
    no_baseline: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// How long each run lasts.
#[derive(Clone, Copy, Debug)]
enum Limit {
    Count(u64),
    Duration(Duration),
}

/// What one run achieved.
struct RunOutcome {
    records: u64,
    transactions: u64,
    elapsed: Duration,
    /// commit_transaction call times (flush + EndTxn), nanoseconds.
    commit: Histogram,
}

type BenchProducer = BaseProducer<Deliveries>;

/// Counts failed deliveries: the baseline's flush succeeds even when
/// records failed, so the run checks this instead. (A transaction's commit
/// fails by itself when one of its records did.)
#[derive(Default, Clone)]
struct Deliveries {
    failures: Arc<DeliveryFailures>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((err, _)) = result {
            self.failures.record(err);
        }
    }
}

/// Runs `fjord bench txn`.
pub fn run(args: TxnBenchArgs) -> Result<()> {
    let limit = match (args.count, args.duration) {
        (_, Some(secs)) if secs > 0.0 && secs.is_finite() => {
            Limit::Duration(Duration::from_secs_f64(secs))
        }
        (_, Some(secs)) => bail!("--duration must be a positive number of seconds, not {secs}"),
        (Some(count), None) => Limit::Count(count),
        (None, None) => Limit::Count(100_000),
    };
    let topic = match &args.topic {
        Some(topic) => topic.clone(),
        None => create_bench_topic(&args.client, "txn", args.partitions)?,
    };
    let payloads = Payloads::new(args.record_size as usize);
    println!(
        "bench txn: topic {topic}, {} B records, acks=all, one producer; limit {limit:?} per run",
        args.record_size
    );
    let run_id = super::now_ms();
    let mut rows: Vec<Value> = Vec::new();
    let mut baseline_rate = None;
    let mut modes: Vec<Option<u64>> = Vec::new();
    if !args.no_baseline {
        modes.push(None);
    }
    modes.extend(args.txn_sizes.iter().map(|&k| Some(k)));
    let mut settings = None;
    for mode in modes {
        let mut config = producer_config(&args.client, mode, run_id);
        settings.get_or_insert_with(|| reported_settings(&config));
        config.set("client.id", "fjord-bench-txn");
        let outcome = run_mode(&config, &topic, &payloads, mode, limit)?;
        let secs = outcome.elapsed.as_secs_f64();
        let rate = outcome.records as f64 / secs;
        let mb_per_s = outcome.records as f64 * args.record_size as f64 / secs / 1e6;
        let label = match mode {
            None => "non-transactional (idempotent)".to_string(),
            Some(k) => format!("{k} records per transaction"),
        };
        let ratio = baseline_rate.map(|base: f64| rate / base);
        if mode.is_none() {
            baseline_rate = Some(rate);
        }
        println!(
            "  {label}: {} records in {secs:.3} s: {} records/s, {mb_per_s:.1} MB/s{}",
            outcome.records,
            thousands(rate),
            ratio.map_or(String::new(), |r| format!(" ({:.2} of the baseline)", r))
        );
        let commit = outcome.commit.summary_ms();
        if mode.is_some() {
            println!(
                "    {} transactions, {} /s; commit_transaction: {commit}",
                outcome.transactions,
                thousands(outcome.transactions as f64 / secs)
            );
        }
        rows.push(json!({
            "records_per_txn": mode,
            "records": outcome.records,
            "transactions": outcome.transactions,
            "elapsed_s": secs,
            "records_per_s": rate,
            "mb_per_s": mb_per_s,
            "of_baseline": ratio,
            "commit_ms": mode.map(|_| commit),
        }));
    }
    let settings = settings.unwrap_or_default();
    println!("  librdkafka: {settings:?}");
    print_summary(json!({
        "bench": "txn",
        "topic": topic,
        "partitions": if args.topic.is_some() { None } else { Some(args.partitions) },
        "record_size": args.record_size,
        "runs": rows,
        "client_config": settings,
    }));
    Ok(())
}

/// The producer settings of one mode: the throughput settings, acks=all and
/// idempotence, a transactional.id for transactional modes, then `-X`.
fn producer_config(client: &ClientArgs, mode: Option<u64>, run_id: i64) -> ClientConfig {
    let mut config = client.config_with(&[]);
    for (key, value) in THROUGHPUT_SETTINGS {
        config.set(*key, *value);
    }
    config.set("acks", "all");
    config.set("enable.idempotence", "true");
    if let Some(k) = mode {
        // A fresh id per run: no earlier run's state to fence or recover.
        config.set("transactional.id", format!("fjord-bench-txn-{run_id}-{k}"));
    }
    for (key, value) in &client.client_config {
        config.set(key, value);
    }
    config
}

fn run_mode(
    config: &ClientConfig,
    topic: &str,
    payloads: &Payloads,
    mode: Option<u64>,
    limit: Limit,
) -> Result<RunOutcome> {
    let deliveries = Deliveries::default();
    let producer: BenchProducer = config
        .create_with_context(deliveries.clone())
        .context("cannot create producer (check the -X settings)")?;
    client::topic_metadata(producer.client(), topic)?;
    if mode.is_some() {
        producer
            .init_transactions(REQUEST_TIMEOUT)
            .context("init_transactions failed")?;
    } else {
        // The idempotent producer gets its producer id with its first
        // record; one warm-up record (not counted) keeps that out of the
        // clock, as init_transactions is for the transactional runs.
        send(&producer, topic, payloads.get(u64::MAX))?;
        drain(&producer)?;
    }
    let commit = Histogram::default();
    let start = Instant::now();
    let (deadline, total) = match limit {
        Limit::Count(n) => (None, n),
        Limit::Duration(d) => (Some(start + d), u64::MAX),
    };
    let mut sent = 0u64;
    let mut transactions = 0u64;
    let over = |sent: u64| sent >= total || deadline.is_some_and(|d| Instant::now() >= d);
    match mode {
        None => {
            while !over(sent) {
                // Check the clock once per 1024 records, as bench produce does.
                let end = (sent + 1024).min(total);
                while sent < end {
                    send(&producer, topic, payloads.get(sent))?;
                    if sent.is_multiple_of(256) {
                        // Serve delivery reports now and then; each event carries many.
                        producer.poll(Duration::ZERO);
                    }
                    sent += 1;
                }
            }
            drain(&producer)?;
        }
        Some(k) => {
            while !over(sent) {
                producer.begin_transaction().context("begin_transaction")?;
                let end = (sent + k).min(total);
                while sent < end {
                    send(&producer, topic, payloads.get(sent))?;
                    if sent.is_multiple_of(256) {
                        // Serve delivery reports now and then; each event carries many.
                        producer.poll(Duration::ZERO);
                    }
                    sent += 1;
                }
                let t = Instant::now();
                drain(&producer)?;
                producer
                    .commit_transaction(REQUEST_TIMEOUT)
                    .with_context(|| format!("commit_transaction of transaction {transactions}"))?;
                commit.record(t.elapsed().as_nanos() as u64);
                transactions += 1;
            }
        }
    }
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    deliveries.failures.check()?;
    Ok(RunOutcome {
        records: sent,
        transactions,
        elapsed,
        commit,
    })
}

/// Serves delivery reports until every record sent is acknowledged (or
/// failed, which `Deliveries` counts), in short polls (see the module doc).
fn drain(producer: &BenchProducer) -> Result<()> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            bail!(
                "{} records still unacknowledged after {REQUEST_TIMEOUT:?}",
                producer.in_flight_count()
            );
        }
        // rd_kafka_flush with a zero timeout sends what linger.ms holds
        // back, as commit_transaction's own flush would; it reports a time
        // out while records are unacknowledged, which is expected here.
        let _ = producer.flush(Duration::ZERO);
        producer.poll(Duration::from_micros(100));
    }
    Ok(())
}

/// Sends one record, waiting while librdkafka's local queue is full.
fn send(producer: &BenchProducer, topic: &str, payload: &[u8]) -> Result<()> {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(1));
            }
            Err((err, _)) => bail!("send failed: {err}"),
        }
    }
}
