//! `fjord bench nexmark`: Nexmark's queries on Fjord's stream processing
//! engine, against any Kafka cluster.
//!
//! It loads the generator's events into `nexmark-person`,
//! `nexmark-auction` and `nexmark-bid` first (kept when they already hold
//! exactly the events asked for, so Fjord and the Flink jobs in
//! bench/flink read the same topics), then runs the query with
//! `--parallelism` instances (threads of this process, one consumer group)
//! until the group has committed every input, and times it from its first
//! output to its last. CPU-seconds are this process's (the broker's are
//! not in them, as the JVM's alone are in Flink's figures).

mod generator;
mod queries;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use fjord_streams::StreamsConfig;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use super::loader::Loader;
use super::{now_ms, print_summary, thousands};
use crate::client::{block_on, ClientArgs, REQUEST_TIMEOUT};
use crate::streams::GuaranteeArg;
use generator::{Generator, AUCTION_TOPIC, BID_TOPIC, PERSON_TOPIC};

/// Arguments of `fjord bench nexmark`.
#[derive(Args, Debug)]
pub struct NexmarkBenchArgs {
    /// The query.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(queries::QUERIES))]
    query: String,
    /// Events to generate (persons, auctions and bids together).
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(50..))]
    events: u64,
    /// Processing guarantee of the query's application.
    #[arg(long, value_enum, default_value = "at-least-once")]
    guarantee: GuaranteeArg,
    /// Instances of the application (threads of this process).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    parallelism: u32,
    /// Partitions of the event topics when they are (re)created.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// How often the application commits (Flink's side checkpoints at the
    /// same interval).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    commit_interval_ms: u64,
    /// Print only the JSON summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn run(args: NexmarkBenchArgs) -> Result<()> {
    // The engine's warnings (a rebalance, a refused commit) explain odd
    // figures.
    crate::logging::init_with_default("warn");
    // Reads metadata and end offsets throughout.
    let meta: BaseConsumer = args.client.config_with(&[]).create()?;
    ensure_loaded(&args, &meta)?;
    let out = queries::output_topic(&args.query);
    delete_topics(&args.client, &meta, &[out.as_str()])?;
    let input_events: i64 = queries::inputs(&args.query)
        .iter()
        .map(|t| end_offsets(&meta, t).map(|o| o.iter().sum::<i64>()))
        .sum::<Result<i64>>()?;
    let run_id = now_ms().to_string();
    let topology = Arc::new(queries::topology(&args.query, &run_id)?);
    let mut config = StreamsConfig::new(args.client.bootstrap_servers.clone())
        .with_guarantee(args.guarantee.engine());
    config.client_settings = args.client.client_config.clone();
    config.commit_interval = Duration::from_millis(args.commit_interval_ms);
    config.heartbeat_interval = Duration::from_millis(500);
    config.session_timeout_ms = 10_000;

    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let instances: Vec<_> = (0..args.parallelism)
        .map(|_| {
            let (topology, config, stop) = (topology.clone(), config.clone(), stop.clone());
            std::thread::spawn(move || fjord_streams::run(&topology, &config, &stop))
        })
        .collect();
    let watched = watch_until_done(&args, &meta, &topology, &out, &instances);
    let cpu = process_cpu_seconds() - cpu_before;
    let wall = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for i in instances {
        i.join()
            .map_err(|_| anyhow!("an instance panicked"))?
            .context("an instance failed")?;
    }
    let (first, last) = watched?;
    let outputs = count_committed(&args.client, &meta, &out)?;
    let span = last.duration_since(first).as_secs_f64().max(1e-3);
    let events_per_s = input_events as f64 / span;
    let cpu_per_million = cpu / (input_events.max(1) as f64 / 1e6);
    if !args.json {
        println!(
            "fjord nexmark {} ({:?}, {} instances, commit every {} ms)",
            args.query, args.guarantee, args.parallelism, args.commit_interval_ms
        );
        println!("  input events      {}", thousands(input_events as f64));
        println!(
            "  output records    {}  -> {out}",
            thousands(outputs as f64)
        );
        println!("  first..last out   {span:.3} s  (wall from start {wall:.3} s)");
        println!("  events/s          {}", thousands(events_per_s));
        println!("  CPU               {cpu:.2} s  ({cpu_per_million:.2} s per million events)");
    }
    print_summary(json!({
        "bench": "nexmark",
        "engine": "fjord",
        "query": args.query,
        "guarantee": args.guarantee.name(),
        "parallelism": args.parallelism,
        "commit_interval_ms": args.commit_interval_ms,
        "generated_events": args.events,
        "input_events": input_events,
        "output_records": outputs,
        "first_to_last_output_s": span,
        "wall_s": wall,
        "events_per_s": events_per_s.round(),
        "cpu_s": cpu,
        "cpu_s_per_million_events": cpu_per_million,
    }));
    Ok(())
}

/// Loads the events unless the three topics hold exactly them already.
fn ensure_loaded(args: &NexmarkBenchArgs, meta: &BaseConsumer) -> Result<()> {
    let topics = [PERSON_TOPIC, AUCTION_TOPIC, BID_TOPIC];
    let mut held = 0i64;
    let mut matching = true;
    for t in topics {
        match end_offsets(meta, t) {
            Ok(ends) if ends.len() == args.partitions as usize => held += ends.iter().sum::<i64>(),
            _ => matching = false,
        }
    }
    if matching && held == args.events as i64 {
        if !args.json {
            eprintln!("nexmark topics already hold {} events", args.events);
        }
        return Ok(());
    }
    delete_topics(&args.client, meta, &topics)?;
    let admin = args.client.admin()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, args.partitions, TopicReplication::Fixed(-1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    for r in block_on(admin.create_topics(&new, &opts))?.context("creating nexmark topics")? {
        r.map_err(|(t, code)| anyhow!("cannot create {t}: {code}"))?;
    }
    let loader = Loader::new(&args.client, args.events, "events", args.json)?;
    // Event times start an hour ago, inside any retention.
    let mut generator = Generator::new(now_ms() - 3_600_000);
    for _ in 0..args.events {
        let e = generator.next_event();
        loader.send(
            BaseRecord::<str, [u8]>::to(e.topic)
                .key(&e.key)
                .payload(&e.value)
                .timestamp(e.timestamp),
        )?;
    }
    loader.finish()?;
    Ok(())
}

pub(super) fn delete_topics(
    client: &ClientArgs,
    meta: &BaseConsumer,
    topics: &[&str],
) -> Result<()> {
    let admin = client.admin()?;
    let opts = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    // A topic that is not there is fine.
    let _ = block_on(admin.delete_topics(topics, &opts))?;
    // Deletion is asynchronous: wait until metadata no longer lists them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while topics.iter().any(|t| end_offsets(meta, t).is_ok()) {
        if Instant::now() > deadline {
            bail!("topics {topics:?} still exist 30 s after deleting them");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The end offset of each partition of `topic` (an error if it does not
/// exist).
pub(super) fn end_offsets(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i64>> {
    let md = crate::client::topic_metadata(consumer.client(), topic)?;
    let partitions = md.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
                .map(|(_, high)| high)
                .with_context(|| format!("end offset of {topic}-{p}"))
        })
        .collect()
}

/// Waits until the application has committed everything in its source
/// topics (its inputs and its repartition topics), noting when its output
/// topic first and last grew. Fails if an instance stops first.
fn watch_until_done(
    args: &NexmarkBenchArgs,
    meta: &BaseConsumer,
    topology: &fjord_streams::Topology,
    out: &str,
    instances: &[std::thread::JoinHandle<fjord_streams::Result<()>>],
) -> Result<(Instant, Instant)> {
    let consumer: BaseConsumer = args
        .client
        .config_with(&[("group.id", topology.application_id())])
        .create()?;
    let sources = topology.source_topics();
    let (mut first, mut last) = (None, None);
    let mut output_end = 0i64;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if instances.iter().any(|i| i.is_finished()) {
            bail!("an instance stopped before the query finished (see the log above)");
        }
        if let Ok(ends) = end_offsets(meta, out) {
            let end: i64 = ends.iter().sum();
            if end > output_end {
                output_end = end;
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
            }
        }
        if let (Some(first), Some(last)) = (first, last) {
            if all_committed(meta, &consumer, &sources)? {
                return Ok((first, last));
            }
        }
    }
}

/// Whether the group of `consumer` has committed the end of every
/// partition of `topics`.
pub(super) fn all_committed(
    meta: &BaseConsumer,
    consumer: &BaseConsumer,
    topics: &[String],
) -> Result<bool> {
    let mut list = TopicPartitionList::new();
    let mut ends = Vec::new();
    for t in topics {
        let Ok(topic_ends) = end_offsets(meta, t) else {
            return Ok(false); // a repartition topic not made yet
        };
        for (p, end) in topic_ends.into_iter().enumerate() {
            list.add_partition(t, p as i32);
            ends.push(end);
        }
    }
    let Ok(committed) = consumer.committed_offsets(list, REQUEST_TIMEOUT) else {
        return Ok(false);
    };
    Ok(committed
        .elements()
        .iter()
        .zip(ends)
        // A partition nothing was written to has nothing to commit.
        .all(|(e, end)| end == 0 || matches!(e.offset(), Offset::Offset(o) if o >= end)))
}

/// Records in `topic` as a read_committed reader sees them.
fn count_committed(client: &ClientArgs, meta: &BaseConsumer, topic: &str) -> Result<u64> {
    let consumer: BaseConsumer = client
        .config_with(&[
            ("group.id", "fjord-nexmark-count"),
            ("isolation.level", "read_committed"),
        ])
        .create()?;
    let ends = end_offsets(meta, topic)?;
    let mut list = TopicPartitionList::new();
    for p in 0..ends.len() {
        list.add_partition_offset(topic, p as i32, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let mut count = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    // Read to the end offsets taken above: the consumer's position passes
    // the transaction markers too, which a last record's offset does not.
    let at_end = |consumer: &BaseConsumer| -> Result<bool> {
        let positions = consumer.position()?;
        Ok(ends.iter().enumerate().all(|(p, &end)| {
            end == 0
                || positions
                    .find_partition(topic, p as i32)
                    .is_some_and(|e| matches!(e.offset(), Offset::Offset(at) if at >= end))
        }))
    };
    while !at_end(&consumer)? && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => count += 1,
            Some(Err(e)) => return Err(e).context("counting outputs"),
            None => {}
        }
    }
    Ok(count)
}

/// CPU seconds (user + system) this process has used.
pub(super) fn process_cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15, in clock ticks (100 per second
    // on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
