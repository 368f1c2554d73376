//! ConsumerGroupHeartbeat and ConsumerGroupDescribe on the coordinator,
//! and the member timers of the consumer protocol.
//!
//! One heartbeat does, under the coordinator's lock: validate the member
//! and its epoch; apply what changed (subscription, assignor); bump the
//! group epoch if the assignment depends on it; recompute the target if it
//! is behind; reconcile this member (the others reconcile on their own
//! heartbeats); answer with the member's epoch and, when it changed or was
//! asked for, its assignment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{
    assignors, is_subset, same, Assignment, ConsumerGroup, ConsumerMember, MemberState, Touched,
};
use crate::group::coordinator::GroupCoordinator;
use crate::group::state::{Group, GroupState};
use crate::group::store::Pending;
use crate::group::GroupError;
use crate::lock::lock;
use crate::server::now_ms;

type GroupResult<T> = std::result::Result<T, GroupError>;

/// Member epochs with a meaning of their own.
const JOIN_EPOCH: i32 = 0;
const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;

/// Timer tokens of consumer-protocol members (distinct per member
/// incarnation, so a timer outlived by a rejoin stops).
pub(super) static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// A ConsumerGroupHeartbeat, in the coordinator's terms. `None` fields are
/// "unchanged since the last heartbeat".
pub struct HeartbeatRequest {
    pub group_id: String,
    /// Chosen by the client (v1); empty on a v0 join, then we choose.
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topics: Option<Vec<String>>,
    pub subscribed_regex: Option<String>,
    pub assignor: Option<String>,
    /// What the member owns, by topic name.
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone)]
pub struct HeartbeatAnswer {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Present when the member must (re)learn its assignment.
    pub assignment: Option<Assignment>,
}

/// ConsumerGroupDescribe's view of a group.
pub struct ConsumerDescription {
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<ConsumerMemberDescription>,
}

pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: Vec<String>,
    pub assigned: Assignment,
    pub target: Assignment,
}

fn validate(req: &HeartbeatRequest) -> GroupResult<()> {
    let invalid = |m: &str| Err(GroupError::InvalidRequest(m.to_string()));
    if req.group_id.is_empty() {
        return Err(GroupError::InvalidGroupId);
    }
    if req.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if req
        .subscribed_regex
        .as_deref()
        .is_some_and(|r| !r.is_empty())
    {
        return Err(GroupError::InvalidRegex(
            "topic regex subscriptions are not supported by this broker: subscribe to topic names"
                .into(),
        ));
    }
    if let Some(a) = &req.assignor {
        if !assignors::is_known(a) {
            return Err(GroupError::UnsupportedAssignor(a.clone()));
        }
    }
    match req.member_epoch {
        JOIN_EPOCH => {
            if req.rebalance_timeout_ms < 0 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.owned.as_ref().is_none_or(|o| !super::is_empty(o)) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if req.subscribed_topics.is_none() && req.subscribed_regex.is_none() {
                return invalid("SubscribedTopicNames must be set in first request.");
            }
        }
        STATIC_LEAVE_EPOCH if req.instance_id.is_none() => {
            return invalid("InstanceId can't be null when leaving with epoch -2.");
        }
        e if e < STATIC_LEAVE_EPOCH => return invalid("MemberEpoch is invalid."),
        _ if req.member_id.is_empty() => return invalid("MemberId can't be empty."),
        _ => {}
    }
    Ok(())
}

impl GroupCoordinator {
    /// One ConsumerGroupHeartbeat. `partitions_of` gives the partition
    /// count of an existing topic. What the heartbeat changed is written to
    /// `__consumer_offsets`: answer once the `Pending` write is durable.
    pub fn consumer_heartbeat(
        &self,
        req: HeartbeatRequest,
        partitions_of: &dyn Fn(&str) -> Option<i32>,
    ) -> GroupResult<(HeartbeatAnswer, Option<Pending>)> {
        validate(&req)?;
        let now = Instant::now();
        let mut groups = lock(&self.groups);
        let joining = req.member_epoch == JOIN_EPOCH;
        if !groups.contains_key(&req.group_id) {
            if !joining {
                return Err(GroupError::UnknownMemberId(req.member_id));
            }
            groups.insert(req.group_id.clone(), Group::new(&req.group_id, now_ms()));
        }
        let group = groups.get_mut(&req.group_id).expect("present");
        if group.consumer.is_none() {
            let classic_in_use = !group.members.is_empty()
                || !group.pending.is_empty()
                || group.state != GroupState::Empty;
            if classic_in_use {
                return Err(GroupError::NotConsumerGroup(req.group_id));
            }
            if !joining {
                return Err(GroupError::UnknownMemberId(req.member_id));
            }
            // An empty classic group (committed offsets only) becomes a
            // consumer group, as in Kafka.
            group.consumer = Some(ConsumerGroup {
                epoch: group.generation.max(0),
                assignment_epoch: group.generation.max(0),
                ..Default::default()
            });
            group.protocol_type = Some("consumer".to_string());
        }
        let group_id = group.id.clone();
        let cg = group.consumer.as_mut().expect("set above");
        let session = Duration::from_millis(self.config.consumer_session_timeout_ms.max(1) as u64);
        let interval = self.config.consumer_heartbeat_interval_ms;

        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            let answer = leave(cg, &group_id, req, session, now)?;
            let pending =
                self.persist_consumer(&group_id, cg, Touched::Member(&answer.member_id))?;
            return Ok((answer, pending));
        }
        // Whether the target assignment must be recomputed: one epoch bump
        // per heartbeat, however many things changed.
        let mut bump = false;
        let member_id = if joining {
            let (id, new) = self.join_member(cg, &group_id, &req, session, now)?;
            bump |= new;
            id
        } else {
            let m = cg
                .members
                .get(&req.member_id)
                .filter(|m| !m.left_static)
                .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
            if let Some(i) = &req.instance_id {
                if cg.static_members.get(i) != Some(&m.id) {
                    return Err(GroupError::FencedInstanceId(m.id.clone()));
                }
            }
            check_epoch(m, req.member_epoch, req.owned.as_ref())?;
            req.member_id.clone()
        };

        // Apply what the member changed.
        let m = cg.members.get_mut(&member_id).expect("joined or known");
        if let Some(topics) = &req.subscribed_topics {
            let topics: BTreeSet<String> = topics.iter().cloned().collect();
            if topics != m.subscribed {
                m.subscribed = topics;
                bump = true;
            }
        }
        if req.assignor.is_some() && req.assignor != m.assignor {
            m.assignor = req.assignor.clone();
            bump = true;
        }
        if req.rebalance_timeout_ms >= 0 {
            m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms as u64);
        }
        if req.rack_id.is_some() {
            m.rack_id = req.rack_id.clone();
        }
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.expires_at = now + session;
        // The target depends on the subscribed topics' partition counts.
        let counts: BTreeMap<String, i32> = cg
            .subscribed_topics()
            .into_iter()
            .filter_map(|t| partitions_of(&t).map(|n| (t, n)))
            .collect();
        if counts != cg.topic_partitions {
            cg.topic_partitions = counts;
            bump = true;
        }
        if bump {
            cg.epoch += 1;
        }
        if cg.epoch > cg.assignment_epoch {
            cg.compute_target();
            tracing::info!(
                group = %group_id, epoch = cg.epoch, assignor = %cg.assignor,
                members = cg.members.len(), "computed target assignment"
            );
        }

        let before = cg.members[&member_id].assigned.clone();
        let was_revoking = cg.members[&member_id].revoke_deadline.is_some();
        cg.reconcile(&member_id, req.owned.as_ref(), now);
        let m = &cg.members[&member_id];
        if m.revoke_deadline.is_some() && !was_revoking {
            tracing::debug!(group = %group_id, member = %member_id, "member must revoke partitions");
        }
        let full =
            req.rebalance_timeout_ms >= 0 && req.subscribed_topics.is_some() && req.owned.is_some();
        let send = joining || full || !same(&before, &m.assigned);
        let answer = HeartbeatAnswer {
            member_id: member_id.clone(),
            member_epoch: m.epoch,
            heartbeat_interval_ms: interval,
            assignment: send.then(|| m.assigned.clone()),
        };
        let pending = self.persist_consumer(&group_id, cg, Touched::Member(&member_id))?;
        Ok((answer, pending))
    }

    /// A member joining with epoch 0: a new member, a dynamic member
    /// rejoining with its id (it owns nothing now), or a static member
    /// taking its instance's place back. Returns its member id and whether
    /// it is new to the group.
    fn join_member(
        &self,
        cg: &mut ConsumerGroup,
        group_id: &str,
        req: &HeartbeatRequest,
        session: Duration,
        now: Instant,
    ) -> GroupResult<(String, bool)> {
        let member_id = if req.member_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            req.member_id.clone()
        };
        if let Some(instance) = &req.instance_id {
            if let Some(old_id) = cg.static_members.get(instance).cloned() {
                // Client input decides what the maps hold: a mapping to a
                // member that is gone is dropped, never indexed (a panic
                // here would poison the groups lock for every group).
                let Some(old) = cg.members.get(&old_id) else {
                    tracing::warn!(group = %group_id, %instance, member = %old_id,
                        "dropping a static mapping to a member that is gone");
                    cg.static_members.remove(instance);
                    return self.join_member(cg, group_id, req, session, now);
                };
                if old_id != member_id && !old.left_static {
                    return Err(GroupError::UnreleasedInstanceId(instance.clone()));
                }
                // The new id must not be another member's: taking over would
                // overwrite that member and leave its instance mapping
                // pointing at nothing.
                if old_id != member_id && cg.members.contains_key(&member_id) {
                    return Err(GroupError::InvalidRequest(format!(
                        "member id '{member_id}' already belongs to another member; \
                         static member '{instance}' must rejoin with its own id"
                    )));
                }
                // The instance comes back: the new member id takes over
                // the old one's epoch and assignment, without a rebalance.
                let Some(mut m) = cg.members.remove(&old_id) else {
                    return Err(GroupError::UnknownMemberId(old_id));
                };
                m.id = member_id.clone();
                m.left_static = false;
                m.timer_token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
                m.expires_at = now + session;
                if let Some(t) = cg.target.remove(&old_id) {
                    cg.target.insert(member_id.clone(), t);
                }
                cg.static_members
                    .insert(instance.clone(), member_id.clone());
                self.spawn_consumer_timer(group_id, &member_id, m.timer_token, m.expires_at);
                cg.members.insert(member_id.clone(), m);
                tracing::info!(group = %group_id, old = %old_id, new = %member_id, "static member rejoined");
                return Ok((member_id, false));
            }
        }
        if let Some(m) = cg.members.get_mut(&member_id) {
            // Rejoining (after a fence, say): it gave everything up.
            m.epoch = JOIN_EPOCH;
            m.previous_epoch = -1;
            m.assigned = Assignment::new();
            m.pending_revocation = Assignment::new();
            m.state = MemberState::Stable;
            m.revoke_deadline = None;
            m.left_static = false;
            return Ok((member_id, false));
        }
        let m = ConsumerMember {
            id: member_id.clone(),
            instance_id: req.instance_id.clone(),
            rack_id: req.rack_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            epoch: JOIN_EPOCH,
            previous_epoch: -1,
            state: MemberState::Stable,
            rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64),
            subscribed: BTreeSet::new(),
            assignor: None,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            expires_at: now + session,
            timer_token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            revoke_deadline: None,
            left_static: false,
            awaiting_answer: false,
        };
        if let Some(i) = &req.instance_id {
            cg.static_members.insert(i.clone(), member_id.clone());
        }
        self.spawn_consumer_timer(group_id, &member_id, m.timer_token, m.expires_at);
        cg.members.insert(member_id.clone(), m);
        tracing::info!(group = %group_id, member = %member_id, "member joined (consumer protocol)");
        Ok((member_id, true))
    }

    /// ConsumerGroupDescribe for one group.
    pub fn consumer_describe(&self, group_id: &str) -> GroupResult<ConsumerDescription> {
        let groups = lock(&self.groups);
        let g = groups
            .get(group_id)
            .ok_or_else(|| GroupError::GroupIdNotFound(group_id.to_string()))?;
        let cg = g
            .consumer
            .as_ref()
            .ok_or_else(|| GroupError::NotConsumerGroup(group_id.to_string()))?;
        Ok(ConsumerDescription {
            state: cg.state_name(),
            epoch: cg.epoch,
            assignment_epoch: cg.assignment_epoch,
            assignor: if cg.assignor.is_empty() {
                assignors::DEFAULT.to_string()
            } else {
                cg.assignor.clone()
            },
            members: cg
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed: m.subscribed.iter().cloned().collect(),
                    assigned: m.assigned.clone(),
                    target: cg.target.get(&m.id).cloned().unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// A member's timer: removes it when its session ends without a
    /// heartbeat, or when it has not revoked partitions within its
    /// rebalance timeout. It wakes at the session deadline it last saw, so
    /// a revocation deadline is acted on at most one session late.
    pub(crate) fn spawn_consumer_timer(
        &self,
        group: &str,
        member: &str,
        token: u64,
        first: Instant,
    ) {
        let (group, member) = (group.to_string(), member.to_string());
        self.spawn_deadline_timer(first, move |c| {
            c.check_consumer_member(&group, &member, token)
        });
    }

    fn check_consumer_member(
        &self,
        group_id: &str,
        member_id: &str,
        token: u64,
    ) -> Option<Instant> {
        let mut groups = lock(&self.groups);
        let cg = groups.get_mut(group_id)?.consumer.as_mut()?;
        let m = cg
            .members
            .get(member_id)
            .filter(|m| m.timer_token == token)?;
        let now = Instant::now();
        let revoke_late = m.revoke_deadline.is_some_and(|d| d <= now);
        if m.awaiting_answer && !revoke_late {
            // Its last heartbeat is still being answered (its change is
            // being stored): the session restarts with the answer.
            let session =
                Duration::from_millis(self.config.consumer_session_timeout_ms.max(1) as u64);
            return Some(now + session);
        }
        if m.expires_at > now && !revoke_late {
            return Some(match m.revoke_deadline {
                Some(d) => d.min(m.expires_at),
                None => m.expires_at,
            });
        }
        let why = if revoke_late {
            "did not revoke its partitions within its rebalance timeout"
        } else {
            "session expired"
        };
        tracing::info!(group = %group_id, member = %member_id, "removing consumer-protocol member: {why}");
        cg.remove_member(member_id);
        match self.persist_consumer(group_id, cg, Touched::Removed) {
            Ok(Some(pending)) => {
                let group = group_id.to_string();
                tokio::spawn(async move {
                    if let Err(e) = pending.durable().await {
                        tracing::warn!(%group, error = %e, "could not store a member's removal");
                    }
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(group = %group_id, error = %e, "could not store a member's removal")
            }
        }
        None
    }
}

/// Checks a heartbeat's member epoch (Kafka's throwIfMemberEpochIsInvalid):
/// a newer epoch than the member's is fenced; an older one is accepted only
/// if it is the previous epoch and the member owns nothing it should not
/// (the answer to its last heartbeat was lost).
fn check_epoch(m: &ConsumerMember, got: i32, owned: Option<&Assignment>) -> GroupResult<()> {
    if got == m.epoch {
        return Ok(());
    }
    let fenced = Err(GroupError::FencedMemberEpoch {
        got,
        current: m.epoch,
    });
    if got > m.epoch || got != m.previous_epoch {
        return fenced;
    }
    match owned {
        Some(o) if !is_subset(o, &m.assigned) => fenced,
        _ => Ok(()),
    }
}

fn leave(
    cg: &mut ConsumerGroup,
    group_id: &str,
    req: HeartbeatRequest,
    session: Duration,
    now: Instant,
) -> GroupResult<HeartbeatAnswer> {
    let id = match &req.instance_id {
        Some(i) => cg
            .static_members
            .get(i)
            .cloned()
            .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?,
        None => req.member_id.clone(),
    };
    if !cg.members.contains_key(&id) {
        return Err(GroupError::UnknownMemberId(req.member_id));
    }
    if id != req.member_id {
        return Err(GroupError::FencedInstanceId(req.member_id));
    }
    if req.member_epoch == STATIC_LEAVE_EPOCH {
        // Kept with its partitions until it rejoins or its session ends.
        let m = cg.members.get_mut(&id).expect("present");
        m.left_static = true;
        m.expires_at = now + session;
        tracing::info!(group = %group_id, member = %id, "static member left temporarily");
    } else {
        cg.remove_member(&id);
        tracing::info!(group = %group_id, member = %id, "member left (consumer protocol)");
    }
    Ok(HeartbeatAnswer {
        member_id: id,
        member_epoch: req.member_epoch,
        heartbeat_interval_ms: 0,
        assignment: None,
    })
}
