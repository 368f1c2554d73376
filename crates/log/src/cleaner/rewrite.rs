//! Filtering one group of segments into one cleaned file.

use std::sync::Arc;

use crate::batch::{BatchHeader, DELETE_HORIZON_FLAG};
use crate::error::{LogError, Result};
use crate::fs::LogFile;
use crate::records::{encode_batch, parse_records, rebase_record, records_section, Record};
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
    /// The earliest delete horizon of the batches written that still hold
    /// a tombstone: when a pass is next due to drop some.
    pub earliest_horizon: Option<i64>,
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
    let horizon = h.delete_horizon_ms();
    let mut kept = Vec::with_capacity(records.len());
    let mut tombstones_kept = false;
    for r in &records {
        let keep = match r.key {
            // Only data written before the topic was compacted has these.
            None => true,
            Some(key) => {
                let latest = rules.map.is_latest(key, r.offset(h));
                // A tombstone stays until delete.retention.ms after the
                // cleaner first kept it (KIP-534), so a consumer that read
                // its key's older value and is behind by less sees it.
                let expired = r.value.is_none() && horizon.is_some_and(|hz| rules.now_ms >= hz);
                if !latest || expired {
                    stats.records_removed += 1;
                }
                if latest && expired {
                    stats.tombstones_removed += 1;
                }
                tombstones_kept |= latest && !expired && r.value.is_none();
                latest && !expired
            }
        };
        if keep {
            kept.push(r);
        }
    }
    // A batch keeping a tombstone carries a horizon; one keeping none
    // drops its horizon, so later passes need not revisit it.
    let new_horizon = tombstones_kept
        .then(|| horizon.unwrap_or_else(|| rules.now_ms.saturating_add(rules.delete_retention_ms)));
    if let Some(hz) = new_horizon {
        stats.earliest_horizon = Some(stats.earliest_horizon.map_or(hz, |e| e.min(hz)));
    }
    if kept.len() == records.len() && new_horizon == horizon {
        return Ok(Kept::All);
    }
    if kept.is_empty() {
        return Ok(Kept::None);
    }
    let timestamp = |r: &&Record<'_>| h.base_timestamp.saturating_add(r.timestamp_delta);
    let max_ts = match h.timestamp_type() {
        TimestampType::LogAppendTime => h.max_timestamp,
        TimestampType::CreateTime => kept.iter().map(timestamp).max().unwrap_or(h.max_timestamp),
    };
    let mut template = *h;
    let mut raw = Vec::with_capacity(section.len());
    if new_horizon == horizon {
        // baseTimestamp stays: the records' bytes stay valid as they are.
        for r in &kept {
            raw.extend_from_slice(r.raw);
        }
    } else {
        template.base_timestamp = match new_horizon {
            Some(hz) => hz,
            None => kept.iter().map(timestamp).min().unwrap_or(h.base_timestamp),
        };
        template.attributes = match new_horizon {
            Some(_) => h.attributes | DELETE_HORIZON_FLAG,
            None => h.attributes & !DELETE_HORIZON_FLAG,
        };
        for r in &kept {
            let delta = timestamp(r).saturating_sub(template.base_timestamp);
            rebase_record(r, delta, &mut raw)?;
        }
    }
    Ok(Kept::Some(encode_batch(
        &template,
        codec,
        &raw,
        kept.len() as i32,
        max_ts,
    )?))
}
