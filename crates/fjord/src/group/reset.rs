//! `fjord group reset-offsets GROUP --topic T ...`: compute new committed
//! offsets for a topic's partitions, print the plan, and with `--execute`
//! commit them.
//!
//! As kafka-consumer-groups does, it refuses while the group has members
//! (their own commits would overwrite the reset, and the broker rejects a
//! commit from outside the generation anyway), and keeps every new offset
//! within the partition's [log start, log end] so a consumer never starts
//! at an offset the log does not have.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::util::Timeout;
use serde::Serialize;

use super::{committed, fetch_group, group_consumer, print_json, print_table, OutputFormat};
use crate::client::{self, ClientArgs, REQUEST_TIMEOUT};

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset", "to_timestamp", "shift_by"])
))]
pub struct ResetArgs {
    /// Id of the group whose offsets to reset.
    group: String,
    /// Topic whose committed offsets to reset.
    #[arg(long)]
    topic: String,
    /// Reset only this partition. Repeatable [default: every partition].
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    partition: Vec<i32>,
    /// To the earliest offset still in the log (log start).
    #[arg(long)]
    to_earliest: bool,
    /// To the log end: the group skips everything written so far.
    #[arg(long)]
    to_latest: bool,
    /// To offset N (kept within log start..log end).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    to_offset: Option<i64>,
    /// To the first record with a timestamp at or after MS (milliseconds
    /// since the Unix epoch); the log end when there is none.
    #[arg(long, value_name = "MS")]
    to_timestamp: Option<i64>,
    /// Move each committed offset by N (negative: back), kept within log
    /// start..log end. Every partition needs a committed offset.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
    /// Commit the new offsets. Without it the command only prints the plan.
    #[arg(long)]
    execute: bool,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    #[command(flatten)]
    client: ClientArgs,
}

/// Where the offsets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
    Shift(i64),
}

impl ResetArgs {
    fn target(&self) -> Target {
        if self.to_earliest {
            Target::Earliest
        } else if self.to_latest {
            Target::Latest
        } else if let Some(n) = self.to_offset {
            Target::Offset(n)
        } else if let Some(ms) = self.to_timestamp {
            Target::Timestamp(ms)
        } else if let Some(n) = self.shift_by {
            Target::Shift(n)
        } else {
            // clap requires one of the "target" group.
            unreachable!("no reset target")
        }
    }
}

/// One partition of the plan.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Planned {
    pub topic: String,
    pub partition: i32,
    /// None: nothing committed yet.
    pub current_offset: Option<i64>,
    pub new_offset: i64,
}

impl Planned {
    /// TOPIC, PARTITION, CURRENT-OFFSET ("-": nothing committed) and
    /// NEW-OFFSET, as the plan tables print them.
    pub(crate) fn cells(&self) -> [String; 4] {
        [
            self.topic.clone(),
            self.partition.to_string(),
            self.current_offset
                .map_or_else(|| "-".into(), |c| c.to_string()),
            self.new_offset.to_string(),
        ]
    }
}

#[derive(Serialize)]
struct PlanJson<'a> {
    group: &'a str,
    executed: bool,
    partitions: &'a [Planned],
}

pub fn run(args: ResetArgs) -> Result<()> {
    let consumer = group_consumer(&args.client, &args.group)?;
    // A group the cluster does not know is fine: resetting creates its offsets.
    if let Some(group) = fetch_group(consumer.client(), &args.group)? {
        if group.is_active() {
            bail!(
                "cannot reset offsets of group `{}`: it is {} with {} active member(s); \
                 offsets can be reset only while the group is inactive, so stop its \
                 consumers first",
                args.group,
                group.state,
                group.members.len()
            );
        }
    }

    let plan = plan_topic(
        &consumer,
        &args.group,
        &args.topic,
        &args.partition,
        args.target(),
    )?;

    if args.execute {
        commit(&consumer, &args.group, &plan)?;
    }
    match args.format {
        OutputFormat::Json => print_json(&PlanJson {
            group: &args.group,
            executed: args.execute,
            partitions: &plan,
        })?,
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = plan
                .iter()
                .map(|r| {
                    let mut row = vec![args.group.clone()];
                    row.extend(r.cells());
                    row
                })
                .collect();
            print_table(
                &[
                    "GROUP",
                    "TOPIC",
                    "PARTITION",
                    "CURRENT-OFFSET",
                    "NEW-OFFSET",
                ],
                &rows,
            );
        }
    }
    if args.execute {
        eprintln!("committed the new offsets of group {}", args.group);
    } else {
        eprintln!("dry run: nothing was changed; add --execute to commit these offsets");
    }
    Ok(())
}

/// The new offsets of `topic`'s partitions (`only` them, when given) for
/// `group`, each kept within the log.
pub(crate) fn plan_topic(
    consumer: &BaseConsumer,
    group: &str,
    topic: &str,
    only: &[i32],
    target: Target,
) -> Result<Vec<Planned>> {
    let metadata = client::topic_metadata(consumer.client(), topic)?;
    let existing: BTreeSet<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let partitions = crate::client::select_partitions(topic, existing, only)?;
    let list: Vec<(String, i32)> = partitions.iter().map(|&p| (topic.to_string(), p)).collect();
    let current = committed(consumer, &list)?;
    let by_time = match target {
        Target::Timestamp(ms) => Some(offsets_for_time(consumer, topic, &partitions, ms)?),
        _ => None,
    };
    let mut plan = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Timeout::After(REQUEST_TIMEOUT))
            .with_context(|| format!("cannot list offsets of {topic}-{p}"))?;
        let committed = current.get(&(topic.to_string(), p)).copied().flatten();
        let at_time = by_time
            .as_ref()
            .and_then(|found| found.iter().find(|(fp, _)| *fp == p))
            .and_then(|(_, o)| *o);
        let Some(wanted) = wanted_offset(target, low, high, committed, at_time) else {
            bail!("cannot shift partition {topic}-{p}: group `{group}` has no committed offset for it");
        };
        let new_offset = within_log(wanted, low, high);
        if new_offset != wanted {
            eprintln!("note: {topic}-{p}: offset {wanted} is outside the log ({low}..{high}); using {new_offset}");
        }
        plan.push(Planned {
            topic: topic.to_string(),
            partition: p,
            current_offset: committed,
            new_offset,
        });
    }
    Ok(plan)
}

/// The offset a partition should move to, before it is kept within the log;
/// None for a shift of a partition with nothing committed. `at_time` is the
/// first offset at or after the target timestamp, if any record is that late.
fn wanted_offset(
    target: Target,
    low: i64,
    high: i64,
    committed: Option<i64>,
    at_time: Option<i64>,
) -> Option<i64> {
    Some(match target {
        Target::Earliest => low,
        Target::Latest => high,
        Target::Offset(n) => n,
        // No record that late: the log end, as Kafka does.
        Target::Timestamp(_) => at_time.unwrap_or(high),
        Target::Shift(n) => committed?.saturating_add(n),
    })
}

/// Keeps an offset within [log start, log end], so a consumer resumes at a
/// record the log has (or at the end).
fn within_log(offset: i64, low: i64, high: i64) -> i64 {
    offset.clamp(low, high.max(low))
}

/// The first offset at or after `ms` in each partition (None: no such record).
fn offsets_for_time(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &BTreeSet<i32>,
    ms: i64,
) -> Result<Vec<(i32, Option<i64>)>> {
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition_offset(topic, p, Offset::Offset(ms))?;
    }
    let found = consumer
        .offsets_for_times(tpl, Timeout::After(REQUEST_TIMEOUT))
        .with_context(|| format!("cannot look up offsets of `{topic}` by timestamp"))?;
    found
        .elements()
        .iter()
        .map(|e| {
            if let Err(err) = e.error() {
                bail!(
                    "cannot look up {topic}-{} by timestamp: {err}",
                    e.partition()
                );
            }
            Ok((
                e.partition(),
                match e.offset() {
                    Offset::Offset(n) if n >= 0 => Some(n),
                    _ => None,
                },
            ))
        })
        .collect()
}

/// Commits the plan as a simple commit and reads it back, so a partial
/// failure is reported rather than assumed away.
pub(crate) fn commit(consumer: &BaseConsumer, group: &str, plan: &[Planned]) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    for r in plan {
        tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.new_offset))?;
    }
    consumer.commit(&tpl, CommitMode::Sync).map_err(|err| {
        anyhow::anyhow!(
            "cannot commit offsets of group `{group}`: {err} (a consumer may have joined \
             the group meanwhile)"
        )
    })?;
    let list: Vec<(String, i32)> = plan
        .iter()
        .map(|r| (r.topic.clone(), r.partition))
        .collect();
    let now = committed(consumer, &list)?;
    for r in plan {
        let got = now.get(&(r.topic.clone(), r.partition)).copied().flatten();
        if got != Some(r.new_offset) {
            bail!(
                "committed {}-{} at {} but the group now reports {}",
                r.topic,
                r.partition,
                r.new_offset,
                got.map_or_else(|| "nothing".into(), |o| o.to_string())
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_target_picks_its_offset() {
        let (low, high) = (10, 50);
        let at = |t| wanted_offset(t, low, high, Some(20), Some(33));
        assert_eq!(at(Target::Earliest), Some(10));
        assert_eq!(at(Target::Latest), Some(50));
        assert_eq!(at(Target::Offset(42)), Some(42));
        assert_eq!(at(Target::Timestamp(1)), Some(33));
        assert_eq!(at(Target::Shift(-5)), Some(15));
        assert_eq!(at(Target::Shift(i64::MAX)), Some(i64::MAX));
        // No record at or after the timestamp: the log end.
        assert_eq!(
            wanted_offset(Target::Timestamp(1), low, high, None, None),
            Some(50)
        );
        // Nothing committed: nothing to shift from.
        assert_eq!(wanted_offset(Target::Shift(1), low, high, None, None), None);
        assert_eq!(
            wanted_offset(Target::Latest, low, high, None, None),
            Some(50)
        );
    }

    #[test]
    fn offsets_stay_within_the_log() {
        assert_eq!(within_log(5, 10, 50), 10);
        assert_eq!(within_log(70, 10, 50), 50);
        assert_eq!(within_log(i64::MAX, 10, 50), 50);
        assert_eq!(within_log(30, 10, 50), 30);
        // An empty log whose start passed its end cannot panic clamp.
        assert_eq!(within_log(3, 7, 7), 7);
        assert_eq!(within_log(3, 8, 7), 8);
    }
}
