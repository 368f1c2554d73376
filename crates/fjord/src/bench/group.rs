//! `fjord bench group`: what consumer groups cost, measured through
//! librdkafka's `subscribe()` against any Kafka cluster.
//!
//! 1. First record: a fresh group (`auto.offset.reset=earliest`) on a topic
//!    that already holds data; the clock runs from creating the client to
//!    the first record polled, so it includes bootstrap, FindCoordinator,
//!    the group's first join (and the broker's initial rebalance delay),
//!    OffsetFetch/ListOffsets and the first Fetch.
//! 2. Rebalance: a stable group of N members (one thread and one client
//!    each) on a topic of P > N partitions; then one more member joins, and
//!    separately one member leaves (closes, which sends LeaveGroup). The
//!    clock runs from the trigger until every member has its new
//!    assignment.
//! 3. Throughput: a group of 2 against a single consumer reading the same
//!    records of the same topic. Members pause what they are assigned until
//!    the whole group holds its partitions, so the join is not timed; the
//!    rate runs from the first record to the last (the rate from the
//!    resume is reported too).
//!
//! Membership is observed through the rebalance callbacks (a
//! `ConsumerContext`'s pre/post_rebalance), which every member records into
//! one shared [`membership::Table`]. A rebalance is over when the partitions are owned
//! exactly once across the current members, evenly (counts differ by at
//! most one: what range on one topic and cooperative-sticky both produce),
//! and, with an eager assignor, every member has been handed its assignment
//! since the trigger. P > N makes "evenly" false before any join or leave
//! is handled, so the state before the trigger can never pass for the
//! state after it. The end time is that of the last callback, not of the
//! check, so the watcher's wake-up latency is not counted.

mod membership;
mod throughput;

use throughput::throughput_part;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::util::Timeout;
use serde_json::{json, Value};

use membership::{Table, Tracked};

use super::consume::CONSUME_SETTINGS;
use super::produce::{run_load, Limit, Load};
use super::{create_bench_topic, now_ms, print_summary, reported_settings, thousands};
use crate::client::{self, ClientArgs, REQUEST_TIMEOUT};
use crate::produce::{Acks, Compression};

/// Settings of every group member: read from the start of a fresh group's
/// partitions and commit nothing (the measured paths are join, assignment
/// and fetch; commits would only add writes to `__consumer_offsets`).
/// Everything else is librdkafka's default, as applications run it.
const GROUP_SETTINGS: &[(&str, &str)] = &[
    ("auto.offset.reset", "earliest"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("allow.auto.create.topics", "false"),
];

/// How long one group may take to settle (form, or finish a rebalance)
/// before the bench gives up: beyond librdkafka's default session timeout
/// (45 s), so a member that vanished without leaving is noticed first.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Give up on a throughput run when no record arrives for this long.
const IDLE_LIMIT: Duration = Duration::from_secs(15);

/// A throughput member adds its count to the shared total every this many
/// records (and whenever its queue runs dry), so two members do not
/// contend on one counter per record.
const FLUSH_EVERY: u64 = 1024;

/// Partition assignor (`partition.assignment.strategy`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Assignor {
    /// Eager: every member gives up all its partitions, then gets its new set.
    Range,
    /// Eager, partitions dealt round-robin.
    Roundrobin,
    /// Cooperative (KIP-429): only the partitions that move are revoked.
    CooperativeSticky,
}

impl Assignor {
    fn as_config(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::Roundrobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    fn eager(self) -> bool {
        self != Assignor::CooperativeSticky
    }
}

/// A part of the bench (`--only`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    FirstRecord,
    Rebalance,
    Throughput,
}

/// Arguments of `fjord bench group`.
#[derive(Args, Debug)]
pub struct GroupBenchArgs {
    /// Runs of each measurement (first record, each join and leave, each
    /// throughput pair).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Records in the topic the bench fills first (read by the first-record
    /// and throughput parts).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Bytes of value per record.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    record_size: u32,
    /// Partitions of that topic.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Members of the throughput group, compared with one consumer.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=64))]
    group_consumers: u32,
    /// Sizes of the stable groups whose rebalances are timed.
    #[arg(long, value_delimiter = ',', default_values_t = [2u32, 10],
          value_parser = clap::value_parser!(u32).range(1..=100))]
    group_sizes: Vec<u32>,
    /// Assignors to time rebalances with.
    #[arg(long, value_enum, value_delimiter = ',',
          default_values = ["range", "cooperative-sticky"])]
    assignors: Vec<Assignor>,
    /// Partitions of the (empty) topic the rebalance groups subscribe to;
    /// more than the largest group size [default: largest size + 2].
    #[arg(long, value_parser = clap::value_parser!(i32).range(2..))]
    rebalance_partitions: Option<i32>,
    /// Run only these parts [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `fjord bench group`.
pub fn run(args: GroupBenchArgs) -> Result<()> {
    let wants = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let largest = args.group_sizes.iter().copied().max().unwrap_or(1) as i32;
    let rebalance_partitions = args.rebalance_partitions.unwrap_or(largest + 2);
    if wants(Section::Rebalance) && rebalance_partitions <= largest {
        bail!(
            "--rebalance-partitions ({rebalance_partitions}) must exceed the largest group size \
             ({largest}): with as many members as partitions a join can look finished before \
             it starts"
        );
    }
    if wants(Section::Throughput) && args.group_consumers as i32 > args.partitions {
        bail!("--group-consumers must not exceed --partitions (idle members read nothing)");
    }
    let settings = reported_settings(&group_config(&args.client, "<fresh per run>", None));
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    let heartbeat = heartbeat_ms(&args.client);
    println!(
        "bench group: librdkafka {librdkafka}, {} run(s) of each measurement",
        args.runs
    );
    println!(
        "  note: a fresh group's first join waits the broker's initial rebalance delay \
         (Kafka's group.initial.rebalance.delay.ms; fjord.toml [broker] \
         group_initial_rebalance_delay_ms, 3000 ms by default)"
    );
    let mut summary = json!({
        "bench": "group",
        "librdkafka": librdkafka,
        "runs": args.runs,
        "client_config": settings,
        "heartbeat_interval_ms": heartbeat,
    });

    if wants(Section::FirstRecord) || wants(Section::Throughput) {
        let (topic, per_partition) = fill_topic(&args)?;
        summary["topic"] = json!(topic);
        summary["partitions"] = json!(args.partitions);
        summary["records"] = json!(args.count);
        summary["record_size"] = json!(args.record_size);
        if wants(Section::FirstRecord) {
            summary["first_record_ms"] = first_record_part(&args, &topic)?;
        }
        if wants(Section::Throughput) {
            summary["throughput"] = throughput_part(&args, &topic, &per_partition)?;
        }
    }
    if wants(Section::Rebalance) {
        summary["rebalance"] = rebalance_part(&args, rebalance_partitions, heartbeat)?;
    }
    print_summary(summary);
    Ok(())
}

/// The heartbeat interval the members use: librdkafka's 3 s unless -X sets it.
fn heartbeat_ms(client: &ClientArgs) -> u64 {
    client
        .client_config
        .iter()
        .rev()
        .find(|(k, _)| k == "heartbeat.interval.ms")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(3000)
}

/// A member's settings: the group defaults, its group and assignor, then
/// the user's -X settings, which win.
fn group_config(client: &ClientArgs, group: &str, assignor: Option<Assignor>) -> ClientConfig {
    let mut defaults: Vec<(&str, &str)> = GROUP_SETTINGS.to_vec();
    defaults.push(("group.id", group));
    if let Some(a) = assignor {
        defaults.push(("partition.assignment.strategy", a.as_config()));
    }
    client.config_with(&defaults)
}

/// Creates the topic read by the first-record and throughput parts and
/// fills it with `--count` records spread evenly over its partitions;
/// returns its name and how many records each partition holds.
fn fill_topic(args: &GroupBenchArgs) -> Result<(String, Vec<u64>)> {
    let topic = create_bench_topic(&args.client, "group", args.partitions)?;
    // One random partition per record (librdkafka's sticky partitioner off):
    // the sticky partitioner fills one partition per batch, which can leave
    // the two members of a group with unequal shares.
    let mut client = args.client.clone();
    client
        .client_config
        .insert(0, ("sticky.partitioning.linger.ms".into(), "0".into()));
    let produced = run_load(&Load {
        topic: &topic,
        record_size: args.record_size as usize,
        limit: Limit::Count(args.count),
        acks: Acks::Leader,
        compression: Compression::None,
        producers: 1,
        client: &client,
    })?;
    let reader: BaseConsumer = args
        .client
        .config_with(CONSUME_SETTINGS)
        .create()
        .context("cannot create Kafka consumer (check the -X settings)")?;
    let metadata = client::topic_metadata(reader.client(), &topic)?;
    let mut per_partition = Vec::new();
    for p in metadata.topics()[0].partitions() {
        let (low, high) = reader
            .fetch_watermarks(&topic, p.id(), Timeout::After(REQUEST_TIMEOUT))
            .with_context(|| format!("cannot list offsets of {topic}-{}", p.id()))?;
        per_partition.push((high - low).max(0) as u64);
    }
    println!(
        "  topic {topic}: {} records of {} B in {:.3} s, per partition {per_partition:?}",
        produced.records,
        args.record_size,
        produced.elapsed.as_secs_f64()
    );
    Ok((topic, per_partition))
}

/// Part 1: a fresh group's time to its first record, `--runs` times.
fn first_record_part(args: &GroupBenchArgs, topic: &str) -> Result<Value> {
    println!("first record of a fresh group (create client + subscribe -> first record polled):");
    let (mut assigned, mut first) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let group = format!("fjord-bench-first-{}-{run}", now_ms());
        let (to_assignment, to_record) = first_record(&args.client, topic, &group)?;
        let (a, f) = (ms(to_assignment), ms(to_record));
        println!("  run {run}: first record after {f:.1} ms (partitions assigned after {a:.1} ms)");
        assigned.push(a);
        first.push(f);
    }
    println!("  first record: {}", spread_line(&first, "ms"));
    println!("  assignment:   {}", spread_line(&assigned, "ms"));
    Ok(json!({ "first_record": spread(&first), "assigned": spread(&assigned) }))
}

/// One fresh consumer: (time to its partitions, time to its first record).
fn first_record(client: &ClientArgs, topic: &str, group: &str) -> Result<(Duration, Duration)> {
    let table = Arc::new(Table::default());
    let config = group_config(client, group, None);
    let start = Instant::now();
    let consumer: BaseConsumer<Tracked> = config
        .create_with_context(Tracked::new(&table, 0, false))
        .context("cannot create Kafka consumer (check the -X settings)")?;
    consumer
        .subscribe(&[topic])
        .with_context(|| format!("cannot subscribe to `{topic}`"))?;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => break,
            Some(Err(err)) => eprintln!("warning: first-record consumer: {err}"),
            None if start.elapsed() > SETTLE_LIMIT => {
                bail!("group `{group}` read no record within {SETTLE_LIMIT:?}")
            }
            None => {}
        }
    }
    let first = start.elapsed();
    let assigned = table
        .lock()
        .get(&0)
        .and_then(|seen| seen.assigned_at)
        .map_or(first, |t| t.saturating_duration_since(start));
    Ok((assigned, first))
}

/// Part 2: join and leave times of stable groups, per size and assignor.
fn rebalance_part(args: &GroupBenchArgs, partitions: i32, heartbeat: u64) -> Result<Value> {
    let topic = create_bench_topic(&args.client, "rebalance", partitions)?;
    println!(
        "rebalance (trigger -> every member has its new assignment), topic {topic} with \
         {partitions} partitions, no records:"
    );
    println!(
        "  note: members already in the group learn of a rebalance from their next heartbeat \
         (heartbeat.interval.ms = {heartbeat} ms), so a figure includes up to one interval"
    );
    let mut results = Vec::new();
    for &size in &args.group_sizes {
        for &assignor in &args.assignors {
            let scenario = Scenario {
                client: &args.client,
                topic: &topic,
                partitions,
                size: size as usize,
                assignor,
                runs: args.runs,
                heartbeat: Duration::from_millis(heartbeat),
            };
            let outcome = scenario.run()?;
            println!(
                "  {size:>3} members, {:<18} formed in {:.1} ms\n      join:  {}\n      leave: {}",
                assignor.as_config(),
                outcome.formed,
                spread_line(&outcome.join, "ms"),
                spread_line(&outcome.leave, "ms")
            );
            results.push(json!({
                "members": size,
                "assignor": assignor.as_config(),
                "protocol": if assignor.eager() { "eager" } else { "cooperative" },
                "partitions": partitions,
                "formed_ms": outcome.formed,
                "join_ms": spread(&outcome.join),
                "leave_ms": spread(&outcome.leave),
            }));
        }
    }
    Ok(Value::Array(results))
}

/// One group size with one assignor.
struct Scenario<'a> {
    client: &'a ClientArgs,
    topic: &'a str,
    partitions: i32,
    size: usize,
    assignor: Assignor,
    runs: u32,
    /// The members' heartbeat interval (see [`Scenario::phase`]).
    heartbeat: Duration,
}

/// Milliseconds: the group's formation, then each run's join and leave.
struct ScenarioOutcome {
    formed: f64,
    join: Vec<f64>,
    leave: Vec<f64>,
}

impl Scenario<'_> {
    /// Forms the group, then per run: a member joins (timed), the newcomer
    /// leaves again (untimed), the longest-standing member leaves (timed:
    /// often the leader), and a new member takes its place (untimed), so
    /// every run starts from a stable group of `size`.
    fn run(&self) -> Result<ScenarioOutcome> {
        let group = format!(
            "fjord-bench-rebalance-{}-{}-{}",
            self.assignor.as_config(),
            self.size,
            now_ms()
        );
        let config = group_config(self.client, &group, Some(self.assignor));
        let table = Arc::new(Table::default());
        let mut members: BTreeMap<usize, Member> = BTreeMap::new();
        let mut next = 0usize;
        let result = (|| -> Result<ScenarioOutcome> {
            let start = Instant::now();
            for _ in 0..self.size {
                members.insert(next, Member::spawn(&config, &table, next, self.topic)?);
                next += 1;
            }
            let formed = self.settle(&table, &members, start, true)?;
            let (mut join, mut leave) = (Vec::new(), Vec::new());
            for run in 0..self.runs {
                // A member joins.
                self.phase(run);
                let trigger = Instant::now();
                members.insert(next, Member::spawn(&config, &table, next, self.topic)?);
                join.push(self.settle(&table, &members, trigger, self.assignor.eager())?);
                // It leaves again.
                let newcomer = members.remove(&next).map(|m| m.leave(&table)).transpose()?;
                self.settle(&table, &members, newcomer.unwrap_or(trigger), false)?;
                next += 1;
                // The longest-standing member leaves.
                self.phase(run);
                let oldest = *members.keys().next().context("the group has no members")?;
                let left = members
                    .remove(&oldest)
                    .map(|m| m.leave(&table))
                    .transpose()?;
                let trigger = left.unwrap_or_else(Instant::now);
                leave.push(self.settle(&table, &members, trigger, self.assignor.eager())?);
                // A new member takes its place.
                let trigger = Instant::now();
                members.insert(next, Member::spawn(&config, &table, next, self.topic)?);
                self.settle(&table, &members, trigger, false)?;
                next += 1;
            }
            Ok(ScenarioOutcome {
                formed,
                join,
                leave,
            })
        })();
        // Stop everyone at once, then wait: each close rebalances the rest.
        for member in members.values() {
            member.stop.store(true, Ordering::Relaxed);
        }
        for (_, member) in members {
            member.leave(&table)?;
        }
        result
    }

    /// Waits before run `run`'s trigger: (run + 1/2) / runs of a heartbeat
    /// interval after the group settled. The members learn of a rebalance
    /// from their next heartbeat, and their heartbeat timers restart when
    /// a rebalance ends, so a trigger right after one would always wait a
    /// full interval; spreading the triggers over the interval samples the
    /// wait as a member joining or leaving at a random moment sees it.
    fn phase(&self, run: u32) {
        let fraction = (f64::from(run) + 0.5) / f64::from(self.runs);
        thread::sleep(self.heartbeat.mul_f64(fraction));
    }

    /// Milliseconds from `since` until the current members own every
    /// partition evenly (and, when `eager`, each was assigned since then).
    fn settle(
        &self,
        table: &Table,
        members: &BTreeMap<usize, Member>,
        since: Instant,
        eager: bool,
    ) -> Result<f64> {
        let active: Vec<usize> = members.keys().copied().collect();
        let took = table
            .wait_settled(&active, self.partitions, since, eager)
            .with_context(|| {
                format!(
                    "{} members with {}",
                    active.len(),
                    self.assignor.as_config()
                )
            })?;
        Ok(ms(took))
    }
}

/// A group member on its own thread, polling until told to stop.
struct Member {
    stop: Arc<AtomicBool>,
    /// Returns when the member began closing (the leave's trigger).
    thread: JoinHandle<Result<Instant>>,
    index: usize,
}

impl Member {
    fn spawn(
        config: &ClientConfig,
        table: &Arc<Table>,
        index: usize,
        topic: &str,
    ) -> Result<Member> {
        let mut config = config.clone();
        config.set("client.id", format!("fjord-bench-member-{index}"));
        let consumer: BaseConsumer<Tracked> = config
            .create_with_context(Tracked::new(table, index, false))
            .context("cannot create Kafka consumer (check the -X settings)")?;
        consumer
            .subscribe(&[topic])
            .with_context(|| format!("cannot subscribe to `{topic}`"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("bench-member-{index}"))
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    // Rebalance callbacks run inside poll(), which returns
                    // to them as soon as they arrive.
                    if let Some(Err(err)) = consumer.poll(Duration::from_millis(100)) {
                        eprintln!("warning: member {index}: {err}");
                    }
                }
                let closing = Instant::now();
                // Dropping closes the consumer: LeaveGroup, after revoking.
                drop(consumer);
                Ok(closing)
            })
            .context("cannot start a member thread")?;
        Ok(Member {
            stop,
            thread,
            index,
        })
    }

    /// Closes the member; returns when it began to leave. It no longer
    /// counts as a member of the table.
    fn leave(self, table: &Table) -> Result<Instant> {
        self.stop.store(true, Ordering::Relaxed);
        let closing = self
            .thread
            .join()
            .map_err(|_| anyhow!("member {} panicked", self.index))??;
        table.lock().remove(&self.index);
        Ok(closing)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Runs and their min/median/mean/max, for the JSON summary.
fn spread(values: &[f64]) -> Value {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let round = |v: f64| (v * 10.0).round() / 10.0;
    json!({
        "runs": values.iter().map(|v| round(*v)).collect::<Vec<_>>(),
        "min": round(min),
        "median": round(median(values)),
        "mean": round(mean),
        "max": round(max),
    })
}

/// `median X unit (min .., mean .., max ..; N runs)` for the report.
fn spread_line(values: &[f64], unit: &str) -> String {
    let s = spread(values);
    let f = |key: &str| {
        let v = s[key].as_f64().unwrap_or(0.0);
        if unit == "ms" {
            format!("{v:.1}")
        } else {
            thousands(v)
        }
    };
    format!(
        "median {} {unit} (min {}, mean {}, max {}; {} runs)",
        f("median"),
        f("min"),
        f("mean"),
        f("max"),
        values.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_median() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let s = spread(&[10.0, 30.0, 20.0]);
        assert_eq!(s["median"], json!(20.0));
        assert_eq!(s["min"], json!(10.0));
        assert_eq!(s["max"], json!(30.0));
        assert_eq!(s["mean"], json!(20.0));
        assert_eq!(
            spread_line(&[1.0, 2.0], "ms"),
            "median 1.5 ms (min 1.0, mean 1.5, max 2.0; 2 runs)"
        );
    }
}
