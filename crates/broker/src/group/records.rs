//! The record layout of `__consumer_offsets`, as Kafka writes it, so the
//! topic reads the same to Kafka tools and to a Fjord replay.
//!
//! Keys (big-endian, non-flexible, strings as int16 length + UTF-8):
//! - offset commit, key version 0 or 1: group, topic, partition (int32);
//! - group metadata, key version 2: group;
//! - a KIP-848 consumer group and its members, key versions 1000 and 1001
//!   (Fjord's own: see `consumer_records`).
//!
//! Values (a null value is a tombstone: the offset or group is deleted):
//! - offset commit value version 3 (written): offset int64, leader epoch
//!   int32, metadata string, commit timestamp int64; versions 0..=2 are
//!   read too;
//! - group metadata value version 3 (written): protocol type, generation,
//!   protocol (nullable), leader (nullable), state timestamp int64, members
//!   [member id, group instance id (nullable), client id, client host,
//!   rebalance timeout, session timeout, subscription bytes, assignment
//!   bytes]; versions 0..=2 are read too.
//!
//! These versions are an on-disk format: never change what a version
//! number means; add a version instead.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::consumer_records::{CONSUMER_GROUP_KEY_VERSION, CONSUMER_MEMBER_KEY_VERSION};
use crate::record_fields::{
    get_bytes, get_i16, get_i32, get_i64, get_nullable_str, get_str, put_bytes, put_nullable_str,
    put_str, FieldError,
};

/// Offset-commit key version written (0 and 1 share a layout).
const OFFSET_KEY_VERSION: i16 = 1;
/// Group-metadata key version (the only one Kafka has).
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

#[derive(Debug, thiserror::Error)]
#[error("unreadable __consumer_offsets record: {0}")]
pub struct RecordError(String);

impl RecordError {
    pub(crate) fn new(why: String) -> RecordError {
        RecordError(why)
    }
}

impl From<FieldError> for RecordError {
    fn from(e: FieldError) -> Self {
        RecordError(e.0.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
    /// A KIP-848 consumer group's own record (`consumer_records`).
    ConsumerGroup {
        group: String,
    },
    /// One member of a KIP-848 consumer group (`consumer_records`).
    ConsumerMember {
        group: String,
        member: String,
    },
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// A group's last completed generation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberValue {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

impl Key {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            Key::Offset {
                group,
                topic,
                partition,
            } => {
                b.put_i16(OFFSET_KEY_VERSION);
                put_str(&mut b, group);
                put_str(&mut b, topic);
                b.put_i32(*partition);
            }
            Key::Group { group } => {
                b.put_i16(GROUP_KEY_VERSION);
                put_str(&mut b, group);
            }
            Key::ConsumerGroup { group } => {
                b.put_i16(CONSUMER_GROUP_KEY_VERSION);
                put_str(&mut b, group);
            }
            Key::ConsumerMember { group, member } => {
                b.put_i16(CONSUMER_MEMBER_KEY_VERSION);
                put_str(&mut b, group);
                put_str(&mut b, member);
            }
        }
        b.freeze()
    }

    pub fn decode(mut b: &[u8]) -> Result<Key, RecordError> {
        let version = get_i16(&mut b)?;
        match version {
            0 | 1 => Ok(Key::Offset {
                group: get_str(&mut b)?,
                topic: get_str(&mut b)?,
                partition: get_i32(&mut b)?,
            }),
            2 => Ok(Key::Group {
                group: get_str(&mut b)?,
            }),
            CONSUMER_GROUP_KEY_VERSION => Ok(Key::ConsumerGroup {
                group: get_str(&mut b)?,
            }),
            CONSUMER_MEMBER_KEY_VERSION => Ok(Key::ConsumerMember {
                group: get_str(&mut b)?,
                member: get_str(&mut b)?,
            }),
            v => Err(RecordError(format!("unknown key version {v}"))),
        }
    }
}

impl OffsetValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(OFFSET_VALUE_VERSION);
        b.put_i64(self.offset);
        b.put_i32(self.leader_epoch);
        put_str(&mut b, &self.metadata);
        b.put_i64(self.commit_timestamp);
        b.freeze()
    }

    pub fn decode(mut b: &[u8]) -> Result<OffsetValue, RecordError> {
        let version = get_i16(&mut b)?;
        if !(0..=3).contains(&version) {
            return Err(RecordError(format!(
                "unknown offset value version {version}"
            )));
        }
        let offset = get_i64(&mut b)?;
        let leader_epoch = if version >= 3 { get_i32(&mut b)? } else { -1 };
        let metadata = get_str(&mut b)?;
        let commit_timestamp = get_i64(&mut b)?;
        Ok(OffsetValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
        })
    }
}

impl GroupValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(GROUP_VALUE_VERSION);
        put_str(&mut b, &self.protocol_type);
        b.put_i32(self.generation);
        put_nullable_str(&mut b, self.protocol.as_deref());
        put_nullable_str(&mut b, self.leader.as_deref());
        b.put_i64(self.state_timestamp);
        b.put_i32(self.members.len() as i32);
        for m in &self.members {
            put_str(&mut b, &m.member_id);
            put_nullable_str(&mut b, m.instance_id.as_deref());
            put_str(&mut b, &m.client_id);
            put_str(&mut b, &m.client_host);
            b.put_i32(m.rebalance_timeout_ms);
            b.put_i32(m.session_timeout_ms);
            put_bytes(&mut b, &m.subscription);
            put_bytes(&mut b, &m.assignment);
        }
        b.freeze()
    }

    pub fn decode(mut b: &[u8]) -> Result<GroupValue, RecordError> {
        let version = get_i16(&mut b)?;
        if !(0..=3).contains(&version) {
            return Err(RecordError(format!(
                "unknown group value version {version}"
            )));
        }
        let protocol_type = get_str(&mut b)?;
        let generation = get_i32(&mut b)?;
        let protocol = get_nullable_str(&mut b)?;
        let leader = get_nullable_str(&mut b)?;
        let state_timestamp = if version >= 2 { get_i64(&mut b)? } else { -1 };
        let n = get_i32(&mut b)?;
        let mut members = Vec::new();
        for _ in 0..n.max(0) {
            let member_id = get_str(&mut b)?;
            let instance_id = if version >= 3 {
                get_nullable_str(&mut b)?
            } else {
                None
            };
            let client_id = get_str(&mut b)?;
            let client_host = get_str(&mut b)?;
            let rebalance_timeout_ms = if version >= 1 { get_i32(&mut b)? } else { -1 };
            let session_timeout_ms = get_i32(&mut b)?;
            members.push(MemberValue {
                member_id,
                instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription: get_bytes(&mut b)?,
                assignment: get_bytes(&mut b)?,
            });
        }
        Ok(GroupValue {
            protocol_type,
            generation,
            protocol,
            leader,
            state_timestamp,
            members,
        })
    }
}

/// One uncompressed v2 RecordBatch holding `records` (key, value-or-tombstone).
pub fn batch(records: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Bytes {
    // No producer id: the batch's base sequence stays -1.
    encode_batch(records, now_ms, false, -1, -1, -1)
}

/// One uncompressed transactional v2 RecordBatch of `producer` (a
/// TxnOffsetCommit), its sequences starting at `base_sequence`.
pub fn txn_batch(
    records: &[(Bytes, Option<Bytes>)],
    now_ms: i64,
    producer: super::store::TxnProducer,
    base_sequence: i32,
) -> Bytes {
    encode_batch(
        records,
        now_ms,
        true,
        producer.producer_id,
        producer.producer_epoch,
        base_sequence,
    )
}

/// The one encoder behind `batch` and `txn_batch`, which differ only in the
/// producer fields they stamp.
fn encode_batch(
    records: &[(Bytes, Option<Bytes>)],
    now_ms: i64,
    transactional: bool,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Bytes {
    // kafka-protocol's encoder keeps records in one batch only while
    // offset - sequence stays constant, so sequences advance with offsets.
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: now_ms,
            key: Some(k.clone()),
            value: v.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("an uncompressed batch of in-memory records encodes");
    buf.freeze()
}

/// Whether a control record's key is a COMMIT marker (version int16,
/// type int16: 0 abort, 1 commit). Anything unreadable counts as abort:
/// an offset is never applied on a marker we cannot read.
pub fn is_commit_marker(key: Option<&[u8]>) -> bool {
    matches!(key, Some([_, _, 0, 1, ..]))
}

/// The `__consumer_offsets` partition of a group, as Kafka computes it:
/// Java's `String.hashCode` of the group id, sign bit cleared, modulo the
/// partition count.
pub fn partition_for(group: &str, partitions: usize) -> usize {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    ((h & 0x7fff_ffff) as usize) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        let k = Key::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        assert_eq!(Key::decode(&k.encode()).unwrap(), k);
        let g = Key::Group { group: "g".into() };
        assert_eq!(Key::decode(&g.encode()).unwrap(), g);
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "m".into(),
            commit_timestamp: 1000,
        };
        assert_eq!(OffsetValue::decode(&v.encode()).unwrap(), v);
        let gv = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("a".into()),
            state_timestamp: 9,
            members: vec![MemberValue {
                member_id: "a".into(),
                instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 1,
                session_timeout_ms: 2,
                subscription: Bytes::from_static(b"s"),
                assignment: Bytes::from_static(b"a"),
            }],
        };
        assert_eq!(GroupValue::decode(&gv.encode()).unwrap(), gv);
    }

    #[test]
    fn offset_commit_key_matches_kafka_bytes() {
        // version 1, "g", "t", partition 0
        let k = Key::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        };
        assert_eq!(
            k.encode().as_ref(),
            &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 0]
        );
    }

    #[test]
    fn txn_batch_is_one_transactional_batch_of_the_producer() {
        let producer = crate::group::store::TxnProducer {
            producer_id: 9,
            producer_epoch: 2,
        };
        let recs = vec![
            (Bytes::from_static(b"k1"), Some(Bytes::from_static(b"v1"))),
            (Bytes::from_static(b"k2"), None),
        ];
        let b = txn_batch(&recs, 5, producer, 3);
        let h = fjord_log::BatchHeader::parse(&b).unwrap();
        assert!(h.is_transactional() && !h.is_control());
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (9, 2, 3)
        );
        assert_eq!(h.total_len(), b.len(), "one batch");
        assert!(is_commit_marker(Some(&[0, 0, 0, 1])));
        assert!(!is_commit_marker(Some(&[0, 0, 0, 0])));
        assert!(!is_commit_marker(None));
    }

    #[test]
    fn partition_follows_java_string_hash() {
        // "abc".hashCode() == 96354
        assert_eq!(partition_for("abc", 50), 96354 % 50);
        assert_eq!(partition_for("anything", 1), 0);
    }

    #[test]
    fn truncated_values_are_errors_not_panics() {
        let v = OffsetValue {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
        }
        .encode();
        for n in 0..v.len() {
            assert!(OffsetValue::decode(&v[..n]).is_err());
        }
    }
}
