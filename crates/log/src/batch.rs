//! A read-only view of the Kafka v2 RecordBatch header, and validation of
//! client batches.
//!
//! Layout (big-endian), offsets in bytes:
//!
//! ```text
//!  0 baseOffset i64        12 partitionLeaderEpoch i32   21 attributes i16
//!  8 batchLength i32       16 magic i8                    23 lastOffsetDelta i32
//!                          17 crc u32 (CRC-32C of 21..end)
//! 27 baseTimestamp i64     35 maxTimestamp i64            43 producerId i64
//! 51 producerEpoch i16     53 baseSequence i32            57 recordsCount i32
//! 61 records...
//! ```
//!
//! batchLength counts the bytes after itself, so a batch occupies
//! `batchLength + 12` bytes. baseOffset and partitionLeaderEpoch lie before
//! the CRC'd range: the log may rewrite them without touching the CRC, and
//! that is all it rewrites. Records are never decoded on the fetch path,
//! nor on the append path of ordinary topics; the off-path timestamp
//! lookups read record headers of uncompressed batches; appends to
//! compacted topics check every record has a key, and the cleaner rewrites
//! batches (both in `records`).

use crate::error::{LogError, Result};
use crate::Offset;

/// Bytes in a v2 RecordBatch header, up to and including recordsCount.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the batchLength-counted part: baseOffset + batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// First byte covered by the CRC (attributes).
pub(crate) const CRC_START: usize = 21;
const MAGIC_POS: usize = 16;
/// Attributes bit 6: baseTimestamp holds the delete horizon (KIP-534).
pub(crate) const DELETE_HORIZON_FLAG: i16 = 0x40;

/// How a batch's timestamps were assigned (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The fixed-size header of a v2 RecordBatch, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: Offset,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

impl BatchHeader {
    /// Decodes the header at the start of `buf`. Fails on a short buffer, a
    /// magic other than 2 (magic sits at byte 16 in v0/v1 message sets too,
    /// so old clients are recognised), or a batchLength too small to hold
    /// the header. Does not check the CRC or that the body is present.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader> {
        if buf.len() > MAGIC_POS {
            let magic = buf[MAGIC_POS] as i8;
            if magic != 2 {
                return Err(LogError::UnsupportedMessageFormat { magic });
            }
        }
        if buf.len() < BATCH_HEADER_LEN {
            return Err(LogError::corrupt(format!(
                "truncated batch header: {} of {BATCH_HEADER_LEN} bytes",
                buf.len()
            )));
        }
        let h = BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, 8),
            partition_leader_epoch: be_i32(buf, 12),
            magic: buf[MAGIC_POS] as i8,
            crc: be_i32(buf, 17) as u32,
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        };
        if (h.batch_length as i64) < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(LogError::corrupt(format!(
                "batch length {} is smaller than the header",
                h.batch_length
            )));
        }
        Ok(h)
    }

    /// Total bytes the batch occupies, header included.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> Offset {
        self.base_offset + self.last_offset_delta as i64
    }

    /// The whole batches at the start of `bytes` (a read slice), each with
    /// where it lies; stops at the first header that is unreadable or whose
    /// batch is cut short.
    pub fn walk(bytes: &[u8]) -> Vec<(BatchHeader, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Ok(h) = BatchHeader::parse(&bytes[pos..]) {
            let end = pos + h.total_len();
            if end > bytes.len() {
                break;
            }
            out.push((h, pos..end));
            pos = end;
        }
        out
    }

    /// Checks the CRC-32C of `batch` (the whole batch, header included).
    pub fn verify_crc(&self, batch: &[u8]) -> Result<()> {
        let end = self.total_len();
        if batch.len() < end {
            return Err(LogError::corrupt(format!(
                "truncated batch: {} of {end} bytes",
                batch.len()
            )));
        }
        let actual = crc32c::crc32c(&batch[CRC_START..end]);
        if actual != self.crc {
            return Err(LogError::corrupt(format!(
                "CRC mismatch: header says {:#010x}, data has {actual:#010x}",
                self.crc
            )));
        }
        Ok(())
    }

    /// Part of a transaction (attributes bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// A control batch (commit/abort markers, attributes bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// The time after which the cleaner may drop this batch's tombstones
    /// (KIP-534): set by the cleaner the first time it keeps a tombstone
    /// of the batch, stored in baseTimestamp under attributes bit 6. The
    /// records' timestamp deltas are then relative to it, so their
    /// timestamps read as before.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_FLAG != 0).then_some(self.base_timestamp)
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & 0x07) as u8
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch carries idempotent-producer metadata.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// Splits a client's produce payload into validated batches, checking
/// everything the log needs before it writes a byte: magic, lengths, CRC,
/// size limit, and record count. Returns each batch's header and byte range.
pub fn validate_client_batches(
    records: &[u8],
    max_message_bytes: usize,
) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>> {
    if records.is_empty() {
        return Err(LogError::corrupt("empty record set"));
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        let h = BatchHeader::parse(rest)?;
        let len = h.total_len();
        // A length past the buffer is corruption, whatever its size.
        if len > rest.len() {
            return Err(LogError::corrupt(format!(
                "batch at byte {pos} claims {len} bytes but only {} remain",
                rest.len()
            )));
        }
        if len > max_message_bytes {
            return Err(LogError::RecordTooLarge {
                size: len,
                max: max_message_bytes,
            });
        }
        h.verify_crc(rest)?;
        if h.last_offset_delta < 0 || h.records_count < 0 {
            return Err(LogError::corrupt(format!(
                "negative lastOffsetDelta {} or recordsCount {}",
                h.last_offset_delta, h.records_count
            )));
        }
        // A client batch has no gaps: compaction is the only thing that makes
        // them, and it runs here, not in producers.
        if h.records_count as i64 != h.last_offset_delta as i64 + 1 {
            return Err(LogError::corrupt(format!(
                "recordsCount {} does not match lastOffsetDelta {}",
                h.records_count, h.last_offset_delta
            )));
        }
        out.push((h, pos..pos + len));
        pos += len;
    }
    Ok(out)
}

/// Sets the fields the log owns, which the CRC does not cover.
pub fn assign_offset(batch: &mut [u8], base_offset: Offset) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[12..16].copy_from_slice(&0i32.to_be_bytes());
}

/// Stamps a batch with the broker's clock for message.timestamp.type =
/// LogAppendTime: sets the timestamp-type bit and maxTimestamp, then
/// recomputes the CRC (these fields are covered by it). Kafka does the same;
/// records are untouched, consumers take every record's time from
/// maxTimestamp.
pub fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = be_i16(batch, 21) | 0x08;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Appends `v` as a zigzag varint (Kafka's varint/varlong).
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Reads a zigzag varint (Kafka's varint/varlong) at `*pos`.
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64> {
    let mut value: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = *buf
            .get(*pos)
            .ok_or_else(|| LogError::corrupt("truncated varint"))?;
        *pos += 1;
        value |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(LogError::corrupt("varint too long"));
        }
    }
    Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
}

/// (offset, timestamp) of every record in a stored batch. Exact for
/// uncompressed CreateTime batches; for LogAppendTime every record has the
/// batch's maxTimestamp; for compressed batches (which the log never
/// decompresses) it returns None and callers fall back to batch granularity.
pub fn record_timestamps(batch: &[u8]) -> Result<Option<Vec<(Offset, i64)>>> {
    let h = BatchHeader::parse(batch)?;
    // Every record takes at least one byte: a larger count is corruption,
    // and must not drive an allocation.
    if h.records_count < 0 || h.records_count as usize > h.total_len().min(batch.len()) {
        return Err(LogError::corrupt(format!(
            "recordsCount {} does not fit a {}-byte batch",
            h.records_count,
            h.total_len()
        )));
    }
    if h.timestamp_type() == TimestampType::LogAppendTime {
        return Ok(Some(
            (0..h.records_count as i64)
                .map(|d| (h.base_offset + d, h.max_timestamp))
                .collect(),
        ));
    }
    if h.compression() != 0 {
        return Ok(None);
    }
    let end = h.total_len().min(batch.len());
    let mut pos = BATCH_HEADER_LEN;
    let mut out = Vec::with_capacity(h.records_count as usize);
    for _ in 0..h.records_count {
        let len = read_varlong(batch, &mut pos)?;
        let start = pos;
        let Some(record_end) = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&e| e <= end)
        else {
            return Err(LogError::corrupt("record length outside its batch"));
        };
        pos += 1; // attributes
        let ts_delta = read_varlong(batch, &mut pos)?;
        let offset_delta = read_varlong(batch, &mut pos)?;
        // The deltas are the client's (its CRC covers them, not their
        // sense): saturate rather than overflow.
        out.push((
            h.base_offset.saturating_add(offset_delta),
            h.base_timestamp.saturating_add(ts_delta),
        ));
        pos = record_end;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::BatchBuilder;

    #[test]
    fn parse_round_trips_builder_fields() {
        let b = BatchBuilder::new()
            .producer(7, 3, 42)
            .record(b"k", b"v", 1000)
            .record(b"k2", b"v2", 1005)
            .build();
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.total_len(), b.len());
        assert_eq!((h.magic, h.records_count, h.last_offset_delta), (2, 2, 1));
        assert_eq!((h.base_timestamp, h.max_timestamp), (1000, 1005));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 3, 42)
        );
        h.verify_crc(&b).unwrap();
        assert_eq!(h.compression(), 0);
        assert!(!h.is_transactional() && !h.is_control());
        assert_eq!(
            record_timestamps(&b).unwrap().unwrap(),
            vec![(0, 1000), (1, 1005)]
        );
    }

    // Symptom (found by reading the code): a client batch whose base
    // timestamp plus a record's delta overflows i64 panicked (in debug
    // builds) when ListOffsets looked up a timestamp in it.
    #[test]
    fn overflowing_timestamp_deltas_saturate() {
        let mut b = BatchBuilder::new()
            .record(b"", b"a", 0)
            .record(b"", b"b", 1)
            .build();
        b[27..35].copy_from_slice(&i64::MAX.to_be_bytes()); // baseTimestamp
        let crc = crate::testing::crc32c(&b[CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            record_timestamps(&b).unwrap().unwrap(),
            vec![(0, i64::MAX), (1, i64::MAX)]
        );
    }

    #[test]
    fn offsets_are_outside_the_crc() {
        let mut b = BatchBuilder::new().record(b"", b"x", 1).build();
        assign_offset(&mut b, 12345);
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.base_offset, 12345);
        h.verify_crc(&b).unwrap();
        stamp_log_append_time(&mut b, 99);
        let h = BatchHeader::parse(&b).unwrap();
        h.verify_crc(&b).unwrap();
        assert_eq!(
            (h.timestamp_type(), h.max_timestamp),
            (TimestampType::LogAppendTime, 99)
        );
    }

    #[test]
    fn validation_refuses_bad_batches() {
        let good = BatchBuilder::new().record(b"", b"x", 1).build();
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        assert!(matches!(
            validate_client_batches(&bad_crc, 1 << 20),
            Err(LogError::CorruptRecord { .. })
        ));
        assert!(matches!(
            validate_client_batches(&good[..good.len() - 1], 1 << 20),
            Err(LogError::CorruptRecord { .. })
        ));
        assert!(matches!(
            validate_client_batches(&good[..30], 1 << 20),
            Err(LogError::CorruptRecord { .. })
        ));
        let mut v1 = good.clone();
        v1[16] = 1;
        assert!(matches!(
            validate_client_batches(&v1, 1 << 20),
            Err(LogError::UnsupportedMessageFormat { magic: 1 })
        ));
        assert!(matches!(
            validate_client_batches(&good, 10),
            Err(LogError::RecordTooLarge { max: 10, .. })
        ));
        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert_eq!(validate_client_batches(&two, 1 << 20).unwrap().len(), 2);
        assert!(validate_client_batches(&[], 1 << 20).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut garbage = crate::testing::Garbage(0x9e3779b97f4a7c15);
        for len in 0..300 {
            let mut buf = garbage.bytes(len);
            if len > 16 && len % 2 == 0 {
                buf[16] = 2;
            }
            let _ = validate_client_batches(&buf, 1 << 20);
            let _ = record_timestamps(&buf);
        }
    }
}
