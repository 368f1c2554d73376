//! The streams assignor, run by the group's leader: tasks (partition
//! numbers of the co-partitioned inputs) spread evenly over the instances,
//! each instance keeping the tasks it already had where the balance
//! allows, so a rebalance moves as little state as it can.
//!
//! The group speaks the consumer protocol (protocol type `consumer`,
//! protocol `stream`, as Kafka Streams does), so `fjord group describe`
//! and Kafka's tools show members and their partitions. Fjord's own facts
//! travel in the user data, as JSON: an instance's host:port (for pull
//! queries) and the tasks it owns in its subscription; every instance's
//! tasks and host in each assignment.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedPartitions,
};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The protocol name in JoinGroup.
pub const PROTOCOL: &str = "stream";

/// What an instance tells the leader.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionInfo {
    /// host:port where the instance answers pull queries ("" if none).
    pub host: String,
    /// The tasks it owns now.
    pub owned: Vec<i32>,
}

/// What the leader tells each instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentInfo {
    /// This instance's tasks.
    pub tasks: Vec<i32>,
    /// Every instance's host:port and tasks, for routing pull queries.
    pub hosts: BTreeMap<String, Vec<i32>>,
}

fn protocol_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Topology(format!("group protocol: {what}: {e}"))
}

pub fn encode_subscription(topics: &[String], info: &SubscriptionInfo) -> Bytes {
    let s = ConsumerProtocolSubscription::default()
        .with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_user_data(Some(Bytes::from(
            serde_json::to_vec(info).unwrap_or_default(),
        )));
    versioned(&s, 0)
}

pub fn decode_subscription(bytes: &[u8]) -> Result<SubscriptionInfo> {
    let (version, mut body) = split_version(bytes)?;
    let s = ConsumerProtocolSubscription::decode(&mut body, version.min(1))
        .map_err(|e| protocol_error("subscription", e))?;
    user_data(s.user_data)
}

pub fn encode_assignment(topics: &[String], info: &AssignmentInfo) -> Bytes {
    let a = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            topics
                .iter()
                .map(|t| {
                    AssignedPartitions::default()
                        .with_topic(TopicName(StrBytes::from_string(t.clone())))
                        .with_partitions(info.tasks.clone())
                })
                .collect(),
        )
        .with_user_data(Some(Bytes::from(
            serde_json::to_vec(info).unwrap_or_default(),
        )));
    versioned(&a, 0)
}

pub fn decode_assignment(bytes: &[u8]) -> Result<AssignmentInfo> {
    if bytes.is_empty() {
        // A member the leader gave nothing (Kafka sends empty bytes).
        return Ok(AssignmentInfo::default());
    }
    let (version, mut body) = split_version(bytes)?;
    let a = ConsumerProtocolAssignment::decode(&mut body, version.min(1))
        .map_err(|e| protocol_error("assignment", e))?;
    user_data(a.user_data)
}

fn versioned(m: &impl Encodable, version: i16) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(version);
    // Encoding a message we built cannot fail at version 0.
    let _ = m.encode(&mut b, version);
    b.freeze()
}

fn split_version(bytes: &[u8]) -> Result<(i16, Bytes)> {
    if bytes.len() < 2 {
        return Err(protocol_error("metadata", "too short"));
    }
    Ok((
        i16::from_be_bytes([bytes[0], bytes[1]]),
        Bytes::copy_from_slice(&bytes[2..]),
    ))
}

fn user_data<T: for<'de> Deserialize<'de> + Default>(data: Option<Bytes>) -> Result<T> {
    match data {
        Some(d) if !d.is_empty() => {
            serde_json::from_slice(&d).map_err(|e| protocol_error("user data", e))
        }
        _ => Ok(T::default()),
    }
}

/// Spreads `tasks` tasks over `members` (member id -> subscription):
/// each gets `tasks / n` or one more, keeping what it owns up to that.
pub fn assign(
    members: &BTreeMap<String, SubscriptionInfo>,
    tasks: i32,
) -> BTreeMap<String, AssignmentInfo> {
    let n = members.len().max(1);
    let base = tasks as usize / n;
    let extra = tasks as usize % n;
    // Members in id order; the first `extra` may hold one more.
    let quota: BTreeMap<&String, usize> = members
        .keys()
        .enumerate()
        .map(|(i, m)| (m, base + usize::from(i < extra)))
        .collect();
    let mut given: BTreeMap<&String, Vec<i32>> = members.keys().map(|m| (m, Vec::new())).collect();
    let mut taken = vec![false; tasks.max(0) as usize];
    for (m, info) in members {
        for &t in &info.owned {
            let Some(slot) = usize::try_from(t).ok().filter(|&t| t < taken.len()) else {
                continue;
            };
            if !taken[slot] && given[m].len() < quota[m] {
                taken[slot] = true;
                given.get_mut(m).expect("member").push(t);
            }
        }
    }
    let mut free = (0..tasks).filter(|&t| !taken[t as usize]);
    for (m, list) in given.iter_mut() {
        while list.len() < quota[m] {
            match free.next() {
                Some(t) => list.push(t),
                None => break,
            }
        }
        list.sort_unstable();
    }
    let hosts: BTreeMap<String, Vec<i32>> = given
        .iter()
        .map(|(m, t)| (members[*m].host.clone(), t.clone()))
        .filter(|(h, _)| !h.is_empty())
        .collect();
    given
        .into_iter()
        .map(|(m, tasks)| {
            (
                m.clone(),
                AssignmentInfo {
                    tasks,
                    hosts: hosts.clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(owned: &[&[i32]]) -> BTreeMap<String, SubscriptionInfo> {
        owned
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    format!("m{i}"),
                    SubscriptionInfo {
                        host: format!("h{i}:1"),
                        owned: o.to_vec(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn tasks_spread_evenly_and_stay_where_they_were() {
        let a = assign(&members(&[&[], &[]]), 5);
        assert_eq!(a["m0"].tasks, vec![0, 1, 2]);
        assert_eq!(a["m1"].tasks, vec![3, 4]);
        assert_eq!(a["m0"].hosts["h1:1"], vec![3, 4]);
        // A third instance joins: the others keep what they can.
        let a = assign(&members(&[&[0, 1, 2], &[3, 4], &[]]), 5);
        assert_eq!(a["m0"].tasks, vec![0, 1]);
        assert_eq!(a["m1"].tasks, vec![3, 4]);
        assert_eq!(a["m2"].tasks, vec![2]);
        // One leaves: the survivor takes everything.
        let a = assign(&members(&[&[3, 4]]), 5);
        assert_eq!(a["m0"].tasks, vec![0, 1, 2, 3, 4]);
        // Owned tasks out of range or claimed twice are ignored.
        let a = assign(&members(&[&[9, 1], &[1]]), 2);
        let all: Vec<i32> = a.values().flat_map(|i| i.tasks.clone()).collect();
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn metadata_round_trips_in_the_consumer_protocol() {
        let info = SubscriptionInfo {
            host: "127.0.0.1:9000".into(),
            owned: vec![1],
        };
        let b = encode_subscription(&["bids".into()], &info);
        assert_eq!(decode_subscription(&b).unwrap(), info);
        let a = AssignmentInfo {
            tasks: vec![0, 2],
            hosts: BTreeMap::new(),
        };
        let b = encode_assignment(&["bids".into()], &a);
        assert_eq!(decode_assignment(&b).unwrap(), a);
        // Kafka's own decoder reads it as a consumer assignment.
        let decoded = fjord_kafka_client::decode_consumer_assignment(&b).unwrap();
        assert_eq!(decoded.assigned_partitions[0].partitions, vec![0, 2]);
        assert!(decode_subscription(b"x").is_err());
    }
}
