//! `fjord group describe GROUP`: the group's state and members with their
//! assignments, and per partition the committed offset, log end offset and
//! lag — the partitions the group has committed offsets for, plus those
//! assigned to a member that has not committed yet.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::consumer::Consumer;
use rdkafka::util::Timeout;
use serde::Serialize;

use super::OutputFormat;
use super::{committed, fetch_group, group_consumer, lag, print_json, print_table, Group, Member};
use crate::client::{ClientArgs, METADATA_TIMEOUT, REQUEST_TIMEOUT};

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// Id of the group to describe.
    group: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    client: ClientArgs,
}

/// One partition's row of the offsets table.
#[derive(Serialize)]
struct PartitionRow {
    topic: String,
    partition: i32,
    /// None: the group has committed nothing for this partition.
    committed_offset: Option<i64>,
    /// None: the partition's offsets could not be listed (see stderr).
    log_end_offset: Option<i64>,
    lag: Option<i64>,
    /// The member the partition is assigned to, if any.
    member_id: Option<String>,
    client_id: Option<String>,
    host: Option<String>,
}

#[derive(Serialize)]
struct DescribeJson<'a> {
    #[serde(flatten)]
    group: &'a Group,
    offsets: &'a [PartitionRow],
}

pub fn run(args: DescribeArgs) -> Result<()> {
    let consumer = group_consumer(&args.client, &args.group)?;
    let Some(group) = fetch_group(consumer.client(), &args.group)? else {
        bail!("consumer group `{}` does not exist", args.group);
    };

    // OffsetFetch needs the partitions named (librdkafka cannot ask for
    // "all"), so ask for every partition of every user topic in one request.
    let metadata = consumer
        .fetch_metadata(None, Timeout::After(METADATA_TIMEOUT))
        .context("cannot fetch cluster metadata")?;
    let mut partitions: BTreeSet<(String, i32)> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
        .flat_map(|t| {
            t.partitions()
                .iter()
                .map(|p| (t.name().to_string(), p.id()))
        })
        .collect();
    let mut owner: BTreeMap<(String, i32), &Member> = BTreeMap::new();
    for member in &group.members {
        for ta in &member.assignment {
            for &p in &ta.partitions {
                owner.insert((ta.topic.clone(), p), member);
                partitions.insert((ta.topic.clone(), p));
            }
        }
    }
    let partitions: Vec<(String, i32)> = partitions.into_iter().collect();
    let committed = if partitions.is_empty() {
        BTreeMap::new()
    } else {
        committed(&consumer, &partitions)?
    };

    let mut rows = Vec::new();
    for ((topic, partition), offset) in committed {
        let member = owner.get(&(topic.clone(), partition)).copied();
        if offset.is_none() && member.is_none() {
            continue;
        }
        let end =
            match consumer.fetch_watermarks(&topic, partition, Timeout::After(REQUEST_TIMEOUT)) {
                Ok((_, high)) => Some(high),
                Err(err) => {
                    eprintln!("warning: cannot list offsets of {topic}-{partition}: {err}");
                    None
                }
            };
        rows.push(PartitionRow {
            lag: end.and_then(|end| lag(offset, end)),
            topic,
            partition,
            committed_offset: offset,
            log_end_offset: end,
            member_id: member.map(|m| m.member_id.clone()),
            client_id: member.map(|m| m.client_id.clone()),
            host: member.map(|m| m.host.clone()),
        });
    }

    match args.format {
        OutputFormat::Json => print_json(&DescribeJson {
            group: &group,
            offsets: &rows,
        }),
        OutputFormat::Text => {
            print_text(&group, &rows);
            Ok(())
        }
    }
}

fn print_text(group: &Group, rows: &[PartitionRow]) {
    let protocol = match (group.protocol_type.as_str(), group.protocol.as_str()) {
        ("", "") => "-".to_string(),
        (kind, "") => kind.to_string(),
        (kind, assignor) => format!("{kind} ({assignor})"),
    };
    println!("Group: {}", group.id);
    println!(
        "State: {}\tProtocol: {protocol}\tMembers: {}",
        group.state,
        group.members.len()
    );
    println!();
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let num = |v: Option<i64>| v.map_or_else(|| "-".into(), |n| n.to_string());
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.topic.clone(),
                r.partition.to_string(),
                num(r.committed_offset),
                num(r.log_end_offset),
                num(r.lag),
                dash(&r.member_id),
                dash(&r.host),
                dash(&r.client_id),
            ]
        })
        .collect();
    if table.is_empty() {
        println!("No committed offsets and no assigned partitions.");
    } else {
        print_table(
            &[
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
            ],
            &table,
        );
    }
    if group.members.is_empty() {
        return;
    }
    println!();
    let members: Vec<Vec<String>> = group
        .members
        .iter()
        .map(|m| {
            let assignment = match &m.assignment_error {
                Some(err) => format!("(unreadable: {err})"),
                None if m.assignment.is_empty() => "-".to_string(),
                None => m
                    .assignment
                    .iter()
                    .map(|ta| {
                        let ps: Vec<String> = ta.partitions.iter().map(i32::to_string).collect();
                        format!("{}:{}", ta.topic, ps.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            vec![
                m.member_id.clone(),
                m.host.clone(),
                m.client_id.clone(),
                assignment,
            ]
        })
        .collect();
    print_table(
        &["CONSUMER-ID", "HOST", "CLIENT-ID", "ASSIGNMENT"],
        &members,
    );
}
