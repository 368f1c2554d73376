//! What Kafka removes from `__consumer_offsets` by itself: the committed
//! offsets of a group that has been empty for offsets.retention.minutes
//! (KIP-211), and the offsets of partitions whose topic was deleted.
//! Both are written as tombstones, so compaction drops the records and a
//! restart does not bring them back.

use bytes::Bytes;

use super::consumer_protocol::group_tombstones;
use super::coordinator::GroupCoordinator;
use super::records::Key;
use super::state::{Group, GroupState};
use crate::lock::lock;

impl GroupCoordinator {
    /// Removes the committed offsets of every group with no members whose
    /// last activity (the later of its becoming empty and its last commit)
    /// is at least `retention_ms` old, and then the group itself; and the
    /// offsets, in every group, of topics for which `topic_exists` says no.
    /// Returns how many offsets went. Runs on the maintenance pass.
    pub fn expire_offsets(
        &self,
        now_ms: i64,
        retention_ms: i64,
        topic_exists: &dyn Fn(&str) -> bool,
    ) -> usize {
        let mut groups = lock(&self.groups);
        let mut expired = 0;
        let ids: Vec<String> = groups.keys().cloned().collect();
        for id in ids {
            let Some(group) = groups.get_mut(&id) else {
                continue;
            };
            let idle_since = group
                .offsets
                .values()
                .map(|c| c.commit_timestamp)
                .max()
                .unwrap_or(i64::MIN)
                .max(group.state_since_ms);
            let whole_group = is_empty(group) && now_ms.saturating_sub(idle_since) >= retention_ms;
            let doomed: Vec<(String, i32)> = group
                .offsets
                .keys()
                .filter(|(topic, _)| whole_group || !topic_exists(topic))
                .cloned()
                .collect();
            if doomed.is_empty() {
                continue;
            }
            let mut records = offset_tombstones(&id, doomed.iter().cloned());
            if whole_group {
                records.extend(group_tombstones(&id, group));
            }
            if let Err(e) = self.log.append(&id, &records) {
                tracing::warn!(group = %id, error = %e, "could not expire committed offsets; will try again");
                continue;
            }
            for k in &doomed {
                group.offsets.remove(k);
            }
            expired += doomed.len();
            if whole_group {
                groups.remove(&id);
                tracing::info!(group = %id, offsets = doomed.len(), "expired an empty group's committed offsets (offsets.retention.minutes)");
            } else {
                tracing::info!(group = %id, offsets = doomed.len(), "removed committed offsets of deleted topics");
            }
        }
        expired
    }
}

/// Tombstones for `group`'s committed offsets of `partitions`.
pub(super) fn offset_tombstones(
    group: &str,
    partitions: impl Iterator<Item = (String, i32)>,
) -> Vec<(Key, Option<Bytes>)> {
    partitions
        .map(|(topic, partition)| {
            let key = Key::Offset {
                group: group.to_string(),
                topic,
                partition,
            };
            (key, None)
        })
        .collect()
}

/// No members, classic or KIP-848, and none on the way in.
fn is_empty(group: &Group) -> bool {
    group.state == GroupState::Empty
        && group.members.is_empty()
        && group.pending.is_empty()
        && group.consumer.as_ref().is_none_or(|c| c.members.is_empty())
}
