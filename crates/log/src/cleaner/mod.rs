//! Log compaction (`cleanup.policy=compact` or `compact,delete`):
//! [`Partition::compact`] keeps each key's latest record and drops expired
//! tombstones, rewriting closed segments in the background.
//!
//! One pass:
//! 1. *Plan* (under the log lock, no I/O): the closed segments, the
//!    active segment's file and length, the durable offset.
//! 2. *Map* (no lock): key -> latest offset over the dirty part of the
//!    log, from the checkpoint `clean_end` to the durable end, the active
//!    segment included, so a record superseded anywhere later goes. Only
//!    durable records count: a superseding record that a crash could
//!    still lose must not remove the one it supersedes.
//! 3. *Rewrite* (no lock): the closed segments up to the end of the
//!    cleanable range, in groups whose estimated cleaned size fits
//!    segment.bytes (so small cleaned segments merge and the count stays
//!    bounded), each group into one `<base>.log.cleaned` file, fsynced.
//!    Records keep their offsets: a batch that loses records is
//!    re-encoded with the same baseOffset, lastOffsetDelta and
//!    baseTimestamp (the survivors' raw bytes copied as they are) and
//!    re-compressed with its original codec; a batch that loses all is
//!    dropped. Readers see offset gaps, which Kafka clients expect.
//! 4. *Swap* (under the lock, a few renames): check the inputs are still
//!    the partition's segments (retention or DeleteRecords may have
//!    removed some meanwhile: then abandon the group), rename `.cleaned`
//!    to `.swap` and fsync the directory — the commit point — then remove
//!    the inputs' files, rename `.swap` over `<base>.log`, fsync the
//!    directory, and replace the segments in memory. Readers holding an
//!    `Arc` to an old segment keep reading its (unlinked) file; the old
//!    segments' indexes are loaded before the swap so such a reader never
//!    opens the new segment's index files by name.
//!
//! Tombstones (KIP-534): a tombstone stays delete.retention.ms after the
//! pass that first kept it, not after its own timestamp, so a consumer
//! that read an older value of its key and is behind by less than that
//! still sees the delete. That pass stamps the delete horizon (now +
//! delete.retention.ms) into the batch (attributes bit 6, baseTimestamp,
//! the records' timestamp deltas rebased so their timestamps read as
//! before); a later pass after the horizon drops the tombstone, and a
//! batch left with no tombstone loses its horizon. The earliest horizon
//! kept is checkpointed beside `clean_end`: when it passes, a pass is due
//! whatever the dirty ratio.
//!
//! Crash safety: recovery ([`complete_interrupted_swaps`]) deletes every
//! `.cleaned` file (not committed) and completes every `.swap`: it
//! removes the index files of the swap's base and every segment whose
//! base lies inside the swap's offsets (those were its inputs and their
//! kept records are all in it), then renames it into place. An input
//! whose records were all dropped may survive such a recovery with its
//! old contents; the log is still consistent (its offsets appear once)
//! and the next pass cleans it. Groups are swapped oldest first and a
//! pass stops at the first group it abandons, so a tombstone is never
//! dropped while an older value of its key survives in a group not yet
//! swapped.
//!
//! Transactions: only decided data is cleaned or mapped. The plan takes
//! the closed segments that end at or below the last stable offset (and
//! the active segment only when no transaction is open), so a record of an
//! open transaction never supersedes anything; batches of aborted
//! transactions are left out of the key map (they never supersede a
//! committed record) but are kept by the rewrite unless a later record of
//! their key supersedes them; markers are always kept.
//!
//! Not touched: the active segment, the log start offset, producer state
//! (its snapshots are taken at rolls; cleaned batches keep their producer
//! fields), and the offsets of every record kept.

mod rewrite;
mod scan;

use std::path::{Path, PathBuf};
use std::sync::{Arc, TryLockError};

use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::fs::{FileSystem, LogFile};
use crate::meta;
use crate::partition::Partition;
use crate::segment::{
    header_at, parse_segment_name, segment_path, segment_paths, IndexBuilder, Segment, LOG_SUFFIX,
};
use crate::txn::AbortedRanges;
use crate::Offset;

use rewrite::{rewrite, Rules};
use scan::{scan_batches, KeyMap};

const CLEANED_SUFFIX: &str = "cleaned";
const SWAP_SUFFIX: &str = "swap";

/// Largest memory the key map may use before a pass stops mapping at a
/// segment boundary (the rest is left for the next pass).
const MAP_MEMORY_BUDGET: usize = 256 << 20;

/// What one `compact` pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Closed segments rewritten (inputs of the groups swapped in).
    pub segments_cleaned: usize,
    /// Segments those became.
    pub segments_written: usize,
    /// Bytes of the inputs and of what replaced them.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Records dropped, tombstones among them.
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// Offset below which the log is now clean.
    pub clean_end: Offset,
}

/// `<base>.log.<suffix>`.
fn side_path(dir: &Path, base: Offset, suffix: &str) -> PathBuf {
    let mut p = segment_path(dir, base, LOG_SUFFIX).into_os_string();
    p.push(".");
    p.push(suffix);
    PathBuf::from(p)
}

/// The base offset of a `<base>.log.<suffix>` file.
fn parse_side(path: &Path, suffix: &str) -> Option<Offset> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(suffix)?.strip_suffix('.')?;
    parse_segment_name(Path::new(stem), LOG_SUFFIX)
}

/// What the plan took from under the lock.
struct Plan {
    /// Every closed segment, oldest first.
    segments: Vec<Arc<Segment>>,
    /// Offset below which the log was already clean.
    clean_end: Offset,
    /// The active segment's file and the bytes of it to map.
    active: Option<(Arc<dyn LogFile>, u64)>,
    /// Records at or above this are not durable yet (or not decided:
    /// past the LSO) and are not mapped.
    durable_end: Offset,
    /// Aborted transactions, whose batches the map leaves out.
    aborted: AbortedRanges,
}

/// What the cleaner remembers between passes (the lock held by a pass).
#[derive(Debug, Default)]
pub(crate) struct CleanerState {
    /// When the earliest kept tombstone's delete horizon passes, if any
    /// tombstone is kept (persisted in the cleaner checkpoint).
    delete_horizon: Option<i64>,
}

impl CleanerState {
    pub(crate) fn load(fs: &dyn FileSystem, dir: &Path) -> CleanerState {
        CleanerState {
            delete_horizon: meta::read_cleaner_checkpoint(fs, dir).and_then(|c| c.delete_horizon),
        }
    }
}

/// The earliest of the horizons seen.
#[derive(Debug, Default)]
struct Horizon(Option<i64>);

impl Horizon {
    fn see(&mut self, horizon: Option<i64>) {
        self.0 = self.earliest(horizon);
    }

    fn earliest(&self, other: Option<i64>) -> Option<i64> {
        match (self.0, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// How one group went.
enum Cleaned {
    /// Replaced by one cleaned segment of this many bytes.
    Swapped(rewrite::Filtered, u64),
    /// A lone segment with nothing to drop: left as it is.
    Unchanged(rewrite::Filtered),
    /// The inputs changed under the cleaner (retention, DeleteRecords,
    /// close): nothing done.
    Abandoned,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> LogError {
    move |e| LogError::io(what, e)
}

impl Partition {
    /// One compaction pass, for topics whose cleanup.policy compacts (a
    /// no-op otherwise, and when another pass is running). Runs on the
    /// caller's thread; appends and reads proceed meanwhile, the log lock
    /// being held only to plan and for each group's renames.
    pub fn compact(&self, now_ms: i64) -> Result<CompactionReport> {
        let config = self.config();
        let mut report = CompactionReport::default();
        if !config.cleanup_policy().compacts() {
            return Ok(report);
        }
        let mut state = match self.cleaner.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(report),
        };
        let plan = self.plan()?;
        report.clean_end = plan.clean_end;

        // The dirty segments, and how far the cleanable range reaches:
        // up to the first segment younger than min.compaction.lag.ms.
        let first_dirty = plan
            .segments
            .iter()
            .position(|s| s.end_offset > plan.clean_end)
            .unwrap_or(plan.segments.len());
        let lag_limit = now_ms.saturating_sub(config.min_compaction_lag_ms());
        let mut cleanable_end = first_dirty;
        while cleanable_end < plan.segments.len()
            && plan.segments[cleanable_end]
                .max_timestamp()
                .is_none_or(|(ts, _)| ts <= lag_limit)
        {
            cleanable_end += 1;
        }
        // Kept tombstones whose horizon has passed make a pass due over the
        // clean part too, however little of the log is dirty.
        let horizon_due = state.delete_horizon.is_some_and(|hz| hz <= now_ms);
        if !horizon_due && !self.dirty_enough(&plan, first_dirty, cleanable_end, now_ms, &config) {
            return Ok(report);
        }

        let (map, mapped) = self.build_map(&plan, first_dirty)?;
        let cleanable_end = cleanable_end.min(mapped);
        if cleanable_end == 0 || (cleanable_end <= first_dirty && !horizon_due) {
            return Ok(report);
        }
        let groups = group_segments(&plan.segments[..cleanable_end], first_dirty, &map, &config);
        let rules = Rules {
            map: &map,
            now_ms,
            delete_retention_ms: config.delete_retention_ms(),
        };
        let interval = config.index_interval_bytes();
        // Every cleanable segment is rewritten below, so the pass learns
        // every horizon there is (dirty segments carry none yet).
        let mut horizon = Horizon::default();
        for group in groups {
            let inputs = &plan.segments[group];
            match self.clean_group(inputs, &rules, interval)? {
                Cleaned::Swapped(stats, size) => {
                    horizon.see(stats.earliest_horizon);
                    report.segments_cleaned += inputs.len();
                    report.segments_written += 1;
                    report.bytes_before += inputs.iter().map(|s| s.size).sum::<u64>();
                    report.bytes_after += size;
                    report.records_removed += stats.records_removed;
                    report.tombstones_removed += stats.tombstones_removed;
                }
                Cleaned::Unchanged(stats) => horizon.see(stats.earliest_horizon),
                // Later groups may hold tombstones whose older values are
                // in this one: stop here, keeping the horizon known before
                // for the groups not seen.
                Cleaned::Abandoned => {
                    state.delete_horizon = horizon.earliest(state.delete_horizon);
                    return Ok(report);
                }
            }
        }
        state.delete_horizon = horizon.0;
        let clean_end = {
            let mut log = self.lock();
            log.clean_end = log
                .clean_end
                .max(plan.segments[cleanable_end - 1].end_offset);
            log.clean_end
        };
        meta::write_cleaner_checkpoint(&*self.fs, &self.dir, clean_end, state.delete_horizon)?;
        report.clean_end = clean_end;
        if report.segments_cleaned > 0 {
            tracing::info!(
                dir = %self.dir.display(),
                segments = report.segments_cleaned,
                into = report.segments_written,
                bytes_before = report.bytes_before,
                bytes_after = report.bytes_after,
                records_removed = report.records_removed,
                tombstones_removed = report.tombstones_removed,
                "compacted"
            );
        }
        Ok(report)
    }

    /// Whether enough of the log is dirty for a pass: min.cleanable.dirty.ratio
    /// of the cleanable range, or a dirty segment older than
    /// max.compaction.lag.ms.
    fn dirty_enough(
        &self,
        plan: &Plan,
        first_dirty: usize,
        cleanable_end: usize,
        now_ms: i64,
        config: &LogConfig,
    ) -> bool {
        let dirty: u64 = plan.segments[first_dirty..cleanable_end]
            .iter()
            .map(|s| s.size)
            .sum();
        let clean: u64 = plan.segments[..first_dirty].iter().map(|s| s.size).sum();
        if dirty == 0 {
            return false;
        }
        let ratio = dirty as f64 / (clean + dirty) as f64;
        let overdue = plan.segments[first_dirty]
            .max_timestamp()
            .is_some_and(|(ts, _)| ts < now_ms.saturating_sub(config.max_compaction_lag_ms()));
        ratio >= config.min_cleanable_dirty_ratio() || overdue
    }

    fn plan(&self) -> Result<Plan> {
        let log = self.lock();
        if log.closed {
            return Err(LogError::Closed {
                dir: self.dir.display().to_string(),
            });
        }
        let first = log
            .segments
            .keys()
            .next()
            .copied()
            .unwrap_or(log.active.base_offset);
        let lso = log.last_stable_offset();
        Ok(Plan {
            segments: log
                .segments
                .values()
                .take_while(|s| s.end_offset <= lso)
                .cloned()
                .collect(),
            clean_end: log.clean_end.max(first),
            active: (lso == log.log_end).then(|| (log.active.file.clone(), log.active.size)),
            durable_end: self.group.durable_end().min(lso),
            aborted: log.aborted.ranges(),
        })
    }

    /// Maps keys from the first dirty segment to the durable end. Returns
    /// the map and how many closed segments it covers whole (all, unless
    /// the memory budget ran out).
    fn build_map(&self, plan: &Plan, first_dirty: usize) -> Result<(KeyMap, usize)> {
        let mut map = KeyMap::default();
        for (i, seg) in plan.segments.iter().enumerate().skip(first_dirty) {
            if map.memory > MAP_MEMORY_BUDGET {
                return Ok((map, i));
            }
            scan_batches(&*seg.file, 0, seg.size, |_, h, batch| {
                if !is_aborted(&plan.aborted, h) {
                    map.add_batch(i as u32, h, batch);
                }
                Ok(())
            })?;
        }
        if let (Some((file, size)), true) = (&plan.active, map.memory <= MAP_MEMORY_BUDGET) {
            let idx = plan.segments.len() as u32;
            // Batches past the durable end could still be lost to a crash.
            let limit = durable_prefix(&**file, *size, plan.durable_end)?;
            scan_batches(&**file, 0, limit, |_, h, batch| {
                if !is_aborted(&plan.aborted, h) {
                    map.add_batch(idx, h, batch);
                }
                Ok(())
            })?;
        }
        Ok((map, plan.segments.len()))
    }

    /// Rewrites `inputs` into one segment and swaps it in.
    fn clean_group(
        &self,
        inputs: &[Arc<Segment>],
        rules: &Rules<'_>,
        interval: u64,
    ) -> Result<Cleaned> {
        let base = inputs[0].base_offset;
        let end = inputs[inputs.len() - 1].end_offset;
        let cleaned = side_path(&self.dir, base, CLEANED_SUFFIX);
        let file = self
            .fs
            .open(&cleaned, true)
            .map_err(io(format!("creating {}", cleaned.display())))?;
        file.set_len(0)
            .map_err(io(format!("truncating {}", cleaned.display())))?;
        let mut index = IndexBuilder::new(base, interval);
        let written = rewrite(inputs, rules, &*file, &mut index).and_then(|(stats, size)| {
            file.sync_data()
                .map_err(io(format!("fsyncing {}", cleaned.display())))?;
            Ok((stats, size))
        });
        let discard = || {
            let _ = self.fs.remove_file(&cleaned);
        };
        let (stats, size) = match written {
            Ok(w) => w,
            Err(e) => {
                discard();
                return Err(e);
            }
        };
        if !stats.changed && inputs.len() == 1 {
            discard();
            return Ok(Cleaned::Unchanged(stats));
        }
        // Readers still holding an old segment must find its indexes in
        // memory, never load the new files that will carry its name.
        for seg in inputs {
            seg.offset_index();
            seg.time_index();
        }
        let segment = Arc::new(Segment::from_cleaned(
            self.fs.clone(),
            &self.dir,
            end,
            file,
            size,
            index,
        ));
        if !self.swap_in(inputs, &cleaned, segment.clone())? {
            discard();
            return Ok(Cleaned::Abandoned);
        }
        // Not fatal: a missing index is rebuilt from the log on first use.
        if let Err(e) = segment.persist_indexes() {
            tracing::warn!(dir = %self.dir.display(), base, error = %e, "could not write a cleaned segment's indexes");
        }
        Ok(Cleaned::Swapped(stats, size))
    }

    /// Steps 4 of the module doc. Returns false (nothing done) if the
    /// inputs are no longer the partition's segments.
    fn swap_in(
        &self,
        inputs: &[Arc<Segment>],
        cleaned: &Path,
        segment: Arc<Segment>,
    ) -> Result<bool> {
        let mut log = self.lock();
        let current = inputs.iter().all(|seg| {
            log.segments
                .get(&seg.base_offset)
                .is_some_and(|s| Arc::ptr_eq(s, seg))
        });
        if log.closed || !current {
            return Ok(false);
        }
        let base = segment.base_offset;
        let swap = side_path(&self.dir, base, SWAP_SUFFIX);
        self.fs
            .rename(cleaned, &swap)
            .map_err(io(format!("renaming {}", cleaned.display())))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io(format!("syncing {}", self.dir.display())))?;
        // Committed: from here recovery would finish the swap, so memory
        // follows the disk even if a step below fails.
        for seg in inputs {
            log.segments.remove(&seg.base_offset);
            log.closed_bytes -= seg.size;
        }
        log.closed_bytes += segment.size;
        log.segments.insert(base, segment);
        let result = finish_swap(
            &*self.fs,
            &self.dir,
            base,
            inputs.iter().map(|s| s.base_offset),
        );
        drop(log);
        result.map(|()| true)
    }
}

/// A data batch of an aborted transaction.
fn is_aborted(aborted: &AbortedRanges, h: &crate::batch::BatchHeader) -> bool {
    h.is_transactional() && !h.is_control() && aborted.contains(h.producer_id, h.base_offset)
}

/// Removes the replaced segments' files and renames the swap file into
/// place, making it durable. `replaced` includes `base` itself.
fn finish_swap(
    fs: &dyn FileSystem,
    dir: &Path,
    base: Offset,
    replaced: impl Iterator<Item = Offset>,
) -> Result<()> {
    for old in replaced {
        let [log, index, time] = segment_paths(dir, old);
        for path in [index, time] {
            let _ = fs.remove_file(&path);
        }
        if old != base {
            let _ = fs.remove_file(&log);
        }
    }
    let swap = side_path(dir, base, SWAP_SUFFIX);
    fs.rename(&swap, &segment_path(dir, base, LOG_SUFFIX))
        .map_err(io(format!("renaming {}", swap.display())))?;
    fs.sync_dir(dir)
        .map_err(io(format!("syncing {}", dir.display())))
}

/// Bytes of the active segment holding only batches below `durable_end`.
fn durable_prefix(file: &dyn LogFile, size: u64, durable_end: Offset) -> Result<u64> {
    let mut pos = 0;
    while let Some(h) =
        header_at(file, pos, size).map_err(io("reading the active segment".into()))?
    {
        if h.last_offset() >= durable_end {
            break;
        }
        pos += h.total_len() as u64;
    }
    Ok(pos)
}

/// Splits `segments` (the cleanable range, oldest first) into groups of
/// consecutive segments whose estimated cleaned size fits segment.bytes.
/// Segments before `first_dirty` are already clean: their estimate is
/// their size; a dirty segment's is what the map says it keeps.
fn group_segments(
    segments: &[Arc<Segment>],
    first_dirty: usize,
    map: &KeyMap,
    config: &LogConfig,
) -> Vec<std::ops::Range<usize>> {
    // Record bytes plus a batch header per record: an upper bound, as
    // compression only shrinks the records and they may share batches.
    let mut estimate: Vec<u64> = segments.iter().map(|s| s.size).collect();
    for e in estimate.iter_mut().skip(first_dirty) {
        *e = 0;
    }
    for (&seg, &bytes) in &map.unconditional {
        if let Some(e) = estimate
            .get_mut(seg as usize)
            .filter(|_| seg as usize >= first_dirty)
        {
            *e += bytes;
        }
    }
    for latest in map.keys.values() {
        let seg = latest.segment as usize;
        if seg >= first_dirty && seg < segments.len() {
            estimate[seg] += latest.bytes as u64 + crate::batch::BATCH_HEADER_LEN as u64;
        }
    }
    let limit = config.segment_bytes();
    let mut groups = Vec::new();
    let mut start = 0;
    let mut size = 0u64;
    for (i, seg) in segments.iter().enumerate() {
        // Index entries hold offsets relative to the base in a u32, and
        // positions in a u32; stay far inside both.
        let span = seg.end_offset - segments[start].base_offset;
        if i > start && (size + estimate[i] > limit || span > i32::MAX as i64) {
            groups.push(start..i);
            start = i;
            size = 0;
        }
        size += estimate[i];
    }
    if start < segments.len() {
        groups.push(start..segments.len());
    }
    groups
}

/// Recovery: deletes uncommitted `.cleaned` files and completes committed
/// `.swap` files (see the module doc). Returns whether it changed any
/// file, so the caller lists the directory again.
pub(crate) fn complete_interrupted_swaps(
    fs: &dyn FileSystem,
    dir: &Path,
    files: &[PathBuf],
) -> Result<bool> {
    let mut changed = false;
    for path in files {
        if parse_side(path, CLEANED_SUFFIX).is_some() {
            let _ = fs.remove_file(path);
            changed = true;
        }
    }
    let bases: Vec<Offset> = files
        .iter()
        .filter_map(|p| parse_segment_name(p, LOG_SUFFIX))
        .collect();
    for path in files {
        let Some(base) = parse_side(path, SWAP_SUFFIX) else {
            continue;
        };
        let file = fs
            .open(path, false)
            .map_err(io(format!("opening {}", path.display())))?;
        let len = file
            .len()
            .map_err(io(format!("reading length of {}", path.display())))?;
        // The swap file was fsynced before its rename: whole batches.
        let mut last = base - 1;
        let mut pos = 0;
        while let Some(h) =
            header_at(&*file, pos, len).map_err(io(format!("reading {}", path.display())))?
        {
            last = h.last_offset();
            pos += h.total_len() as u64;
        }
        let replaced = bases
            .iter()
            .copied()
            .filter(|&b| b == base || (b > base && b <= last));
        tracing::warn!(swap = %path.display(), last_offset = last, "completing an interrupted compaction swap");
        finish_swap(fs, dir, base, replaced)?;
        changed = true;
    }
    if changed {
        fs.sync_dir(dir)
            .map_err(io(format!("syncing {}", dir.display())))?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_file_names_round_trip() {
        let p = side_path(Path::new("/d"), 42, SWAP_SUFFIX);
        assert_eq!(p, PathBuf::from("/d/00000000000000000042.log.swap"));
        assert_eq!(parse_side(&p, SWAP_SUFFIX), Some(42));
        assert_eq!(parse_side(&p, CLEANED_SUFFIX), None);
        // Never mistaken for a segment.
        assert_eq!(parse_segment_name(&p, LOG_SUFFIX), None);
    }
}
