//! `fjord bench restore`: how fast a stream processing instance rebuilds a
//! key-value store from its changelog topic (issue 11's goal: 1M keys in
//! under 5 s).
//!
//! It writes `--keys` records with distinct keys to an input topic, runs
//! an application that keeps each key's latest value (a store of `--keys`
//! entries, logged to its changelog) until it has committed them all, and
//! stops it. Then it starts a second instance of the application, which
//! has no local state and restores the store from the changelog before it
//! runs; the instance reports the restore (records, milliseconds) in its
//! status record, which the bench reads back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use fjord_streams::{Aggregate, Format, StreamsBuilder, StreamsConfig, Topology};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::BaseRecord;
use serde_json::json;

use super::loader::Loader;
use super::nexmark::{all_committed, delete_topics, end_offsets};
use super::{now_ms, print_summary, thousands};
use crate::client::{block_on, ClientArgs, REQUEST_TIMEOUT};

const INPUT: &str = "fjord-bench-restore-input";

/// Arguments of `fjord bench restore`.
#[derive(Args, Debug)]
pub struct RestoreBenchArgs {
    /// Distinct keys, each a store entry.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    keys: u64,
    /// Bytes of each value.
    #[arg(long, default_value_t = 256)]
    value_bytes: usize,
    /// Partitions of the input topic, hence tasks (and changelog
    /// partitions) restored one after the other.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// The instance's memory for its stores (StreamsConfig's
    /// state_memory_bytes); beyond it they spill to disk.
    #[arg(long, default_value_t = 128, value_name = "MIB")]
    state_memory_mib: usize,
    /// Print only the JSON summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn run(args: RestoreBenchArgs) -> Result<()> {
    crate::logging::init_with_default("warn");
    let meta: BaseConsumer = args.client.config_with(&[]).create()?;
    load(&args, &meta)?;
    let app = format!("fjord-bench-restore-{}", now_ms());
    let topology = Arc::new(topology(&app)?);
    let mut config = StreamsConfig::new(args.client.bootstrap_servers.clone());
    config.client_settings = args.client.client_config.clone();
    config.commit_interval = Duration::from_millis(200);
    config.heartbeat_interval = Duration::from_millis(500);
    config.session_timeout_ms = 10_000;
    config.state_memory_bytes = args.state_memory_mib << 20;

    // 1. Fill the store (and its changelog).
    let say = |s: &str| {
        if !args.json {
            eprintln!("{s}");
        }
    };
    say(&format!(
        "building a store of {} keys...",
        thousands(args.keys as f64)
    ));
    let filled = Instant::now();
    run_until(&topology, &config, |stop| {
        let group: BaseConsumer = args.client.config_with(&[("group.id", &app)]).create()?;
        while !all_committed(&meta, &group, &[INPUT.to_string()])? {
            if stop.is_finished() {
                bail!("the application stopped while building its store");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    })?;
    say(&format!(
        "  built in {:.1} s",
        filled.elapsed().as_secs_f64()
    ));

    // 2. A new instance restores it.
    say("restoring it in a new instance...");
    let started_ms = now_ms();
    let restores = run_until(&topology, &config, |stop| {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if stop.is_finished() {
                bail!("the application stopped while restoring");
            }
            if Instant::now() > deadline {
                bail!("no restore reported within 600 s");
            }
            let views = fjord_streams::runtime::admin::describe(
                &args.client.bootstrap_servers,
                &args.client.client_config,
                &app,
            )?;
            let fresh: Vec<_> = views
                .iter()
                .filter_map(|v| v.status.as_ref())
                .filter(|s| s.updated_ms >= started_ms && s.restore.records > 0)
                .map(|s| s.restore)
                .collect();
            if fresh.len() == args.partitions as usize {
                return Ok(fresh);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })?;
    let records: u64 = restores.iter().map(|r| r.records).sum();
    let ms: u64 = restores.iter().map(|r| r.ms).sum();
    let per_s = records as f64 / (ms.max(1) as f64 / 1000.0);
    if !args.json {
        println!(
            "fjord restore: {} changelog records of {} keys ({} B values, {} partition(s))",
            thousands(records as f64),
            thousands(args.keys as f64),
            args.value_bytes,
            args.partitions
        );
        println!("  restore time     {:.2} s", ms as f64 / 1000.0);
        println!("  records/s        {}", thousands(per_s));
    }
    print_summary(json!({
        "bench": "restore",
        "keys": args.keys,
        "value_bytes": args.value_bytes,
        "partitions": args.partitions,
        "state_memory_mib": args.state_memory_mib,
        "restored_records": records,
        "restore_s": ms as f64 / 1000.0,
        "records_per_s": per_s.round(),
    }));
    Ok(())
}

/// The latest value of every key, in a store (nothing written out).
fn topology(app: &str) -> Result<Topology> {
    let b = StreamsBuilder::new(app);
    b.stream(INPUT, Format::String, Format::Json)
        .aggregate("latest", Aggregate::LatestByOffset, |r| r.value.clone())
        .filter(|_| Ok(false))
        .to(format!("{app}-out"), Format::String, Format::Json);
    Ok(b.build()?)
}

/// Runs one instance of `topology` on a thread until `until` returns,
/// then stops it (a clean leave and commit).
fn run_until<T>(
    topology: &Arc<Topology>,
    config: &StreamsConfig,
    until: impl FnOnce(&std::thread::JoinHandle<fjord_streams::Result<()>>) -> Result<T>,
) -> Result<T> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut config = config.clone();
    // A directory of its own: the instance starts with no local state.
    config.state_dir = std::env::temp_dir().join(format!("fjord-bench-restore-{}", now_ms()));
    let instance = {
        let (topology, stop) = (topology.clone(), stop.clone());
        std::thread::spawn(move || fjord_streams::run(&topology, &config, &stop))
    };
    let outcome = until(&instance);
    stop.store(true, Ordering::SeqCst);
    instance
        .join()
        .map_err(|_| anyhow!("the instance panicked"))?
        .context("the instance failed")?;
    outcome
}

/// Writes `--keys` records with distinct keys to a new input topic.
fn load(args: &RestoreBenchArgs, meta: &BaseConsumer) -> Result<()> {
    delete_topics(&args.client, meta, &[INPUT])?;
    let admin = args.client.admin()?;
    let opts = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let new = NewTopic::new(INPUT, args.partitions, TopicReplication::Fixed(-1));
    for r in block_on(admin.create_topics([&new], &opts))?.context("creating the input")? {
        r.map_err(|(t, code)| anyhow!("cannot create {t}: {code}"))?;
    }
    let loader = Loader::new(&args.client, args.keys, "keys", args.json)?;
    // A JSON string of value_bytes bytes (quotes included).
    let value = format!("\"{}\"", "v".repeat(args.value_bytes.saturating_sub(2)));
    for i in 0..args.keys {
        let key = format!("key-{i:010}");
        loader.send(BaseRecord::<str, str>::to(INPUT).key(&key).payload(&value))?;
    }
    loader.finish()?;
    if end_offsets(meta, INPUT)?.iter().sum::<i64>() != args.keys as i64 {
        bail!(
            "the input topic does not hold the {} keys written",
            args.keys
        );
    }
    Ok(())
}
