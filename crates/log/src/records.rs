//! Records inside a v2 RecordBatch: a parser, and the batch re-encoder the
//! cleaner uses. Off the hot path: only the cleaner and the null-key check
//! on compacted topics read records (see `batch.rs`).
//!
//! A record (all varints zigzag, as Kafka writes them):
//!
//! ```text
//! length varint            bytes after this field
//! attributes i8            unused, 0
//! timestampDelta varlong   from the batch's baseTimestamp
//! offsetDelta varint       from the batch's baseOffset
//! keyLength varint, key    -1 is a null key
//! valueLength varint, value  -1 is a null value (a tombstone)
//! headerCount varint, then per header: keyLength varint, key (never null),
//!                          valueLength varint, value (-1 null)
//! ```
//!
//! Every header is kept, duplicates included, in order; and every record
//! keeps its raw bytes, so the cleaner copies the records it keeps
//! verbatim (their deltas stay valid because a rewritten batch keeps its
//! baseOffset and baseTimestamp), except when it sets or clears a batch's
//! delete horizon, which moves baseTimestamp: then [`rebase_record`]
//! rewrites each record's timestamp delta.

use std::borrow::Cow;

use crate::batch::{put_varlong, read_varlong, BatchHeader, BATCH_HEADER_LEN, CRC_START};
use crate::compression::{compress, decompress, Codec};
use crate::error::{LogError, Result};
use crate::Offset;

/// One record header. Keys are strings on the wire; kept as bytes here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// One record, borrowing from the decompressed records section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    /// None is a tombstone.
    pub value: Option<&'a [u8]>,
    pub headers: Vec<Header<'a>>,
    /// The record as stored, its length prefix included.
    pub raw: &'a [u8],
}

impl Record<'_> {
    pub fn offset(&self, h: &BatchHeader) -> Offset {
        h.base_offset.saturating_add(self.offset_delta as i64)
    }

    /// The record's timestamp: its own for CreateTime, the batch's for
    /// LogAppendTime (the broker stamps maxTimestamp only).
    pub fn timestamp(&self, h: &BatchHeader) -> i64 {
        match h.timestamp_type() {
            // The client's values: saturate rather than overflow.
            crate::TimestampType::CreateTime => {
                h.base_timestamp.saturating_add(self.timestamp_delta)
            }
            crate::TimestampType::LogAppendTime => h.max_timestamp,
        }
    }
}

fn corrupt(what: &str) -> LogError {
    LogError::corrupt(format!("bad record: {what}"))
}

/// A varint-length byte string; -1 is null.
fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize, end: usize) -> Result<Option<&'a [u8]>> {
    let len = read_varlong(&buf[..end], pos)?;
    if len < -1 {
        return Err(corrupt("negative length"));
    }
    if len == -1 {
        return Ok(None);
    }
    let len = len as usize;
    if len > end - *pos {
        return Err(corrupt("field runs past its record"));
    }
    let b = &buf[*pos..*pos + len];
    *pos += len;
    Ok(Some(b))
}

fn parse_one<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Record<'a>> {
    let start = *pos;
    let len = read_varlong(buf, pos)?;
    if len < 0 || len as usize > buf.len() - *pos {
        return Err(corrupt("length runs past the batch"));
    }
    let end = *pos + len as usize;
    let attributes = *buf
        .get(*pos)
        .filter(|_| *pos < end)
        .ok_or_else(|| corrupt("empty record"))? as i8;
    *pos += 1;
    let timestamp_delta = read_varlong(&buf[..end], pos)?;
    let offset_delta = i32::try_from(read_varlong(&buf[..end], pos)?)
        .map_err(|_| corrupt("offset delta out of range"))?;
    let key = read_bytes(buf, pos, end)?;
    let value = read_bytes(buf, pos, end)?;
    let count = read_varlong(&buf[..end], pos)?;
    // Each header takes at least two bytes: a count beyond that is garbage
    // and must not drive an allocation.
    if count < 0 || count as usize > (end - *pos) / 2 {
        return Err(corrupt("header count"));
    }
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let key = read_bytes(buf, pos, end)?.ok_or_else(|| corrupt("null header key"))?;
        let value = read_bytes(buf, pos, end)?;
        headers.push(Header { key, value });
    }
    if *pos != end {
        return Err(corrupt("length does not match its fields"));
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
        raw: &buf[start..end],
    })
}

/// Parses exactly `count` records filling `section` (a decompressed
/// records section).
pub fn parse_records(section: &[u8], count: i32) -> Result<Vec<Record<'_>>> {
    // Every record takes at least 7 bytes; a larger count is corruption.
    if count < 0 || count as usize > section.len() / 7 + 1 {
        return Err(corrupt("record count does not fit the batch"));
    }
    let mut pos = 0;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        out.push(parse_one(section, &mut pos)?);
    }
    if pos != section.len() {
        return Err(corrupt("bytes after the last record"));
    }
    Ok(out)
}

/// The batch's codec (snappy framing detected) and its records section,
/// decompressed. `batch` is the whole batch.
pub fn records_section<'a>(h: &BatchHeader, batch: &'a [u8]) -> Result<(Codec, Cow<'a, [u8]>)> {
    let body = batch
        .get(BATCH_HEADER_LEN..h.total_len())
        .ok_or_else(|| corrupt("batch shorter than its length"))?;
    let codec = Codec::from_id(h.compression())?.detect_snappy(body);
    if codec == Codec::None {
        return Ok((codec, Cow::Borrowed(body)));
    }
    Ok((codec, Cow::Owned(decompress(codec, body)?)))
}

/// Whether any record of `batch` has a null key. Control batches (whose
/// records are markers, always keyed) are not looked into.
pub fn has_null_key(h: &BatchHeader, batch: &[u8]) -> Result<bool> {
    if h.is_control() {
        return Ok(false);
    }
    let (_, section) = records_section(h, batch)?;
    Ok(parse_records(&section, h.records_count)?
        .iter()
        .any(|r| r.key.is_none()))
}

/// The indexes (counted across `records`' batches, control batches
/// skipped, as KIP-467's `batch_index`) of the records without a key: what
/// a compacted topic refuses, named so a client can fail those records
/// with the reason and the rest as collateral. Batches that cannot be read
/// name nothing.
pub fn null_key_records(records: &[u8]) -> Vec<i32> {
    let mut out = Vec::new();
    let mut index = 0i32;
    for (h, span) in BatchHeader::walk(records) {
        if h.is_control() {
            continue;
        }
        let Ok((_, section)) = records_section(&h, &records[span]) else {
            continue;
        };
        let Ok(parsed) = parse_records(&section, h.records_count) else {
            continue;
        };
        for r in parsed {
            if r.key.is_none() {
                out.push(index);
            }
            index += 1;
        }
    }
    out
}

/// Appends `record` to `out` with its timestamp delta changed to `delta`
/// (every other field as it was), for a batch whose baseTimestamp moved.
pub fn rebase_record(record: &Record<'_>, delta: i64, out: &mut Vec<u8>) -> Result<()> {
    let raw = record.raw;
    let mut pos = 0;
    read_varlong(raw, &mut pos)?; // length
    pos += 1; // attributes
    read_varlong(raw, &mut pos)?; // the old delta
    let rest = raw
        .get(pos..)
        .ok_or_else(|| corrupt("record ends in its header"))?;
    let mut body = Vec::with_capacity(rest.len() + 11);
    body.push(record.attributes as u8);
    put_varlong(&mut body, delta);
    body.extend_from_slice(rest);
    put_varlong(out, body.len() as i64);
    out.extend_from_slice(&body);
    Ok(())
}

/// A batch like `template` holding only `records` (raw record bytes, in
/// offset order, `count` of them), compressed with `codec`: same
/// baseOffset, lastOffsetDelta (so the batch still ends where it did and
/// the next offset is unchanged), baseTimestamp, producer fields and
/// attributes; maxTimestamp as given; a fresh CRC.
pub fn encode_batch(
    template: &BatchHeader,
    codec: Codec,
    records: &[u8],
    count: i32,
    max_timestamp: i64,
) -> Result<Vec<u8>> {
    let body = compress(codec, records)?;
    let mut b = Vec::with_capacity(BATCH_HEADER_LEN + body.len());
    b.extend_from_slice(&template.base_offset.to_be_bytes());
    b.extend_from_slice(&((BATCH_HEADER_LEN - 12 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&template.partition_leader_epoch.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    let attributes = (template.attributes & !0x07) | codec.id() as i16;
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&template.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&template.base_timestamp.to_be_bytes());
    b.extend_from_slice(&max_timestamp.to_be_bytes());
    b.extend_from_slice(&template.producer_id.to_be_bytes());
    b.extend_from_slice(&template.producer_epoch.to_be_bytes());
    b.extend_from_slice(&template.base_sequence.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b[CRC_START..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::BatchBuilder;

    #[test]
    fn parses_keys_values_tombstones_and_every_header() {
        let b = BatchBuilder::new()
            .keyed(Some(b"k1"), Some(b"v1"), 100)
            .header(b"h", Some(b"one"))
            .header(b"h", Some(b"two"))
            .header(b"n", None)
            .keyed(Some(b"k2"), None, 103)
            .keyed(None, Some(b"v3"), 101)
            .build();
        let h = BatchHeader::parse(&b).unwrap();
        let (codec, section) = records_section(&h, &b).unwrap();
        assert_eq!(codec, Codec::None);
        let recs = parse_records(&section, h.records_count).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(
            (recs[0].key, recs[0].value),
            (Some(&b"k1"[..]), Some(&b"v1"[..]))
        );
        assert_eq!(
            recs[0].headers,
            vec![
                Header {
                    key: b"h",
                    value: Some(b"one")
                },
                Header {
                    key: b"h",
                    value: Some(b"two")
                },
                Header {
                    key: b"n",
                    value: None
                },
            ]
        );
        assert_eq!((recs[1].key, recs[1].value), (Some(&b"k2"[..]), None));
        assert_eq!((recs[1].offset(&h), recs[1].timestamp(&h)), (1, 103));
        assert_eq!(recs[2].key, None);
        assert!(has_null_key(&h, &b).unwrap());
        let raw: usize = recs.iter().map(|r| r.raw.len()).sum();
        assert_eq!(raw, section.len());
    }

    #[test]
    fn re_encoding_keeps_offsets_and_records() {
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy { xerial: true },
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let b = BatchBuilder::new()
                .producer(9, 1, 40)
                .keyed(Some(b"a"), Some(b"1"), 10)
                .keyed(Some(b"b"), Some(b"2"), 20)
                .keyed(Some(b"c"), Some(b"3"), 30)
                .compressed(codec)
                .build();
            let h = BatchHeader::parse(&b).unwrap();
            h.verify_crc(&b).unwrap();
            let (got_codec, section) = records_section(&h, &b).unwrap();
            assert_eq!(got_codec, codec);
            let recs = parse_records(&section, 3).unwrap();
            let kept = [recs[0].raw, recs[2].raw].concat();
            let out = encode_batch(&h, codec, &kept, 2, 30).unwrap();
            let h2 = BatchHeader::parse(&out).unwrap();
            h2.verify_crc(&out).unwrap();
            assert_eq!(
                (h2.last_offset(), h2.records_count, h2.compression()),
                (2, 2, codec.id())
            );
            assert_eq!((h2.producer_id, h2.base_sequence), (9, 40));
            let (_, s2) = records_section(&h2, &out).unwrap();
            let r2 = parse_records(&s2, 2).unwrap();
            assert_eq!(
                r2.iter().map(|r| r.offset(&h2)).collect::<Vec<_>>(),
                vec![0, 2]
            );
            assert_eq!(r2[1].value, Some(&b"3"[..]));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut garbage = crate::testing::Garbage(0x2545f4914f6cdd1d);
        for len in 0..400 {
            let buf = garbage.bytes(len);
            for count in [0, 1, 3, 1000, i32::MAX] {
                let _ = parse_records(&buf, count);
            }
        }
        assert!(parse_records(&[], 1).is_err());
        assert!(parse_records(&[0], 0).is_err(), "trailing bytes");
    }
}
