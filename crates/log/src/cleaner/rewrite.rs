//! Filtering one group of segments into one cleaned file.

use std::sync::Arc;

use crate::batch::BatchHeader;
use crate::error::{LogError, Result};
use crate::fs::LogFile;
use crate::records::{encode_batch, parse_records, records_section};
use crate::segment::{IndexBuilder, Segment};
use crate::TimestampType;

use super::scan::{scan_batches, KeyMap};

/// What the cleaner keeps, decided per record.
pub(super) struct Rules<'a> {
    pub map: &'a KeyMap,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
}

/// Counts of one rewrite.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Filtered {
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// Some batch was dropped or re-encoded: the output differs.
    pub changed: bool,
}

/// Buffers output and writes it in large positional writes.
struct Output<'a> {
    file: &'a dyn LogFile,
    buf: Vec<u8>,
    /// Bytes already written to the file.
    written: u64,
}

impl Output<'_> {
    fn push(&mut self, batch: &[u8]) -> Result<u64> {
        let pos = self.written + self.buf.len() as u64;
        self.buf.extend_from_slice(batch);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(pos)
    }

    fn flush(&mut self) -> Result<()> {
        self.file
            .write_at(&self.buf, self.written)
            .map_err(|e| LogError::io("writing a cleaned segment", e))?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Writes the batches of `inputs` that keep at least one record into
/// `out` (empty), building its indexes in `index`. Returns the counts and
/// the output size. Not fsynced here.
pub(super) fn rewrite(
    inputs: &[Arc<Segment>],
    rules: &Rules<'_>,
    out: &dyn LogFile,
    index: &mut IndexBuilder,
) -> Result<(Filtered, u64)> {
    let mut stats = Filtered::default();
    let mut output = Output {
        file: out,
        buf: Vec::with_capacity(1 << 20),
        written: 0,
    };
    for seg in inputs {
        scan_batches(&*seg.file, 0, seg.size, |_, h, batch| {
            // Never launder corruption into a fresh CRC.
            h.verify_crc(batch)?;
            match filter_batch(h, batch, rules, &mut stats)? {
                Kept::All => {
                    let pos = output.push(batch)?;
                    index.add(h, pos);
                }
                Kept::Some(new) => {
                    stats.changed = true;
                    let nh = BatchHeader::parse(&new)?;
                    let pos = output.push(&new)?;
                    index.add(&nh, pos);
                }
                Kept::None => stats.changed = true,
            }
            Ok(())
        })?;
    }
    output.flush()?;
    index.finish();
    Ok((stats, output.written))
}

enum Kept {
    All,
    /// A re-encoded batch with the records kept.
    Some(Vec<u8>),
    None,
}

fn filter_batch(
    h: &BatchHeader,
    batch: &[u8],
    rules: &Rules<'_>,
    stats: &mut Filtered,
) -> Result<Kept> {
    if h.is_control() {
        return Ok(Kept::All);
    }
    // Undecodable batches were left out of the map; keep them likewise.
    let Ok((codec, section)) = records_section(h, batch) else {
        return Ok(Kept::All);
    };
    let Ok(records) = parse_records(&section, h.records_count) else {
        return Ok(Kept::All);
    };
    let mut kept = Vec::with_capacity(section.len());
    let mut count = 0;
    let mut max_ts = None::<i64>;
    for r in &records {
        let keep = match r.key {
            // Only data written before the topic was compacted has these.
            None => true,
            Some(key) => {
                let latest = rules.map.is_latest(key, r.offset(h));
                if !latest {
                    stats.records_removed += 1;
                }
                // A tombstone stays delete.retention.ms after its
                // timestamp, so consumers behind by less still see it.
                let expired = r.value.is_none()
                    && rules.now_ms.saturating_sub(r.timestamp(h)) > rules.delete_retention_ms;
                if latest && expired {
                    stats.records_removed += 1;
                    stats.tombstones_removed += 1;
                }
                latest && !expired
            }
        };
        if keep {
            kept.extend_from_slice(r.raw);
            count += 1;
            let ts = r.timestamp(h);
            max_ts = Some(max_ts.map_or(ts, |m| m.max(ts)));
        }
    }
    if count == records.len() {
        return Ok(Kept::All);
    }
    if count == 0 {
        return Ok(Kept::None);
    }
    let max_ts = match h.timestamp_type() {
        TimestampType::LogAppendTime => h.max_timestamp,
        TimestampType::CreateTime => max_ts.unwrap_or(h.max_timestamp),
    };
    Ok(Kept::Some(encode_batch(
        h,
        codec,
        &kept,
        count as i32,
        max_ts,
    )?))
}
