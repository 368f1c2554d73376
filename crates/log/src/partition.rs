//! [`Partition`]: the public face of one partition's log.
//!
//! Locking: `log` (a Mutex over [`LogState`]) serialises appends, rolls and
//! segment-list changes; it is held for the pwrite of an append but never
//! for an fsync requested by `sync_to` (see [`crate::group_commit`]) nor for
//! the pread of a fetch (readers clone an `Arc` to the segment file and the
//! byte limit under the lock, then read without it). Lock order is `log`
//! before the group-commit lock, never the reverse. `config` has its own
//! lock so batch validation (a CRC over every byte) runs before `log` is
//! taken.
//!
//! Invariants of [`LogState`]: closed segments plus the active one cover
//! `[first segment base, log_end)` contiguously; `log_start` lies in
//! `[first segment base, log_end]`; the active segment's `size` bytes are
//! whole batches ending at `log_end`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;

use crate::batch::{
    self, stamp_log_append_time, validate_client_batches, BatchHeader, TimestampType,
};
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::fs::{FileSystem, LogFile};
use crate::group_commit::GroupCommit;
use crate::meta;
use crate::producer_state::{next_seq, Check, ProducerStates};
use crate::records;
use crate::segment::{locate, read_batches, ActiveSegment, Segment};
use crate::txn::TxnIndex;
use crate::Offset;

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Offset of the first record written (or, for a duplicate, originally written).
    pub base_offset: Offset,
    /// Offset of the last record.
    pub last_offset: Offset,
    pub log_start_offset: Offset,
    /// The batch repeated one already in the log; nothing was written.
    pub duplicate: bool,
}

/// Whole batches read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSlice {
    /// Stored batches, byte for byte, starting with the one holding the
    /// requested offset; empty at the log end.
    pub bytes: Bytes,
    /// What consumers may see: the durable end of the log (every offset
    /// below it is fsynced), never past the log end. A read_uncommitted
    /// read returns nothing at or past it.
    pub high_watermark: Offset,
    pub log_start_offset: Offset,
    /// The last stable offset when read, never past the high watermark:
    /// below it every transaction is decided. A read_committed read returns
    /// nothing at or past it.
    pub last_stable_offset: Offset,
}

/// What one `maintain` pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub segments_deleted: usize,
    pub segments_rolled: usize,
}

/// The mutable state of a partition, behind `Partition::log`.
pub(crate) struct LogState {
    /// Closed segments by base offset.
    pub segments: BTreeMap<Offset, Arc<Segment>>,
    pub active: ActiveSegment,
    pub log_start: Offset,
    /// Next offset to assign.
    pub log_end: Offset,
    pub producers: ProducerStates,
    /// Sum of closed segment sizes.
    pub closed_bytes: u64,
    /// close() ran.
    pub closed: bool,
    /// Offsets of the producer snapshots on disk, ascending.
    pub snapshots: Vec<Offset>,
    /// The cleaner's checkpoint: offsets below it were compacted at least
    /// once (see `crate::cleaner`).
    pub clean_end: Offset,
    /// Every aborted transaction whose marker is still in the log.
    pub aborted: TxnIndex,
}

impl LogState {
    /// The last stable offset: the first offset of the oldest open
    /// transaction, else the log end. Never below the log start (retention
    /// may have deleted an open transaction's first batches).
    pub fn last_stable_offset(&self) -> Offset {
        self.producers
            .first_unstable()
            .map_or(self.log_end, |first| {
                first.clamp(self.log_start, self.log_end)
            })
    }
}

/// One partition's log. Send + Sync; share it as `Arc<Partition>`.
pub struct Partition {
    pub(crate) dir: PathBuf,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) config: RwLock<Arc<LogConfig>>,
    pub(crate) log: Mutex<LogState>,
    pub(crate) group: GroupCommit,
    /// Held by the one compaction pass allowed at a time.
    pub(crate) cleaner: Mutex<crate::cleaner::CleanerState>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Where a read goes: a file, the byte to start scanning from, the limit.
struct ReadTarget {
    file: Arc<dyn LogFile>,
    pos_hint: u64,
    limit: u64,
    segment: Option<Arc<Segment>>,
}

impl Partition {
    /// Opens (creating if needed) the partition in `dir` and recovers it.
    pub fn open(dir: PathBuf, config: LogConfig, fs: Arc<dyn FileSystem>) -> Result<Partition> {
        let state = crate::recovery::recover(&dir, &config, &fs)?;
        let durable_end = state.log_end;
        let cleaner = crate::cleaner::CleanerState::load(&*fs, &dir);
        Ok(Partition {
            dir,
            fs,
            config: RwLock::new(Arc::new(config)),
            log: Mutex::new(state),
            group: GroupCommit::new(durable_end),
            cleaner: Mutex::new(cleaner),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LogState> {
        // A panic while holding the lock leaves state that was valid before
        // the panicking operation's write (writes are the last step).
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lock_open(&self) -> Result<MutexGuard<'_, LogState>> {
        let log = self.lock();
        if log.closed {
            return Err(LogError::Closed {
                dir: self.dir.display().to_string(),
            });
        }
        Ok(log)
    }

    pub(crate) fn config_arc(&self) -> Arc<LogConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Validates `records` (one or more v2 batches), assigns offsets and
    /// writes them, all or nothing. Does not fsync: call `sync_to` for
    /// acks=all.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendOutcome> {
        let config = self.config_arc();
        let batches = validate_client_batches(records, config.max_message_bytes())?;
        if config.cleanup_policy().compacts() {
            // Compaction keeps the latest record per key, so a record
            // without one has no meaning here; Kafka refuses it too. The
            // one place the produce path reads (and may decompress)
            // records, and only for compacted topics.
            for (h, range) in &batches {
                if records::has_null_key(h, &records[range.clone()])? {
                    return Err(LogError::InvalidRecord {
                        reason: "compacted topic refuses a record with a null key".into(),
                    });
                }
            }
        }
        let mut buf = records.to_vec();
        if config.message_timestamp_type() == TimestampType::LogAppendTime {
            for (_, range) in &batches {
                stamp_log_append_time(&mut buf[range.clone()], now_ms);
            }
        }
        self.group.check()?;
        let mut log = self.lock_open()?;

        // Offsets to assign, and the producer checks, before any write.
        let mut headers = Vec::with_capacity(batches.len());
        let mut next = log.log_end;
        for (_, range) in &batches {
            // Re-parsed: LogAppendTime may have changed the header.
            let mut h = BatchHeader::parse(&buf[range.clone()])?;
            h.base_offset = next;
            next = h.last_offset() + 1;
            headers.push(h);
        }
        let mut pending = ProducerStates::new();
        let mut duplicates = Vec::new();
        for h in &headers {
            match log.producers.check(h, &pending)? {
                Check::Append => pending.stage(&log.producers, h),
                Check::Duplicate {
                    base_offset,
                    last_offset,
                } => duplicates.push((h, base_offset, last_offset)),
            }
        }
        if let (Some(first), Some(last)) = (duplicates.first(), duplicates.last()) {
            if duplicates.len() == headers.len() {
                return Ok(AppendOutcome {
                    base_offset: first.1,
                    last_offset: last.2,
                    log_start_offset: log.log_start,
                    duplicate: true,
                });
            }
            // Produce v3+ sends one batch per partition; a request mixing a
            // retry with new batches cannot be answered with one offset.
            let h = first.0;
            let expected = pending
                .get(h.producer_id)
                .or_else(|| log.producers.get(h.producer_id))
                .map_or(0, |e| next_seq(e.last_seq()));
            return Err(LogError::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected,
                got: h.base_sequence,
            });
        }

        for (h, (_, range)) in headers.iter().zip(&batches) {
            batch::assign_offset(&mut buf[range.clone()], h.base_offset);
        }
        let placed = headers.iter().zip(batches.iter().map(|(_, r)| r.start));
        let base_offset = log.log_end;
        self.write_tail(&mut log, &config, &buf, placed, next, now_ms)?;
        log.producers.merge(pending);
        Ok(AppendOutcome {
            base_offset,
            last_offset: next - 1,
            log_start_offset: log.log_start,
            duplicate: false,
        })
    }

    /// Writes `buf` (whole batches with offsets assigned; `placed` gives
    /// each one's header and start in `buf`) at the end of the active
    /// segment, rolling first if it is due, and moves the log end to
    /// `next`. All or nothing: a failed write is undone.
    pub(crate) fn write_tail<'h>(
        &self,
        log: &mut LogState,
        config: &LogConfig,
        buf: &[u8],
        placed: impl Iterator<Item = (&'h BatchHeader, usize)>,
        next: Offset,
        now_ms: i64,
    ) -> Result<()> {
        let total = buf.len() as u64;
        if self.should_roll(log, config, total, next, now_ms) {
            self.roll(log)?;
        }
        let pos = log.active.size;
        if let Err(e) = log.active.file.write_at(buf, pos) {
            // Undo a partial write so the file still ends on a batch.
            let _ = log.active.file.set_len(pos);
            return Err(LogError::io(
                format!("appending to {}", self.dir.display()),
                e,
            ));
        }
        for (h, start) in placed {
            log.active.index.add(h, pos + start as u64);
        }
        log.active.size += total;
        log.active.first_batch_ms.get_or_insert(now_ms);
        log.log_end = next;
        Ok(())
    }

    fn should_roll(
        &self,
        log: &LogState,
        config: &LogConfig,
        bytes: u64,
        next: Offset,
        now_ms: i64,
    ) -> bool {
        let a = &log.active;
        if a.size == 0 {
            return false;
        }
        a.size + bytes > config.segment_bytes()
            || a.first_batch_ms.is_some_and(|t| now_ms - t >= config.segment_ms())
            // Index entries hold offsets relative to the base in a u32.
            || next - a.base_offset > i32::MAX as i64
    }

    /// Closes the active segment and starts a new one at the log end. The
    /// old segment is fsynced and its indexes persisted first, so closed
    /// segments are always durable and the group-commit watermark can move
    /// to the new base.
    pub(crate) fn roll(&self, log: &mut LogState) -> Result<()> {
        let new_base = log.log_end;
        if log.active.size == 0 || new_base == log.active.base_offset {
            return Ok(());
        }
        self.sync_active(log)?;
        self.persist_beside_active(log)?;
        let interval = self.config_arc().index_interval_bytes();
        let fresh = ActiveSegment::create(self.fs.clone(), &self.dir, new_base, interval)?;
        let old = std::mem::replace(&mut log.active, fresh);
        let segment = Segment::from_active(old, new_base);
        log.closed_bytes += segment.size;
        log.segments.insert(segment.base_offset, Arc::new(segment));
        self.group.raise(new_base);
        tracing::debug!(dir = %self.dir.display(), base = new_base, "rolled segment");
        Ok(())
    }

    /// Fsyncs the active segment outside the group commit (roll, close,
    /// DeleteRecords), on the same terms: a partition already poisoned is
    /// refused, and a failure poisons it. Linux reports a writeback error
    /// once per file, so after one no later fsync may be trusted to
    /// acknowledge data; a restart re-verifies the tail and clears it.
    pub(crate) fn sync_active(&self, log: &LogState) -> Result<()> {
        self.group.check()?;
        log.active
            .sync()
            .inspect_err(|e| self.group.poison(e.to_string()))
    }

    /// Persists what a restart reads beside the (already fsynced) active
    /// segment, up to the log end: its indexes, its aborted-transaction
    /// index and the producer snapshot. Roll and close both need it.
    fn persist_beside_active(&self, log: &mut LogState) -> Result<()> {
        log.active.persist_indexes()?;
        let (base, log_end) = (log.active.base_offset, log.log_end);
        log.aborted.persist(&*self.fs, &self.dir, base, log_end)?;
        let LogState {
            producers,
            snapshots,
            ..
        } = log;
        meta::write_snapshot(&*self.fs, &self.dir, log_end, producers, snapshots)
    }

    /// Blocks until every record up to and including `offset` is fsynced.
    /// Concurrent callers share fsyncs (group commit).
    pub fn sync_to(&self, offset: Offset) -> Result<()> {
        let end = self.lock().log_end;
        self.group.sync_to((offset + 1).min(end), || {
            let log = self.lock();
            Ok((log.log_end, log.active.file.clone()))
        })
    }

    /// Fsyncs everything written so far.
    pub fn flush(&self) -> Result<()> {
        let end = self.lock().log_end;
        self.sync_to(end - 1)
    }

    /// Offset below which everything is known durable.
    pub fn durable_offset(&self) -> Offset {
        self.group.durable_end()
    }

    /// The high watermark: what consumers may see, the durable end of the
    /// log. A consumer that read (and a group that committed) past what is
    /// fsynced would, after a power loss cut the log back, skip the records
    /// acks=all producers are then given those offsets for.
    pub fn high_watermark(&self) -> Offset {
        let log = self.lock();
        self.group.durable_end().min(log.log_end)
    }

    /// Whether records past the high watermark wait for an fsync (acks=0/1
    /// appends the background flusher has not reached yet); a reader that
    /// wants them calls [`Partition::flush`], whose fsync concurrent
    /// readers and producers share (group commit).
    pub fn has_undurable_tail(&self) -> bool {
        let log = self.lock();
        self.group.durable_end() < log.log_end
    }

    /// What a read_uncommitted consumer sees: like [`Partition::read`],
    /// but only whole batches below the high watermark.
    pub fn read_uncommitted(
        &self,
        offset: Offset,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadSlice> {
        self.read_below(offset, max_bytes, min_one_batch, |s| s.high_watermark)
    }

    /// [`Partition::read`], keeping only the whole batches below the bound
    /// `visible_end` picks from the slice (the high watermark, or the last
    /// stable offset). Both were read with the data and only grow, so
    /// cutting there never hides a batch that was already readable.
    pub(crate) fn read_below(
        &self,
        offset: Offset,
        max_bytes: usize,
        min_one_batch: bool,
        visible_end: fn(&ReadSlice) -> Offset,
    ) -> Result<ReadSlice> {
        let mut slice = self.read(offset, max_bytes, min_one_batch)?;
        slice.bytes = crate::txn::cut_at(&slice.bytes, visible_end(&slice));
        Ok(slice)
    }

    /// Whole batches from the one containing `offset`, up to `max_bytes`
    /// (but one whole batch if `min_one_batch`, however large), up to the
    /// log end: batches past the high watermark included. The broker's own
    /// replays read this way; consumers read with
    /// [`Partition::read_uncommitted`] or `read_committed`.
    pub fn read(&self, offset: Offset, max_bytes: usize, min_one_batch: bool) -> Result<ReadSlice> {
        let (targets, hw, start, lso) = {
            let log = self.lock();
            if offset < log.log_start || offset > log.log_end {
                return Err(LogError::OffsetOutOfRange {
                    offset,
                    log_start: log.log_start,
                    log_end: log.log_end,
                });
            }
            let targets = if offset == log.log_end {
                Vec::new()
            } else {
                Self::read_targets(&log, offset)
            };
            // Lock order: the log, then the group commit's state.
            let hw = self.group.durable_end().min(log.log_end);
            (targets, hw, log.log_start, log.last_stable_offset().min(hw))
        };
        let mut bytes = Vec::new();
        for t in targets {
            let pos_hint = match &t.segment {
                Some(seg) => {
                    seg.offset_index()
                        .lookup(crate::index::relative(offset, seg.base_offset))
                        .1 as u64
                }
                None => t.pos_hint,
            };
            let found = locate(&*t.file, pos_hint, t.limit, offset)
                .map_err(|e| LogError::io(format!("reading {}", self.dir.display()), e))?;
            if let Some((pos, _)) = found {
                bytes = read_batches(&*t.file, pos, t.limit, max_bytes, min_one_batch)
                    .map_err(|e| LogError::io(format!("reading {}", self.dir.display()), e))?;
                break;
            }
        }
        Ok(ReadSlice {
            bytes: Bytes::from(bytes),
            high_watermark: hw,
            log_start_offset: start,
            last_stable_offset: lso,
        })
    }

    /// The segment that should hold `offset`, then the next ones up to one
    /// that is not empty (in case the offset fell in a gap).
    fn read_targets(log: &LogState, offset: Offset) -> Vec<ReadTarget> {
        let active = ReadTarget {
            file: log.active.file.clone(),
            pos_hint: log
                .active
                .index
                .offset_index
                .lookup(crate::index::relative(offset, log.active.base_offset))
                .1 as u64,
            limit: log.active.size,
            segment: None,
        };
        if offset >= log.active.base_offset {
            return vec![active];
        }
        let closed = |seg: &Arc<Segment>| ReadTarget {
            file: seg.file.clone(),
            pos_hint: 0,
            limit: seg.size,
            segment: Some(seg.clone()),
        };
        let mut out = Vec::new();
        if let Some((_, seg)) = log.segments.range(..=offset).next_back() {
            out.push(closed(seg));
        }
        // Compaction can leave segments with no batches at all: skip past
        // them to the first that has one.
        for (_, seg) in log.segments.range(offset + 1..) {
            out.push(closed(seg));
            if seg.size > 0 {
                return out;
            }
        }
        out.push(ReadTarget {
            pos_hint: 0,
            ..active
        });
        out
    }

    pub fn log_start_offset(&self) -> Offset {
        self.lock().log_start
    }

    /// The next offset to be assigned (the high watermark on one node).
    pub fn log_end_offset(&self) -> Offset {
        self.lock().log_end
    }

    /// Bytes of all segment files.
    pub fn size_bytes(&self) -> u64 {
        let log = self.lock();
        log.closed_bytes + log.active.size
    }

    /// Number of segments, the active one included.
    /// First offset of the active segment: a read from below it goes to
    /// closed segments, which the page cache may no longer hold.
    pub fn active_segment_base(&self) -> Offset {
        self.lock().active.base_offset
    }

    pub fn segment_count(&self) -> usize {
        self.lock().segments.len() + 1
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn config(&self) -> LogConfig {
        (*self.config_arc()).clone()
    }

    /// Applies a new config; it takes effect on the next append or
    /// maintenance pass.
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// (producer id, epoch, last sequence) of every idempotent producer.
    pub fn producer_ids(&self) -> Vec<(i64, i16, i32)> {
        self.lock().producers.summary()
    }

    /// Clean shutdown: fsync, persist indexes, producer snapshot and log
    /// start, then the clean-shutdown marker. Later calls are no-ops;
    /// appends and maintenance after it fail with `Closed`; reads still
    /// work.
    pub fn close(&self) -> Result<()> {
        let mut log = self.lock();
        if log.closed {
            return Ok(());
        }
        // A poisoned partition is not declared durable (nor clean) by a
        // later fsync that happens to succeed.
        self.sync_active(&log)?;
        self.group.raise(log.log_end);
        self.persist_beside_active(&mut log)?;
        meta::write_log_start(&*self.fs, &self.dir, log.log_start)?;
        meta::write_clean_marker(&*self.fs, &self.dir)?;
        log.closed = true;
        tracing::debug!(dir = %self.dir.display(), log_end = log.log_end, "closed partition");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_fs::FaultFs;
    use crate::testing::simple_batch;

    #[test]
    fn partition_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Partition>();
        shared::<Arc<Partition>>();
    }

    #[test]
    fn sync_to_advances_the_durable_watermark() {
        let fs = FaultFs::new();
        let p = Partition::open(PathBuf::from("/p"), LogConfig::default(), fs.shared()).unwrap();
        assert_eq!(p.durable_offset(), 0);
        p.sync_to(-1).unwrap();
        p.flush().unwrap();
        for i in 0..3 {
            p.append(&simple_batch(b"x", i), i).unwrap();
        }
        assert_eq!(p.durable_offset(), 0);
        let before = fs.fsync_count();
        p.sync_to(1).unwrap();
        assert_eq!(p.durable_offset(), 3, "one fsync covers everything written");
        p.sync_to(2).unwrap();
        assert_eq!(fs.fsync_count(), before + 1, "already durable: no fsync");
        // Asking beyond the end syncs what exists and does not block.
        p.sync_to(100).unwrap();
    }
}
