//! Opening a partition directory: find the segments, check the tail of the
//! log, rebuild what a crash may have left stale.
//!
//! What can be trusted, and why:
//! - closed segments: fsynced before the segment after them was created, so
//!   only the last segment can have a torn tail. They are opened lazily (no
//!   index or data is read at start-up).
//! - index files, the meta file and producer snapshots: written atomically,
//!   and only after the data they describe was fsynced; so they describe a
//!   durable prefix of the log, possibly an old one.
//! - the clean-shutdown marker: written last by `close()`; when present the
//!   active segment's persisted indexes and the snapshot reach the log end,
//!   so the tail scan below is a few kilobytes and the producer replay is
//!   empty. Without it (a crash) the same steps run over a longer tail.
//!
//! The tail scan starts at the active segment's last persisted index entry
//! (or at 0), verifies each batch's length, CRC-32C and offset continuity,
//! and truncates the file at the first batch that fails. Garbage never
//! panics: every length is checked against the file before it is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::fs::{FileSystem, LogFile};
use crate::index::{relative, OffsetIndex, TimeIndex};
use crate::meta;
use crate::partition::LogState;
use crate::producer_state::ProducerStates;
use crate::segment::{
    header_at, locate, parse_segment_name, segment_path, segment_paths, ActiveSegment,
    IndexBuilder, Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::txn::{decode_marker, record_completion, TxnIndex};
use crate::Offset;

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> LogError {
    move |e| LogError::io(what, e)
}

/// Builds the partition state from `dir`, creating it if missing.
pub(crate) fn recover(
    dir: &Path,
    config: &LogConfig,
    fs: &Arc<dyn FileSystem>,
) -> Result<LogState> {
    let started = std::time::Instant::now();
    if !fs.exists(dir) {
        fs.create_dir_all(dir)
            .map_err(io_err(format!("creating {}", dir.display())))?;
    }
    let clean = fs.exists(&meta::clean_marker_path(dir));
    let mut files = fs
        .list_dir(dir)
        .map_err(io_err(format!("listing {}", dir.display())))?;
    if crate::cleaner::complete_interrupted_swaps(&**fs, dir, &files)? {
        files = fs
            .list_dir(dir)
            .map_err(io_err(format!("listing {}", dir.display())))?;
    }
    for tmp in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
    {
        // Leftovers of an atomic write interrupted by a crash.
        let _ = fs.remove_file(tmp);
    }
    let mut bases: Vec<Offset> = files
        .iter()
        .filter_map(|p| parse_segment_name(p, LOG_SUFFIX))
        .collect();
    bases.sort_unstable();
    let interval = config.index_interval_bytes();

    let persisted_start = meta::read_log_start(&**fs, dir);
    if bases.is_empty() {
        // A new partition, or one whose creation stopped before its first
        // segment (a failed sync below leaves the directory in place, so
        // its existence proves nothing): the directory must itself
        // survive a power loss before anything is written in it.
        sync_parent(&**fs, dir)?;
        let base = persisted_start.unwrap_or(0).max(0);
        bases.push(base);
        ActiveSegment::create(fs.clone(), dir, base, interval)?;
    }
    let mut log_start = persisted_start.unwrap_or(bases[0]).max(bases[0]);

    // Segments wholly below the log start were being deleted when we
    // stopped; finish the job.
    while bases.len() > 1 && bases[1] <= log_start {
        for path in segment_paths(dir, bases[0]) {
            let _ = fs.remove_file(&path);
        }
        bases.remove(0);
    }

    let mut segments = std::collections::BTreeMap::new();
    let mut closed_bytes = 0;
    for pair in bases.windows(2) {
        let seg = Segment::open_lazy(fs.clone(), dir, pair[0], pair[1], interval)?;
        closed_bytes += seg.size;
        segments.insert(pair[0], Arc::new(seg));
    }
    let active_base = *bases.last().expect("at least one segment");
    let (active, truncated, log_end) = recover_active(fs, dir, active_base, interval)?;
    if log_start > log_end {
        tracing::warn!(
            log_start,
            log_end,
            "log start beyond the recovered log end; lowering it"
        );
        log_start = log_end;
    }

    let mut state = LogState {
        segments,
        active,
        log_start,
        log_end,
        producers: ProducerStates::new(),
        closed_bytes,
        closed: false,
        snapshots: Vec::new(),
        clean_end: meta::read_cleaner_checkpoint(&**fs, dir).map_or(log_start, |c| c.clean_end),
        aborted: TxnIndex::load(&**fs, &files, log_start),
    };
    let (producers, snapshots, aborted) = recover_producers(fs, dir, &files, &state)?;
    (state.producers, state.snapshots, state.aborted) = (producers, snapshots, aborted);
    // As Kafka does on load: a producer already idle past the expiration
    // is not brought back by an old snapshot or the replay.
    let expiration_ms = config.producer_id_expiration_ms();
    state
        .producers
        .remove_expired(wall_clock_ms(), expiration_ms);
    if truncated {
        // The rebuilt indexes replace any that described the lost tail.
        state.active.persist_indexes()?;
    }
    // Whatever survived is now the log; make it durable before anyone is
    // told an offset in it is: the data, and the names. A segment created
    // by an earlier open or roll whose directory sync failed is in the
    // directory but not yet durably, and nothing else would sync it
    // before the next roll.
    state.active.sync()?;
    fs.sync_dir(dir)
        .map_err(io_err(format!("syncing {}", dir.display())))?;
    meta::remove_clean_marker(&**fs, dir)?;
    tracing::info!(
        dir = %dir.display(),
        clean,
        segments = state.segments.len() + 1,
        log_start,
        log_end,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "opened partition"
    );
    Ok(state)
}

/// Makes `dir`'s entry in its parent durable.
fn sync_parent(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => fs
            .sync_dir(parent)
            .map_err(io_err(format!("syncing {}", parent.display()))),
        None => Ok(()),
    }
}

/// Loads the active segment's persisted indexes (if valid), then scans and
/// verifies the log from their last entry to the end, truncating a torn or
/// corrupt tail. Returns the segment, whether anything was cut, and the
/// log end offset.
fn recover_active(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    base: Offset,
    interval: u64,
) -> Result<(ActiveSegment, bool, Offset)> {
    let path = segment_path(dir, base, LOG_SUFFIX);
    let file = fs
        .open(&path, true)
        .map_err(io_err(format!("opening {}", path.display())))?;
    let len = file
        .len()
        .map_err(io_err(format!("reading length of {}", path.display())))?;

    let read = |suffix| {
        fs.open(&segment_path(dir, base, suffix), false)
            .and_then(|f| f.read_all())
            .ok()
    };
    let offset_index = read(INDEX_SUFFIX).and_then(|b| OffsetIndex::from_bytes(&b, len));
    let time_index = read(TIME_INDEX_SUFFIX).and_then(|b| TimeIndex::from_bytes(&b));

    // Resume from the last persisted entry if the batch there is where the
    // index says; otherwise rescan the whole segment.
    let mut builder = IndexBuilder::new(base, interval);
    let mut start = (0u64, base);
    if let (Some(oi), Some(ti)) = (offset_index, time_index) {
        if let Some((rel, pos)) = oi.last() {
            let at = header_at(&*file, pos as u64, len).ok().flatten();
            if at.is_some_and(|h| h.base_offset == base + rel as i64) {
                builder.offset_index = oi;
                builder.time_index = ti;
                builder.time_index.truncate_to_rel(rel + 1);
                builder.max_ts = builder
                    .time_index
                    .last()
                    .map(|(ts, r)| (ts, base + r as i64));
                start = (pos as u64, base + rel as i64);
            }
        }
    }

    let (valid_end, log_end) = scan_verified(&*file, start.0, len, start.1, &mut builder);
    let truncated = valid_end < len;
    if truncated {
        tracing::warn!(
            segment = %path.display(),
            valid_bytes = valid_end,
            dropped_bytes = len - valid_end,
            "truncating torn or corrupt tail"
        );
        file.set_len(valid_end)
            .map_err(io_err(format!("truncating {}", path.display())))?;
        file.sync_data()
            .map_err(io_err(format!("fsyncing {}", path.display())))?;
    }
    let mut active = ActiveSegment::from_parts(fs.clone(), dir, base, file, valid_end, builder);
    if valid_end > 0 {
        // segment.ms counts from the first batch; its max timestamp is the
        // best clock reading the log kept, capped at now against skew.
        if let Ok(Some(h)) = header_at(&*active.file, 0, valid_end) {
            active.first_batch_ms = Some(h.max_timestamp.min(wall_clock_ms()));
        }
    }
    Ok((active, truncated, log_end))
}

/// Walks batches from `pos`, each required to start at `expected` offset,
/// have a sane length and a valid CRC. Returns the end of the last good
/// batch and the next expected offset.
fn scan_verified(
    file: &dyn LogFile,
    mut pos: u64,
    len: u64,
    mut expected: Offset,
    builder: &mut IndexBuilder,
) -> (u64, Offset) {
    let mut buf = Vec::new();
    loop {
        let h = match header_at(file, pos, len) {
            Ok(Some(h)) if h.base_offset == expected && h.last_offset_delta >= 0 => h,
            _ => return (pos, expected),
        };
        buf.resize(h.total_len(), 0);
        if file.read_exact_at(&mut buf, pos).is_err() || h.verify_crc(&buf).is_err() {
            return (pos, expected);
        }
        builder.add(&h, pos);
        expected = h.last_offset() + 1;
        pos += h.total_len() as u64;
    }
}

/// Producer state as of the log end: the newest usable snapshot, plus a
/// replay of the batch headers after it; the snapshot offsets on disk; and
/// the aborted-transaction index: the entries persisted below the replay's
/// start, plus the aborts the replay meets (transaction markers are read
/// whole: the header alone does not say commit or abort).
fn recover_producers(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    files: &[PathBuf],
    state: &LogState,
) -> Result<(ProducerStates, Vec<Offset>, TxnIndex)> {
    let first_base = state
        .segments
        .keys()
        .next()
        .copied()
        .unwrap_or(state.active.base_offset);
    let (snapshot, on_disk) = meta::load_snapshot(&**fs, dir, files, state.log_end);
    let (mut producers, from) = match snapshot {
        Some(s) => (s.producers, s.offset.max(first_base)),
        None => (ProducerStates::new(), first_base),
    };
    let mut aborted = state.aborted.clone();
    // Entries at or past the replay's start come back from the replay (and
    // any past the recovered end described a lost tail).
    aborted.truncate_from(from);
    if from >= state.log_end {
        return Ok((producers, on_disk, aborted));
    }
    let mut replayed = 0usize;
    let mut visit = |file: &dyn LogFile, hint: u64, limit: u64| -> Result<()> {
        let found = locate(file, hint, limit, from)
            .map_err(io_err(format!("replaying {}", dir.display())))?;
        if let Some((mut pos, _)) = found {
            while let Ok(Some(h)) = header_at(file, pos, limit) {
                if h.last_offset() >= from && h.is_control() {
                    let mut batch = vec![0u8; h.total_len()];
                    file.read_exact_at(&mut batch, pos)
                        .map_err(io_err(format!("replaying {}", dir.display())))?;
                    match decode_marker(&h, &batch) {
                        Ok(marker) => {
                            let done = producers.apply_marker(&h, &marker);
                            record_completion(&mut aborted, &producers, done);
                        }
                        // The CRC passed, so the broker wrote this; a
                        // marker it cannot read is skipped, not fatal.
                        Err(e) => tracing::warn!(error = %e, "skipping unreadable control batch"),
                    }
                    replayed += 1;
                } else if h.last_offset() >= from {
                    producers.apply(&h);
                    replayed += 1;
                }
                pos += h.total_len() as u64;
            }
        }
        Ok(())
    };
    for seg in state.segments.values().filter(|s| s.end_offset > from) {
        let hint = seg.offset_index().lookup(relative(from, seg.base_offset)).1 as u64;
        visit(&*seg.file, hint, seg.size)?;
    }
    let hint = state
        .active
        .index
        .offset_index
        .lookup(relative(from, state.active.base_offset))
        .1 as u64;
    visit(&*state.active.file, hint, state.active.size)?;
    tracing::debug!(from, batches = replayed, "replayed producer state");
    Ok((producers, on_disk, aborted))
}

/// Milliseconds since the Unix epoch, the clock batch timestamps use.
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
