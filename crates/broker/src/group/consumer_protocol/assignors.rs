//! The broker-side assignors of the consumer protocol (KIP-848): given each
//! member's subscription and the partition count of every subscribed topic,
//! the target assignment of every member.
//!
//! - `uniform` (Kafka's default): every member gets as many partitions as
//!   the others, within one, among the partitions it subscribes to; sticky:
//!   a partition stays with its previous target owner unless balance needs
//!   it elsewhere, so a rebalance moves as little as it can.
//! - `range`: per topic, the members subscribed to it, in member-id order,
//!   take consecutive ranges of its partitions; the first `count % members`
//!   members take one more.
//!
//! Pure functions: no clock, no I/O, deterministic for the same input.

use std::collections::{BTreeMap, BTreeSet};

use super::Assignment;

/// The assignor names clients may ask for (`group.remote.assignor`).
pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";
/// Kafka's default: the first of group.consumer.assignors.
pub const DEFAULT: &str = UNIFORM;

pub fn is_known(name: &str) -> bool {
    name == UNIFORM || name == RANGE
}

/// One member's input: the topics it subscribes to.
pub struct MemberSpec<'a> {
    pub id: &'a str,
    pub topics: &'a BTreeSet<String>,
}

/// Computes the target assignment. `partitions` holds the partition count
/// of each subscribed topic that exists; `previous` is the last target
/// (uniform keeps what it can of it).
pub fn assign(
    assignor: &str,
    members: &[MemberSpec<'_>],
    partitions: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    if assignor == RANGE {
        range(members, partitions)
    } else {
        uniform(members, partitions, previous)
    }
}

fn range(
    members: &[MemberSpec<'_>],
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut subscribed: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.id)
            .collect();
        if subscribed.is_empty() || count <= 0 {
            continue;
        }
        subscribed.sort_unstable();
        let n = subscribed.len() as i32;
        let (per, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, id) in subscribed.iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            if take > 0 {
                let set = out
                    .get_mut(*id)
                    .expect("every member has an entry")
                    .entry(topic.clone())
                    .or_default();
                set.extend(next..next + take);
            }
            next += take;
        }
    }
    out
}

fn uniform(
    members: &[MemberSpec<'_>],
    partitions: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let eligible = |id: &str, topic: &str| {
        members
            .iter()
            .any(|m| m.id == id && m.topics.contains(topic))
    };
    // partition -> owner, starting from the previous target where it is
    // still valid.
    let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
    let mut count: BTreeMap<String, usize> =
        members.iter().map(|m| (m.id.to_string(), 0)).collect();
    for (id, a) in previous {
        if !count.contains_key(id) {
            continue;
        }
        for (topic, parts) in a {
            let Some(&n) = partitions.get(topic) else {
                continue;
            };
            if !eligible(id, topic) {
                continue;
            }
            for &p in parts.iter().filter(|&&p| p < n) {
                owner.insert((topic.clone(), p), id.clone());
                *count.get_mut(id).expect("checked") += 1;
            }
        }
    }
    // Every unowned partition goes to the eligible member with the fewest.
    for (topic, &n) in partitions {
        for p in 0..n {
            if owner.contains_key(&(topic.clone(), p)) {
                continue;
            }
            let best = members
                .iter()
                .filter(|m| m.topics.contains(topic))
                .min_by_key(|m| (count[m.id], m.id));
            if let Some(m) = best {
                owner.insert((topic.clone(), p), m.id.to_string());
                *count.get_mut(m.id).expect("member") += 1;
            }
        }
    }
    // Balance: move a partition from a member with more to an eligible one
    // with at least two fewer, until no such move exists. Each move lowers
    // the sum of squared counts, so this ends.
    loop {
        let mut moved = false;
        let keys: Vec<(String, i32)> = owner.keys().cloned().collect();
        // Take from the fullest members first.
        let mut by_load: Vec<&(String, i32)> = keys.iter().collect();
        by_load.sort_by_key(|k| std::cmp::Reverse(count[&owner[*k]]));
        for key in by_load {
            let from = owner[key].clone();
            let target = members
                .iter()
                .filter(|m| m.topics.contains(&key.0) && count[m.id] + 1 < count[&from])
                .min_by_key(|m| (count[m.id], m.id));
            if let Some(to) = target {
                *count.get_mut(&from).expect("owner") -= 1;
                *count.get_mut(to.id).expect("member") += 1;
                owner.insert(key.clone(), to.id.to_string());
                moved = true;
                break;
            }
        }
        if !moved {
            break;
        }
    }
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for ((topic, p), id) in owner {
        out.get_mut(&id)
            .expect("owners are members")
            .entry(topic)
            .or_default()
            .insert(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn sizes(a: &BTreeMap<String, Assignment>) -> Vec<usize> {
        a.values()
            .map(|m| m.values().map(BTreeSet::len).sum())
            .collect()
    }

    #[test]
    fn range_splits_each_topic_in_member_order() {
        let t = topics(&["t"]);
        let members = [
            MemberSpec {
                id: "b",
                topics: &t,
            },
            MemberSpec {
                id: "a",
                topics: &t,
            },
        ];
        let parts = BTreeMap::from([("t".to_string(), 5)]);
        let out = assign(RANGE, &members, &parts, &BTreeMap::new());
        assert_eq!(out["a"]["t"], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"]["t"], BTreeSet::from([3, 4]));
    }

    #[test]
    fn uniform_balances_and_covers_everything() {
        let t = topics(&["t", "u"]);
        let members = [
            MemberSpec {
                id: "a",
                topics: &t,
            },
            MemberSpec {
                id: "b",
                topics: &t,
            },
            MemberSpec {
                id: "c",
                topics: &t,
            },
        ];
        let parts = BTreeMap::from([("t".to_string(), 4), ("u".to_string(), 3)]);
        let out = assign(UNIFORM, &members, &parts, &BTreeMap::new());
        let mut s = sizes(&out);
        s.sort();
        assert_eq!(s, vec![2, 2, 3]);
        let all: usize = s.iter().sum();
        assert_eq!(all, 7);
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins() {
        let t = topics(&["t"]);
        let parts = BTreeMap::from([("t".to_string(), 4)]);
        let one = [MemberSpec {
            id: "a",
            topics: &t,
        }];
        let first = assign(UNIFORM, &one, &parts, &BTreeMap::new());
        assert_eq!(first["a"]["t"].len(), 4);
        let two = [
            MemberSpec {
                id: "a",
                topics: &t,
            },
            MemberSpec {
                id: "b",
                topics: &t,
            },
        ];
        let second = assign(UNIFORM, &two, &parts, &first);
        assert_eq!(second["a"]["t"].len(), 2);
        assert_eq!(second["b"]["t"].len(), 2);
        // "a" kept two of its own; nothing is assigned twice.
        assert!(second["a"]["t"].is_subset(&first["a"]["t"]));
        assert!(second["a"]["t"].is_disjoint(&second["b"]["t"]));
    }

    #[test]
    fn uniform_respects_subscriptions() {
        let t = topics(&["t"]);
        let u = topics(&["u"]);
        let members = [
            MemberSpec {
                id: "a",
                topics: &t,
            },
            MemberSpec {
                id: "b",
                topics: &u,
            },
        ];
        let parts = BTreeMap::from([("t".to_string(), 3), ("u".to_string(), 1)]);
        let out = assign(UNIFORM, &members, &parts, &BTreeMap::new());
        assert_eq!(out["a"]["t"].len(), 3);
        assert_eq!(out["b"]["u"].len(), 1);
        assert!(!out["a"].contains_key("u"));
    }

    #[test]
    fn members_with_nothing_to_subscribe_get_empty_assignments() {
        let none = topics(&[]);
        let members = [MemberSpec {
            id: "a",
            topics: &none,
        }];
        let parts = BTreeMap::new();
        for name in [UNIFORM, RANGE] {
            let out = assign(name, &members, &parts, &BTreeMap::new());
            assert!(out["a"].is_empty());
        }
    }
}
