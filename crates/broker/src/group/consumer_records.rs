//! The records that keep a KIP-848 consumer group across a broker restart,
//! in `__consumer_offsets` beside the classic ones: one per group (its
//! epochs, assignor and the partition counts its target was computed for)
//! and one per member (who it is, what it subscribes to, where it is in
//! reconciling, what it owns and its target). Kafka keeps the same facts
//! in its records of key versions 3 to 8; the layout here is Fjord's own,
//! under key versions Kafka does not use ([`CONSUMER_GROUP_KEY_VERSION`],
//! [`CONSUMER_MEMBER_KEY_VERSION`]), so a Kafka tool reading the topic
//! skips them as unknown instead of misreading them.
//!
//! Values (big-endian, strings as int16 length + UTF-8, arrays as int32
//! count; a null value is a tombstone: the member or group is gone):
//! - group, value version 0: epoch int32, assignment epoch int32,
//!   assignor string, topics [name string, partitions int32];
//! - member, value version 0: instance id (nullable), rack id (nullable),
//!   client id, client host, subscribed [string], assignor (nullable),
//!   rebalance timeout ms int32, epoch int32, previous epoch int32, state
//!   int8 (0 stable, 1 unrevoked, 2 unreleased), left static int8,
//!   assigned, pending revocation and target, each an assignment
//!   [topic string, [partition int32]].
//!
//! An on-disk format: never change what a version number means.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};

use super::consumer_protocol::{Assignment, MemberState};
use super::records::RecordError;
use crate::record_fields::{
    get_i16, get_i32, get_i8, get_nullable_str, get_str, put_nullable_str, put_str,
};

/// Key version of a consumer group's record: Kafka's key versions stop
/// well below (0..=16 in Kafka 4.0).
pub const CONSUMER_GROUP_KEY_VERSION: i16 = 1000;
/// Key version of a consumer group member's record.
pub const CONSUMER_MEMBER_KEY_VERSION: i16 = 1001;
const VALUE_VERSION: i16 = 0;

/// A consumer group's own state, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupValue {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub topic_partitions: BTreeMap<String, i32>,
}

/// One member of a consumer group, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: BTreeSet<String>,
    pub assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub left_static: bool,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    pub target: Assignment,
}

fn check_version(b: &mut &[u8], what: &str) -> Result<(), RecordError> {
    match get_i16(b)? {
        VALUE_VERSION => Ok(()),
        v => Err(RecordError::new(format!(
            "unknown {what} value version {v}"
        ))),
    }
}

/// A count read from the record, refused when negative or larger than
/// the bytes left could hold (each element takes at least `min` bytes),
/// so garbage never drives an allocation.
fn get_count(b: &mut &[u8], min: usize) -> Result<usize, RecordError> {
    let n = get_i32(b)?;
    if n < 0 || n as usize > b.len() / min.max(1) {
        return Err(RecordError::new(format!("bad array length {n}")));
    }
    Ok(n as usize)
}

impl ConsumerGroupValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(VALUE_VERSION);
        b.put_i32(self.epoch);
        b.put_i32(self.assignment_epoch);
        put_str(&mut b, &self.assignor);
        b.put_i32(self.topic_partitions.len() as i32);
        for (topic, n) in &self.topic_partitions {
            put_str(&mut b, topic);
            b.put_i32(*n);
        }
        b.freeze()
    }

    pub fn decode(mut b: &[u8]) -> Result<ConsumerGroupValue, RecordError> {
        check_version(&mut b, "consumer group")?;
        let epoch = get_i32(&mut b)?;
        let assignment_epoch = get_i32(&mut b)?;
        let assignor = get_str(&mut b)?;
        let mut topic_partitions = BTreeMap::new();
        for _ in 0..get_count(&mut b, 6)? {
            let topic = get_str(&mut b)?;
            topic_partitions.insert(topic, get_i32(&mut b)?);
        }
        Ok(ConsumerGroupValue {
            epoch,
            assignment_epoch,
            assignor,
            topic_partitions,
        })
    }
}

impl ConsumerMemberValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(VALUE_VERSION);
        put_nullable_str(&mut b, self.instance_id.as_deref());
        put_nullable_str(&mut b, self.rack_id.as_deref());
        put_str(&mut b, &self.client_id);
        put_str(&mut b, &self.client_host);
        b.put_i32(self.subscribed.len() as i32);
        for t in &self.subscribed {
            put_str(&mut b, t);
        }
        put_nullable_str(&mut b, self.assignor.as_deref());
        b.put_i32(self.rebalance_timeout_ms);
        b.put_i32(self.epoch);
        b.put_i32(self.previous_epoch);
        b.put_i8(match self.state {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        });
        b.put_i8(self.left_static as i8);
        for a in [&self.assigned, &self.pending_revocation, &self.target] {
            put_assignment(&mut b, a);
        }
        b.freeze()
    }

    pub fn decode(mut b: &[u8]) -> Result<ConsumerMemberValue, RecordError> {
        check_version(&mut b, "consumer member")?;
        let instance_id = get_nullable_str(&mut b)?;
        let rack_id = get_nullable_str(&mut b)?;
        let client_id = get_str(&mut b)?;
        let client_host = get_str(&mut b)?;
        let mut subscribed = BTreeSet::new();
        for _ in 0..get_count(&mut b, 2)? {
            subscribed.insert(get_str(&mut b)?);
        }
        let assignor = get_nullable_str(&mut b)?;
        let rebalance_timeout_ms = get_i32(&mut b)?;
        let epoch = get_i32(&mut b)?;
        let previous_epoch = get_i32(&mut b)?;
        let state = match get_i8(&mut b)? {
            0 => MemberState::Stable,
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            s => return Err(RecordError::new(format!("unknown member state {s}"))),
        };
        let left_static = get_i8(&mut b)? != 0;
        Ok(ConsumerMemberValue {
            instance_id,
            rack_id,
            client_id,
            client_host,
            subscribed,
            assignor,
            rebalance_timeout_ms,
            epoch,
            previous_epoch,
            state,
            left_static,
            assigned: get_assignment(&mut b)?,
            pending_revocation: get_assignment(&mut b)?,
            target: get_assignment(&mut b)?,
        })
    }
}

fn put_assignment(b: &mut BytesMut, a: &Assignment) {
    let topics: Vec<_> = a.iter().filter(|(_, p)| !p.is_empty()).collect();
    b.put_i32(topics.len() as i32);
    for (topic, partitions) in topics {
        put_str(b, topic);
        b.put_i32(partitions.len() as i32);
        for p in partitions {
            b.put_i32(*p);
        }
    }
}

fn get_assignment(b: &mut &[u8]) -> Result<Assignment, RecordError> {
    let mut a = Assignment::new();
    for _ in 0..get_count(b, 6)? {
        let topic = get_str(b)?;
        let mut partitions = BTreeSet::new();
        for _ in 0..get_count(b, 4)? {
            partitions.insert(get_i32(b)?);
        }
        a.insert(topic, partitions);
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::Key;

    fn member() -> ConsumerMemberValue {
        ConsumerMemberValue {
            instance_id: Some("i".into()),
            rack_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            subscribed: ["a".to_string(), "b".to_string()].into(),
            assignor: Some("range".into()),
            rebalance_timeout_ms: 30_000,
            epoch: 7,
            previous_epoch: 6,
            state: MemberState::UnrevokedPartitions,
            left_static: true,
            assigned: [("a".to_string(), BTreeSet::from([0, 2]))].into(),
            pending_revocation: [("b".to_string(), BTreeSet::from([1]))].into(),
            target: [("a".to_string(), BTreeSet::from([0, 2, 3]))].into(),
        }
    }

    #[test]
    fn keys_and_values_round_trip() {
        for k in [
            Key::ConsumerGroup { group: "g".into() },
            Key::ConsumerMember {
                group: "g".into(),
                member: "m".into(),
            },
        ] {
            assert_eq!(Key::decode(&k.encode()).unwrap(), k);
        }
        let g = ConsumerGroupValue {
            epoch: 3,
            assignment_epoch: 2,
            assignor: "uniform".into(),
            topic_partitions: [("a".to_string(), 4)].into(),
        };
        assert_eq!(ConsumerGroupValue::decode(&g.encode()).unwrap(), g);
        let m = member();
        assert_eq!(ConsumerMemberValue::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn truncated_or_garbled_values_are_errors_not_panics() {
        let m = member().encode();
        for n in 0..m.len() {
            assert!(ConsumerMemberValue::decode(&m[..n]).is_err(), "{n}");
        }
        let mut huge = m.to_vec();
        // The subscribed count claims more topics than bytes remain.
        // version 2, instance 2+1, rack (null) 2, client 2+1, host 2+10.
        let at = 22;
        huge[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(ConsumerMemberValue::decode(&huge).is_err());
    }
}
