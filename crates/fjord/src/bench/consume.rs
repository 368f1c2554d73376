//! `fjord bench consume`: read a topic from its beginning as fast as the
//! client can, timing only the consumption.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::util::Timeout;
use serde_json::json;

use super::produce::{run_load, Limit, Load};
use super::{create_bench_topic, print_summary, reported_settings, thousands};
use crate::client::{self, ClientArgs, REQUEST_TIMEOUT};
use crate::produce::{Acks, Compression};

/// librdkafka settings for consumer throughput. The group id is only there
/// because librdkafka requires one for assign(); the group is never joined
/// and nothing is committed. A deep prefetch queue measured slower than
/// librdkafka's defaults (100,000 messages, 1 MiB per partition fetch) on a
/// 2-core machine: the extra memory costs cache misses and page faults.
pub(super) const CONSUME_SETTINGS: &[(&str, &str)] = &[
    ("group.id", "fjord-bench"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("allow.auto.create.topics", "false"),
    ("queued.min.messages", "100000"),
    ("max.partition.fetch.bytes", "1048576"),
    // When the prefetch queue is full librdkafka waits this long before the
    // next fetch; its 1 s default left the consumer idle between bursts.
    ("fetch.queue.backoff.ms", "10"),
];

/// Give up when no record arrives for this long.
const IDLE_LIMIT: Duration = Duration::from_secs(15);

/// Arguments of `fjord bench consume`.
#[derive(Args, Debug)]
pub struct ConsumeBenchArgs {
    /// Topic to read from the beginning of every partition. Without it, the
    /// bench creates a topic and produces --count records (acks=1) first,
    /// then times only the consumption.
    #[arg(long)]
    topic: Option<String>,
    /// Records to read [default: with --topic, every record present at the
    /// start; without, 1000000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Bytes of value per record produced first (without --topic).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    record_size: u32,
    /// Partitions of the topic the bench creates (without --topic).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Parallel producers used to fill the topic first (without --topic).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    producers: u32,
    /// Compression of the records produced first (without --topic).
    #[arg(long, value_enum, default_value = "none")]
    compression: Compression,
    /// Client that reads (raw: counts records from batch headers, see
    /// bench/raw.rs). With --topic, --partitions must match the topic.
    #[arg(long, value_enum, default_value = "librdkafka")]
    client_kind: super::ClientKind,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `fjord bench consume`.
pub fn run(args: ConsumeBenchArgs) -> Result<()> {
    let topic = match &args.topic {
        Some(topic) => topic.clone(),
        None => {
            let topic = create_bench_topic(&args.client, "consume", args.partitions)?;
            let count = args.count.unwrap_or(1_000_000);
            println!("bench consume: producing {count} records to {topic} first");
            let produced = run_load(&Load {
                topic: &topic,
                record_size: args.record_size as usize,
                limit: Limit::Count(count),
                acks: Acks::Leader,
                compression: args.compression,
                producers: args.producers,
                client: &args.client,
            })?;
            println!(
                "  produced {} records in {:.3} s",
                produced.records,
                produced.elapsed.as_secs_f64()
            );
            topic
        }
    };

    if args.client_kind == super::ClientKind::Raw {
        let bootstrap = &args.client.bootstrap_servers;
        let target = match args.count {
            Some(n) => n,
            None => super::raw::available(bootstrap, &topic, args.partitions)?,
        };
        println!("bench consume (raw client): reading {target} records from {topic}");
        let (records, bytes, secs) =
            super::raw::consume(bootstrap, &topic, args.partitions, target)?;
        let rate = records as f64 / secs;
        println!(
            "  {records} records in {secs:.3} s: {} records/s, {:.1} MB/s (of batches fetched)",
            thousands(rate),
            bytes as f64 / secs / 1e6
        );
        print_summary(json!({
            "bench": "consume", "client": "raw", "topic": topic, "records": records, "bytes": bytes,
            "elapsed_s": secs, "records_per_s": rate, "mb_per_s": bytes as f64 / secs / 1e6,
        }));
        return Ok(());
    }
    let config = args.client.config_with(CONSUME_SETTINGS);
    let settings = reported_settings(&config);
    let consumer: BaseConsumer = config
        .create()
        .context("cannot create Kafka consumer (check the -X settings)")?;
    let metadata = client::topic_metadata(consumer.client(), &topic)?;
    let mut assignment = TopicPartitionList::new();
    let mut available = 0u64;
    for p in metadata.topics()[0].partitions() {
        let (low, high) = consumer
            .fetch_watermarks(&topic, p.id(), Timeout::After(REQUEST_TIMEOUT))
            .with_context(|| format!("cannot list offsets of {topic}-{}", p.id()))?;
        available += (high - low).max(0) as u64;
        assignment.add_partition_offset(&topic, p.id(), Offset::Beginning)?;
    }
    let target = args.count.unwrap_or(available);
    if target == 0 {
        bail!("topic `{topic}` is empty: produce to it first or drop --topic");
    }
    println!("bench consume: reading {target} records from {topic}");

    let start = Instant::now();
    consumer
        .assign(&assignment)
        .context("cannot assign partitions")?;
    let mut records = 0u64;
    let mut bytes = 0u64;
    // Progress check for the idle limit, done only when a poll comes back
    // empty: reading the clock per record would cost more than the poll.
    let (mut seen, mut last_progress) = (0u64, Instant::now());
    while records < target {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload_len() as u64;
            }
            Some(Err(err)) => eprintln!("warning: {err}"),
            None if records != seen => (seen, last_progress) = (records, Instant::now()),
            None if last_progress.elapsed() > IDLE_LIMIT => {
                bail!("only {records} of {target} records arrived (nothing for 15 s)")
            }
            None => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = records as f64 / secs;
    let mb_per_s = bytes as f64 / secs / 1e6;
    println!(
        "  {records} records in {secs:.3} s: {} records/s, {mb_per_s:.1} MB/s (of record values)",
        thousands(rate)
    );
    println!("  librdkafka: {settings:?}");
    print_summary(json!({
        "bench": "consume",
        "topic": topic,
        "records": records,
        "bytes": bytes,
        "elapsed_s": secs,
        "records_per_s": rate,
        "mb_per_s": mb_per_s,
        "client_config": settings,
    }));
    Ok(())
}
