//! Reading a segment batch by batch, in large sequential reads, and the
//! key map the cleaner builds over the dirty part of the log.

use std::collections::HashMap;

use crate::batch::{BatchHeader, BATCH_HEADER_LEN};
use crate::error::{LogError, Result};
use crate::fs::LogFile;
use crate::records::{parse_records, records_section};
use crate::segment::header_at;
use crate::Offset;

/// Bytes read per pread while scanning.
const CHUNK: usize = 1 << 20;

/// Calls `f(position, header, batch bytes)` for each batch in
/// `file[pos..limit)`. Stops with an error at a batch that does not parse
/// or runs past `limit` (closed segments hold only whole batches).
pub(super) fn scan_batches(
    file: &dyn LogFile,
    mut pos: u64,
    limit: u64,
    mut f: impl FnMut(u64, &BatchHeader, &[u8]) -> Result<()>,
) -> Result<()> {
    let io = |e| LogError::io("reading a segment for compaction", e);
    let mut buf = Vec::new();
    while pos < limit {
        buf.resize(((limit - pos) as usize).min(CHUNK), 0);
        file.read_exact_at(&mut buf, pos).map_err(io)?;
        let mut off = 0;
        while off + BATCH_HEADER_LEN <= buf.len() {
            let h = BatchHeader::parse(&buf[off..])?;
            if off + h.total_len() > buf.len() {
                break;
            }
            f(pos + off as u64, &h, &buf[off..off + h.total_len()])?;
            off += h.total_len();
        }
        if off == 0 {
            // A batch larger than one chunk.
            let h = header_at(file, pos, limit)
                .map_err(io)?
                .ok_or_else(|| LogError::corrupt(format!("no whole batch at position {pos}")))?;
            let mut one = vec![0u8; h.total_len()];
            file.read_exact_at(&mut one, pos).map_err(io)?;
            f(pos, &h, &one)?;
            off = one.len();
        }
        pos += off as u64;
    }
    Ok(())
}

/// Where a key was last seen.
#[derive(Debug, Clone, Copy)]
pub(super) struct Latest {
    pub offset: Offset,
    /// Index of the segment holding it (in the cleaner's list; the active
    /// segment and segments past the cleanable range have indexes too).
    pub segment: u32,
    /// Size of the record, for estimating cleaned segment sizes.
    pub bytes: u32,
}

/// key -> its latest offset in the mapped range, plus what the estimate
/// of each cleaned segment's size needs.
#[derive(Debug, Default)]
pub(super) struct KeyMap {
    pub keys: HashMap<Vec<u8>, Latest>,
    /// Per segment index: bytes kept whatever the map says (keyless
    /// records, control batches, batches that do not decode).
    pub unconditional: HashMap<u32, u64>,
    /// Rough memory held by `keys`.
    pub memory: usize,
}

/// Per-entry overhead counted against the map's memory budget.
const ENTRY_OVERHEAD: usize = 64;

impl KeyMap {
    /// Adds every record of one batch. A batch that cannot be decoded is
    /// left out of the map (and kept verbatim by the rewrite): its keys
    /// then never make an older record look superseded, which is safe.
    pub fn add_batch(&mut self, segment: u32, h: &BatchHeader, batch: &[u8]) {
        let decoded = if h.is_control() {
            None
        } else {
            records_section(h, batch).ok()
        };
        let Some((_, section)) = decoded else {
            *self.unconditional.entry(segment).or_default() += batch.len() as u64;
            return;
        };
        let Ok(records) = parse_records(&section, h.records_count) else {
            tracing::warn!(
                offset = h.base_offset,
                "batch does not decode; compaction keeps it as it is"
            );
            *self.unconditional.entry(segment).or_default() += batch.len() as u64;
            return;
        };
        for r in records {
            let Some(key) = r.key else {
                *self.unconditional.entry(segment).or_default() += r.raw.len() as u64;
                continue;
            };
            let latest = Latest {
                offset: r.offset(h),
                segment,
                bytes: r.raw.len() as u32,
            };
            match self.keys.get_mut(key) {
                Some(e) => *e = latest,
                None => {
                    self.memory += key.len() + ENTRY_OVERHEAD;
                    self.keys.insert(key.to_vec(), latest);
                }
            }
        }
    }

    /// Whether the record with `key` at `offset` is the latest of its key
    /// (or its key was not seen in the mapped range).
    pub fn is_latest(&self, key: &[u8], offset: Offset) -> bool {
        self.keys.get(key).is_none_or(|e| e.offset <= offset)
    }
}
