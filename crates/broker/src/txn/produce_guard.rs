//! What a Produce must show before its batches are appended (KIP-890 part
//! 1's defence, which the tested clients rely on):
//!
//! - a transactional batch comes with the request's transactional id, from
//!   that id's current producer id and epoch, to a partition already added
//!   to its ongoing transaction; otherwise INVALID_TXN_STATE (an older
//!   epoch: INVALID_PRODUCER_EPOCH, as Kafka answers a fenced producer's
//!   produce);
//! - a batch without the transactional attribute from a transactional
//!   producer id is refused (INVALID_TXN_STATE).
//!
//! The check and the append happen under the transactional id's lock, so
//! an EndTxn (which moves the id out of Ongoing under that lock) can never
//! have its markers overtaken by a batch that passed the check before it.
//! Only batch headers are read; nothing is decompressed.

use fjord_log::{BatchHeader, BATCH_HEADER_LEN};
use kafka_protocol::error::ResponseError;

use super::state::TxnState;
use crate::broker::Broker;
use crate::lock::lock;

type Refusal = (ResponseError, String);

/// Producer fields of a produce payload's batches.
struct Producer {
    id: i64,
    epoch: i16,
    /// Every batch has the transactional attribute.
    all_transactional: bool,
    any_transactional: bool,
}

fn producer_of(records: &[u8]) -> Option<Producer> {
    let mut pos = 0;
    let mut out: Option<Producer> = None;
    while records.len().saturating_sub(pos) >= BATCH_HEADER_LEN {
        // Malformed batches are the log's to refuse, with its own message.
        let Ok(h) = BatchHeader::parse(&records[pos..]) else {
            break;
        };
        let p = out.get_or_insert(Producer {
            id: h.producer_id,
            epoch: h.producer_epoch,
            all_transactional: true,
            any_transactional: false,
        });
        p.all_transactional &= h.is_transactional();
        p.any_transactional |= h.is_transactional();
        if h.total_len() == 0 {
            break;
        }
        pos += h.total_len();
    }
    out
}

/// Runs `append` if the produce may go ahead (see the module docs).
pub fn guarded<T>(
    broker: &Broker,
    transactional_id: Option<&str>,
    topic: &str,
    partition: i32,
    records: Option<&[u8]>,
    append: impl FnOnce() -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    let Some(p) = records.and_then(producer_of) else {
        return append();
    };
    let refuse = |code: ResponseError, msg: String| Err((code, msg));
    let Some(id) = transactional_id else {
        if p.any_transactional {
            return refuse(
                ResponseError::InvalidTxnState,
                "a transactional batch needs the produce request's transactional id".into(),
            );
        }
        if p.id >= 0 {
            if let Some(owner) = broker.txn.transactional_id_of(p.id) {
                return refuse(
                    ResponseError::InvalidTxnState,
                    format!(
                        "producer id {} belongs to transactional id '{owner}': its batches must be \
                         transactional",
                        p.id
                    ),
                );
            }
        }
        return append();
    };
    if !p.all_transactional {
        return refuse(
            ResponseError::InvalidTxnState,
            "a produce with a transactional id must carry only transactional batches".into(),
        );
    }
    let Some(entry) = broker.txn.entry(id) else {
        return refuse(
            ResponseError::InvalidTxnState,
            format!("transactional id '{id}' is not known: call InitProducerId first"),
        );
    };
    let m = lock(&entry);
    if p.id != m.producer_id {
        return refuse(
            ResponseError::InvalidTxnState,
            format!(
                "producer id {} is not the producer of transactional id '{id}'",
                p.id
            ),
        );
    }
    if p.epoch < m.producer_epoch {
        return refuse(
            ResponseError::InvalidProducerEpoch,
            format!(
                "producer epoch {} is fenced: transactional id '{id}' is at epoch {}",
                p.epoch, m.producer_epoch
            ),
        );
    }
    let adding_only = matches!(m.pending, None | Some(TxnState::Ongoing));
    let included = m.partitions.contains(&(topic.to_string(), partition));
    if p.epoch != m.producer_epoch || m.state != TxnState::Ongoing || !adding_only || !included {
        return refuse(
            ResponseError::InvalidTxnState,
            format!(
                "partition {topic}-{partition} is not part of an ongoing transaction of '{id}' \
                 (state {}): add it with AddPartitionsToTxn first",
                m.state.name()
            ),
        );
    }
    // Appended under the id's lock: see the module docs.
    let out = append();
    drop(m);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::txn_batch;
    use crate::group::TxnProducer;
    use bytes::Bytes;

    fn one(seq: i32) -> Bytes {
        let p = TxnProducer {
            producer_id: 4,
            producer_epoch: 1,
        };
        txn_batch(&[(Bytes::from_static(b"k"), None)], 0, p, seq)
    }

    #[test]
    fn every_batch_header_is_read() {
        let mut two = one(0).to_vec();
        two.extend_from_slice(&one(1));
        let p = producer_of(&two).unwrap();
        assert_eq!((p.id, p.epoch), (4, 1));
        assert!(p.all_transactional && p.any_transactional);
        // A plain batch behind a transactional one.
        let plain = crate::group::records::batch(&[(Bytes::from_static(b"k"), None)], 0);
        let mut mixed = one(0).to_vec();
        mixed.extend_from_slice(&plain);
        let p = producer_of(&mixed).unwrap();
        assert!(!p.all_transactional && p.any_transactional);
        // Garbage is left to the log to refuse.
        assert!(producer_of(b"short").is_none());
    }
}
