//! One group: its members, generation, chosen protocol, committed offsets
//! and where it is in the rebalance state machine. Pure data and the
//! decisions that need no clock or I/O; the coordinator drives it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::coordinator::{JoinOutcome, SyncOutcome};
use super::offsets::Committed;

/// Kafka's classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still have committed offsets.
    Empty,
    /// Waiting for members to (re)join before a new generation starts.
    PreparingRebalance,
    /// The generation exists; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Being deleted; nothing may join.
    Dead,
}

impl GroupState {
    /// The name clients see (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// What the leader assigned to it in the current generation.
    pub assignment: Bytes,
    /// A JoinGroup waiting for the rebalance to complete.
    pub awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    /// A SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
    /// When the session ends unless a heartbeat (or commit, or join)
    /// extends it.
    pub expires_at: Instant,
    /// Identifies this member's session timer: a timer whose token no
    /// longer matches (the member left and came back) stops.
    pub timer_token: u64,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }

    /// Whether a request from this member is enough to keep it: a member
    /// with a request waiting is alive by definition.
    pub fn is_waiting(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }
}

/// An ongoing join phase.
pub(crate) struct Rebalance {
    /// Tells this rebalance's timer from an earlier one's.
    pub id: u64,
    /// Members that have not rejoined by then are removed.
    pub deadline: Instant,
    /// The join does not complete before this even when everyone has
    /// joined (group.initial.rebalance.delay.ms for a new group).
    pub not_before: Instant,
    /// Started from Empty: each new member extends `not_before`.
    pub initial: bool,
    pub started: Instant,
}

pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// Members by id; `join_order` keeps who came first (the leader).
    pub members: BTreeMap<String, Member>,
    pub join_order: Vec<String>,
    /// group.instance.id -> member id of static members.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pub pending: HashSet<String>,
    pub offsets: BTreeMap<(String, i32), Committed>,
    pub rebalance: Option<Rebalance>,
    /// Milliseconds since the epoch of the last state change.
    pub state_since_ms: i64,
    /// Set for a KIP-848 consumer-protocol group: its members and
    /// assignment live there, and the classic fields stay empty.
    pub consumer: Option<super::consumer_protocol::ConsumerGroup>,
    /// Until then the next rebalance waits: the last assignment could not
    /// be stored (a failing disk), and members told so rejoin at once.
    pub store_failed_until: Option<tokio::time::Instant>,
}

impl Group {
    /// The members in the order they joined (the leader first, unless it
    /// left and another took its place).
    pub fn members_in_join_order(&self) -> impl Iterator<Item = &Member> {
        self.join_order.iter().filter_map(|id| self.members.get(id))
    }

    pub fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            join_order: Vec::new(),
            static_members: HashMap::new(),
            pending: HashSet::new(),
            offsets: BTreeMap::new(),
            rebalance: None,
            state_since_ms: now_ms,
            consumer: None,
            store_failed_until: None,
        }
    }

    pub fn set_state(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    /// Every member has a JoinGroup waiting and no handed-out member id is
    /// still expected.
    pub fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    pub fn insert_member(&mut self, member: Member) {
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(i) = &member.instance_id {
            self.static_members.insert(i.clone(), member.id.clone());
        }
        self.join_order.push(member.id.clone());
        self.members.insert(member.id.clone(), member);
    }

    pub fn remove_member(&mut self, id: &str) -> Option<Member> {
        let m = self.members.remove(id)?;
        self.join_order.retain(|x| x != id);
        if let Some(i) = &m.instance_id {
            if self.static_members.get(i).map(String::as_str) == Some(id) {
                self.static_members.remove(i);
            }
        }
        if self.leader.as_deref() == Some(id) {
            // The next member to have joined leads (Kafka picks one that
            // has rejoined; `complete_join` re-checks).
            self.leader = self.join_order.first().cloned();
        }
        Some(m)
    }

    /// Whether `protocols` has a protocol every current member supports
    /// (the check a joining member must pass).
    /// `except` is the joining member itself, whose old protocols do not count.
    pub fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
        except: Option<&str>,
    ) -> bool {
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| Some(m.id.as_str()) != except)
            .collect();
        if others.is_empty() {
            return true;
        }
        if others.iter().any(|m| m.protocol_type != protocol_type) {
            return false;
        }
        protocols
            .iter()
            .any(|(n, _)| others.iter().all(|m| m.supports(n)))
    }

    /// Kafka's protocol selection: among the protocols every member
    /// supports, each member votes for the first in its own preference
    /// order; most votes wins (ties: the leader's preference order).
    pub fn select_protocol(&self) -> Option<String> {
        let first = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().next())?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| self.members.values().all(|m| m.supports(n)))
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
            {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for c in candidates {
            let v = votes.get(c).copied().unwrap_or(0);
            if best.is_none_or(|(_, bv)| v > bv) {
                best = Some((c, v));
            }
        }
        best.map(|(n, _)| n.to_string())
    }

    /// Topics the members subscribe to, read from their "consumer" protocol
    /// metadata; None when it cannot be known (another protocol type, or
    /// metadata that does not parse), which counts as "every topic".
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.members.is_empty() {
            return Some(HashSet::new());
        }
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = HashSet::new();
        for m in self.members.values() {
            all.extend(subscription_topics(&m.metadata_for(protocol))?);
        }
        Some(all)
    }
}

/// The topics of a ConsumerProtocolSubscription (every version starts with
/// version int16, then topics as an int32-counted array of int16 strings).
fn subscription_topics(mut b: &[u8]) -> Option<Vec<String>> {
    if b.remaining() < 6 {
        return None;
    }
    let _version = b.get_i16();
    let n = b.get_i32();
    let mut out = Vec::new();
    for _ in 0..n.max(0) {
        if b.remaining() < 2 {
            return None;
        }
        let len = b.get_i16();
        if len < 0 || b.remaining() < len as usize {
            return None;
        }
        out.push(String::from_utf8(b[..len as usize].to_vec()).ok()?);
        b.advance(len as usize);
    }
    Some(out)
}
