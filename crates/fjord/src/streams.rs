//! `fjord streams describe|reset --application-id ID`: a stream processing
//! application (crates/streams) seen and reset from anywhere, over the
//! Kafka protocol only.
//!
//! - describe: each task as its instance last reported it in the topic
//!   `<application-id>-status` (instance, host, stream time, records
//!   processed, late records, dead letters, store sizes, how long ago), and
//!   its lag from the application group's committed offsets.
//! - reset (Kafka's kafka-streams-application-reset): while no instance
//!   runs, moves the group's committed offsets of its input topics (to the
//!   earliest, an offset, a time) and deletes its internal topics (store
//!   changelogs, the status topic), so the next start recomputes everything
//!   from there, late data included. A dry run unless `--execute`.

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::util::Timeout;
use serde::Serialize;

use crate::client::{self, ClientArgs, REQUEST_TIMEOUT};
use crate::group::reset::{self, Planned, Target};
use crate::group::{fetch_group, group_consumer, print_json, print_table, OutputFormat};

/// `--guarantee` of the commands that run a stream processing
/// application (Kafka Streams' processing.guarantee).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GuaranteeArg {
    /// A crash may repeat outputs since the last commit, never lose them.
    #[default]
    AtLeastOnce,
    /// Outputs, state and input offsets commit in one transaction:
    /// read_committed readers see every output once.
    ExactlyOnce,
}

impl GuaranteeArg {
    pub fn engine(self) -> fjord_streams::ProcessingGuarantee {
        match self {
            GuaranteeArg::AtLeastOnce => fjord_streams::ProcessingGuarantee::AtLeastOnce,
            GuaranteeArg::ExactlyOnce => fjord_streams::ProcessingGuarantee::ExactlyOnce,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GuaranteeArg::AtLeastOnce => "at-least-once",
            GuaranteeArg::ExactlyOnce => "exactly-once",
        }
    }
}

#[derive(Args, Debug)]
pub struct StreamsArgs {
    #[command(subcommand)]
    command: StreamsCommand,
}

#[derive(Subcommand, Debug)]
enum StreamsCommand {
    /// Tasks of an application: instance, stream time, lag, late records,
    /// dead letters, store sizes.
    Describe(DescribeArgs),
    /// Re-read an application's input from the beginning, an offset or a
    /// time, clearing its state (its instances must be stopped).
    Reset(ResetArgs),
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// The application (its consumer group).
    #[arg(long)]
    application_id: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_offset", "to_timestamp", "to_datetime"])
))]
struct ResetArgs {
    /// The application (its consumer group).
    #[arg(long)]
    application_id: String,
    /// An input topic to reset. Repeatable [default: every topic the
    /// application has committed offsets for].
    #[arg(long)]
    input_topic: Vec<String>,
    /// From the earliest offset still in the log.
    #[arg(long)]
    to_earliest: bool,
    /// From offset N of every partition (kept within the log).
    #[arg(long, value_name = "N")]
    to_offset: Option<i64>,
    /// From the first record at or after MS (epoch milliseconds).
    #[arg(long, value_name = "MS")]
    to_timestamp: Option<i64>,
    /// From the first record at or after this time (RFC 3339, e.g.
    /// 2026-12-03T10:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    to_datetime: Option<String>,
    /// Do it. Without it the command prints what it would do.
    #[arg(long)]
    execute: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn run(args: StreamsArgs) -> Result<()> {
    match args.command {
        StreamsCommand::Describe(a) => describe(a),
        StreamsCommand::Reset(a) => reset_application(a),
    }
}

#[derive(Serialize)]
struct TaskJson {
    task: i32,
    member_id: Option<String>,
    host: Option<String>,
    stream_time: Option<i64>,
    lag: Option<i64>,
    processed: Option<u64>,
    late: Option<u64>,
    dead_letters: Option<u64>,
    stores: Vec<(String, usize)>,
    /// The changelog records its instance restored, and in how long.
    restore: Option<fjord_streams::runtime::status::Restore>,
    updated_ms: Option<i64>,
}

fn describe(a: DescribeArgs) -> Result<()> {
    let consumer = group_consumer(&a.client, &a.application_id)?;
    let group = fetch_group(consumer.client(), &a.application_id)?;
    let tasks = fjord_streams::runtime::admin::describe(
        &a.client.bootstrap_servers,
        &a.client.client_config,
        &a.application_id,
    )
    .with_context(|| format!("cannot describe application `{}`", a.application_id))?;
    if tasks.is_empty() && group.is_none() {
        bail!(
            "no application `{}`: no status, no committed offsets, no group",
            a.application_id
        );
    }
    let rows: Vec<TaskJson> = tasks
        .into_iter()
        .map(|t| {
            let s = t.status;
            TaskJson {
                task: t.task,
                member_id: s.as_ref().map(|s| s.member_id.clone()),
                host: s.as_ref().map(|s| s.host.clone()),
                stream_time: s.as_ref().and_then(|s| s.stream_time),
                lag: t.lag,
                processed: s.as_ref().map(|s| s.processed),
                late: s.as_ref().map(|s| s.late),
                dead_letters: s.as_ref().map(|s| s.dead_letters),
                stores: s.as_ref().map(|s| s.stores.clone()).unwrap_or_default(),
                restore: s.as_ref().map(|s| s.restore),
                updated_ms: s.as_ref().map(|s| s.updated_ms),
            }
        })
        .collect();
    match a.format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "application_id": a.application_id,
            "state": group.as_ref().map(|g| g.state.clone()),
            "instances": group.as_ref().map_or(0, |g| g.members.len()),
            "tasks": rows,
        })),
        OutputFormat::Text => {
            match &group {
                Some(g) => println!(
                    "application {}: group {} with {} instance(s)",
                    a.application_id,
                    g.state,
                    g.members.len()
                ),
                None => println!("application {}: no group", a.application_id),
            }
            let now = fjord_auction::time::now_ms();
            let dash = || "-".to_string();
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.task.to_string(),
                        r.member_id.clone().unwrap_or_else(dash),
                        r.host
                            .clone()
                            .filter(|h| !h.is_empty())
                            .unwrap_or_else(dash),
                        r.stream_time
                            .map_or_else(dash, fjord_auction::time::rfc3339),
                        r.lag.map_or_else(dash, |l| l.to_string()),
                        r.processed.map_or_else(dash, |n| n.to_string()),
                        r.late.map_or_else(dash, |n| n.to_string()),
                        r.dead_letters.map_or_else(dash, |n| n.to_string()),
                        r.stores
                            .iter()
                            .map(|(s, n)| format!("{s}={n}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                        r.restore.filter(|r| r.records > 0).map_or_else(dash, |r| {
                            format!("{} in {:.1}s", r.records, r.ms as f64 / 1000.0)
                        }),
                        r.updated_ms
                            .map_or_else(dash, |t| format!("{}s ago", (now - t).max(0) / 1000)),
                    ]
                })
                .collect();
            print_table(
                &[
                    "TASK",
                    "INSTANCE",
                    "HOST",
                    "STREAM-TIME",
                    "LAG",
                    "PROCESSED",
                    "LATE",
                    "DLQ",
                    "STORES",
                    "RESTORED",
                    "REPORTED",
                ],
                &table,
            );
            Ok(())
        }
    }
}

fn reset_application(a: ResetArgs) -> Result<()> {
    let app = &a.application_id;
    let consumer = group_consumer(&a.client, app)?;
    if let Some(g) = fetch_group(consumer.client(), app)? {
        if g.is_active() {
            bail!(
                "cannot reset application `{app}`: its group is {} with {} running instance(s); \
                 stop every instance first",
                g.state,
                g.members.len()
            );
        }
    }
    let target = match (a.to_earliest, a.to_offset, a.to_timestamp, &a.to_datetime) {
        (true, ..) => Target::Earliest,
        (_, Some(n), ..) => Target::Offset(n),
        (_, _, Some(ms), _) => Target::Timestamp(ms),
        (_, _, _, Some(text)) => Target::Timestamp(
            fjord_auction::time::parse_rfc3339(text)
                .with_context(|| format!("--to-datetime {text}: not an RFC 3339 time"))?,
        ),
        _ => unreachable!("clap requires a target"),
    };
    let inputs = if a.input_topic.is_empty() {
        fjord_streams::runtime::admin::committed_topics(
            &a.client.bootstrap_servers,
            &a.client.client_config,
            app,
        )?
    } else {
        a.input_topic.clone()
    };
    let internal = internal_topics(&consumer, app)?;
    let inputs: Vec<String> = inputs
        .into_iter()
        .filter(|t| !internal.contains(t))
        .collect();
    let mut plan: Vec<Planned> = Vec::new();
    for topic in &inputs {
        plan.extend(reset::plan_topic(&consumer, app, topic, &[], target)?);
    }
    if a.execute {
        if !plan.is_empty() {
            reset::commit(&consumer, app, &plan)?;
        }
        delete_topics(&a.client, &internal)?;
    }
    match a.format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "application_id": app,
            "executed": a.execute,
            "partitions": plan,
            "deleted_topics": internal,
        }))?,
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = plan.iter().map(|p| p.cells().to_vec()).collect();
            print_table(
                &["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"],
                &rows,
            );
            for t in &internal {
                println!(
                    "internal topic {t}: {}",
                    if a.execute { "deleted" } else { "to delete" }
                );
            }
        }
    }
    if a.execute {
        eprintln!("reset application {app}: its instances start over from these offsets with empty stores");
    } else {
        eprintln!("dry run: nothing was changed; add --execute to reset");
    }
    Ok(())
}

/// The application's internal topics: store changelogs, repartition
/// topics and its status topic.
fn internal_topics(consumer: &rdkafka::consumer::BaseConsumer, app: &str) -> Result<Vec<String>> {
    let md = consumer
        .fetch_metadata(None, Timeout::After(REQUEST_TIMEOUT))
        .context("cannot list topics")?;
    let prefix = format!("{app}-");
    let status = fjord_streams::runtime::status::status_topic(app);
    Ok(md
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| {
            *n == status
                || (n.starts_with(&prefix)
                    && (n.ends_with("-changelog") || n.ends_with("-repartition")))
        })
        .collect())
}

fn delete_topics(args: &ClientArgs, topics: &[String]) -> Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = args
        .config_with(&[])
        .create()
        .context("cannot create the admin client")?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let results = client::block_on(admin.delete_topics(&names, &AdminOptions::new()))?
        .context("cannot delete the internal topics")?;
    for r in results {
        if let Err((name, code)) = r {
            bail!("cannot delete internal topic {name}: {code}");
        }
    }
    Ok(())
}
