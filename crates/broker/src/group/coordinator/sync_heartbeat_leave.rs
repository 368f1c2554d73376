//! SyncGroup, Heartbeat and LeaveGroup: what a member does once it has
//! joined. Split from coordinator.rs (JoinGroup and rebalancing) to keep each
//! file to one part of the protocol; as a child module it shares the
//! coordinator's private state and helpers.

use super::*;

/// How long a group's next rebalance waits after its assignment could not
/// be stored.
const STORE_RETRY_PAUSE: Duration = Duration::from_secs(1);

impl GroupCoordinator {
    // ---- SyncGroup ----

    pub fn sync(&self, req: SyncRequest) -> oneshot::Receiver<SyncOutcome> {
        let (tx, rx) = oneshot::channel();
        let mut groups = lock(&self.groups);
        let Some(group) = groups.get_mut(&req.group_id) else {
            let _ = tx.send(Err(GroupError::UnknownMemberId(req.member_id)));
            return rx;
        };
        if let Err(e) = self.validate_sync(group, &req) {
            let _ = tx.send(Err(e));
            return rx;
        }
        let now = Instant::now();
        let protocol = (group.protocol_type.clone(), group.protocol_name.clone());
        match group.state {
            GroupState::Stable => {
                let m = &group.members[&req.member_id];
                let _ = tx.send(Ok((m.assignment.clone(), protocol.0, protocol.1)));
            }
            GroupState::CompletingRebalance => {
                let m = group.members.get_mut(&req.member_id).expect("validated");
                m.expires_at = now + m.session_timeout;
                if let Some(old) = m.awaiting_sync.replace(tx) {
                    let _ = old.send(Err(GroupError::RebalanceInProgress));
                }
                if group.leader.as_deref() == Some(req.member_id.as_str()) {
                    self.apply_assignment(group, req.assignments, now);
                }
            }
            GroupState::PreparingRebalance => {
                let _ = tx.send(Err(GroupError::RebalanceInProgress));
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(Err(GroupError::UnknownMemberId(req.member_id)));
            }
        }
        rx
    }

    fn validate_sync(
        &self,
        group: &Group,
        req: &SyncRequest,
    ) -> std::result::Result<(), GroupError> {
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(
                "group is being deleted".into(),
            ));
        }
        validate_member(group, &req.member_id, req.instance_id.as_deref())?;
        if req.generation != group.generation {
            return Err(GroupError::IllegalGeneration {
                got: req.generation,
                current: group.generation,
            });
        }
        let mismatch = |given: &Option<String>, ours: &Option<String>| {
            given.is_some() && ours.is_some() && given != ours
        };
        if mismatch(&req.protocol_type, &group.protocol_type)
            || mismatch(&req.protocol_name, &group.protocol_name)
        {
            return Err(GroupError::InconsistentGroupProtocol(
                "protocol type or name differs from the group's".into(),
            ));
        }
        Ok(())
    }

    /// The leader's SyncGroup: store the assignment, then (once it is on
    /// disk) answer every member waiting for it. If it cannot be stored,
    /// the members get COORDINATOR_NOT_AVAILABLE and rejoin, and the next
    /// rebalance waits [`STORE_RETRY_PAUSE`]: librdkafka rejoins at once,
    /// which on a failing disk spun thousands of rebalances a second.
    fn apply_assignment(&self, group: &mut Group, assignments: Vec<(String, Bytes)>, now: Instant) {
        for (id, a) in assignments {
            if let Some(m) = group.members.get_mut(&id) {
                m.assignment = a;
            }
        }
        match self.persist_group(group) {
            Err(e) => {
                tracing::error!(group = %group.id, error = %e, "storing the assignment failed");
                for m in group.members.values_mut() {
                    m.assignment = Bytes::new();
                    if let Some(tx) = m.awaiting_sync.take() {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
                self.prepare_rebalance(group, now);
            }
            Ok(pending) => {
                group.set_state(GroupState::Stable, now_ms());
                tracing::info!(group = %group.id, generation = group.generation, "group is stable");
                let (pt, pn) = (group.protocol_type.clone(), group.protocol_name.clone());
                let waiters: Vec<_> = group
                    .members
                    .values_mut()
                    .filter_map(|m| {
                        let tx = m.awaiting_sync.take()?;
                        // The session restarts with the answer (as in Kafka).
                        m.expires_at = now + m.session_timeout;
                        Some((tx, m.assignment.clone()))
                    })
                    .collect();
                let (me, id, generation) = (self.me.clone(), group.id.clone(), group.generation);
                tokio::spawn(async move {
                    let stored = pending.durable().await;
                    if let (Err(e), Some(c)) = (&stored, me.upgrade()) {
                        tracing::error!(group = %id, generation, error = %e,
                            "storing the assignment failed; the members rejoin after a pause");
                        if let Some(g) = lock(&c.groups).get_mut(&id) {
                            g.store_failed_until = Some(Instant::now() + STORE_RETRY_PAUSE);
                        }
                    }
                    for (tx, a) in waiters {
                        let _ = tx.send(match &stored {
                            Ok(()) => Ok((a, pt.clone(), pn.clone())),
                            Err(e) => Err(e.clone()),
                        });
                    }
                });
            }
        }
    }

    // ---- Heartbeat ----

    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> std::result::Result<(), GroupError> {
        let mut groups = lock(&self.groups);
        let group = groups
            .get_mut(group_id)
            .ok_or_else(|| GroupError::UnknownMemberId(member_id.to_string()))?;
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(
                "group is being deleted".into(),
            ));
        }
        validate_member(group, member_id, instance_id)?;
        if generation != group.generation {
            return Err(GroupError::IllegalGeneration {
                got: generation,
                current: group.generation,
            });
        }
        let m = group.members.get_mut(member_id).expect("validated");
        m.expires_at = Instant::now() + m.session_timeout;
        match group.state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Empty => Err(GroupError::UnknownMemberId(member_id.to_string())),
            _ => Ok(()),
        }
    }

    // ---- LeaveGroup ----

    pub fn leave(
        &self,
        group_id: &str,
        members: Vec<(String, Option<String>)>,
    ) -> std::result::Result<LeaveOutcome, GroupError> {
        let mut groups = lock(&self.groups);
        let group = groups
            .get_mut(group_id)
            .ok_or_else(|| GroupError::UnknownMemberId(String::new()))?;
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(
                "group is being deleted".into(),
            ));
        }
        let mut out = Vec::with_capacity(members.len());
        let mut removed = false;
        for (member_id, instance_id) in members {
            let result = match &instance_id {
                Some(instance) => match group.static_members.get(instance).cloned() {
                    None => Err(GroupError::UnknownMemberId(member_id.clone())),
                    Some(current) if !member_id.is_empty() && current != member_id => {
                        Err(GroupError::FencedInstanceId(member_id.clone()))
                    }
                    Some(current) => Ok(current),
                },
                None if group.pending.remove(&member_id) => {
                    out.push((member_id, instance_id, Ok(())));
                    removed = true;
                    continue;
                }
                None if group.members.contains_key(&member_id) => Ok(member_id.clone()),
                None => Err(GroupError::UnknownMemberId(member_id.clone())),
            };
            let result = result.map(|id| {
                if let Some(m) = group.remove_member(&id) {
                    answer_removed(m, GroupError::UnknownMemberId(id.clone()));
                    tracing::info!(group = %group.id, member = %id, "member left");
                    removed = true;
                }
            });
            out.push((member_id, instance_id, result));
        }
        if removed {
            self.member_removed(group, Instant::now());
        }
        Ok(out)
    }

    /// After a member is gone: a settled group rebalances; a rebalancing
    /// one may now be complete.
    pub(in crate::group) fn member_removed(&self, group: &mut Group, now: Instant) {
        if matches!(
            group.state,
            GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(group, now);
        }
        self.try_complete_join(group, now);
    }
}
