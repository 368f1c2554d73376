//! How the group's leader spreads connectors and tasks over the workers,
//! incrementally and cooperatively as Kafka Connect's protocol does
//! (KIP-415):
//!
//! - What a live worker runs stays where it is.
//! - New work goes to the least-loaded workers.
//! - Work of a worker that left is held back for
//!   `scheduled.rebalance.max.delay.ms`, in case it comes back (a rolling
//!   restart); the members are told to rejoin when the delay ends, and
//!   then it is reassigned.
//! - When loads differ by more than one, the excess is revoked from the
//!   busiest workers in one round and assigned in the next, so no task
//!   ever runs on two workers at once.
//!
//! Pure: the membership loop feeds it what the members report and what
//! the leader remembers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A unit of work: a connector (`task` None) or one of its tasks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Work {
    pub connector: String,
    pub task: Option<u32>,
}

impl Work {
    pub fn connector(name: &str) -> Work {
        Work {
            connector: name.to_string(),
            task: None,
        }
    }

    pub fn task(name: &str, id: u32) -> Work {
        Work {
            connector: name.to_string(),
            task: Some(id),
        }
    }
}

/// What a member says when it joins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberMetadata {
    /// The member's REST URL (its worker id in statuses).
    pub url: String,
    /// How far it has read the config topic.
    pub config_offset: i64,
    /// What it runs now.
    pub owned: Vec<Work>,
}

/// What the leader hands each member.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Assignment {
    pub leader: String,
    pub leader_url: String,
    /// The config offset the assignment was computed at.
    pub config_offset: i64,
    /// Everything the member should run from now on.
    pub assigned: Vec<Work>,
    /// Rejoin after this many ms (held-back work, or a second round).
    pub rejoin_after_ms: Option<u64>,
}

/// What the leader remembers between rebalances.
#[derive(Debug, Default)]
pub struct LeaderMemory {
    /// Who ran what after the last assignment (by member URL).
    previous: BTreeMap<String, BTreeSet<Work>>,
    /// Work whose worker left, and when that was noticed.
    lost_since: BTreeMap<Work, Instant>,
}

/// Computes every member's assignment. `members` are (member id,
/// metadata); `all_work` is every connector and task that should run.
pub fn assign(
    members: &[(String, MemberMetadata)],
    all_work: &BTreeSet<Work>,
    memory: &mut LeaderMemory,
    max_delay: Duration,
    now: Instant,
) -> BTreeMap<String, (BTreeSet<Work>, Option<u64>)> {
    let live: BTreeSet<&str> = members.iter().map(|(_, m)| m.url.as_str()).collect();
    // Current ownership: what members report, limited to work that still
    // exists; a unit two members claim (should not happen) stays with one.
    let mut owned: BTreeMap<&str, BTreeSet<Work>> = BTreeMap::new();
    let mut placed: BTreeSet<Work> = BTreeSet::new();
    for (_, m) in members {
        let mine = owned.entry(m.url.as_str()).or_default();
        for w in &m.owned {
            if all_work.contains(w) && placed.insert(w.clone()) {
                mine.insert(w.clone());
            }
        }
    }
    // Work that a departed member ran: held back until the delay ends.
    let mut held: BTreeSet<Work> = BTreeSet::new();
    let mut earliest_release: Option<Duration> = None;
    for (url, works) in &memory.previous {
        if live.contains(url.as_str()) {
            continue;
        }
        for w in works {
            if !all_work.contains(w) || placed.contains(w) {
                continue;
            }
            let since = *memory.lost_since.entry(w.clone()).or_insert(now);
            let waited = now.saturating_duration_since(since);
            if waited < max_delay {
                held.insert(w.clone());
                let left = max_delay - waited;
                earliest_release = Some(earliest_release.map_or(left, |e: Duration| e.min(left)));
            }
        }
    }
    memory.lost_since.retain(|w, _| held.contains(w));
    // New (or released) work to the least loaded, connectors and tasks
    // counted alike.
    let unplaced: Vec<Work> = all_work
        .iter()
        .filter(|w| !placed.contains(w) && !held.contains(w))
        .cloned()
        .collect();
    let mut second_round = false;
    if !live.is_empty() {
        for w in unplaced {
            let target = least_loaded(&owned, &live);
            owned.entry(target).or_default().insert(w);
        }
        // Balance: revoke the excess of the busiest; the next round
        // places it.
        let total: usize = owned.values().map(BTreeSet::len).sum();
        let fair_max = total.div_ceil(live.len());
        let min = live
            .iter()
            .map(|u| owned.get(u).map_or(0, BTreeSet::len))
            .min()
            .unwrap_or(0);
        let max = owned.values().map(BTreeSet::len).max().unwrap_or(0);
        if max > min + 1 {
            for works in owned.values_mut() {
                while works.len() > fair_max {
                    let last = works.iter().next_back().cloned().expect("non-empty");
                    works.remove(&last);
                    second_round = true;
                }
            }
        }
    }
    // Remember what live members run, and what departed ones ran that is
    // still held for them: a later rebalance within the delay must keep
    // holding it, not hand it out as new work.
    let mut previous: BTreeMap<String, BTreeSet<Work>> = owned
        .iter()
        .map(|(u, w)| (u.to_string(), w.clone()))
        .collect();
    for (url, works) in &memory.previous {
        if !live.contains(url.as_str()) {
            let kept: BTreeSet<Work> = works.intersection(&held).cloned().collect();
            if !kept.is_empty() {
                previous.insert(url.clone(), kept);
            }
        }
    }
    memory.previous = previous;
    let rejoin = if second_round {
        Some(0)
    } else {
        earliest_release.map(|d| d.as_millis() as u64)
    };
    members
        .iter()
        .map(|(id, m)| {
            (
                id.clone(),
                (
                    owned.get(m.url.as_str()).cloned().unwrap_or_default(),
                    rejoin,
                ),
            )
        })
        .collect()
}

fn least_loaded<'a>(
    owned: &BTreeMap<&'a str, BTreeSet<Work>>,
    live: &BTreeSet<&'a str>,
) -> &'a str {
    live.iter()
        .min_by_key(|u| (owned.get(*u).map_or(0, BTreeSet::len), **u))
        .copied()
        .expect("a live member")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(url: &str, owned: &[Work]) -> (String, MemberMetadata) {
        (
            format!("id-{url}"),
            MemberMetadata {
                url: url.into(),
                config_offset: 0,
                owned: owned.to_vec(),
            },
        )
    }

    fn work(n: u32) -> BTreeSet<Work> {
        let mut all = BTreeSet::from([Work::connector("c")]);
        all.extend((0..n).map(|t| Work::task("c", t)));
        all
    }

    const DELAY: Duration = Duration::from_secs(300);

    #[test]
    fn new_work_is_spread_evenly() {
        let mut memory = LeaderMemory::default();
        let out = assign(
            &[member("a", &[]), member("b", &[])],
            &work(3),
            &mut memory,
            DELAY,
            Instant::now(),
        );
        assert_eq!(out["id-a"].0.len(), 2);
        assert_eq!(out["id-b"].0.len(), 2);
        assert_eq!(out["id-a"].1, None);
    }

    #[test]
    fn a_departed_workers_tasks_wait_for_the_delay_then_move() {
        let mut memory = LeaderMemory::default();
        let t0 = Instant::now();
        let first = assign(
            &[member("a", &[]), member("b", &[])],
            &work(3),
            &mut memory,
            DELAY,
            t0,
        );
        let a_owned: Vec<Work> = first["id-a"].0.iter().cloned().collect();
        // b is gone: its work is held (the delay counts from the rebalance
        // that noticed), and a is told when to rejoin.
        let noticed = t0 + Duration::from_secs(10);
        let second = assign(
            &[member("a", &a_owned)],
            &work(3),
            &mut memory,
            DELAY,
            noticed,
        );
        assert_eq!(second["id-a"].0, a_owned.iter().cloned().collect());
        assert_eq!(second["id-a"].1, Some(300_000));
        let again = assign(
            &[member("a", &a_owned)],
            &work(3),
            &mut memory,
            DELAY,
            noticed + Duration::from_secs(100),
        );
        assert_eq!(again["id-a"].1, Some(200_000));
        // After the delay a takes everything.
        let third = assign(
            &[member("a", &a_owned)],
            &work(3),
            &mut memory,
            DELAY,
            noticed + Duration::from_secs(301),
        );
        assert_eq!(third["id-a"].0, work(3));
        assert_eq!(third["id-a"].1, None);
    }

    #[test]
    fn a_returning_worker_within_the_delay_gets_its_work_back_and_a_new_one_is_balanced_in_two_rounds(
    ) {
        let mut memory = LeaderMemory::default();
        let t0 = Instant::now();
        let all = work(3);
        let everything: Vec<Work> = all.iter().cloned().collect();
        // a ran everything; b joins: excess revoked first, then placed.
        memory.previous.insert("a".into(), all.clone());
        let round1 = assign(
            &[member("a", &everything), member("b", &[])],
            &all,
            &mut memory,
            DELAY,
            t0,
        );
        assert_eq!(round1["id-a"].0.len(), 2);
        assert!(
            round1["id-b"].0.is_empty(),
            "revoked work is not assigned in the same round"
        );
        assert_eq!(round1["id-a"].1, Some(0));
        let a_now: Vec<Work> = round1["id-a"].0.iter().cloned().collect();
        let round2 = assign(
            &[member("a", &a_now), member("b", &[])],
            &all,
            &mut memory,
            DELAY,
            t0,
        );
        assert_eq!(round2["id-a"].0.len(), 2);
        assert_eq!(round2["id-b"].0.len(), 2);
        assert!(round2["id-a"].0.is_disjoint(&round2["id-b"].0));
        assert_eq!(round2["id-b"].1, None);
    }

    #[test]
    fn work_that_no_longer_exists_is_dropped() {
        let mut memory = LeaderMemory::default();
        let stale = [Work::task("gone", 0), Work::task("c", 0)];
        let out = assign(
            &[member("a", &stale)],
            &work(1),
            &mut memory,
            DELAY,
            Instant::now(),
        );
        assert_eq!(out["id-a"].0, work(1));
    }
}
