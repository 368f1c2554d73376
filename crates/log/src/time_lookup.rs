//! Timestamp queries for ListOffsets: the first record at or after a time,
//! and the record with the largest timestamp.
//!
//! Batches are located with the time indexes (see [`crate::index`]) and
//! scanned by header. Inside a batch the exact record is found by reading
//! record headers when the batch is uncompressed (or LogAppendTime, where
//! all records share one time). For compressed batches, which the log never
//! decompresses, the answer is the batch's first offset at or above the log
//! start with the batch's max timestamp: a consumer starting there sees
//! every record at or after the time, plus possibly a few earlier ones.

use std::sync::Arc;

use crate::batch::record_timestamps;
use crate::error::{LogError, Result};
use crate::fs::LogFile;
use crate::index::relative;
use crate::partition::Partition;
use crate::segment::{header_at, locate, Segment};
use crate::Offset;

/// A segment to search, with what the lookup needs from under the lock.
struct Candidate {
    file: Arc<dyn LogFile>,
    base: Offset,
    limit: u64,
    closed: Option<Arc<Segment>>,
    /// For the active segment: its (max ts, batch holding it), and a scan
    /// start: for a time query, where that time's batches begin; for the
    /// max-timestamp query, the index position of the max batch.
    active: Option<(Option<(i64, Offset)>, u64)>,
}

impl Partition {
    /// The first record with timestamp >= `timestamp_ms`: (offset, its
    /// timestamp), or None if every record is older.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(Offset, i64)>> {
        let (candidates, log_start) = self.candidates(Some(timestamp_ms));
        for c in candidates {
            let (max, pos) = match (&c.closed, c.active) {
                (Some(seg), _) => {
                    let rel = seg.time_index().scan_start(timestamp_ms);
                    let pos = seg.offset_index().lookup(rel).1 as u64;
                    (seg.max_timestamp(), pos)
                }
                (None, Some(active)) => active,
                (None, None) => continue,
            };
            if max.is_none_or(|(ts, _)| ts < timestamp_ms) {
                continue;
            }
            let io = |e| LogError::io(format!("searching {} by time", self.dir.display()), e);
            let mut pos = pos;
            while let Some(h) = header_at(&*c.file, pos, c.limit).map_err(io)? {
                if h.max_timestamp >= timestamp_ms && h.last_offset() >= log_start {
                    let exact = self.records_in(&*c.file, pos, h.total_len())?;
                    let hit = exact.and_then(|recs| {
                        recs.into_iter()
                            .find(|&(o, ts)| ts >= timestamp_ms && o >= log_start)
                    });
                    return Ok(Some(
                        hit.unwrap_or((h.base_offset.max(log_start), h.max_timestamp)),
                    ));
                }
                pos += h.total_len() as u64;
            }
        }
        Ok(None)
    }

    /// (largest timestamp, offset of the first record carrying it).
    pub fn max_timestamp(&self) -> Option<(i64, Offset)> {
        let (candidates, log_start) = self.candidates(None);
        // (ts, batch base, candidate): the earliest batch wins ties, as the
        // time index keeps the first batch that reached a maximum.
        let mut best: Option<(i64, Offset, &Candidate)> = None;
        for c in &candidates {
            let max = match (&c.closed, c.active) {
                (Some(seg), _) => seg.max_timestamp(),
                (None, Some((max, _))) => max,
                (None, None) => None,
            };
            if let Some((ts, batch)) = max {
                if best.is_none_or(|b| ts > b.0) {
                    best = Some((ts, batch, c));
                }
            }
        }
        let (ts, batch, c) = best?;
        let hint = match (&c.closed, c.active) {
            (Some(seg), _) => seg.offset_index().lookup(relative(batch, c.base)).1 as u64,
            (None, Some((_, pos))) => pos,
            (None, None) => 0,
        };
        // Refine to the exact record where the batch can be read.
        let exact = locate(&*c.file, hint, c.limit, batch)
            .ok()
            .flatten()
            .and_then(|(pos, h)| self.records_in(&*c.file, pos, h.total_len()).ok().flatten())
            .and_then(|recs| recs.into_iter().find(|&(_, t)| t == ts).map(|(o, _)| o));
        Some((ts, exact.unwrap_or(batch).max(log_start)))
    }

    fn records_in(
        &self,
        file: &dyn LogFile,
        pos: u64,
        len: usize,
    ) -> Result<Option<Vec<(Offset, i64)>>> {
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, pos)
            .map_err(|e| LogError::io(format!("reading {}", self.dir.display()), e))?;
        // A batch that does not parse is answered at batch granularity.
        Ok(record_timestamps(&buf).ok().flatten())
    }

    /// Every segment in order, the active one last with its lookup start
    /// for `ts` computed under the lock.
    fn candidates(&self, ts: Option<i64>) -> (Vec<Candidate>, Offset) {
        let log = self.lock();
        let mut out: Vec<Candidate> = log
            .segments
            .values()
            .map(|seg| Candidate {
                file: seg.file.clone(),
                base: seg.base_offset,
                limit: seg.size,
                closed: Some(seg.clone()),
                active: None,
            })
            .collect();
        let a = &log.active;
        let rel = match (ts, a.index.max_ts) {
            (Some(ts), _) => a.index.time_index.scan_start(ts),
            (None, Some((_, batch))) => relative(batch, a.base_offset),
            (None, None) => 0,
        };
        let pos = a.index.offset_index.lookup(rel).1 as u64;
        out.push(Candidate {
            file: a.file.clone(),
            base: a.base_offset,
            limit: a.size,
            closed: None,
            active: Some((a.index.max_ts, pos)),
        });
        (out, log.log_start)
    }
}
