//! Keeping a consumer group's membership across broker restarts, as Kafka
//! does: a change is written to `__consumer_offsets` (`consumer_records`)
//! and acknowledged once durable, and replay at start rebuilds the members
//! with their epochs and assignments, so members go on heartbeating with
//! their epoch instead of rejoining.
//!
//! Only what changed is written: the group remembers the bytes it last
//! wrote per record and compares. A heartbeat can change its own member,
//! and the group record; a new target assignment changes every member (a
//! new target epoch); a member removed gets a tombstone. Comparing every
//! member on each heartbeat would cost O(members) encodings per beat, so
//! only the heartbeating member is compared unless the target moved or a
//! write failed.
//!
//! What is not kept: session deadlines (a restored member's session starts
//! at the restart, as a rejoin's would) and a revocation's deadline (it
//! starts again at the restart).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::heartbeat::NEXT_TOKEN;
use super::{ConsumerGroup, ConsumerMember};
use crate::group::consumer_records::{ConsumerGroupValue, ConsumerMemberValue};
use crate::group::coordinator::GroupCoordinator;
use crate::group::records::Key;
use crate::group::state::Group;
use crate::group::store::{KeyValue, Pending};
use crate::group::GroupError;

/// What a group last wrote (or replayed), record by record.
#[derive(Default)]
pub(crate) struct Persisted {
    group: Option<Bytes>,
    members: HashMap<String, Bytes>,
    /// The target epoch the member records were last written for.
    assignment_epoch: i32,
    /// A write failed: compare every member next time.
    resync: bool,
}

/// Which members a change may have touched.
#[derive(Clone, Copy)]
pub(crate) enum Touched<'a> {
    /// This member (and any member removed).
    Member(&'a str),
    /// Members removed only (a timer expired one).
    Removed,
}

/// The records of one change, and what `Persisted` becomes once they are
/// written.
pub(crate) struct Changes {
    pub records: Vec<KeyValue>,
    group: Option<Bytes>,
    members: Vec<(String, Option<Bytes>)>,
    assignment_epoch: i32,
}

impl ConsumerGroup {
    fn group_value(&self) -> Bytes {
        ConsumerGroupValue {
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor.clone(),
            topic_partitions: self.topic_partitions.clone(),
        }
        .encode()
    }

    fn member_value(&self, m: &ConsumerMember) -> Bytes {
        ConsumerMemberValue {
            instance_id: m.instance_id.clone(),
            rack_id: m.rack_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            subscribed: m.subscribed.clone(),
            assignor: m.assignor.clone(),
            rebalance_timeout_ms: m.rebalance_timeout.as_millis().min(i32::MAX as u128) as i32,
            epoch: m.epoch,
            previous_epoch: m.previous_epoch,
            state: m.state,
            left_static: m.left_static,
            assigned: m.assigned.clone(),
            pending_revocation: m.pending_revocation.clone(),
            target: self.target.get(&m.id).cloned().unwrap_or_default(),
        }
        .encode()
    }

    /// The records that bring `__consumer_offsets` up to this state.
    pub(crate) fn changes(&self, group_id: &str, touched: Touched<'_>) -> Changes {
        let p = &self.persisted;
        let mut records = Vec::new();
        let mut members = Vec::new();
        let group = self.group_value();
        let group_changed = p.group.as_ref() != Some(&group);
        if group_changed {
            records.push((
                Key::ConsumerGroup {
                    group: group_id.to_string(),
                },
                Some(group.clone()),
            ));
        }
        let key = |member: &str| Key::ConsumerMember {
            group: group_id.to_string(),
            member: member.to_string(),
        };
        let every_member = p.resync || p.assignment_epoch != self.assignment_epoch;
        let candidates: Vec<&ConsumerMember> = match touched {
            _ if every_member => self.members.values().collect(),
            Touched::Member(id) => self.members.get(id).into_iter().collect(),
            Touched::Removed => Vec::new(),
        };
        for m in candidates {
            let value = self.member_value(m);
            if p.members.get(&m.id) != Some(&value) {
                records.push((key(&m.id), Some(value.clone())));
                members.push((m.id.clone(), Some(value)));
            }
        }
        for gone in p
            .members
            .keys()
            .filter(|id| !self.members.contains_key(*id))
        {
            records.push((key(gone), None));
            members.push((gone.clone(), None));
        }
        Changes {
            records,
            group: Some(group),
            members,
            assignment_epoch: self.assignment_epoch,
        }
    }

    /// After `changes` were appended: remember them.
    pub(crate) fn written(&mut self, changes: Changes) {
        let p = &mut self.persisted;
        p.group = changes.group;
        p.assignment_epoch = changes.assignment_epoch;
        p.resync = false;
        for (id, value) in changes.members {
            match value {
                Some(v) => p.members.insert(id, v),
                None => p.members.remove(&id),
            };
        }
    }

    /// After an append of `changes` failed: the disk may lag memory
    /// anywhere, so the next write compares everything.
    pub(crate) fn write_failed(&mut self) {
        self.persisted.resync = true;
    }

    /// Replay: the group's own record.
    pub(crate) fn restore_group(&mut self, value: ConsumerGroupValue, raw: Bytes) {
        self.epoch = value.epoch;
        self.assignment_epoch = value.assignment_epoch;
        self.assignor = value.assignor;
        self.topic_partitions = value.topic_partitions;
        self.persisted.group = Some(raw);
        self.persisted.assignment_epoch = self.assignment_epoch;
    }

    /// Replay: a member's record. Its session starts now.
    pub(crate) fn restore_member(
        &mut self,
        id: String,
        v: ConsumerMemberValue,
        raw: Bytes,
        now: Instant,
        session: Duration,
    ) {
        self.forget_member(&id);
        if let Some(instance) = &v.instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        let rebalance_timeout = Duration::from_millis(v.rebalance_timeout_ms.max(0) as u64);
        let revoking = !super::is_empty(&v.pending_revocation);
        self.target.insert(id.clone(), v.target);
        self.members.insert(
            id.clone(),
            ConsumerMember {
                id: id.clone(),
                instance_id: v.instance_id,
                rack_id: v.rack_id,
                client_id: v.client_id,
                client_host: v.client_host,
                epoch: v.epoch,
                previous_epoch: v.previous_epoch,
                state: v.state,
                rebalance_timeout,
                subscribed: v.subscribed,
                assignor: v.assignor,
                assigned: v.assigned,
                pending_revocation: v.pending_revocation,
                expires_at: now + session,
                timer_token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
                revoke_deadline: revoking.then(|| now + rebalance_timeout),
                left_static: v.left_static,
                awaiting_answer: false,
            },
        );
        self.persisted.members.insert(id, raw);
    }

    /// Replay: a member's tombstone (or the record a newer one replaces).
    pub(crate) fn forget_member(&mut self, id: &str) {
        self.members.remove(id);
        self.target.remove(id);
        self.static_members.retain(|_, member| member != id);
        self.persisted.members.remove(id);
    }
}

impl GroupCoordinator {
    /// Appends what changed in `cg` (nothing if nothing did). The caller
    /// answers once the returned write is durable.
    pub(crate) fn persist_consumer(
        &self,
        group_id: &str,
        cg: &mut ConsumerGroup,
        touched: Touched<'_>,
    ) -> Result<Option<Pending>, GroupError> {
        let changes = cg.changes(group_id, touched);
        if changes.records.is_empty() {
            return Ok(None);
        }
        match self.log.append(group_id, &changes.records) {
            Ok(pending) => {
                cg.written(changes);
                if let Touched::Member(id) = touched {
                    if let Some(m) = cg.members.get_mut(id) {
                        m.awaiting_answer = true;
                    }
                }
                Ok(Some(pending))
            }
            Err(e) => {
                cg.write_failed();
                Err(e)
            }
        }
    }

    /// The answer to a heartbeat of `member_id` that waited for its change
    /// to be stored (`stored`: whether the write succeeded). A slow disk
    /// can stretch that wait past the session, so the session did not end
    /// meanwhile (`awaiting_answer`) and restarts now, as a classic member's
    /// does with its SyncGroup answer. A failed write makes the group's
    /// next write compare every record again.
    pub fn consumer_answered(&self, group_id: &str, member_id: &str, stored: bool) {
        let session =
            std::time::Duration::from_millis(self.config.consumer_session_timeout_ms.max(1) as u64);
        let mut groups = crate::lock::lock(&self.groups);
        let Some(cg) = groups.get_mut(group_id).and_then(|g| g.consumer.as_mut()) else {
            return;
        };
        if !stored {
            cg.write_failed();
        }
        if let Some(m) = cg.members.get_mut(member_id) {
            m.awaiting_answer = false;
            m.expires_at = m.expires_at.max(Instant::now() + session);
        }
    }

    /// After replay: the restored members' session timers (a member that
    /// does not come back is removed when its session ends). Needs a
    /// tokio runtime; without one the members are dropped instead, since
    /// nothing would ever expire them.
    pub(crate) fn start_restored_members(&self) {
        let runtime = tokio::runtime::Handle::try_current().is_ok();
        let mut groups = crate::lock::lock(&self.groups);
        for (group_id, group) in groups.iter_mut() {
            let Some(cg) = group.consumer.as_mut() else {
                continue;
            };
            if !runtime {
                cg.members.clear();
                continue;
            }
            for m in cg.members.values() {
                self.spawn_consumer_timer(group_id, &m.id, m.timer_token, m.expires_at);
            }
            if !cg.members.is_empty() {
                tracing::info!(group = %group_id, members = cg.members.len(), epoch = cg.epoch,
                    "restored consumer group members");
            }
        }
    }
}

/// Tombstones for everything a deleted group has in `__consumer_offsets`
/// besides its offsets: the classic group record, and a consumer group's
/// own record and members.
pub(crate) fn group_tombstones(id: &str, group: &Group) -> Vec<KeyValue> {
    let mut records = vec![(
        Key::Group {
            group: id.to_string(),
        },
        None,
    )];
    if let Some(cg) = &group.consumer {
        records.push((
            Key::ConsumerGroup {
                group: id.to_string(),
            },
            None,
        ));
        for member in cg.persisted.members.keys() {
            records.push((
                Key::ConsumerMember {
                    group: id.to_string(),
                    member: member.clone(),
                },
                None,
            ));
        }
    }
    records
}
