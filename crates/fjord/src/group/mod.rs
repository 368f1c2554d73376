//! `fjord group list|describe|reset-offsets|delete`: consumer group
//! administration over the Kafka protocol, so it works against any Kafka
//! cluster as well as the embedded broker.
//!
//! Everything goes through librdkafka, which has each call this needs:
//! ListGroups + DescribeGroups on every broker (`fetch_group_list`, which
//! also returns each member's assignment bytes), OffsetFetch and OffsetCommit
//! through a consumer that carries the group's id but never joins it
//! (`committed_offsets`, `commit`), ListOffsets (`fetch_watermarks`,
//! `offsets_for_times`) and DeleteGroups. Only the decoding of the consumer
//! protocol's assignment bytes comes from fjord-kafka-client. So `-X` security
//! settings (SASL, TLS) apply to every group command.
//!
//! The consumer never subscribes, so it never becomes a member: it cannot
//! disturb the group it inspects, and its commits are Kafka's "simple"
//! commits (generation -1), which a broker accepts only while the group has
//! no members.

mod describe;
pub(crate) mod reset;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use rdkafka::admin::AdminOptions;
use rdkafka::client::Client;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::groups::GroupInfo;
use serde::Serialize;

use crate::client::{block_on, ClientArgs, METADATA_TIMEOUT, REQUEST_TIMEOUT};
use fjord_kafka_client::decode_consumer_assignment;

/// Arguments of `fjord group`.
#[derive(Args, Debug)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// List consumer groups: id, state and protocol type.
    List(ListArgs),
    /// Show a group's state, members and their assigned partitions, and per
    /// partition the committed offset, log end offset and lag.
    Describe(describe::DescribeArgs),
    /// Move a group's committed offsets of one topic (a dry run that prints
    /// the plan unless --execute). Only while the group has no members.
    ResetOffsets(reset::ResetArgs),
    /// Delete groups and their committed offsets. Only groups without members.
    Delete(DeleteArgs),
}

/// Output format of `group list`, `describe` and `reset-offsets`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Human-readable tables.
    Text,
    /// One JSON document.
    Json,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Show only groups in this state (Empty, Stable, PreparingRebalance,
    /// CompletingRebalance, ...; any case). Repeatable.
    #[arg(long, value_name = "STATE")]
    state: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// Ids of the groups to delete.
    #[arg(required = true, value_name = "GROUP")]
    groups: Vec<String>,
    /// Succeed for groups that do not exist.
    #[arg(long)]
    if_exists: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `fjord group ...`.
pub fn run(args: GroupArgs) -> Result<()> {
    match args.command {
        GroupCommand::List(args) => list(args),
        GroupCommand::Describe(args) => describe::run(args),
        GroupCommand::ResetOffsets(args) => reset::run(args),
        GroupCommand::Delete(args) => delete(args),
    }
}

/// A group as DescribeGroups reports it, with assignments decoded.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    #[serde(rename = "group")]
    pub id: String,
    pub state: String,
    /// "consumer" for Kafka consumers; Connect workers say "connect".
    pub protocol_type: String,
    /// The assignor the members agreed on (range, cooperative-sticky, ...).
    pub protocol: String,
    pub members: Vec<Member>,
}

/// One member of a group.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// Topic partitions assigned to the member, by topic in the order given.
    pub assignment: Vec<TopicAssignment>,
    /// The assignor's user data (sticky assignors keep their state there),
    /// base64; absent when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Why the assignment could not be read (not the consumer protocol, or
    /// malformed); absent when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicAssignment {
    pub topic: String,
    pub partitions: Vec<i32>,
}

impl Group {
    /// Whether the group has members or is between generations; Kafka allows
    /// offsets to be reset only otherwise.
    pub fn is_active(&self) -> bool {
        !self.members.is_empty() || !matches!(self.state.as_str(), "Empty" | "Dead" | "")
    }

    fn from_info(info: &GroupInfo) -> Group {
        let decodes = info.protocol_type() == "consumer" || info.protocol_type().is_empty();
        let members = info
            .members()
            .iter()
            .map(|m| {
                let mut member = Member {
                    member_id: m.id().to_string(),
                    client_id: m.client_id().to_string(),
                    host: m.client_host().to_string(),
                    assignment: Vec::new(),
                    user_data: None,
                    assignment_error: None,
                };
                match m.assignment() {
                    // Between JoinGroup and SyncGroup a member has none yet.
                    None | Some([]) => {}
                    Some(_) if !decodes => {
                        member.assignment_error = Some(format!(
                            "protocol type `{}` is not the consumer protocol",
                            info.protocol_type()
                        ))
                    }
                    Some(bytes) => match decode_consumer_assignment(bytes) {
                        Ok(a) => {
                            member.assignment = a
                                .assigned_partitions
                                .iter()
                                .map(|tp| TopicAssignment {
                                    topic: tp.topic.0.to_string(),
                                    partitions: tp.partitions.clone(),
                                })
                                .collect();
                            member.user_data = a
                                .user_data
                                .filter(|d| !d.is_empty())
                                .map(|d| crate::consume::base64(&d));
                        }
                        Err(e) => member.assignment_error = Some(format!("{e:#}")),
                    },
                }
                member
            })
            .collect();
        Group {
            id: info.name().to_string(),
            state: info.state().to_string(),
            protocol_type: info.protocol_type().to_string(),
            protocol: info.protocol().to_string(),
            members,
        }
    }
}

/// A consumer that carries `group` as its group.id but never joins the
/// group: for OffsetFetch and simple OffsetCommit on the group's behalf.
pub fn group_consumer(client: &ClientArgs, group: &str) -> Result<BaseConsumer> {
    client
        .config_with(&[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("allow.auto.create.topics", "false"),
        ])
        .create()
        .context("cannot create Kafka consumer (check the -X settings)")
}

/// Fails within METADATA_TIMEOUT when the cluster cannot be reached, where
/// `fetch_group_list` would wait for its whole (longer) timeout.
fn reach_cluster<C: rdkafka::client::ClientContext>(client: &Client<C>) -> Result<()> {
    client
        .fetch_metadata(None, METADATA_TIMEOUT)
        .context("cannot fetch cluster metadata")?;
    Ok(())
}

/// Every group of the cluster (ListGroups on each broker, then DescribeGroups).
fn fetch_groups<C: rdkafka::client::ClientContext>(client: &Client<C>) -> Result<Vec<Group>> {
    reach_cluster(client)?;
    let list = client
        .fetch_group_list(None, REQUEST_TIMEOUT)
        .context("cannot list consumer groups")?;
    let mut groups: Vec<Group> = list.groups().iter().map(Group::from_info).collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(groups)
}

/// One group, or None when the cluster does not know it.
pub fn fetch_group<C: rdkafka::client::ClientContext>(
    client: &Client<C>,
    group: &str,
) -> Result<Option<Group>> {
    reach_cluster(client)?;
    let list = client
        .fetch_group_list(Some(group), REQUEST_TIMEOUT)
        .with_context(|| format!("cannot describe consumer group `{group}`"))?;
    Ok(list
        .groups()
        .iter()
        .find(|g| g.name() == group)
        .map(Group::from_info)
        // Kafka describes a group that has just gone as Dead.
        .filter(|g| g.state != "Dead"))
}

/// Prints rows under a header, columns padded to their widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:w$}  "));
            }
        }
        println!("{out}");
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Writes a JSON document on one line.
pub fn print_json<T: Serialize>(doc: &T) -> Result<()> {
    let line = serde_json::to_string(doc).context("cannot encode JSON")?;
    println!("{line}");
    Ok(())
}

fn list(args: ListArgs) -> Result<()> {
    let admin = args.client.admin()?;
    let groups: Vec<Group> = fetch_groups(admin.inner())?
        .into_iter()
        .filter(|g| {
            args.state.is_empty() || args.state.iter().any(|s| s.eq_ignore_ascii_case(&g.state))
        })
        .collect();
    match args.format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Listed<'a> {
                group: &'a str,
                state: &'a str,
                protocol_type: &'a str,
            }
            let listed: Vec<Listed> = groups
                .iter()
                .map(|g| Listed {
                    group: &g.id,
                    state: &g.state,
                    protocol_type: &g.protocol_type,
                })
                .collect();
            print_json(&listed)
        }
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| vec![g.id.clone(), g.state.clone(), g.protocol_type.clone()])
                .collect();
            print_table(&["GROUP", "STATE", "PROTOCOL-TYPE"], &rows);
            Ok(())
        }
    }
}

fn delete(args: DeleteArgs) -> Result<()> {
    let admin = args.client.admin()?;
    let ids: Vec<&str> = args.groups.iter().map(String::as_str).collect();
    let opts = AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT));
    let results = block_on(admin.delete_groups(&ids, &opts))?.context("cannot delete groups")?;
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(id) => println!("deleted group {id}"),
            Err((id, RDKafkaErrorCode::GroupIdNotFound)) if args.if_exists => {
                println!("group {id} does not exist");
            }
            Err((id, RDKafkaErrorCode::GroupIdNotFound)) => {
                failures.push(format!("group `{id}`: it does not exist"))
            }
            Err((id, RDKafkaErrorCode::NonEmptyGroup)) => failures.push(format!(
                "group `{id}`: it is not empty; stop its consumers (or wait for their \
                 session timeout) and try again"
            )),
            Err((id, code)) => failures.push(format!("group `{id}`: {code}")),
        }
    }
    match failures.len() {
        0 => Ok(()),
        _ => bail!("cannot delete {}", failures.join("; ")),
    }
}

/// The lag of a partition: how far the committed offset is behind the end.
pub fn lag(committed: Option<i64>, end: i64) -> Option<i64> {
    committed.map(|c| (end - c).max(0))
}

/// Reads the group's committed offsets of the given partitions
/// (None: nothing committed).
pub fn committed(
    consumer: &BaseConsumer,
    partitions: &[(String, i32)],
) -> Result<std::collections::BTreeMap<(String, i32), Option<i64>>> {
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let mut tpl = TopicPartitionList::new();
    for (topic, p) in partitions {
        tpl.add_partition(topic, *p);
    }
    let fetched = consumer
        .committed_offsets(tpl, REQUEST_TIMEOUT)
        .context("cannot fetch committed offsets (OffsetFetch)")?;
    let mut out = std::collections::BTreeMap::new();
    for e in fetched.elements() {
        if let Err(err) = e.error() {
            bail!(
                "cannot fetch the committed offset of {}-{}: {err}",
                e.topic(),
                e.partition()
            );
        }
        let offset = match e.offset() {
            Offset::Offset(n) if n >= 0 => Some(n),
            _ => None,
        };
        out.insert((e.topic().to_string(), e.partition()), offset);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_end_minus_committed_and_never_negative() {
        assert_eq!(lag(Some(3), 10), Some(7));
        assert_eq!(lag(Some(10), 10), Some(0));
        // Committed past the end (the log was truncated): no negative lag.
        assert_eq!(lag(Some(12), 10), Some(0));
        assert_eq!(lag(None, 10), None);
    }
}
