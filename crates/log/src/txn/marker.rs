//! Control batches: the commit/abort markers that end a transaction in a
//! partition. Only the broker writes them (a client's control batch is
//! refused), so the encoder here is the only producer of the format.
//!
//! A marker is a v2 batch with attributes transactional (bit 4) + control
//! (bit 5), never compressed, holding one record whose
//! - key is `version: i16 = 0, type: i16` (0 = ABORT, 1 = COMMIT), and
//! - value is `version: i16 = 0, coordinator_epoch: i32`,
//!
//! as the Kafka protocol guide's "Control Batches" section describes.

use crate::batch::{put_varlong, read_varlong, BatchHeader, BATCH_HEADER_LEN, CRC_START};
use crate::error::{LogError, Result};

/// Attributes of a marker batch: transactional and control.
pub const MARKER_ATTRIBUTES: i16 = 0x10 | 0x20;
/// Control record type of an abort marker.
const ABORT: i16 = 0;
/// Control record type of a commit marker.
const COMMIT: i16 = 1;

/// What a control batch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlMarker {
    /// COMMIT (true) or ABORT (false).
    pub commit: bool,
    /// The epoch of the transaction coordinator that wrote it; a marker from
    /// an older coordinator is refused.
    pub coordinator_epoch: i32,
}

/// Encodes a marker batch at baseOffset 0 (the log assigns the offset).
pub fn encode_marker(
    producer_id: i64,
    producer_epoch: i16,
    marker: ControlMarker,
    timestamp: i64,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(if marker.commit { COMMIT } else { ABORT }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());

    let mut record = vec![0u8]; // record attributes
    put_varlong(&mut record, 0); // timestamp delta
    put_varlong(&mut record, 0); // offset delta
    put_varlong(&mut record, key.len() as i64);
    record.extend_from_slice(&key);
    put_varlong(&mut record, value.len() as i64);
    record.extend_from_slice(&value);
    put_varlong(&mut record, 0); // headers
    let mut body = Vec::with_capacity(record.len() + 2);
    put_varlong(&mut body, record.len() as i64);
    body.extend_from_slice(&record);

    let mut b = Vec::with_capacity(BATCH_HEADER_LEN + body.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    b.extend_from_slice(&((BATCH_HEADER_LEN - 12 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&[0; 4]); // crc, below
    b.extend_from_slice(&MARKER_ATTRIBUTES.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // markers carry no sequence
    b.extend_from_slice(&1i32.to_be_bytes()); // recordsCount
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b[CRC_START..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Decodes the marker of a control batch (`batch` is the whole batch).
/// Fails on anything but one uncompressed control record of a known type.
pub fn decode_marker(h: &BatchHeader, batch: &[u8]) -> Result<ControlMarker> {
    let bad = |why: &str| LogError::corrupt(format!("control batch at {}: {why}", h.base_offset));
    if !h.is_control() {
        return Err(bad("not a control batch"));
    }
    if h.compression() != 0 || h.records_count != 1 {
        return Err(bad("a control batch holds one uncompressed record"));
    }
    let end = h.total_len().min(batch.len());
    let mut pos = BATCH_HEADER_LEN;
    let len = read_varlong(batch, &mut pos)?;
    if len < 0 || pos + len as usize > end {
        return Err(bad("record length outside the batch"));
    }
    pos += 1; // record attributes
    read_varlong(batch, &mut pos)?; // timestamp delta
    read_varlong(batch, &mut pos)?; // offset delta
    let key_len = read_varlong(batch, &mut pos)?;
    if key_len < 4 || pos + key_len as usize > end {
        return Err(bad("control record key shorter than version + type"));
    }
    let kind = i16::from_be_bytes([batch[pos + 2], batch[pos + 3]]);
    pos += key_len as usize;
    let value_len = read_varlong(batch, &mut pos)?;
    // The value (version + coordinator epoch) is informational for readers;
    // a missing one means epoch 0, as old writers left it.
    let coordinator_epoch = if value_len >= 6 && pos + value_len as usize <= end {
        i32::from_be_bytes(batch[pos + 2..pos + 6].try_into().expect("4 bytes"))
    } else {
        0
    };
    let commit = match kind {
        ABORT => false,
        COMMIT => true,
        other => return Err(bad(&format!("unknown control record type {other}"))),
    };
    Ok(ControlMarker {
        commit,
        coordinator_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_with_a_valid_crc() {
        for commit in [true, false] {
            let m = ControlMarker {
                commit,
                coordinator_epoch: 7,
            };
            let b = encode_marker(42, 3, m, 1000);
            let h = BatchHeader::parse(&b).unwrap();
            h.verify_crc(&b).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.records_count),
                (42, 3, 1)
            );
            assert_eq!(h.total_len(), b.len());
            assert_eq!(decode_marker(&h, &b).unwrap(), m);
        }
    }

    #[test]
    fn garbage_markers_are_errors_not_panics() {
        let b = encode_marker(
            1,
            0,
            ControlMarker {
                commit: true,
                coordinator_epoch: 0,
            },
            5,
        );
        let h = BatchHeader::parse(&b).unwrap();
        for cut in 0..b.len() {
            let _ = decode_marker(&h, &b[..cut]);
        }
        let data = crate::testing::simple_batch(b"x", 1);
        let dh = BatchHeader::parse(&data).unwrap();
        assert!(decode_marker(&dh, &data).is_err());
    }
}
