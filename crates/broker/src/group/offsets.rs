//! Committed offsets (OffsetCommit, OffsetFetch, OffsetDelete) and the
//! group admin operations (DescribeGroups, ListGroups, DeleteGroups).
//!
//! A commit is in memory once it is written to `__consumer_offsets`, and
//! acknowledged once that write is fsynced. A transactional commit
//! (TxnOffsetCommit) is in memory only once its transaction's COMMIT marker
//! is written.

use std::future::Future;

use bytes::Bytes;
use tokio::time::Instant;

use super::consumer_protocol::{self, group_tombstones, ConsumerGroup};
use super::coordinator::{drop_if_unused, validate_member, GroupCoordinator};
use super::expiry::offset_tombstones;
use super::records::{Key, OffsetValue};
use super::state::{Group, GroupState};
use super::store::{Pending, TxnProducer};
use super::GroupError;
use crate::lock::lock;
use crate::server::now_ms;

type GroupResult<T> = std::result::Result<T, GroupError>;

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    /// -1 when the client did not say.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

impl From<OffsetValue> for Committed {
    fn from(v: OffsetValue) -> Committed {
        Committed {
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata,
            commit_timestamp: v.commit_timestamp,
        }
    }
}

/// An OffsetCommit, for partitions the caller has checked exist.
pub struct CommitRequest {
    pub group_id: String,
    /// -1 with an empty member id: a "simple" commit from a consumer that
    /// assigns its partitions itself.
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// (topic, partition, offset, leader epoch, metadata)
    pub offsets: Vec<(String, i32, i64, i32, String)>,
}

/// DescribeGroups' view of a group.
pub struct GroupSummary {
    pub state: GroupState,
    /// The state as clients see it: a classic state's name, or a consumer
    /// group's (Empty, Assigning, Reconciling, Stable).
    pub state_name: &'static str,
    pub protocol_type: String,
    /// The chosen protocol, once the group is Stable.
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Metadata for the chosen protocol and the assignment (Stable only).
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// ListGroups' view of a group.
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
    /// As `GroupSummary::state_name`.
    pub state_name: &'static str,
    /// "classic" or "consumer" (ListGroups v5).
    pub group_type: &'static str,
}

impl GroupCoordinator {
    /// Commits offsets; the future yields one result per requested offset,
    /// in order, once the commit is durable.
    pub fn commit(&self, req: CommitRequest) -> impl Future<Output = Vec<GroupResult<()>>> + Send {
        self.commit_as(req, None)
    }

    pub(super) fn commit_as(
        &self,
        req: CommitRequest,
        producer: Option<TxnProducer>,
    ) -> impl Future<Output = Vec<GroupResult<()>>> + Send {
        let n = req.offsets.len();
        let prepared = self.prepare_commit(req, producer);
        async move {
            match prepared {
                Err(e) => vec![Err(e); n],
                Ok((results, None)) => results,
                Ok((results, Some(pending))) => match pending.durable().await {
                    Ok(()) => results,
                    Err(e) => results.into_iter().map(|r| r.and(Err(e.clone()))).collect(),
                },
            }
        }
    }

    fn prepare_commit(
        &self,
        req: CommitRequest,
        producer: Option<TxnProducer>,
    ) -> GroupResult<(Vec<GroupResult<()>>, Option<Pending>)> {
        let mut groups = lock(&self.groups);
        let simple = req.generation < 0 && req.member_id.is_empty() && req.instance_id.is_none();
        if !groups.contains_key(&req.group_id) {
            // Kafka creates the group for a transactional commit whatever it
            // carries; the member checks below then apply.
            if !simple && producer.is_none() {
                return Err(GroupError::IllegalGeneration {
                    got: req.generation,
                    current: -1,
                });
            }
            groups.insert(req.group_id.clone(), Group::new(&req.group_id, now_ms()));
        }
        let group = groups.get_mut(&req.group_id).expect("present");
        let checked = match producer {
            Some(_) => super::txn_offsets::validate_txn_commit(group, &req),
            None => validate_commit(group, &req, simple),
        };
        if let Err(e) = checked {
            drop_if_unused(&mut groups, &req.group_id);
            return Err(e);
        }
        let max = self.config.max_metadata_bytes;
        let now = now_ms();
        let mut results = Vec::with_capacity(req.offsets.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for (topic, partition, offset, leader_epoch, metadata) in req.offsets {
            if metadata.len() > max {
                results.push(Err(GroupError::OffsetMetadataTooLarge(metadata.len())));
                continue;
            }
            let value = OffsetValue {
                offset,
                leader_epoch,
                metadata,
                commit_timestamp: now,
            };
            records.push((
                Key::Offset {
                    group: req.group_id.clone(),
                    topic: topic.clone(),
                    partition,
                },
                Some(value.encode()),
            ));
            accepted.push(((topic, partition), Committed::from(value)));
            results.push(Ok(()));
        }
        if records.is_empty() {
            drop_if_unused(&mut groups, &req.group_id);
            return Ok((results, None));
        }
        let appended = match producer {
            Some(p) => self.log.append_txn(&req.group_id, &records, p),
            None => self.log.append(&req.group_id, &records),
        };
        let pending = match appended {
            Ok(p) => p,
            Err(e) => {
                drop_if_unused(&mut groups, &req.group_id);
                return Err(e);
            }
        };
        // Transactional offsets wait for their marker (`complete_txn`).
        if producer.is_none() {
            group.offsets.extend(accepted);
        }
        Ok((results, Some(pending)))
    }

    /// Committed offsets of a group: of the given (topic, partitions), or of
    /// everything committed when `topics` is None. A group or partition
    /// without a commit yields None.
    #[allow(clippy::type_complexity)]
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<(i32, Option<Committed>)>)> {
        let groups = lock(&self.groups);
        let group = groups.get(group_id);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let found = parts
                        .into_iter()
                        .map(|p| {
                            let c = group.and_then(|g| g.offsets.get(&(t.clone(), p)).cloned());
                            (p, c)
                        })
                        .collect();
                    (t, found)
                })
                .collect(),
            None => {
                let mut out: Vec<(String, Vec<(i32, Option<Committed>)>)> = Vec::new();
                for ((t, p), c) in group.map(|g| g.offsets.iter()).into_iter().flatten() {
                    match out.last_mut() {
                        Some((last, parts)) if last == t => parts.push((*p, Some(c.clone()))),
                        _ => out.push((t.clone(), vec![(*p, Some(c.clone()))])),
                    }
                }
                out
            }
        }
    }

    /// OffsetDelete: removes committed offsets, except of topics that the
    /// group's members are subscribed to.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> impl Future<Output = GroupResult<Vec<GroupResult<()>>>> + Send {
        let prepared = self.prepare_delete_offsets(group_id, partitions);
        async move {
            let (results, pending) = prepared?;
            if let Some(p) = pending {
                p.durable().await?;
            }
            Ok(results)
        }
    }

    #[allow(clippy::type_complexity)]
    fn prepare_delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> GroupResult<(Vec<GroupResult<()>>, Option<Pending>)> {
        let mut groups = lock(&self.groups);
        let group = groups
            .get_mut(group_id)
            .filter(|g| g.state != GroupState::Dead)
            .ok_or_else(|| GroupError::GroupIdNotFound(group_id.to_string()))?;
        let subscribed = if group.state == GroupState::Empty {
            Some(Default::default())
        } else if group.protocol_type.as_deref() == Some("consumer") {
            group.subscribed_topics()
        } else {
            return Err(GroupError::NonEmptyGroup);
        };
        let mut results = Vec::with_capacity(partitions.len());
        let mut records = Vec::new();
        let mut removed = Vec::new();
        for (topic, partition) in partitions {
            if subscribed.as_ref().is_none_or(|s| s.contains(&topic)) {
                results.push(Err(GroupError::GroupSubscribedToTopic(topic)));
                continue;
            }
            if group.offsets.contains_key(&(topic.clone(), partition)) {
                records.push((
                    Key::Offset {
                        group: group_id.to_string(),
                        topic: topic.clone(),
                        partition,
                    },
                    None,
                ));
                removed.push((topic, partition));
            }
            results.push(Ok(()));
        }
        if records.is_empty() {
            return Ok((results, None));
        }
        let pending = self.log.append(group_id, &records)?;
        for k in removed {
            group.offsets.remove(&k);
        }
        Ok((results, Some(pending)))
    }

    /// DeleteGroups: each group must have no members; its offsets and
    /// metadata are tombstoned.
    pub fn delete_groups(
        &self,
        ids: Vec<String>,
    ) -> impl Future<Output = Vec<(String, GroupResult<()>)>> + Send {
        let mut prepared = Vec::with_capacity(ids.len());
        {
            let mut groups = lock(&self.groups);
            for id in ids {
                let r = match groups.get(&id) {
                    None => Err(GroupError::GroupIdNotFound(id.clone())),
                    Some(g) if g.state == GroupState::Dead => {
                        Err(GroupError::GroupIdNotFound(id.clone()))
                    }
                    Some(g)
                        if !g.members.is_empty()
                            || g.state != GroupState::Empty
                            || g.consumer.as_ref().is_some_and(|c| !c.members.is_empty()) =>
                    {
                        Err(GroupError::NonEmptyGroup)
                    }
                    Some(g) => {
                        let mut records = offset_tombstones(&id, g.offsets.keys().cloned());
                        records.extend(group_tombstones(&id, g));
                        self.log.append(&id, &records).inspect(|_| {
                            groups.remove(&id);
                            tracing::info!(group = %id, "deleted group");
                        })
                    }
                };
                prepared.push((id, r));
            }
        }
        async move {
            let mut out = Vec::with_capacity(prepared.len());
            for (id, r) in prepared {
                let r = match r {
                    Ok(p) => p.durable().await,
                    Err(e) => Err(e),
                };
                out.push((id, r));
            }
            out
        }
    }

    /// DescribeGroups for one group.
    pub fn describe(&self, group_id: &str) -> GroupResult<GroupSummary> {
        let groups = lock(&self.groups);
        let g = groups
            .get(group_id)
            .ok_or_else(|| GroupError::GroupIdNotFound(group_id.to_string()))?;
        if let Some(cg) = &g.consumer {
            return Ok(consumer_summary(cg));
        }
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        Ok(GroupSummary {
            state: g.state,
            state_name: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members_in_join_order()
                .map(|m| MemberSummary {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// Every group, sorted by id.
    pub fn list(&self) -> Vec<GroupListing> {
        let groups = lock(&self.groups);
        let mut out: Vec<GroupListing> = groups
            .values()
            .map(|g| match &g.consumer {
                Some(cg) => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: "consumer".to_string(),
                    state: g.state,
                    state_name: cg.state_name(),
                    group_type: "consumer",
                },
                None => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state: g.state,
                    state_name: g.state.name(),
                    group_type: "classic",
                },
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }
}

fn validate_commit(group: &mut Group, req: &CommitRequest, simple: bool) -> GroupResult<()> {
    if group.state == GroupState::Dead {
        return Err(GroupError::CoordinatorNotAvailable(
            "group is being deleted".into(),
        ));
    }
    if let Some(cg) = &group.consumer {
        return validate_consumer_commit(cg, req, simple);
    }
    if simple {
        if !group.members.is_empty() {
            return Err(GroupError::UnknownMemberId(String::new()));
        }
        return Ok(());
    }
    validate_member(group, &req.member_id, req.instance_id.as_deref())?;
    if req.generation != group.generation {
        return Err(GroupError::IllegalGeneration {
            got: req.generation,
            current: group.generation,
        });
    }
    if group.state == GroupState::CompletingRebalance {
        return Err(GroupError::RebalanceInProgress);
    }
    let m = group.members.get_mut(&req.member_id).expect("validated");
    m.expires_at = Instant::now() + m.session_timeout;
    Ok(())
}

/// A commit to a consumer-protocol group (KIP-848): the generation field
/// carries the member epoch, which must be the member's current one.
fn validate_consumer_commit(
    cg: &ConsumerGroup,
    req: &CommitRequest,
    simple: bool,
) -> GroupResult<()> {
    if simple {
        if !cg.members.is_empty() {
            return Err(GroupError::UnknownMemberId(String::new()));
        }
        return Ok(());
    }
    let m = cg
        .members
        .get(&req.member_id)
        .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
    if req.generation != m.epoch {
        return Err(GroupError::StaleMemberEpoch {
            got: req.generation,
            current: m.epoch,
        });
    }
    Ok(())
}

/// DescribeGroups' view of a consumer-protocol group: its members with
/// their subscription and current assignment in the classic consumer
/// protocol's encoding, so classic tools can read them.
fn consumer_summary(cg: &ConsumerGroup) -> GroupSummary {
    let state_name = cg.state_name();
    GroupSummary {
        state: if cg.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        },
        state_name,
        protocol_type: "consumer".to_string(),
        protocol: if cg.members.is_empty() {
            String::new()
        } else {
            cg.choose_assignor()
        },
        members: cg
            .members
            .values()
            .map(|m| MemberSummary {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: consumer_protocol::encode_subscription(&m.subscribed),
                assignment: consumer_protocol::encode_assignment(&m.assigned),
            })
            .collect(),
    }
}
