//! Group membership: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the
//! timers behind them, following Kafka's classic group coordinator.
//!
//! A JoinGroup or SyncGroup that must wait gets a oneshot receiver; its
//! sender is kept in the member and answered when the rebalance completes
//! (or fails). Timers are tokio tasks that sleep until a deadline and then
//! re-check, under the lock, that what they were started for still holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::consumer_protocol::ConsumerGroup;
use super::consumer_records::{ConsumerGroupValue, ConsumerMemberValue};
use super::records::{GroupValue, Key, MemberValue, OffsetValue};
use super::state::{Group, GroupState, Member, Rebalance};
use super::store::{OffsetsLog, Pending};
use super::{GroupConfig, GroupError};
use crate::error::Result;
use crate::lock::lock;
use crate::server::now_ms;
use crate::topics::Topics;

mod sync_heartbeat_leave;

/// A JoinGroup, in the coordinator's terms.
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// KIP-394 (JoinGroup v4+): a new member first gets its id with
    /// MEMBER_ID_REQUIRED and joins with it.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a static leader that rejoins may skip the assignment.
    pub supports_skip_assignment: bool,
}

/// A JoinGroup's answer.
#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    pub error: Option<GroupError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// Every member's metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

#[derive(Debug, Clone)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

impl JoinOutcome {
    fn failed(error: GroupError, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

pub struct SyncRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment per member id (empty from followers).
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup's answer: the member's assignment and the group's protocol.
pub type SyncOutcome = std::result::Result<(Bytes, Option<String>, Option<String>), GroupError>;

/// Per member of a LeaveGroup: (member id, instance id, result).
pub type LeaveOutcome = Vec<(String, Option<String>, std::result::Result<(), GroupError>)>;

pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) log: OffsetsLog,
    pub(super) groups: Mutex<HashMap<String, Group>>,
    /// For timers, which must not keep the coordinator alive.
    pub(super) me: Weak<GroupCoordinator>,
    /// Source of member timer tokens and rebalance ids.
    next_id: AtomicU64,
    shutting_down: AtomicBool,
}

impl GroupCoordinator {
    /// Rebuilds the groups and their committed offsets from
    /// `__consumer_offsets`, if it exists. Classic groups come back Empty
    /// (their members rejoin, as with Kafka); consumer-protocol groups
    /// come back with their members, whose sessions start now.
    pub fn open(topics: &Topics, config: GroupConfig, partitions: i32) -> Result<Arc<Self>> {
        let log = OffsetsLog::open(topics, partitions);
        let mut groups: HashMap<String, Group> = HashMap::new();
        let restore = Restore {
            now_ms: now_ms(),
            now: Instant::now(),
            session: Duration::from_millis(config.consumer_session_timeout_ms.max(1) as u64),
        };
        log.replay(|key, value| replay_one(&mut groups, key, value, &restore))?;
        if !groups.is_empty() {
            tracing::info!(groups = groups.len(), "restored consumer groups");
        }
        let coordinator = Arc::new_cyclic(|me| GroupCoordinator {
            config,
            log,
            groups: Mutex::new(groups),
            me: me.clone(),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
        });
        coordinator.start_restored_members();
        Ok(coordinator)
    }

    /// Answers every waiting JoinGroup and SyncGroup (clients look for the
    /// coordinator again) and refuses new ones.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let mut groups = lock(&self.groups);
        let e = GroupError::CoordinatorNotAvailable("the broker is shutting down".into());
        for g in groups.values_mut() {
            for m in g.members.values_mut() {
                if let Some(tx) = m.awaiting_join.take() {
                    let _ = tx.send(JoinOutcome::failed(e.clone(), &m.id));
                }
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(Err(e.clone()));
                }
            }
        }
    }

    /// Creates `__consumer_offsets` if it does not exist yet; called by the
    /// requests that start using groups (FindCoordinator, JoinGroup,
    /// OffsetCommit).
    pub fn ensure_offsets_topic(&self, topics: &Topics) -> std::result::Result<(), GroupError> {
        self.log.ensure(topics).map_err(|e| {
            tracing::error!(error = %e, "cannot create __consumer_offsets");
            GroupError::CoordinatorNotAvailable(e.to_string())
        })
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    // ---- JoinGroup ----

    pub fn join(&self, req: JoinRequest) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        let mut groups = lock(&self.groups);
        let group_id = req.group_id.clone();
        if let Err(e) = self.validate_join(&req) {
            let _ = tx.send(JoinOutcome::failed(e, &req.member_id));
            return rx;
        }
        let group = groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(&group_id, now_ms()));
        self.join_group(group, req, tx);
        drop_if_unused(&mut groups, &group_id);
        rx
    }

    fn validate_join(&self, req: &JoinRequest) -> std::result::Result<(), GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(GroupError::CoordinatorNotAvailable("shutting down".into()));
        }
        let (min, max) = (
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        if req.session_timeout_ms < min || req.session_timeout_ms > max {
            return Err(GroupError::InvalidSessionTimeout {
                got: req.session_timeout_ms,
                min,
                max,
            });
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return Err(GroupError::InconsistentGroupProtocol(
                "a protocol type and at least one protocol are required".into(),
            ));
        }
        Ok(())
    }

    fn join_group(&self, group: &mut Group, req: JoinRequest, tx: oneshot::Sender<JoinOutcome>) {
        let now = Instant::now();
        let fail = |tx: oneshot::Sender<JoinOutcome>, e: GroupError, id: &str| {
            let _ = tx.send(JoinOutcome::failed(e, id));
        };
        if group.state == GroupState::Dead {
            return fail(
                tx,
                GroupError::CoordinatorNotAvailable("group is being deleted".into()),
                &req.member_id,
            );
        }
        if let Some(cg) = &group.consumer {
            if !cg.members.is_empty() {
                let e = GroupError::InconsistentGroupProtocol(format!(
                    "group '{}' uses the consumer protocol (KIP-848): join it with group.protocol=consumer",
                    group.id
                ));
                return fail(tx, e, &req.member_id);
            }
            // An empty consumer group becomes a classic group again.
            group.consumer = None;
        }
        let except = (!req.member_id.is_empty()).then_some(req.member_id.as_str());
        if !group.supports_protocols(&req.protocol_type, &req.protocols, except) {
            return fail(
                tx,
                GroupError::InconsistentGroupProtocol(
                    "no protocol in common with the group's members".into(),
                ),
                &req.member_id,
            );
        }

        if req.member_id.is_empty() {
            if let Some(instance) = &req.instance_id {
                if let Some(old) = group.static_members.get(instance).cloned() {
                    return self.rejoin_static(group, &old, req, tx, now);
                }
                // Static members skip the two-step join.
                let id = new_member_id(&req.client_id);
                return self.add_and_join(group, id, req, tx, now);
            }
            let id = new_member_id(&req.client_id);
            if req.require_known_member_id {
                group.pending.insert(id.clone());
                self.spawn_pending_timer(&group.id, &id, session(&req));
                let _ = tx.send(JoinOutcome::failed(GroupError::MemberIdRequired, &id));
                return;
            }
            return self.add_and_join(group, id, req, tx, now);
        }

        if let Some(instance) = &req.instance_id {
            match group.static_members.get(instance) {
                Some(current) if *current != req.member_id => {
                    return fail(
                        tx,
                        GroupError::FencedInstanceId(req.member_id.clone()),
                        &req.member_id,
                    );
                }
                _ => {}
            }
        }
        if group.pending.remove(&req.member_id) {
            let id = req.member_id.clone();
            return self.add_and_join(group, id, req, tx, now);
        }
        let is_leader = group.leader.as_deref() == Some(req.member_id.as_str());
        let state = group.state;
        let Some(member) = group.members.get_mut(&req.member_id) else {
            return fail(
                tx,
                GroupError::UnknownMemberId(req.member_id.clone()),
                &req.member_id,
            );
        };
        let changed = member.protocols != req.protocols;
        member.protocols = req.protocols;
        member.session_timeout = session_ms(req.session_timeout_ms);
        member.rebalance_timeout = rebalance_ms(req.rebalance_timeout_ms, req.session_timeout_ms);
        member.expires_at = now + member.session_timeout;
        match state {
            GroupState::PreparingRebalance => {
                if let Some(old) = member.awaiting_join.replace(tx) {
                    let _ = old.send(JoinOutcome::failed(
                        GroupError::RebalanceInProgress,
                        &req.member_id,
                    ));
                }
                self.try_complete_join(group, now);
            }
            GroupState::CompletingRebalance if !changed => {
                let _ = tx.send(current_generation(group, &req.member_id, is_leader, false));
            }
            GroupState::Stable if !changed && !is_leader => {
                let _ = tx.send(current_generation(group, &req.member_id, false, false));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.awaiting_join = Some(tx);
                self.prepare_rebalance(group, now);
                self.try_complete_join(group, now);
            }
            GroupState::Empty | GroupState::Dead => fail(
                tx,
                GroupError::UnknownMemberId(req.member_id.clone()),
                &req.member_id,
            ),
        }
    }

    /// A known static member (group.instance.id) rejoins with a new member
    /// id: the old id is fenced and the member keeps its place and its
    /// assignment; a Stable group does not rebalance.
    fn rejoin_static(
        &self,
        group: &mut Group,
        old_id: &str,
        req: JoinRequest,
        tx: oneshot::Sender<JoinOutcome>,
        now: Instant,
    ) {
        let Some(mut member) = group.members.remove(old_id) else {
            return;
        };
        let new_id = new_member_id(&req.client_id);
        let fenced = GroupError::FencedInstanceId(old_id.to_string());
        if let Some(old) = member.awaiting_join.take() {
            let _ = old.send(JoinOutcome::failed(fenced.clone(), old_id));
        }
        if let Some(old) = member.awaiting_sync.take() {
            let _ = old.send(Err(fenced));
        }
        member.id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout = session_ms(req.session_timeout_ms);
        member.rebalance_timeout = rebalance_ms(req.rebalance_timeout_ms, req.session_timeout_ms);
        member.protocols = req.protocols;
        member.expires_at = now + member.session_timeout;
        member.timer_token = self.next_id();
        self.spawn_session_timer(&group.id, &new_id, member.timer_token, member.expires_at);
        for id in group.join_order.iter_mut().filter(|id| *id == old_id) {
            *id = new_id.clone();
        }
        if let Some(instance) = &req.instance_id {
            group
                .static_members
                .insert(instance.clone(), new_id.clone());
        }
        let is_leader = group.leader.as_deref() == Some(old_id);
        if is_leader {
            group.leader = Some(new_id.clone());
        }
        group.members.insert(new_id.clone(), member);
        tracing::info!(group = %group.id, old = old_id, new = %new_id, "static member rejoined");
        // As in Kafka, a Stable group rebalances only if the protocol it
        // would select changes. Not when the metadata bytes differ: the
        // Java client's subscription carries its last generation, which a
        // restarted member does not know, so they always do.
        let same_protocol = group.select_protocol() == group.protocol_name;
        match group.state {
            GroupState::Stable if same_protocol => {
                // A leader on JoinGroup v9+ (KIP-814) is told it leads,
                // with every member's metadata, and to skip the assignment.
                // An older leader is told the old leader id, as Kafka does:
                // its new id does not match, so it syncs as a follower
                // instead of computing an assignment from no members (which
                // made kafka-python rebalance the whole group).
                let skip = is_leader && req.supports_skip_assignment;
                let mut answer = current_generation(group, &new_id, skip, skip);
                if is_leader && !skip {
                    answer.leader = old_id.to_string();
                }
                let _ = tx.send(answer);
            }
            GroupState::PreparingRebalance => {
                group
                    .members
                    .get_mut(&new_id)
                    .expect("just inserted")
                    .awaiting_join = Some(tx);
                self.try_complete_join(group, now);
            }
            _ => {
                // CompletingRebalance: the old id may already be in the
                // leader's assignment, so a new round is needed.
                group
                    .members
                    .get_mut(&new_id)
                    .expect("just inserted")
                    .awaiting_join = Some(tx);
                self.prepare_rebalance(group, now);
                self.try_complete_join(group, now);
            }
        }
    }

    fn add_and_join(
        &self,
        group: &mut Group,
        id: String,
        req: JoinRequest,
        tx: oneshot::Sender<JoinOutcome>,
        now: Instant,
    ) {
        let member = Member {
            id: id.clone(),
            instance_id: req.instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout: session_ms(req.session_timeout_ms),
            rebalance_timeout: rebalance_ms(req.rebalance_timeout_ms, req.session_timeout_ms),
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(tx),
            awaiting_sync: None,
            expires_at: now + session_ms(req.session_timeout_ms),
            timer_token: self.next_id(),
        };
        self.spawn_session_timer(&group.id, &id, member.timer_token, member.expires_at);
        let rebalance_timeout = member.rebalance_timeout;
        group.insert_member(member);
        if group.protocol_type.is_none() {
            group.protocol_type = Some(req.protocol_type);
        }
        tracing::debug!(group = %group.id, member = %id, "member joined");
        match group.state {
            GroupState::PreparingRebalance => {
                let delay = Duration::from_millis(self.config.initial_rebalance_delay_ms);
                if let Some(rb) = group.rebalance.as_mut().filter(|rb| rb.initial) {
                    // A new group waits a little longer for each newcomer,
                    // within the rebalance timeout.
                    let limit = rb.started + rebalance_timeout.max(delay);
                    rb.not_before = (now + delay).min(limit).max(rb.not_before);
                    rb.deadline = rb.deadline.max(rb.not_before);
                }
            }
            _ => self.prepare_rebalance(group, now),
        }
        self.try_complete_join(group, now);
    }

    /// Starts a join phase: members must rejoin within the rebalance
    /// timeout; a new group also waits the initial rebalance delay.
    fn prepare_rebalance(&self, group: &mut Group, now: Instant) {
        if group.state == GroupState::CompletingRebalance {
            for m in group.members.values_mut() {
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(Err(GroupError::RebalanceInProgress));
                    // Its session restarts with the answer, as in Kafka: a
                    // member that waited for the leader must have time to
                    // rejoin, not expire a moment after being told to.
                    m.expires_at = now + m.session_timeout;
                }
            }
        }
        let initial = group.state == GroupState::Empty;
        let timeout = group
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        let not_before = if initial {
            now + Duration::from_millis(self.config.initial_rebalance_delay_ms)
        } else {
            now
        }
        .max(group.store_failed_until.unwrap_or(now));
        let deadline = (now + timeout).max(not_before);
        let id = self.next_id();
        group.rebalance = Some(Rebalance {
            id,
            deadline,
            not_before,
            initial,
            started: now,
        });
        group.set_state(GroupState::PreparingRebalance, now_ms());
        tracing::info!(group = %group.id, generation = group.generation, "preparing rebalance");
        self.spawn_rebalance_timer(&group.id, id, not_before.min(deadline));
    }

    /// Completes the join phase if it may: everyone rejoined and the
    /// initial delay is over, or the rebalance timeout has passed.
    pub(super) fn try_complete_join(&self, group: &mut Group, now: Instant) {
        if group.state != GroupState::PreparingRebalance {
            return;
        }
        let Some(rb) = &group.rebalance else { return };
        let ready = now >= rb.deadline || (group.all_joined() && now >= rb.not_before);
        if ready {
            self.complete_join(group, now);
        }
    }

    fn complete_join(&self, group: &mut Group, now: Instant) {
        let gone: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %group.id, member = %id, "removing member that did not rejoin in time");
            group.remove_member(&id);
        }
        group.rebalance = None;
        group.generation += 1;
        if group.members.is_empty() {
            group.protocol_name = None;
            group.leader = None;
            group.set_state(GroupState::Empty, now_ms());
            tracing::info!(group = %group.id, generation = group.generation, "group is empty");
            if let Err(e) = self.persist_group(group) {
                tracing::error!(group = %group.id, error = %e, "storing group metadata failed");
            }
            return;
        }
        if !group
            .leader
            .as_ref()
            .is_some_and(|l| group.members.contains_key(l))
        {
            group.leader = group.join_order.first().cloned();
        }
        group.protocol_type = group
            .members
            .values()
            .next()
            .map(|m| m.protocol_type.clone());
        group.protocol_name = group.select_protocol();
        group.set_state(GroupState::CompletingRebalance, now_ms());
        let protocol = group.protocol_name.clone().unwrap_or_default();
        let all = joined_members(group);
        let leader = group.leader.clone().unwrap_or_default();
        tracing::info!(
            group = %group.id, generation = group.generation, protocol = %protocol,
            members = all.len(), "rebalance joined"
        );
        for m in group.members.values_mut() {
            m.assignment = Bytes::new();
            m.expires_at = now + m.session_timeout;
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinOutcome {
                    error: None,
                    generation: group.generation,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: m.id.clone(),
                    skip_assignment: false,
                    members: if m.id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
    }

    // ---- persistence ----

    pub(super) fn persist_group(&self, group: &Group) -> std::result::Result<Pending, GroupError> {
        let protocol = group.protocol_name.clone().unwrap_or_default();
        let value = GroupValue {
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            generation: group.generation,
            protocol: group.protocol_name.clone(),
            leader: group.leader.clone(),
            state_timestamp: group.state_since_ms,
            members: group
                .members_in_join_order()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    subscription: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        };
        self.log.append(
            &group.id,
            &[(
                Key::Group {
                    group: group.id.clone(),
                },
                Some(value.encode()),
            )],
        )
    }
}

/// Every member with its metadata for the chosen protocol, in join order:
/// what JoinGroup gives the leader to assign from.
fn joined_members(group: &Group) -> Vec<JoinedMember> {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    group
        .members_in_join_order()
        .map(|m| JoinedMember {
            member_id: m.id.clone(),
            instance_id: m.instance_id.clone(),
            metadata: m.metadata_for(&protocol),
        })
        .collect()
}

/// The answer for a member that rejoins without changing anything: the
/// current generation (and, for the leader, every member's metadata).
fn current_generation(
    group: &Group,
    member_id: &str,
    with_members: bool,
    skip: bool,
) -> JoinOutcome {
    let members = if with_members {
        joined_members(group)
    } else {
        Vec::new()
    };
    JoinOutcome {
        error: None,
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        skip_assignment: skip,
        members,
    }
}

/// Checks that a request comes from a current member: a static member's
/// id must be the one its instance id maps to now.
pub(super) fn validate_member(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
) -> std::result::Result<(), GroupError> {
    if let Some(instance) = instance_id {
        if let Some(current) = group.static_members.get(instance) {
            if current != member_id {
                return Err(GroupError::FencedInstanceId(member_id.to_string()));
            }
        }
    }
    if !group.members.contains_key(member_id) {
        return Err(GroupError::UnknownMemberId(member_id.to_string()));
    }
    Ok(())
}

/// Answers the requests a removed member still had waiting.
pub(super) fn answer_removed(mut m: Member, e: GroupError) {
    if let Some(tx) = m.awaiting_join.take() {
        let _ = tx.send(JoinOutcome::failed(e.clone(), &m.id));
    }
    if let Some(tx) = m.awaiting_sync.take() {
        let _ = tx.send(Err(e));
    }
}

/// Forgets a group that a refused request created and that holds nothing.
pub(super) fn drop_if_unused(groups: &mut HashMap<String, Group>, id: &str) {
    if groups.get(id).is_some_and(|g| {
        g.state == GroupState::Empty
            && g.members.is_empty()
            && g.pending.is_empty()
            && g.offsets.is_empty()
            && g.generation == 0
            && g.consumer.is_none()
    }) {
        groups.remove(id);
    }
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

fn session(req: &JoinRequest) -> Duration {
    session_ms(req.session_timeout_ms)
}

fn session_ms(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// JoinGroup v0 has no rebalance timeout: it is the session timeout.
fn rebalance_ms(rebalance: i32, session: i32) -> Duration {
    Duration::from_millis(if rebalance > 0 { rebalance } else { session }.max(0) as u64)
}

/// The clock a replay restores groups against.
struct Restore {
    now_ms: i64,
    now: Instant,
    session: Duration,
}

fn replay_one(groups: &mut HashMap<String, Group>, key: Key, value: Option<Bytes>, at: &Restore) {
    let now = at.now_ms;
    match key {
        Key::Offset {
            group,
            topic,
            partition,
        } => match value {
            Some(v) => match OffsetValue::decode(&v) {
                Ok(v) => {
                    let g = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now));
                    g.offsets.insert((topic, partition), v.into());
                }
                Err(e) => tracing::warn!(%group, error = %e, "skipping offset record"),
            },
            None => {
                if let Some(g) = groups.get_mut(&group) {
                    g.offsets.remove(&(topic, partition));
                }
            }
        },
        Key::Group { group } => match value {
            Some(v) => match GroupValue::decode(&v) {
                Ok(v) => {
                    let g = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now));
                    g.generation = v.generation;
                    g.protocol_type = (!v.protocol_type.is_empty()).then_some(v.protocol_type);
                }
                Err(e) => tracing::warn!(%group, error = %e, "skipping group record"),
            },
            None => {
                groups.remove(&group);
            }
        },
        Key::ConsumerGroup { group } => match value {
            Some(raw) => match ConsumerGroupValue::decode(&raw) {
                Ok(v) => consumer_part(groups, &group, now).restore_group(v, raw),
                Err(e) => tracing::warn!(%group, error = %e, "skipping consumer group record"),
            },
            None => {
                if let Some(g) = groups.get_mut(&group) {
                    g.consumer = None;
                }
            }
        },
        Key::ConsumerMember { group, member } => match value {
            Some(raw) => match ConsumerMemberValue::decode(&raw) {
                Ok(v) => consumer_part(groups, &group, now)
                    .restore_member(member, v, raw, at.now, at.session),
                Err(e) => {
                    tracing::warn!(%group, %member, error = %e, "skipping consumer member record")
                }
            },
            None => {
                if let Some(cg) = groups.get_mut(&group).and_then(|g| g.consumer.as_mut()) {
                    cg.forget_member(&member);
                }
            }
        },
    }
}

/// The consumer-protocol part of a group being replayed, made if new.
fn consumer_part<'a>(
    groups: &'a mut HashMap<String, Group>,
    id: &str,
    now_ms: i64,
) -> &'a mut ConsumerGroup {
    let g = groups
        .entry(id.to_string())
        .or_insert_with(|| Group::new(id, now_ms));
    g.protocol_type = Some("consumer".to_string());
    g.consumer.get_or_insert_with(ConsumerGroup::default)
}
