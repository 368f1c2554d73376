//! `fjord bench connect`: the Connect runtime's built-in connectors
//! (issue 13), run by an in-process worker against any Kafka cluster.
//!
//! - `--test jdbc-sink`: loads `--records` JSON records (with schemas, as
//!   Kafka's JsonConverter writes them, so the sink can `auto.create` its
//!   table) into a new topic, then runs Confluent's JDBC sink connector
//!   (`insert.mode=insert`, `pk.mode=none`) into SQLite (a file under a
//!   temp dir) or the `--database-url` given, at least once or with the
//!   sink's `exactly.once=true`.
//! - `--test file-source`: writes `--records` lines to a file, then runs
//!   Kafka's FileStreamSourceConnector on it into a new topic.
//!
//! The worker is standalone (offsets in a file under the temp dir), in
//! this process. The timed span runs from the first observation of
//! progress to the last record: for the sink, the sink group's committed
//! offsets (the runtime commits every `offset.flush.interval.ms`, set to
//! 100 ms here, after the database transactions of those records have
//! committed); for the source, the topic's end offsets. The rate is the
//! records between those two observations over the time between them, so
//! start-up (joining the group, creating the table) is not in it; the wall
//! time from creating the connector is reported beside it. CPU-seconds are
//! this process's (the worker's and the bench's polling) over the same
//! span; the broker's and the database server's are not in them. The sink
//! bench then checks the table's row count (exactly N exactly once, at
//! least N at least once) and drops the table.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use fjord_connect::config::Config;
use fjord_connect::jdbc::dialect::{self, Dialect, Quoting};
use fjord_connect::{Worker, WorkerSettings};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use super::loader::Loader;
use super::nexmark::{delete_topics, end_offsets, process_cpu_seconds};
use super::{create_bench_topic, now_ms, print_summary, thousands, Payloads};
use crate::client::{ClientArgs, REQUEST_TIMEOUT};

/// Arguments of `fjord bench connect`.
#[derive(Args, Debug)]
pub struct ConnectBenchArgs {
    /// What to measure: the JDBC sink (a topic into a table) or the file
    /// source (a file's lines into a topic).
    #[arg(long, value_enum, default_value = "jdbc-sink")]
    test: TestKind,
    /// Records to load into the topic (jdbc-sink) or lines to write to the
    /// file (file-source).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Bytes of each record's data: the JSON object of a row (jdbc-sink;
    /// the JsonConverter's schema envelope comes on top), or of each line
    /// (file-source).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(60..=1_000_000))]
    value_bytes: u64,
    /// The JDBC sink's connection.url (jdbc:postgresql://..., postgres://...,
    /// jdbc:sqlite:PATH, mysql://...) [default: a SQLite file under a new
    /// temp dir].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The JDBC sink's delivery: at-least-once (Confluent's behaviour) or
    /// exactly-once (the sink's exactly.once=true: each partition's offset
    /// commits in the rows' transaction).
    #[arg(long, value_enum, default_value = "at-least-once")]
    guarantee: Guarantee,
    /// The connector's tasks.max (the file source always runs one task).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    tasks: u32,
    /// Partitions of the bench topic.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// The JDBC sink's batch.size: rows per INSERT statement at most.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Records per put, hence per database transaction, at most (the
    /// connector's consumer.override.max.poll.records; Kafka's default is
    /// 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    max_poll_records: u32,
    /// The value converter: json (JsonConverter with schemas.enable=true,
    /// Kafka's sample worker config) or string (StringConverter; the file
    /// source only, since the JDBC sink needs a schema).
    #[arg(long, value_enum, default_value = "json")]
    converter: ConverterKind,
    /// The file source's batch.size: lines per poll at most.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    file_batch_size: u32,
    /// Keep the bench table, topic and temp dir afterwards.
    #[arg(long)]
    keep: bool,
    /// Print only the JSON summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TestKind {
    /// io.confluent.connect.jdbc.JdbcSinkConnector: a topic into a table.
    JdbcSink,
    /// org.apache.kafka.connect.file.FileStreamSourceConnector: a file's
    /// lines into a topic.
    FileSource,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Guarantee {
    /// Kafka Connect's behaviour: the group's offsets are committed after
    /// the rows, so a crash may write some rows again.
    AtLeastOnce,
    /// The JDBC sink's exactly.once=true: each partition's next offset
    /// commits in the rows' own transaction.
    ExactlyOnce,
}

impl Guarantee {
    fn name(self) -> &'static str {
        match self {
            Guarantee::AtLeastOnce => "at-least-once",
            Guarantee::ExactlyOnce => "exactly-once",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ConverterKind {
    /// org.apache.kafka.connect.json.JsonConverter, schemas.enable=true.
    Json,
    /// org.apache.kafka.connect.storage.StringConverter.
    String,
}

impl ConverterKind {
    fn class(self) -> &'static str {
        match self {
            ConverterKind::Json => "org.apache.kafka.connect.json.JsonConverter",
            ConverterKind::String => "org.apache.kafka.connect.storage.StringConverter",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ConverterKind::Json => "json",
            ConverterKind::String => "string",
        }
    }
}

/// How often the runtime commits the sink's offsets during the bench: the
/// resolution of the sink's progress signal.
const FLUSH_INTERVAL_MS: u64 = 100;
/// How often the bench looks at progress.
const WATCH_EVERY: Duration = Duration::from_millis(25);
/// Give up when nothing moves for this long.
const STALL: Duration = Duration::from_secs(120);

/// One look at progress: records done, when, and this process's CPU.
#[derive(Clone, Copy)]
struct Mark {
    at: Instant,
    done: i64,
    cpu: f64,
}

impl Mark {
    fn now(done: i64) -> Mark {
        Mark {
            at: Instant::now(),
            done,
            cpu: process_cpu_seconds(),
        }
    }
}

/// What a run measured.
struct Measured {
    first: Mark,
    last: Mark,
    /// From creating the connector to the last record.
    wall_s: f64,
}

impl Measured {
    fn span_s(&self) -> f64 {
        self.last.at.duration_since(self.first.at).as_secs_f64()
    }

    fn counted(&self) -> i64 {
        self.last.done - self.first.done
    }

    fn per_s(&self) -> f64 {
        self.counted() as f64 / self.span_s().max(1e-3)
    }

    fn cpu_per_million(&self) -> f64 {
        (self.last.cpu - self.first.cpu) / (self.counted().max(1) as f64 / 1e6)
    }
}

pub fn run(args: ConnectBenchArgs) -> Result<()> {
    crate::logging::init_with_default("warn");
    if args.test == TestKind::JdbcSink && args.converter != ConverterKind::Json {
        bail!("the JDBC sink needs records with schemas: use --converter json");
    }
    let run_id = now_ms();
    let dir = std::env::temp_dir().join(format!("fjord-bench-connect-{run_id}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let outcome = match args.test {
        TestKind::JdbcSink => jdbc_sink(&args, run_id, &dir),
        TestKind::FileSource => file_source(&args, run_id, &dir),
    };
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome
}

/// The in-process worker: standalone, offsets in `dir`, the file
/// connectors allowed under `dir`.
fn start_worker(
    args: &ConnectBenchArgs,
    runtime: &tokio::runtime::Runtime,
    run_id: i64,
    dir: &Path,
) -> Result<Arc<Worker>> {
    let mut raw = Config::from_pairs([
        ("bootstrap.servers", args.client.bootstrap_servers.clone()),
        ("group.id", format!("fjord-bench-connect-{run_id}")),
        (
            "offset.storage.file.filename",
            dir.join("connect.offsets").display().to_string(),
        ),
        ("offset.flush.interval.ms", FLUSH_INTERVAL_MS.to_string()),
        ("allowed.paths", dir.display().to_string()),
    ]);
    // -X settings reach every client, as the worker's own keys would.
    for (k, v) in &args.client.client_config {
        for prefix in ["consumer.", "producer.", "admin."] {
            raw.set(format!("{prefix}{k}"), v.clone());
        }
    }
    let mut settings = WorkerSettings::from_config(raw, false)?;
    settings.worker_id = "fjord-bench".into();
    runtime
        .block_on(fjord_connect::start_worker(settings))
        .context("cannot start the connect worker")
}

fn create_connector(
    runtime: &tokio::runtime::Runtime,
    worker: &Worker,
    name: &str,
    config: Config,
) -> Result<()> {
    runtime
        .block_on(worker.put_connector(name, config, true))
        .map_err(|e| anyhow!("cannot create connector {name}: {}", e.message))?;
    Ok(())
}

/// Fails if the connector or one of its tasks has failed.
fn check_running(runtime: &tokio::runtime::Runtime, worker: &Worker, name: &str) -> Result<()> {
    let status = runtime
        .block_on(worker.status(name))
        .map_err(|e| anyhow!("connector {name}: {}", e.message))?;
    let mut states = vec![&status["connector"]];
    if let Some(tasks) = status["tasks"].as_array() {
        states.extend(tasks);
    }
    for s in states {
        if s["state"] == "FAILED" {
            bail!(
                "the connector failed: {}",
                s["trace"].as_str().unwrap_or("(no trace)")
            );
        }
    }
    Ok(())
}

/// Polls `progress` until it reaches `total`; the first mark is the first
/// look that shows any progress.
fn watch(
    total: i64,
    started: Instant,
    mut progress: impl FnMut() -> Result<i64>,
    mut check: impl FnMut() -> Result<()>,
) -> Result<Measured> {
    let mut first: Option<Mark> = None;
    let mut last_change = (Instant::now(), -1i64);
    let mut last_check = Instant::now();
    loop {
        let done = progress()?;
        if done > 0 && first.is_none() {
            first = Some(Mark::now(done));
        }
        if done >= total {
            let last = Mark::now(done);
            let mut first = first.expect("set above");
            if first.done >= total {
                // Everything landed between two looks: time it from the
                // connector's creation instead.
                first = Mark {
                    at: started,
                    done: 0,
                    cpu: first.cpu,
                };
            }
            return Ok(Measured {
                first,
                last,
                wall_s: started.elapsed().as_secs_f64(),
            });
        }
        if done != last_change.1 {
            last_change = (Instant::now(), done);
        } else if last_change.0.elapsed() > STALL {
            bail!(
                "no progress for {} s ({done} of {total} records done)",
                STALL.as_secs()
            );
        }
        if last_check.elapsed() > Duration::from_millis(500) {
            check()?;
            last_check = Instant::now();
        }
        std::thread::sleep(WATCH_EVERY);
    }
}

/// The JSON schema envelope of the bench rows, as JsonConverter writes it.
const ROW_SCHEMA: &str = r#"{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"int32","optional":false,"field":"account"},{"type":"double","optional":false,"field":"amount"},{"type":"string","optional":false,"field":"note"}],"optional":false,"name":"fjord.bench.Row"}"#;

/// Row `i` as JsonConverter's `{"schema": ..., "payload": ...}`, the
/// payload object `value_bytes` long (its `note` pads it).
fn row_value(payloads: &Payloads, i: u64, value_bytes: usize) -> String {
    let head = format!(
        r#"{{"id":{i},"account":{},"amount":{}.{:02},"note":""#,
        i % 10_000,
        i % 100_000,
        i % 100
    );
    let note_len = value_bytes.saturating_sub(head.len() + 2);
    let note = &payloads.get(i)[..note_len.min(payloads.size)];
    let note = std::str::from_utf8(note).expect("payloads are ASCII letters");
    format!(r#"{{"schema":{ROW_SCHEMA},"payload":{head}{note}"}}}}"#)
}

fn jdbc_sink(args: &ConnectBenchArgs, run_id: i64, dir: &Path) -> Result<()> {
    let say = |s: &str| {
        if !args.json {
            eprintln!("{s}");
        }
    };
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("jdbc:sqlite:{}", dir.join("bench.db").display()));
    let sqlx_url = dialect::to_sqlx_url(&url, None, None)?;
    let database = Dialect::of_url(&sqlx_url)?;
    let meta: BaseConsumer = args.client.config_with(&[]).create()?;

    // 1. Load the topic.
    let topic = create_bench_topic(&args.client, "connect", args.partitions)?;
    let value_bytes = args.value_bytes as usize;
    let payloads = Payloads::new(value_bytes);
    let loader = Loader::new(&args.client, args.records, "records", args.json)?;
    let mut record_bytes = 0u64;
    for i in 0..args.records {
        let value = row_value(&payloads, i, value_bytes);
        record_bytes += value.len() as u64;
        loader.send(BaseRecord::<(), str>::to(&topic).payload(&value))?;
    }
    loader.finish()?;
    let loaded: i64 = end_offsets(&meta, &topic)?.iter().sum();
    if loaded != args.records as i64 {
        bail!("the topic holds {loaded} records, not {}", args.records);
    }

    // 2. Run the sink.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let worker = start_worker(args, &runtime, run_id, dir)?;
    let name = format!("fjord-bench-jdbc-{run_id}");
    let table = format!("bench_connect_{run_id}");
    let exactly_once = args.guarantee == Guarantee::ExactlyOnce;
    let config = Config::from_pairs([
        (
            "connector.class",
            "io.confluent.connect.jdbc.JdbcSinkConnector".to_string(),
        ),
        ("tasks.max", args.tasks.to_string()),
        ("topics", topic.clone()),
        ("connection.url", url.clone()),
        ("table.name.format", table.clone()),
        ("insert.mode", "insert".into()),
        ("pk.mode", "none".into()),
        ("auto.create", "true".into()),
        ("batch.size", args.batch_size.to_string()),
        ("exactly.once", exactly_once.to_string()),
        (
            "key.converter",
            "org.apache.kafka.connect.storage.StringConverter".into(),
        ),
        ("value.converter", args.converter.class().into()),
        ("value.converter.schemas.enable", "true".into()),
        (
            "consumer.override.max.poll.records",
            args.max_poll_records.to_string(),
        ),
    ]);
    say(&format!(
        "sinking {} records into {} ({})...",
        thousands(args.records as f64),
        dialect::redact(&url),
        args.guarantee.name()
    ));
    let started = Instant::now();
    create_connector(&runtime, &worker, &name, config)?;
    let group: BaseConsumer = args
        .client
        .config_with(&[("group.id", &format!("connect-{name}"))])
        .create()?;
    let measured = watch(
        args.records as i64,
        started,
        || committed_sum(&group, &topic, args.partitions),
        || check_running(&runtime, &worker, &name),
    );
    runtime.block_on(worker.shutdown());
    let measured = measured?;

    // 3. Check the table, then clean up.
    let rows = runtime.block_on(count_and_drop(&sqlx_url, database, &table, !args.keep))?;
    let expected = args.records as i64;
    let rows_ok = if exactly_once {
        rows == expected
    } else {
        rows >= expected
    };
    if !args.keep {
        delete_topics(&args.client, &meta, &[topic.as_str()])?;
    }
    drop(runtime);

    let per_s = measured.per_s();
    let avg_record = record_bytes as f64 / args.records as f64;
    if !args.json {
        println!(
            "fjord connect JDBC sink -> {database:?} ({}, {} task(s), {} partition(s), batch.size {}, max.poll.records {})",
            args.guarantee.name(),
            args.tasks,
            args.partitions,
            args.batch_size,
            args.max_poll_records
        );
        println!(
            "  records          {}  ({} B of row data, {avg_record:.0} B per record with the JSON schema)",
            thousands(args.records as f64),
            args.value_bytes
        );
        println!(
            "  rows in table    {}{}",
            thousands(rows as f64),
            if rows_ok { "" } else { "  (WRONG)" }
        );
        println!(
            "  timed            {} records in {:.3} s  (wall from connector creation {:.3} s)",
            thousands(measured.counted() as f64),
            measured.span_s(),
            measured.wall_s
        );
        println!("  records/s        {}", thousands(per_s));
        println!(
            "  CPU              {:.2} s per million records (this process)",
            measured.cpu_per_million()
        );
    }
    print_summary(json!({
        "bench": "connect",
        "test": "jdbc-sink",
        "database": format!("{database:?}").to_lowercase(),
        "guarantee": args.guarantee.name(),
        "records": args.records,
        "value_bytes": args.value_bytes,
        "avg_record_bytes": avg_record.round(),
        "converter": args.converter.name(),
        "tasks": args.tasks,
        "partitions": args.partitions,
        "batch_size": args.batch_size,
        "max_poll_records": args.max_poll_records,
        "rows": rows,
        "rows_ok": rows_ok,
        "timed_records": measured.counted(),
        "timed_s": measured.span_s(),
        "wall_s": measured.wall_s,
        "records_per_s": per_s.round(),
        "cpu_s_per_million": measured.cpu_per_million(),
    }));
    if !rows_ok {
        bail!("the table holds {rows} rows for {expected} records");
    }
    Ok(())
}

/// The sum of the group's committed offsets over the topic's partitions.
fn committed_sum(group: &BaseConsumer, topic: &str, partitions: i32) -> Result<i64> {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = group
        .committed_offsets(list, REQUEST_TIMEOUT)
        .context("reading the sink's committed offsets")?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum())
}

/// The table's row count; the table is dropped after with `drop`.
async fn count_and_drop(url: &str, database: Dialect, table: &str, drop: bool) -> Result<i64> {
    let (pool, _) = dialect::connect(url, 3, Duration::from_secs(1), "UTC").await?;
    let quoted = database.quote_table(Quoting::Always, table);
    let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {quoted}"))
        .fetch_one(&pool)
        .await
        .with_context(|| format!("counting the rows of {table}"))?;
    if drop {
        sqlx::query(&format!("DROP TABLE {quoted}"))
            .execute(&pool)
            .await
            .with_context(|| format!("dropping {table}"))?;
    }
    pool.close().await;
    Ok(rows)
}

/// Writes `lines` lines of `bytes` letters each to `path`, with a
/// progress bar.
fn write_lines(path: &Path, lines: u64, bytes: usize, quiet: bool) -> Result<u64> {
    let payloads = Payloads::new(bytes);
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(lines).with_style(
            ProgressStyle::with_template("writing {bar:40} {pos}/{len} lines {per_sec} eta {eta}")
                .expect("static progress template is valid"),
        )
    };
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    for i in 0..lines {
        out.write_all(payloads.get(i))?;
        out.write_all(b"\n")?;
        if i % 10_000 == 0 {
            bar.set_position(i);
        }
    }
    out.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .context("writing the lines")?;
    bar.finish_and_clear();
    Ok(lines * (bytes as u64 + 1))
}

fn file_source(args: &ConnectBenchArgs, run_id: i64, dir: &Path) -> Result<()> {
    if args.guarantee == Guarantee::ExactlyOnce {
        bail!("the file-source bench measures at-least-once delivery only");
    }
    let meta: BaseConsumer = args.client.config_with(&[]).create()?;
    let path = dir.join("lines.txt");
    let file_bytes = write_lines(&path, args.records, args.value_bytes as usize, args.json)?;
    let topic = create_bench_topic(&args.client, "connect-file", args.partitions)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let worker = start_worker(args, &runtime, run_id, dir)?;
    let name = format!("fjord-bench-file-{run_id}");
    let config = Config::from_pairs([
        (
            "connector.class",
            "org.apache.kafka.connect.file.FileStreamSourceConnector".to_string(),
        ),
        ("tasks.max", "1".into()),
        ("file", path.display().to_string()),
        ("topic", topic.clone()),
        ("batch.size", args.file_batch_size.to_string()),
        (
            "key.converter",
            "org.apache.kafka.connect.storage.StringConverter".into(),
        ),
        ("value.converter", args.converter.class().into()),
        ("value.converter.schemas.enable", "true".into()),
    ]);
    if !args.json {
        eprintln!(
            "reading {} lines into {topic}...",
            thousands(args.records as f64)
        );
    }
    let started = Instant::now();
    create_connector(&runtime, &worker, &name, config)?;
    let measured = watch(
        args.records as i64,
        started,
        || Ok(end_offsets(&meta, &topic)?.iter().sum()),
        || check_running(&runtime, &worker, &name),
    );
    runtime.block_on(worker.shutdown());
    let measured = measured?;
    let in_topic: i64 = end_offsets(&meta, &topic)?.iter().sum();
    if !args.keep {
        delete_topics(&args.client, &meta, &[topic.as_str()])?;
    }
    drop(runtime);

    let per_s = measured.per_s();
    if !args.json {
        println!(
            "fjord connect file source ({} converter, batch.size {}, {} partition(s))",
            args.converter.name(),
            args.file_batch_size,
            args.partitions
        );
        println!(
            "  lines            {}  ({} B each, {:.0} MB file)",
            thousands(args.records as f64),
            args.value_bytes,
            file_bytes as f64 / 1e6
        );
        println!("  records in topic {}", thousands(in_topic as f64));
        println!(
            "  timed            {} lines in {:.3} s  (wall from connector creation {:.3} s)",
            thousands(measured.counted() as f64),
            measured.span_s(),
            measured.wall_s
        );
        println!("  lines/s          {}", thousands(per_s));
        println!(
            "  CPU              {:.2} s per million lines (this process)",
            measured.cpu_per_million()
        );
    }
    print_summary(json!({
        "bench": "connect",
        "test": "file-source",
        "records": args.records,
        "value_bytes": args.value_bytes,
        "converter": args.converter.name(),
        "file_batch_size": args.file_batch_size,
        "partitions": args.partitions,
        "records_in_topic": in_topic,
        "timed_records": measured.counted(),
        "timed_s": measured.span_s(),
        "wall_s": measured.wall_s,
        "lines_per_s": per_s.round(),
        "cpu_s_per_million": measured.cpu_per_million(),
    }));
    if in_topic != args.records as i64 {
        bail!(
            "the topic holds {in_topic} records for {} lines",
            args.records
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    #[test]
    fn rows_are_json_with_their_schema_and_the_requested_payload_size() {
        let payloads = Payloads::new(200);
        for i in [0u64, 7, 123_456_789] {
            let value = row_value(&payloads, i, 200);
            let parsed: Json = serde_json::from_str(&value).unwrap();
            assert_eq!(parsed["payload"]["id"], i);
            let payload = value.split_once(r#""payload":"#).unwrap().1;
            assert_eq!(payload.len() - 1, 200, "{payload}");
            assert_eq!(parsed["schema"]["fields"].as_array().unwrap().len(), 4);
        }
    }
}
