//! `fjord topic create|list|describe|alter|delete`: topic administration over
//! the Kafka admin APIs (CreateTopics, Metadata, ListOffsets, DescribeConfigs,
//! CreatePartitions, IncrementalAlterConfigs, DeleteTopics), so it works
//! against any Kafka cluster as well as the embedded broker.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigEntry, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use serde::Serialize;

use crate::client::{self, block_on, parse_key_value, ClientArgs, REQUEST_TIMEOUT};
use fjord_kafka_client::{incremental_alter_topic_configs, ConfigChange, KafkaConnection};

/// Arguments of `fjord topic`.
#[derive(Args, Debug)]
pub struct TopicArgs {
    #[command(subcommand)]
    command: TopicCommand,
}

#[derive(Subcommand, Debug)]
enum TopicCommand {
    /// Create a topic (`kafka-topics --create --topic T --partitions 2` is
    /// `fjord topic create T --partitions 2`).
    Create(CreateArgs),
    /// List topic names, one per line.
    List(ListArgs),
    /// Show a topic's partitions (leader, replicas, ISR, watermarks) and configs.
    Describe(DescribeArgs),
    /// Add partitions to a topic or change its configs.
    Alter(AlterArgs),
    /// Delete one or more topics and all their records.
    Delete(DeleteArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Name of the topic to create.
    name: String,
    /// Number of partitions [default: the broker's num.partitions].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: Option<i32>,
    /// Replication factor [default: the broker's default]. The embedded
    /// broker is a single node and accepts only 1.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    replication_factor: Option<i32>,
    /// Topic config, e.g. `--config retention.ms=86400000`. Repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    configs: Vec<(String, String)>,
    /// Succeed without changes when the topic already exists.
    #[arg(long)]
    if_not_exists: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Leave out internal topics (names starting with `__`).
    #[arg(long)]
    exclude_internal: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Output format of `topic describe`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OutputFormat {
    /// Human-readable tables.
    Text,
    /// One JSON object.
    Json,
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// Name of the topic to describe.
    name: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug)]
struct AlterArgs {
    /// Name of the topic to alter.
    name: String,
    /// New total number of partitions (can only grow).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: Option<i32>,
    /// Set a topic config, e.g. `--config retention.ms=3600000`. Repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    configs: Vec<(String, String)>,
    /// Remove a topic config override so the broker default applies. Repeatable.
    #[arg(long = "delete-config", value_name = "KEY")]
    delete_configs: Vec<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// Names of the topics to delete.
    #[arg(required = true)]
    names: Vec<String>,
    /// Succeed for topics that do not exist.
    #[arg(long)]
    if_exists: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `fjord topic ...`.
pub fn run(args: TopicArgs) -> Result<()> {
    match args.command {
        TopicCommand::Create(args) => create(args),
        TopicCommand::List(args) => list(args),
        TopicCommand::Describe(args) => describe(args),
        TopicCommand::Alter(args) => alter(args),
        TopicCommand::Delete(args) => delete(args),
    }
}

fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT))
}

fn create(args: CreateArgs) -> Result<()> {
    let admin = args.client.admin()?;
    // -1 asks the broker for its default (CreateTopics v4+, Kafka 2.4+).
    let mut topic = NewTopic::new(
        &args.name,
        args.partitions.unwrap_or(-1),
        TopicReplication::Fixed(args.replication_factor.unwrap_or(-1)),
    );
    for (key, value) in &args.configs {
        topic = topic.set(key, value);
    }
    let results = block_on(admin.create_topics([&topic], &admin_options()))?
        .with_context(|| format!("cannot create topic `{}`", args.name))?;
    for result in results {
        match result {
            Ok(name) => println!("created topic {name}"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) if args.if_not_exists => {
                println!("topic {name} already exists");
            }
            Err((name, code)) => bail!("cannot create topic `{name}`: {code}"),
        }
    }
    Ok(())
}

fn list(args: ListArgs) -> Result<()> {
    let admin = args.client.admin()?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Timeout::After(client::METADATA_TIMEOUT))
        .context("cannot fetch cluster metadata")?;
    let mut names: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|name| !(args.exclude_internal && name.starts_with("__")))
        .collect();
    names.sort_unstable();
    let mut out = std::io::stdout().lock();
    for name in names {
        match writeln!(out, "{name}") {
            Ok(()) => {}
            // The reader went away (e.g. `| head`): not an error.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(err) => return Err(err).context("cannot write to stdout"),
        }
    }
    Ok(())
}

/// One partition as `describe` shows it (and its JSON form).
#[derive(Serialize)]
struct PartitionInfo {
    #[serde(rename = "partition")]
    id: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    #[serde(rename = "low_watermark")]
    low: i64,
    #[serde(rename = "high_watermark")]
    high: i64,
}

/// One config entry in `describe --format json`.
#[derive(Serialize)]
struct ConfigJson<'a> {
    name: &'a str,
    value: Option<&'a str>,
    /// Where the value comes from: topic, default, static-broker, ...
    source: &'static str,
    /// False when the value is set on the topic itself.
    is_default: bool,
    read_only: bool,
    sensitive: bool,
}

/// The whole `describe --format json` document.
#[derive(Serialize)]
struct DescribeJson<'a> {
    topic: &'a str,
    partitions: &'a [PartitionInfo],
    configs: Vec<ConfigJson<'a>>,
}

fn describe(args: DescribeArgs) -> Result<()> {
    let admin = args.client.admin()?;
    let metadata = client::topic_metadata(admin.inner(), &args.name)?;
    let topic = &metadata.topics()[0];
    let mut partitions = Vec::with_capacity(topic.partitions().len());
    for p in topic.partitions() {
        let (low, high) = admin
            .inner()
            .fetch_watermarks(&args.name, p.id(), Timeout::After(REQUEST_TIMEOUT))
            .with_context(|| format!("cannot list offsets of {}-{}", args.name, p.id()))?;
        partitions.push(PartitionInfo {
            id: p.id(),
            leader: p.leader(),
            replicas: p.replicas().to_vec(),
            isr: p.isr().to_vec(),
            low,
            high,
        });
    }
    partitions.sort_by_key(|p| p.id);
    let configs = describe_configs(&admin, &args.name)?;

    match args.format {
        OutputFormat::Json => print_describe_json(&args.name, &partitions, &configs),
        OutputFormat::Text => print_describe_text(&args.name, &partitions, &configs),
    }
    Ok(())
}

fn describe_configs(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<Vec<ConfigEntry>> {
    let resource = ResourceSpecifier::Topic(topic);
    let mut results = block_on(admin.describe_configs([&resource], &admin_options()))?
        .with_context(|| format!("cannot describe configs of topic `{topic}`"))?;
    let Some(result) = results.pop() else {
        bail!("DescribeConfigs returned no result for topic `{topic}`");
    };
    let mut entries = result
        .map_err(|code| anyhow::anyhow!("cannot describe configs of topic `{topic}`: {code}"))?
        .entries;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Whether a config entry was set on the topic itself rather than inherited.
/// Brokers before Kafka 1.1 report no source; fall back to `is_default`.
fn is_topic_override(entry: &ConfigEntry) -> bool {
    match entry.source {
        ConfigSource::DynamicTopic => true,
        ConfigSource::Unknown => !entry.is_default,
        _ => false,
    }
}

fn source_name(source: &ConfigSource) -> &'static str {
    match source {
        ConfigSource::Unknown => "unknown",
        ConfigSource::DynamicTopic => "topic",
        ConfigSource::DynamicBroker => "dynamic-broker",
        ConfigSource::DynamicDefaultBroker => "dynamic-default-broker",
        ConfigSource::StaticBroker => "static-broker",
        ConfigSource::Default => "default",
    }
}

fn shown_value(entry: &ConfigEntry) -> Option<&str> {
    if entry.is_sensitive {
        Some("(sensitive)")
    } else {
        entry.value.as_deref()
    }
}

fn print_describe_json(name: &str, partitions: &[PartitionInfo], configs: &[ConfigEntry]) {
    let configs = configs
        .iter()
        .map(|c| ConfigJson {
            name: &c.name,
            value: shown_value(c),
            source: source_name(&c.source),
            is_default: !is_topic_override(c),
            read_only: c.is_read_only,
            sensitive: c.is_sensitive,
        })
        .collect();
    let doc = DescribeJson {
        topic: name,
        partitions,
        configs,
    };
    match serde_json::to_string(&doc) {
        Ok(line) => println!("{line}"),
        Err(err) => eprintln!("cannot encode JSON: {err}"),
    }
}

fn print_describe_text(name: &str, partitions: &[PartitionInfo], configs: &[ConfigEntry]) {
    let replication = partitions.first().map_or(0, |p| p.replicas.len());
    println!(
        "Topic: {name}\tPartitions: {}\tReplicationFactor: {replication}",
        partitions.len()
    );
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    println!(
        "  {:>9}  {:>6}  {:>8}  {:>8}  {:>14}  {:>14}",
        "Partition", "Leader", "Replicas", "Isr", "LowWatermark", "HighWatermark"
    );
    for p in partitions {
        println!(
            "  {:>9}  {:>6}  {:>8}  {:>8}  {:>14}  {:>14}",
            p.id,
            p.leader,
            ids(&p.replicas),
            ids(&p.isr),
            p.low,
            p.high
        );
    }
    println!("Configs (* = set on this topic):");
    for c in configs {
        let mark = if is_topic_override(c) { '*' } else { ' ' };
        println!(
            "  {mark} {} = {}  [{}]",
            c.name,
            shown_value(c).unwrap_or("(null)"),
            source_name(&c.source)
        );
    }
}

fn alter(args: AlterArgs) -> Result<()> {
    if args.partitions.is_none() && args.configs.is_empty() && args.delete_configs.is_empty() {
        bail!("nothing to alter: give --partitions, --config or --delete-config");
    }
    if let Some(count) = args.partitions {
        let admin = args.client.admin()?;
        let opts = admin_options();
        let new = NewPartitions::new(&args.name, count as usize);
        let results = block_on(admin.create_partitions([&new], &opts))?
            .with_context(|| format!("cannot add partitions to topic `{}`", args.name))?;
        for result in results {
            if let Err((name, code)) = result {
                bail!("cannot set partition count of `{name}` to {count}: {code}");
            }
        }
        println!("topic {} now has {count} partitions", args.name);
    }

    if !args.configs.is_empty() || !args.delete_configs.is_empty() {
        // IncrementalAlterConfigs changes only the named keys, so concurrent
        // changes to other keys survive (AlterConfigs would replace the whole
        // set). rdkafka 0.39 lacks it; fjord-kafka-client fills the gap.
        let mut changes: Vec<ConfigChange> = args
            .delete_configs
            .iter()
            .map(|key| ConfigChange::Delete(key.clone()))
            .collect();
        for (key, value) in &args.configs {
            if args.delete_configs.contains(key) {
                bail!("`{key}` is given to both --config and --delete-config");
            }
            changes.push(ConfigChange::Set(key.clone(), value.clone()));
        }
        let mut conn = KafkaConnection::connect_with(
            &args.client.bootstrap_servers,
            &args.client.client_config,
            client::METADATA_TIMEOUT,
            REQUEST_TIMEOUT,
        )?;
        incremental_alter_topic_configs(&mut conn, &args.name, &changes)
            .with_context(|| format!("cannot alter configs of topic `{}`", args.name))?;
        println!("updated configs of topic {}", args.name);
    }
    Ok(())
}

fn delete(args: DeleteArgs) -> Result<()> {
    let admin = args.client.admin()?;
    let names: Vec<&str> = args.names.iter().map(String::as_str).collect();
    let results =
        block_on(admin.delete_topics(&names, &admin_options()))?.context("cannot delete topics")?;
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(name) => println!("deleted topic {name}"),
            Err((name, RDKafkaErrorCode::UnknownTopicOrPartition)) if args.if_exists => {
                println!("topic {name} does not exist");
            }
            Err((name, code)) => failures.push(format!("`{name}`: {code}")),
        }
    }
    if !failures.is_empty() {
        bail!("cannot delete {}", failures.join("; "));
    }
    Ok(())
}
