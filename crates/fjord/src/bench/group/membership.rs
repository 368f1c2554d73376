//! Who owns which partition, as the members' rebalance callbacks say,
//! and when a group counts as settled (see the parent module's docs).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

use super::SETTLE_LIMIT;

/// Every member's partitions as its rebalance callbacks report them.
#[derive(Default)]
pub(super) struct Table {
    members: Mutex<BTreeMap<usize, Seen>>,
    changed: Condvar,
}

/// What one member's callbacks said.
#[derive(Default, Debug)]
pub(super) struct Seen {
    partitions: BTreeSet<i32>,
    /// When the latest Assign callback returned (the assignment in force).
    pub(super) assigned_at: Option<Instant>,
    /// When the latest callback of either kind ran.
    changed_at: Option<Instant>,
}

impl Table {
    pub(super) fn lock(&self) -> MutexGuard<'_, BTreeMap<usize, Seen>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, member: usize, assigned: bool, change: impl FnOnce(&mut BTreeSet<i32>)) {
        let now = Instant::now();
        let mut members = self.lock();
        let seen = members.entry(member).or_default();
        change(&mut seen.partitions);
        seen.changed_at = Some(now);
        if assigned {
            seen.assigned_at = Some(now);
        }
        drop(members);
        self.changed.notify_all();
    }

    /// Waits until `active` own every partition evenly, and returns how long
    /// after `since` the last callback that brought that about ran.
    pub(super) fn wait_settled(
        &self,
        active: &[usize],
        partitions: i32,
        since: Instant,
        eager: bool,
    ) -> Result<Duration> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        let mut members = self.lock();
        loop {
            if let Some(end) = settled(&members, active, partitions, since, eager) {
                return Ok(end.saturating_duration_since(since));
            }
            let now = Instant::now();
            if now >= deadline {
                let owned: BTreeMap<usize, &BTreeSet<i32>> = active
                    .iter()
                    .map(|m| (*m, members.get(m).map(|s| &s.partitions)))
                    .filter_map(|(m, p)| p.map(|p| (m, p)))
                    .collect();
                bail!("the group did not settle within {SETTLE_LIMIT:?}; partitions by member: {owned:?}");
            }
            members = self
                .changed
                .wait_timeout(members, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The time of the last callback, if `active` own `0..partitions` exactly
/// once and evenly, and (when `eager`) each was assigned at or after `since`.
fn settled(
    members: &BTreeMap<usize, Seen>,
    active: &[usize],
    partitions: i32,
    since: Instant,
    eager: bool,
) -> Option<Instant> {
    let mut owned = BTreeSet::new();
    let (mut fewest, mut most) = (usize::MAX, 0);
    let mut end = since;
    for member in active {
        let seen = members.get(member)?;
        if eager && seen.assigned_at.is_none_or(|t| t < since) {
            return None;
        }
        for p in &seen.partitions {
            if !owned.insert(*p) {
                return None;
            }
        }
        fewest = fewest.min(seen.partitions.len());
        most = most.max(seen.partitions.len());
        end = end.max(seen.changed_at.unwrap_or(since));
    }
    let complete = owned.len() == partitions as usize && owned.iter().all(|&p| p < partitions);
    (complete && most - fewest <= 1).then_some(end)
}

/// The consumer context of every member: records its callbacks in the
/// table, and optionally pauses what it is given.
pub(super) struct Tracked {
    table: Arc<Table>,
    member: usize,
    /// Pause partitions as they are assigned: in a throughput run nobody
    /// reads until the whole group has its partitions.
    pause: bool,
}

impl Tracked {
    pub(super) fn new(table: &Arc<Table>, member: usize, pause: bool) -> Tracked {
        Tracked {
            table: Arc::clone(table),
            member,
            pause,
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> impl Iterator<Item = i32> + '_ {
    tpl.elements().into_iter().map(|e| e.partition())
}

impl ClientContext for Tracked {}

impl ConsumerContext for Tracked {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let gone: Vec<i32> = partitions(tpl).collect();
            self.table.update(self.member, false, |owned| {
                for p in gone {
                    owned.remove(&p);
                }
            });
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            // Eager: the whole new assignment, after a revoke of the old one;
            // cooperative: the partitions added. Either way they add up.
            Rebalance::Assign(tpl) => {
                if self.pause {
                    if let Err(err) = consumer.pause(tpl) {
                        eprintln!("warning: member {}: pause: {err}", self.member);
                    }
                }
                let added: Vec<i32> = partitions(tpl).collect();
                self.table
                    .update(self.member, true, |owned| owned.extend(added));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(err) => {
                eprintln!("warning: member {}: rebalance error: {err}", self.member)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(partitions: &[i32], assigned_at: Option<Instant>) -> Seen {
        Seen {
            partitions: partitions.iter().copied().collect(),
            assigned_at,
            changed_at: assigned_at,
        }
    }

    #[test]
    fn settled_needs_every_partition_once_and_evenly() {
        let before = Instant::now();
        let since = before + Duration::from_millis(5);
        let after = since + Duration::from_millis(7);
        let members = BTreeMap::from([
            (0, seen(&[0, 1], Some(after))),
            (1, seen(&[2], Some(since))),
            (2, seen(&[3, 4], Some(before))),
        ]);
        // Covered, even: settled at the last callback.
        assert_eq!(settled(&members, &[0, 1, 2], 5, since, false), Some(after));
        // Eager: member 2 has not been given a new assignment yet.
        assert_eq!(settled(&members, &[0, 1, 2], 5, since, true), None);
        // A partition nobody owns.
        assert_eq!(settled(&members, &[0, 1], 5, since, false), None);
        // Uneven: a newcomer with nothing while another holds two.
        let mut joined = members;
        joined.insert(3, seen(&[], Some(after)));
        assert_eq!(settled(&joined, &[0, 1, 2, 3], 5, since, false), None);
        // Owned twice.
        joined.insert(3, seen(&[4], Some(after)));
        assert_eq!(settled(&joined, &[0, 1, 2, 3], 5, since, false), None);
        // A member not heard from yet.
        assert_eq!(settled(&joined, &[0, 1, 9], 5, since, false), None);
    }
}
