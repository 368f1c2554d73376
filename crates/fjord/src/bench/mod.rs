//! `fjord bench produce|consume|e2e|group|disk|txn`: load generators that
//! measure a broker (any Kafka cluster, through librdkafka) or a data
//! directory; `fjord bench nexmark`: the stream processing engine;
//! `fjord bench connect`: the Connect runtime's JDBC sink and file source.
//!
//! A tool, not a test: each run prints a human-readable report and, as its
//! last line, a one-line JSON summary (with the librdkafka settings used and
//! the machine's CPU) so figures in BENCHMARKS.md can be reproduced and
//! compared.

mod connect;
mod consume;
mod disk;
mod e2e;
mod group;
mod histogram;
mod loader;
mod nexmark;
mod produce;
mod raw;
mod restore;
mod txn;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use serde_json::{json, Value};

use crate::client::{block_on, ClientArgs, REQUEST_TIMEOUT};

/// Arguments of `fjord bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Produce records as fast as possible; report records/s, MB/s and
    /// delivery (acknowledgement) latency.
    Produce(produce::ProduceBenchArgs),
    /// Consume records as fast as possible from a topic produced in advance
    /// (or produce first, then time only the consumption).
    Consume(consume::ConsumeBenchArgs),
    /// Produce at a fixed rate while consuming; report end-to-end latency
    /// from send to receipt.
    E2e(e2e::E2eBenchArgs),
    /// Consumer groups (subscribe with a group.id): a fresh group's time to
    /// its first record, rebalance times when a member joins or leaves, and
    /// a group's consume throughput against a single consumer's.
    Group(group::GroupBenchArgs),
    /// Measure sequential writes with an fsync per batch in a directory
    /// (plain files, no Kafka): the ceiling for acks=all throughput.
    Disk(disk::DiskBenchArgs),
    /// Transactional produce at several records per transaction against
    /// the same (idempotent) producer without transactions.
    Txn(txn::TxnBenchArgs),
    /// Nexmark's queries (q0 q1 q2 q3 q5 q7 q8) on Fjord's stream
    /// processing engine: loads the events, runs the query, reports
    /// events/s and CPU-seconds per million events.
    Nexmark(nexmark::NexmarkBenchArgs),
    /// A stream processing store rebuilt from its changelog: fills a
    /// store of --keys entries, then times a new instance's restore.
    Restore(restore::RestoreBenchArgs),
    /// The Connect runtime's built-in connectors in an in-process worker:
    /// the JDBC sink (a loaded topic into SQLite or PostgreSQL, at least
    /// once or exactly once) or the file source (a file's lines into a
    /// topic); reports records/s and CPU-seconds per million records.
    Connect(connect::ConnectBenchArgs),
}

/// Which client drives the load.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientKind {
    /// librdkafka (the rdkafka crate), as applications use it.
    Librdkafka,
    /// Fjord's minimal protocol client sending pre-built batches: measures
    /// the broker without librdkafka's per-record client cost.
    Raw,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs `fjord bench ...`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.command {
        BenchCommand::Produce(args) => produce::run(args),
        BenchCommand::Consume(args) => consume::run(args),
        BenchCommand::E2e(args) => e2e::run(args),
        BenchCommand::Group(args) => group::run(args),
        BenchCommand::Disk(args) => disk::run(args),
        BenchCommand::Txn(args) => txn::run(args),
        BenchCommand::Nexmark(args) => nexmark::run(args),
        BenchCommand::Restore(args) => restore::run(args),
        BenchCommand::Connect(args) => connect::run(args),
    }
}

/// Creates a fresh topic named `fjord-bench-<kind>-<unix ms>` (so runs never
/// read each other's records) and returns its name.
fn create_bench_topic(client: &ClientArgs, kind: &str, partitions: i32) -> Result<String> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let name = format!("fjord-bench-{kind}-{millis}");
    let admin = client.admin()?;
    let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(-1));
    let opts = AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT));
    let results = block_on(admin.create_topics([&topic], &opts))?
        .with_context(|| format!("cannot create bench topic `{name}`"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => anyhow::bail!("cannot create bench topic `{name}`: {code}"),
        }
    }
    Ok(name)
}

/// The settings of a client config, minus secrets, for the report.
fn reported_settings(config: &ClientConfig) -> BTreeMap<String, String> {
    config
        .config_map()
        .iter()
        .filter(|(k, _)| !k.contains("password") && !k.contains("secret"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// CPU model and core count, recorded beside every figure.
fn host() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({ "cpu": cpu, "cores": cores })
}

/// Prints the one-line JSON summary that ends every bench report.
fn print_summary(mut summary: Value) {
    if let Value::Object(map) = &mut summary {
        map.insert("host".into(), host());
    }
    println!("{summary}");
}

/// Record payloads: slices of a pool of random uppercase letters, so
/// compression sees realistic-ish text (about 4.7 bits of entropy per byte)
/// rather than zeros, while generating a record costs nothing.
struct Payloads {
    pool: Vec<u8>,
    size: usize,
}

impl Payloads {
    const POOL: usize = 1 << 20;

    fn new(size: usize) -> Payloads {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let pool = (0..Self::POOL + size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b'A' + (state % 26) as u8
            })
            .collect();
        Payloads { pool, size }
    }

    /// The payload of record `i`.
    fn get(&self, i: u64) -> &[u8] {
        // A multiplicative hash spreads consecutive records over the pool.
        let start = (i.wrapping_mul(0x9E37_79B9) % Self::POOL as u64) as usize;
        &self.pool[start..start + self.size]
    }
}

/// Formats a rate with thousands separators for the human-readable report.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parses a byte size: `4096`, `64KiB`, `1MiB`, `2GiB` (also K/M/G), or
/// decimal `KB`/`MB`/`GB`.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 4096, 64KiB, 1MiB, 1GiB)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit `{other}` in `{s}`")),
    };
    number
        .checked_mul(multiplier)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("size `{s}` must be between 1 byte and 16 EiB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn payloads_have_the_requested_size() {
        let p = Payloads::new(100);
        for i in [0, 1, 12345, u64::MAX] {
            assert_eq!(p.get(i).len(), 100);
        }
    }
}
