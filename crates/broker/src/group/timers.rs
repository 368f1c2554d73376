//! The coordinator's timers: a member's session, a handed-out member id
//! waiting for its second JoinGroup, and a group's join phase. Each is a
//! tokio task that sleeps until a deadline, then re-checks under the lock
//! that what it was started for still holds (the member's timer token, the
//! rebalance id) and either acts, or sleeps until the new deadline. No
//! polling: heartbeats only move a deadline, and the task that wakes early
//! goes back to sleep.

use std::time::Duration;

use tokio::time::Instant;

use crate::lock::lock;

use super::coordinator::{answer_removed, drop_if_unused, GroupCoordinator};
use super::GroupError;

impl GroupCoordinator {
    pub(super) fn spawn_session_timer(
        &self,
        group: &str,
        member: &str,
        token: u64,
        first: Instant,
    ) {
        let (group, member) = (group.to_string(), member.to_string());
        self.spawn_deadline_timer(first, move |c| c.check_session(&group, &member, token));
    }

    /// A timer task: runs `check` at `first` and then at each time it
    /// returns, until it returns None or the coordinator is gone.
    pub(super) fn spawn_deadline_timer(
        &self,
        first: Instant,
        check: impl Fn(&GroupCoordinator) -> Option<Instant> + Send + 'static,
    ) {
        let me = self.me.clone();
        tokio::spawn(async move {
            let mut wake = first;
            loop {
                tokio::time::sleep_until(wake).await;
                let Some(c) = me.upgrade() else { return };
                match check(&c) {
                    Some(next) => wake = next,
                    None => return,
                }
            }
        });
    }

    /// The next time to look again, or None once the timer is done.
    fn check_session(&self, group_id: &str, member_id: &str, token: u64) -> Option<Instant> {
        let mut groups = lock(&self.groups);
        let group = groups.get_mut(group_id)?;
        let m = group
            .members
            .get(member_id)
            .filter(|m| m.timer_token == token)?;
        let now = Instant::now();
        if m.is_waiting() {
            return Some(now + m.session_timeout);
        }
        if m.expires_at > now {
            return Some(m.expires_at);
        }
        tracing::info!(group = %group_id, member = %member_id, "member session expired");
        if let Some(m) = group.remove_member(member_id) {
            answer_removed(m, GroupError::UnknownMemberId(member_id.to_string()));
        }
        self.member_removed(group, now);
        None
    }

    pub(super) fn spawn_pending_timer(&self, group: &str, member: &str, timeout: Duration) {
        let me = self.me.clone();
        let (group, member) = (group.to_string(), member.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(c) = me.upgrade() else { return };
            let mut groups = lock(&c.groups);
            if let Some(g) = groups.get_mut(&group) {
                if g.pending.remove(&member) {
                    c.try_complete_join(g, Instant::now());
                }
            }
            drop_if_unused(&mut groups, &group);
        });
    }

    pub(super) fn spawn_rebalance_timer(&self, group: &str, id: u64, first: Instant) {
        let group = group.to_string();
        self.spawn_deadline_timer(first, move |c| c.check_rebalance(&group, id));
    }

    fn check_rebalance(&self, group_id: &str, id: u64) -> Option<Instant> {
        let mut groups = lock(&self.groups);
        let group = groups.get_mut(group_id)?;
        let rb = group.rebalance.as_ref().filter(|rb| rb.id == id)?;
        let (deadline, not_before) = (rb.deadline, rb.not_before);
        let now = Instant::now();
        self.try_complete_join(group, now);
        group.rebalance.as_ref()?;
        Some(if now < not_before {
            not_before.min(deadline)
        } else {
            deadline
        })
    }
}
