//! Transactional offset commits (TxnOffsetCommit): offsets written as part
//! of a producer's transaction, which become a group's committed offsets
//! only when the transaction's COMMIT marker reaches `__consumer_offsets`
//! (`complete_txn`); an ABORT drops them. Until then OffsetFetch with
//! require_stable reports the partition unstable.

use std::future::Future;

use super::coordinator::GroupCoordinator;
use super::offsets::CommitRequest;
use super::records::{Key, OffsetValue};
use super::state::{Group, GroupState};
use super::store::TxnProducer;
use super::GroupError;
use crate::lock::lock;
use crate::server::now_ms;

type GroupResult<T> = std::result::Result<T, GroupError>;

impl GroupCoordinator {
    /// TxnOffsetCommit: as `commit`, but the offsets are written as part of
    /// `producer`'s transaction and take effect only when its COMMIT marker
    /// is written (`complete_txn`).
    pub fn commit_txn(
        &self,
        req: CommitRequest,
        producer: TxnProducer,
    ) -> impl Future<Output = Vec<GroupResult<()>>> + Send {
        self.commit_as(req, Some(producer))
    }

    /// A transaction's marker reached `__consumer_offsets`: its offsets
    /// become the committed ones (commit) or are dropped (abort).
    pub fn complete_txn(&self, producer_id: i64, commit: bool) {
        let records = self.log.take_txn(producer_id);
        if !commit || records.is_empty() {
            return;
        }
        let now = now_ms();
        let mut groups = lock(&self.groups);
        for (key, value) in records {
            let (
                Key::Offset {
                    group,
                    topic,
                    partition,
                },
                Some(value),
            ) = (key, value)
            else {
                continue;
            };
            match OffsetValue::decode(&value) {
                Ok(v) => {
                    groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now))
                        .offsets
                        .insert((topic, partition), v.into());
                }
                Err(e) => tracing::warn!(%group, error = %e, "skipping transactional offset"),
            }
        }
    }

    /// Whether an open transaction holds an offset for the partition.
    pub fn has_pending_txn_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.log.has_pending_txn_offset(group, topic, partition)
    }
}

/// TxnOffsetCommit's checks, Kafka's, looser than OffsetCommit's: the
/// member id and generation are checked only when given, so a producer
/// without the consumer's group metadata (v0-2) may commit for a live group.
pub(super) fn validate_txn_commit(group: &Group, req: &CommitRequest) -> GroupResult<()> {
    if group.state == GroupState::Dead {
        return Err(GroupError::CoordinatorNotAvailable(
            "group is being deleted".into(),
        ));
    }
    if let Some(cg) = &group.consumer {
        if req.member_id.is_empty() {
            return Ok(());
        }
        let m = cg
            .members
            .get(&req.member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        // TxnOffsetCommit has no STALE_MEMBER_EPOCH: Kafka answers this.
        if req.generation >= 0 && req.generation != m.epoch {
            return Err(GroupError::IllegalGeneration {
                got: req.generation,
                current: m.epoch,
            });
        }
        return Ok(());
    }
    if let (Some(instance), false) = (&req.instance_id, req.member_id.is_empty()) {
        if group
            .static_members
            .get(instance)
            .is_some_and(|current| *current != req.member_id)
        {
            return Err(GroupError::FencedInstanceId(req.member_id.clone()));
        }
    }
    if !req.member_id.is_empty() && !group.members.contains_key(&req.member_id) {
        return Err(GroupError::UnknownMemberId(req.member_id.clone()));
    }
    if req.generation >= 0 && req.generation != group.generation {
        return Err(GroupError::IllegalGeneration {
            got: req.generation,
            current: group.generation,
        });
    }
    Ok(())
}
