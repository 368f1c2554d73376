//! The record layout of `__transaction_state`, as Kafka writes it
//! (TransactionLogKey / TransactionLogValue version 0), so the topic reads
//! the same to Kafka tools and to a Fjord replay.
//!
//! Key (big-endian, strings as int16 length + UTF-8): version int16 = 0,
//! transactional id.
//! Value version 0: producer id int64, producer epoch int16, transaction
//! timeout int32, status int8 (Kafka's state ids, `TxnState::id`),
//! partitions (nullable array of [topic string, partitions int32 array]),
//! last update timestamp int64, start timestamp int64. A null value is a
//! tombstone (the transactional id expired).
//!
//! These versions are an on-disk format: never change what a version
//! number means; add a version instead.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::state::TxnState;
use crate::record_fields::{get_i16, get_i32, get_i64, get_i8, get_str, put_str, FieldError};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

#[derive(Debug, thiserror::Error)]
#[error("unreadable __transaction_state record: {0}")]
pub struct RecordError(String);

impl From<FieldError> for RecordError {
    fn from(e: FieldError) -> Self {
        RecordError(e.0.to_string())
    }
}

/// One transactional id's coordinator state as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    /// -1 while no transaction has started.
    pub start_ms: i64,
}

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(KEY_VERSION);
    put_str(&mut b, transactional_id);
    b.freeze()
}

pub fn decode_key(mut b: &[u8]) -> Result<String, RecordError> {
    let version = get_i16(&mut b)?;
    if version != KEY_VERSION {
        return Err(RecordError(format!("unknown key version {version}")));
    }
    Ok(get_str(&mut b)?)
}

impl TxnValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(VALUE_VERSION);
        b.put_i64(self.producer_id);
        b.put_i16(self.producer_epoch);
        b.put_i32(self.timeout_ms);
        b.put_i8(self.state.id());
        if self.state == TxnState::Empty {
            // Kafka writes no partition list for an Empty transaction.
            b.put_i32(-1);
        } else {
            let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
            for (t, p) in &self.partitions {
                match topics.last_mut() {
                    Some((last, parts)) if *last == t.as_str() => parts.push(*p),
                    _ => topics.push((t, vec![*p])),
                }
            }
            b.put_i32(topics.len() as i32);
            for (t, parts) in topics {
                put_str(&mut b, t);
                b.put_i32(parts.len() as i32);
                for p in parts {
                    b.put_i32(p);
                }
            }
        }
        b.put_i64(self.last_update_ms);
        b.put_i64(self.start_ms);
        b.freeze()
    }

    pub fn decode(mut b: &[u8]) -> Result<TxnValue, RecordError> {
        let version = get_i16(&mut b)?;
        if version != VALUE_VERSION {
            return Err(RecordError(format!("unknown value version {version}")));
        }
        let producer_id = get_i64(&mut b)?;
        let producer_epoch = get_i16(&mut b)?;
        let timeout_ms = get_i32(&mut b)?;
        let id = get_i8(&mut b)?;
        let state =
            TxnState::from_id(id).ok_or_else(|| RecordError(format!("unknown state id {id}")))?;
        let mut partitions = BTreeSet::new();
        let topics = get_i32(&mut b)?;
        for _ in 0..topics.max(0) {
            let topic = get_str(&mut b)?;
            let n = get_i32(&mut b)?;
            for _ in 0..n.max(0) {
                partitions.insert((topic.clone(), get_i32(&mut b)?));
            }
        }
        Ok(TxnValue {
            producer_id,
            producer_epoch,
            timeout_ms,
            state,
            partitions,
            last_update_ms: get_i64(&mut b)?,
            start_ms: get_i64(&mut b)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(state: TxnState) -> TxnValue {
        TxnValue {
            producer_id: 7,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state,
            partitions: [
                ("a".to_string(), 0),
                ("a".to_string(), 2),
                ("b".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            last_update_ms: 100,
            start_ms: 90,
        }
    }

    #[test]
    fn values_round_trip() {
        let v = value(TxnState::PrepareCommit);
        assert_eq!(TxnValue::decode(&v.encode()).unwrap(), v);
        assert_eq!(decode_key(&encode_key("tx-1")).unwrap(), "tx-1");
    }

    #[test]
    fn empty_state_stores_no_partitions() {
        let mut v = value(TxnState::Empty);
        let decoded = TxnValue::decode(&v.encode()).unwrap();
        v.partitions.clear();
        assert_eq!(decoded, v);
    }

    #[test]
    fn key_matches_kafka_bytes() {
        assert_eq!(encode_key("t").as_ref(), &[0, 0, 0, 1, b't']);
    }

    #[test]
    fn truncated_values_are_errors_not_panics() {
        let v = value(TxnState::Ongoing).encode();
        for n in 0..v.len() {
            assert!(TxnValue::decode(&v[..n]).is_err());
        }
    }
}
