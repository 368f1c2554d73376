//! The consumer group protocol of KIP-848 (ConsumerGroupHeartbeat,
//! ConsumerGroupDescribe): the broker assigns partitions, and members
//! converge on the assignment one heartbeat at a time.
//!
//! The epochs a reader must keep apart:
//! - the group epoch goes up whenever what the assignment depends on
//!   changes: a member joins or leaves, a subscription changes, a
//!   subscribed topic gains partitions;
//! - the assignment epoch is the group epoch the target assignment was
//!   computed for (it catches up on the next heartbeat);
//! - a member's epoch is the assignment epoch it has reconciled to.
//!
//! Reconciliation (`reconcile`): a member moving to a new target first
//! gives up what it no longer owns (it is told its smaller assignment and
//! stays at its epoch until a heartbeat shows those partitions released),
//! then takes the new partitions that no other member still holds; it
//! reaches the target epoch at that point, and picks up the partitions
//! still held elsewhere on later heartbeats. So a partition is never owned
//! by two members at once.
//!
//! Membership and assignments are written to `__consumer_offsets` as they
//! change (`persist`), as Kafka does: after a broker restart members go on
//! with their epochs and partitions. Committed offsets are persisted as
//! for classic groups.
//!
//! The group lives inside the classic `Group` (its `consumer` field), in
//! the coordinator's one map under one mutex, so a group id is either a
//! classic group or a consumer group and committed offsets are shared code.

pub mod assignors;
mod heartbeat;
mod persist;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::time::Instant;

pub use heartbeat::{
    ConsumerDescription, ConsumerMemberDescription, HeartbeatAnswer, HeartbeatRequest,
};
pub(crate) use persist::{group_tombstones, Touched};

/// Partitions per topic name.
pub type Assignment = BTreeMap<String, BTreeSet<i32>>;

/// Where a member is in reconciling to its target (Kafka's MemberState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns its target (or has nothing to do).
    Stable,
    /// Must release `pending_revocation` before it may move on.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still hold.
    UnreleasedPartitions,
}

pub(crate) struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    /// The epoch before the last bump: a heartbeat whose answer was lost
    /// may still come with it.
    pub previous_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout: Duration,
    pub subscribed: BTreeSet<String>,
    /// The assignor this member asked for, if any.
    pub assignor: Option<String>,
    /// Partitions the member owns now.
    pub assigned: Assignment,
    /// Partitions it was told to give up and has not yet released.
    pub pending_revocation: Assignment,
    /// When the session ends unless a heartbeat extends it.
    pub expires_at: Instant,
    /// Identifies this member's timers: a timer with an older token stops.
    pub timer_token: u64,
    /// Set while partitions wait for revocation: the member is removed if
    /// it has not released them by then (its rebalance timeout).
    pub revoke_deadline: Option<Instant>,
    /// A static member that left with epoch -2: it keeps its assignment
    /// until it rejoins or its session times out.
    pub left_static: bool,
    /// A heartbeat of this member waits for its change to be stored: the
    /// session does not end meanwhile, and restarts with the answer.
    pub awaiting_answer: bool,
}

/// A consumer-protocol group's membership and assignment.
#[derive(Default)]
pub(crate) struct ConsumerGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Target assignment per member id, as of `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// Partition count of each subscribed topic, as the target was
    /// computed for (a change bumps the group epoch).
    pub topic_partitions: BTreeMap<String, i32>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    /// The assignor the last target was computed with.
    pub assignor: String,
    /// What was last written to `__consumer_offsets` (`persist`).
    pub(crate) persisted: persist::Persisted,
}

impl ConsumerGroup {
    /// Kafka's consumer group states, as ConsumerGroupDescribe and
    /// ListGroups name them.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Every topic some member subscribes to.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect()
    }

    /// The assignor to use: the one most members ask for (ties: the
    /// name's order), or the default.
    pub fn choose_assignor(&self) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.assignor.as_deref() {
                *votes.entry(a).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map_or(assignors::DEFAULT.to_string(), |(n, _)| n.to_string())
    }

    /// Recomputes the target assignment for the current group epoch.
    pub fn compute_target(&mut self) {
        self.assignor = self.choose_assignor();
        let specs: Vec<assignors::MemberSpec<'_>> = self
            .members
            .values()
            .map(|m| assignors::MemberSpec {
                id: &m.id,
                topics: &m.subscribed,
            })
            .collect();
        let target =
            assignors::assign(&self.assignor, &specs, &self.topic_partitions, &self.target);
        self.target = target;
        self.assignment_epoch = self.epoch;
    }

    /// Whether a member other than `except` owns or is still revoking the
    /// partition.
    fn held_by_other(&self, except: &str, topic: &str, partition: i32) -> bool {
        self.members.values().filter(|m| m.id != except).any(|m| {
            contains(&m.assigned, topic, partition)
                || contains(&m.pending_revocation, topic, partition)
        })
    }

    /// Moves one member towards its target (Kafka's CurrentAssignmentBuilder).
    /// `owned` is what the member reported owning in this heartbeat, if it
    /// reported it.
    pub fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: Instant) {
        let target_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let Some(m) = self.members.get(member_id) else {
            return;
        };
        match m.state {
            MemberState::UnrevokedPartitions => {
                // Still holding what it must give up: wait.
                let released = owned.is_some_and(|o| disjoint(o, &m.pending_revocation));
                if !released {
                    return;
                }
            }
            MemberState::Stable if m.epoch == target_epoch => return,
            MemberState::Stable | MemberState::UnreleasedPartitions => {}
        }
        let assigned = m.assigned.clone();
        let keep = intersect(&assigned, &target);
        let revoke = subtract(&assigned, &target);
        if !is_empty(&revoke) {
            let m = self.members.get_mut(member_id).expect("present");
            m.assigned = keep;
            m.pending_revocation = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revoke_deadline = Some(now + m.rebalance_timeout);
            return;
        }
        let wanted = subtract(&target, &assigned);
        let mut got = keep;
        let mut all = true;
        for (topic, parts) in &wanted {
            for &p in parts {
                if self.held_by_other(member_id, topic, p) {
                    all = false;
                } else {
                    got.entry(topic.clone()).or_default().insert(p);
                }
            }
        }
        let m = self.members.get_mut(member_id).expect("present");
        m.assigned = got;
        m.pending_revocation = Assignment::new();
        m.revoke_deadline = None;
        if m.epoch != target_epoch {
            m.previous_epoch = m.epoch;
            m.epoch = target_epoch;
        }
        m.state = if all {
            MemberState::Stable
        } else {
            MemberState::UnreleasedPartitions
        };
    }

    /// Removes a member and bumps the group epoch (its partitions go to
    /// the others at the next target).
    pub fn remove_member(&mut self, id: &str) -> Option<ConsumerMember> {
        let m = self.members.remove(id)?;
        // Every instance mapped to this id, not only the member's own: no
        // mapping may outlive its member.
        self.static_members.retain(|_, member| member != id);
        self.target.remove(id);
        self.epoch += 1;
        Some(m)
    }
}

/// A ConsumerProtocolSubscription v0 (topics, no user data): how the
/// classic protocol shows a member's subscription (DescribeGroups).
pub fn encode_subscription(topics: &BTreeSet<String>) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        put_str(&mut b, t);
    }
    b.put_i32(-1);
    b.freeze()
}

/// A ConsumerProtocolAssignment v0 (topic partitions, no user data).
pub fn encode_assignment(a: &Assignment) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    let topics: Vec<_> = a.iter().filter(|(_, p)| !p.is_empty()).collect();
    b.put_i32(topics.len() as i32);
    for (t, parts) in topics {
        put_str(&mut b, t);
        b.put_i32(parts.len() as i32);
        for p in parts {
            b.put_i32(*p);
        }
    }
    b.put_i32(-1);
    b.freeze()
}

fn put_str(b: &mut BytesMut, s: &str) {
    // Topic names are at most 249 bytes.
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn contains(a: &Assignment, topic: &str, partition: i32) -> bool {
    a.get(topic).is_some_and(|s| s.contains(&partition))
}

pub(crate) fn is_empty(a: &Assignment) -> bool {
    a.values().all(BTreeSet::is_empty)
}

fn disjoint(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, s)| b.get(t).is_none_or(|o| s.is_disjoint(o)))
}

/// Whether every partition of `a` is in `b`.
pub(crate) fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, s)| s.is_empty() || b.get(t).is_some_and(|o| s.is_subset(o)))
}

/// The same partitions, ignoring topics with none.
pub(crate) fn same(a: &Assignment, b: &Assignment) -> bool {
    is_subset(a, b) && is_subset(b, a)
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, s) in a {
        if let Some(o) = b.get(t) {
            let i: BTreeSet<i32> = s.intersection(o).copied().collect();
            if !i.is_empty() {
                out.insert(t.clone(), i);
            }
        }
    }
    out
}

fn subtract(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, s) in a {
        let d: BTreeSet<i32> = match b.get(t) {
            Some(o) => s.difference(o).copied().collect(),
            None => s.clone(),
        };
        if !d.is_empty() {
            out.insert(t.clone(), d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> ConsumerMember {
        ConsumerMember {
            id: id.into(),
            instance_id: None,
            rack_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            epoch: 0,
            previous_epoch: -1,
            state: MemberState::Stable,
            rebalance_timeout: Duration::from_secs(30),
            subscribed: topics.iter().map(|s| s.to_string()).collect(),
            assignor: None,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            expires_at: Instant::now(),
            timer_token: 0,
            revoke_deadline: None,
            left_static: false,
            awaiting_answer: false,
        }
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn a_partition_moves_only_after_its_owner_revokes_it() {
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        g.topic_partitions.insert("t".into(), 4);
        g.members.insert("a".into(), member("a", &["t"]));
        g.epoch = 1;
        g.compute_target();
        g.reconcile("a", Some(&Assignment::new()), now);
        assert_eq!(count(&g.members["a"].assigned), 4);
        assert_eq!(g.members["a"].epoch, 1);
        assert_eq!(g.state_name(), "Stable");

        // "b" joins: the target splits, but "b" gets nothing "a" still owns.
        g.members.insert("b".into(), member("b", &["t"]));
        g.epoch = 2;
        g.compute_target();
        g.reconcile("b", Some(&Assignment::new()), now);
        assert_eq!(g.members["b"].epoch, 2);
        assert_eq!(count(&g.members["b"].assigned), 0);
        assert_eq!(g.members["b"].state, MemberState::UnreleasedPartitions);

        // "a" is told to give two up; until it says so, they stay pending.
        let before = g.members["a"].assigned.clone();
        g.reconcile("a", Some(&before), now);
        assert_eq!(g.members["a"].state, MemberState::UnrevokedPartitions);
        assert_eq!(g.members["a"].epoch, 1);
        assert_eq!(count(&g.members["a"].assigned), 2);
        g.reconcile("b", Some(&Assignment::new()), now);
        assert_eq!(count(&g.members["b"].assigned), 0);

        // "a" reports the smaller set: it reaches epoch 2, "b" then gets the rest.
        let kept = g.members["a"].assigned.clone();
        g.reconcile("a", Some(&kept), now);
        assert_eq!(g.members["a"].epoch, 2);
        assert_eq!(g.members["a"].state, MemberState::Stable);
        g.reconcile("b", Some(&Assignment::new()), now);
        assert_eq!(count(&g.members["b"].assigned), 2);
        assert_eq!(g.state_name(), "Stable");
        assert!(disjoint(&g.members["a"].assigned, &g.members["b"].assigned));
    }

    #[test]
    fn a_removed_members_partitions_are_free_at_once() {
        let now = Instant::now();
        let mut g = ConsumerGroup::default();
        g.topic_partitions.insert("t".into(), 2);
        g.members.insert("a".into(), member("a", &["t"]));
        g.members.insert("b".into(), member("b", &["t"]));
        g.epoch = 1;
        g.compute_target();
        g.reconcile("a", None, now);
        g.reconcile("b", None, now);
        assert_eq!(count(&g.members["a"].assigned), 1);
        g.remove_member("b");
        g.compute_target();
        g.reconcile("a", Some(&g.members["a"].assigned.clone()), now);
        assert_eq!(count(&g.members["a"].assigned), 2);
        assert_eq!(g.members["a"].epoch, 2);
    }
}
