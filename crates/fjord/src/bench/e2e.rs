//! `fjord bench e2e`: produce at a fixed rate while a consumer reads the
//! same partition, and measure the time from send to receipt.
//!
//! Producer and consumer run in this one process, so both read the same
//! monotonic clock: each record carries its send time (nanoseconds since the
//! run started) and sequence number in its first 16 bytes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::util::Timeout;
use rdkafka::Message;
use serde_json::json;

use super::consume::CONSUME_SETTINGS;
use super::histogram::Histogram;
use super::{create_bench_topic, print_summary, reported_settings, Payloads};
use crate::client::{self, ClientArgs, REQUEST_TIMEOUT};
use crate::produce::{Acks, Compression};

/// Bytes at the start of each record holding send time and sequence number.
const HEADER: usize = 16;
/// The partition the whole run uses.
const PARTITION: i32 = 0;
/// How long the consumer waits for stragglers after the producer is done.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Arguments of `fjord bench e2e`.
#[derive(Args, Debug)]
pub struct E2eBenchArgs {
    /// Topic to use (partition 0) [default: a new one-partition topic
    /// `fjord-bench-e2e-<ms>`].
    #[arg(long)]
    topic: Option<String>,
    /// Records per second the producer sends, evenly spaced.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    rate: u32,
    /// Bytes of value per record (at least 16: send time and sequence).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(16..))]
    record_size: u32,
    /// Seconds to produce for.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    duration: f64,
    /// Records to produce (overrides --duration).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Seconds at the start whose records are left out of the percentiles
    /// (connection set-up, first fetches).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    warmup: f64,
    /// Acknowledgements the producer waits for.
    #[arg(long, value_enum, default_value = "all")]
    acks: Acks,
    /// Compression codec for record batches.
    #[arg(long, value_enum, default_value = "none")]
    compression: Compression,
    #[command(flatten)]
    client: ClientArgs,
}

struct AckContext {
    start: Instant,
    acks: Arc<Histogram>,
    failed: Arc<std::sync::atomic::AtomicU64>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        match result {
            Ok(_) => {
                let now = self.start.elapsed().as_nanos() as u64;
                self.acks.record(now.saturating_sub(sent_ns as u64));
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Runs `fjord bench e2e`.
pub fn run(args: E2eBenchArgs) -> Result<()> {
    if !(args.duration > 0.0 && args.duration.is_finite()) {
        bail!("--duration must be a positive number of seconds");
    }
    if !(args.warmup >= 0.0 && args.warmup.is_finite()) {
        bail!("--warmup must be zero or a positive number of seconds");
    }
    let total = args
        .count
        .unwrap_or_else(|| (args.duration * f64::from(args.rate)).round().max(1.0) as u64);
    let warmup_records = (args.warmup * f64::from(args.rate)) as u64;
    if warmup_records >= total {
        bail!("the warm-up ({warmup_records} records) leaves nothing to measure; raise --duration");
    }
    let topic = match &args.topic {
        Some(topic) => topic.clone(),
        None => create_bench_topic(&args.client, "e2e", 1)?,
    };

    let mut producer_config = args.client.config_with(&[]);
    for (key, value) in [
        ("acks", args.acks.as_config()),
        ("compression.type", args.compression.as_config()),
        // Send each record at once: this run measures latency, not batching.
        ("linger.ms", "0"),
        ("socket.nagle.disable", "true"),
        ("message.timeout.ms", "30000"),
    ] {
        producer_config.set(key, value);
    }
    for (key, value) in &args.client.client_config {
        producer_config.set(key, value);
    }
    let mut consumer_config = args.client.config_with(CONSUME_SETTINGS);
    for (key, value) in [
        ("socket.nagle.disable", "true"),
        ("fetch.wait.max.ms", "100"),
    ] {
        consumer_config.set(key, value);
    }
    for (key, value) in &args.client.client_config {
        consumer_config.set(key, value);
    }

    let start = Instant::now();
    let ack_latency = Arc::new(Histogram::default());
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let producer: BaseProducer<AckContext> = producer_config
        .create_with_context(AckContext {
            start,
            acks: Arc::clone(&ack_latency),
            failed: Arc::clone(&failed),
        })
        .context("cannot create producer (check the -X settings)")?;
    let consumer: BaseConsumer = consumer_config
        .create()
        .context("cannot create consumer (check the -X settings)")?;

    // Start reading at the current end, so every record of this run and no
    // older one is seen.
    client::topic_metadata(consumer.client(), &topic)?;
    let (_, high) = consumer
        .fetch_watermarks(&topic, PARTITION, Timeout::After(REQUEST_TIMEOUT))
        .with_context(|| format!("cannot list offsets of {topic}-{PARTITION}"))?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&topic, PARTITION, Offset::Offset(high))?;
    consumer
        .assign(&assignment)
        .context("cannot assign partition")?;
    client::topic_metadata(producer.client(), &topic)?;

    println!(
        "bench e2e: topic {topic}, {} records/s of {} B for {total} records, acks={}, \
         compression={}, warm-up {} records",
        args.rate,
        args.record_size,
        args.acks.as_config(),
        args.compression.as_config(),
        warmup_records
    );

    let e2e_latency = Histogram::default();
    let producer_done = AtomicBool::new(false);
    let (sent, send_secs, received) = thread::scope(|scope| -> Result<(u64, f64, u64)> {
        let reader = scope.spawn(|| {
            read_until_done(
                &consumer,
                start,
                total,
                warmup_records,
                &e2e_latency,
                &producer_done,
            )
        });
        let sent = send_paced(&producer, &topic, &args, total, start);
        producer_done.store(true, Ordering::Release);
        let received = reader
            .join()
            .map_err(|_| anyhow::anyhow!("consumer thread panicked"))?;
        let (sent, send_secs) = sent?;
        Ok((sent, send_secs, received))
    })?;

    let failed = failed.load(Ordering::Relaxed);
    let e2e = e2e_latency.summary_ms();
    let acks = ack_latency.summary_ms();
    let achieved = sent as f64 / send_secs;
    println!("  sent {sent} records at {achieved:.0} records/s; received {received}");
    println!("  end-to-end latency: {e2e}");
    println!("  send-to-ack latency: {acks}");
    let producer_settings = reported_settings(&producer_config);
    let consumer_settings = reported_settings(&consumer_config);
    println!("  producer librdkafka: {producer_settings:?}");
    println!("  consumer librdkafka: {consumer_settings:?}");
    print_summary(json!({
        "bench": "e2e",
        "topic": topic,
        "rate": args.rate,
        "achieved_rate": achieved,
        "record_size": args.record_size,
        "acks": args.acks.as_config(),
        "compression": args.compression.as_config(),
        "records_sent": sent,
        "records_received": received,
        "delivery_failures": failed,
        "warmup_records": warmup_records,
        "latency_ms": e2e,
        "ack_latency_ms": acks,
        "producer_config": producer_settings,
        "consumer_config": consumer_settings,
    }));
    if failed > 0 || received < sent {
        bail!(
            "{failed} deliveries failed and {} records never arrived",
            sent - received.min(sent)
        );
    }
    Ok(())
}

/// Sends `total` records evenly spaced at `--rate`; returns how many were
/// sent and over how many seconds. A record that falls behind schedule is
/// sent at once, and its latency is measured from its actual send.
fn send_paced(
    producer: &BaseProducer<AckContext>,
    topic: &str,
    args: &E2eBenchArgs,
    total: u64,
    start: Instant,
) -> Result<(u64, f64)> {
    let payloads = Payloads::new(args.record_size as usize);
    let mut value = vec![0u8; args.record_size as usize];
    let interval_ns = 1e9 / f64::from(args.rate);
    let begin = Instant::now();
    for seq in 0..total {
        let due = begin + Duration::from_nanos((seq as f64 * interval_ns) as u64);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        value.copy_from_slice(payloads.get(seq));
        let sent_ns = start.elapsed().as_nanos() as u64;
        value[..8].copy_from_slice(&sent_ns.to_le_bytes());
        value[8..HEADER].copy_from_slice(&seq.to_le_bytes());
        let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_ns as usize)
            .payload(&value)
            .partition(PARTITION);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((err, _)) => bail!("send failed: {err}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    let secs = begin.elapsed().as_secs_f64();
    producer.flush(Timeout::Never).context("flush failed")?;
    Ok((total, secs))
}

/// Reads until every record of the run has arrived, or the producer is done
/// and nothing more arrives for [`DRAIN_LIMIT`]; returns how many arrived.
fn read_until_done(
    consumer: &BaseConsumer,
    start: Instant,
    total: u64,
    warmup_records: u64,
    latency: &Histogram,
    producer_done: &AtomicBool,
) -> u64 {
    let mut received = 0u64;
    let mut last_arrival = Instant::now();
    while received < total {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(message)) => {
                let now_ns = start.elapsed().as_nanos() as u64;
                last_arrival = Instant::now();
                let Some(payload) = message.payload().filter(|p| p.len() >= HEADER) else {
                    continue;
                };
                let sent_ns = u64::from_le_bytes(payload[..8].try_into().unwrap_or_default());
                let seq = u64::from_le_bytes(payload[8..HEADER].try_into().unwrap_or_default());
                received += 1;
                if seq >= warmup_records {
                    latency.record(now_ns.saturating_sub(sent_ns));
                }
            }
            Some(Err(err)) => eprintln!("warning: consumer: {err}"),
            None => {
                if producer_done.load(Ordering::Acquire) && last_arrival.elapsed() > DRAIN_LIMIT {
                    break;
                }
            }
        }
    }
    received
}
