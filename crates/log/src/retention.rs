//! Deleting old data: `maintain` (segment.ms rolls, retention.ms and
//! retention.bytes), `delete_records_before` (DeleteRecords), and
//! `expire_producers` (producer.id.expiration.ms), which forgets idle
//! producers' state rather than data.
//!
//! Order of operations, so a crash at any point is harmless: pick the
//! victims and raise the log start under the log lock; persist the new log
//! start; only then remove the files (without the lock — readers holding an
//! `Arc` to a segment keep reading the unlinked file). Recovery deletes any
//! segment that lies wholly below the persisted log start, finishing an
//! interrupted deletion. The active segment is never deleted.
//!
//! If the new start cannot be persisted (its write or directory sync
//! fails), nothing is deleted: the victims go back and the pass fails, so
//! the next one tries again rather than leaving their files on disk until
//! a restart. (The new start's rename may still become durable with a
//! later directory sync; recovery then completes the deletion this pass
//! chose.) If only the directory sync after the removals fails, the
//! pass succeeds: the removed files may come back after a power cut, but
//! wholly below the durable start, where recovery deletes them again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{LogError, Result};
use crate::meta;
use crate::partition::{LogState, MaintenanceReport, Partition};
use crate::segment::Segment;
use crate::Offset;

impl Partition {
    /// Periodic housekeeping: roll the active segment when segment.ms has
    /// passed, then delete the oldest closed segments that retention.ms or
    /// retention.bytes no longer allow.
    pub fn maintain(&self, now_ms: i64) -> Result<MaintenanceReport> {
        let config = self.config();
        let mut report = MaintenanceReport::default();
        let victims = {
            let mut log = self.lock();
            if log.closed {
                return Err(LogError::Closed {
                    dir: self.dir.display().to_string(),
                });
            }
            if log.active.size > 0
                && log
                    .active
                    .first_batch_ms
                    .is_some_and(|t| now_ms - t >= config.segment_ms())
            {
                self.roll(&mut log)?;
                report.segments_rolled = 1;
            }
            let start_before = log.log_start;
            let mut victims = Vec::new();
            if config.cleanup_policy().deletes() {
                let retention_ms = config.retention_ms();
                if retention_ms >= 0 {
                    victims.extend(take_while_front(&mut log, |seg, _| {
                        // An empty segment has nothing to keep.
                        seg.max_timestamp()
                            .is_none_or(|(ts, _)| now_ms - ts > retention_ms)
                    }));
                }
                let retention_bytes = config.retention_bytes();
                if retention_bytes >= 0 {
                    victims.extend(take_while_front(&mut log, |seg, total| {
                        total - seg.size >= retention_bytes as u64
                    }));
                }
            }
            if let Err(e) = self.advance_start_past(&mut log, &victims) {
                put_back(&mut log, victims, start_before);
                return Err(e);
            }
            let txn_files = drop_txn_entries(&mut log, &self.dir, &victims);
            (victims, txn_files)
        };
        report.segments_deleted = victims.0.len();
        self.remove_files(&victims.0, &victims.1);
        Ok(report)
    }

    /// DeleteRecords: raises the log start to `offset` (-1 means the high
    /// watermark) and deletes the segments wholly below it. Returns the new
    /// log start. An offset at or below the current start changes nothing.
    pub fn delete_records_before(&self, offset: Offset) -> Result<Offset> {
        let victims = {
            let mut log = self.lock();
            if log.closed {
                return Err(LogError::Closed {
                    dir: self.dir.display().to_string(),
                });
            }
            let target = if offset == -1 { log.log_end } else { offset };
            if target < 0 || target > log.log_end {
                return Err(LogError::OffsetOutOfRange {
                    offset,
                    log_start: log.log_start,
                    log_end: log.log_end,
                });
            }
            if target <= log.log_start {
                return Ok(log.log_start);
            }
            if target == log.log_end {
                // Everything goes: roll so the old active segment can too.
                self.roll(&mut log)?;
            }
            // The new start must never outlive the data it points past: a
            // crash must not leave the start beyond the recovered end.
            self.sync_active(&log)?;
            let start_before = log.log_start;
            log.log_start = target;
            let victims = take_while_front(&mut log, |seg, _| seg.end_offset <= target);
            if let Err(e) = meta::write_log_start(&*self.fs, &self.dir, log.log_start) {
                put_back(&mut log, victims, start_before);
                return Err(e);
            }
            let txn_files = drop_txn_entries(&mut log, &self.dir, &victims);
            (victims, txn_files)
        };
        self.remove_files(&victims.0, &victims.1);
        Ok(self.log_start_offset())
    }

    /// Forgets the idempotence state of producers idle for the config's
    /// producer_id_expiration_ms at `now_ms` with no open transaction (see
    /// `producer_state`); returns how many. Nothing is written now: the
    /// next snapshot (roll or close) leaves them out, and recovery drops
    /// whatever a crash would bring back from an older snapshot or the
    /// replay, as it is expired then too. A closed partition is left alone.
    pub fn expire_producers(&self, now_ms: i64) -> usize {
        let expiration_ms = self.config_arc().producer_id_expiration_ms();
        let mut log = self.lock();
        if log.closed {
            return 0;
        }
        log.producers.remove_expired(now_ms, expiration_ms)
    }

    /// Raises the log start past deleted segments and persists it.
    fn advance_start_past(&self, log: &mut LogState, victims: &[Arc<Segment>]) -> Result<()> {
        let Some(last) = victims.last() else {
            return Ok(());
        };
        if last.end_offset > log.log_start {
            log.log_start = last.end_offset;
        }
        meta::write_log_start(&*self.fs, &self.dir, log.log_start)
    }

    fn remove_files(&self, victims: &[Arc<Segment>], txn_files: &[PathBuf]) {
        for path in txn_files {
            if let Err(e) = self.fs.remove_file(path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "could not delete transaction index");
                }
            }
        }
        for seg in victims {
            for path in seg.paths() {
                if let Err(e) = self.fs.remove_file(&path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(path = %path.display(), error = %e, "could not delete segment file");
                    }
                }
            }
            tracing::info!(dir = %self.dir.display(), base = seg.base_offset, "deleted segment");
        }
        if !victims.is_empty() {
            // Not fatal: the new start is durable, so files that come back
            // after a power cut lie wholly below it and recovery deletes
            // them again.
            if let Err(e) = self.fs.sync_dir(&self.dir) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "could not sync the directory after deleting segments");
            }
        }
    }
}

/// Forgets the aborted transactions whose markers were in the deleted
/// segments; returns the `.txnindex` files to delete with them.
fn drop_txn_entries(log: &mut LogState, dir: &Path, victims: &[Arc<Segment>]) -> Vec<PathBuf> {
    match victims.last() {
        Some(last) => log.aborted.drop_below(dir, last.end_offset),
        None => Vec::new(),
    }
}

/// Undoes `take_while_front` and the raised start of a pass that could
/// not persist the new start.
fn put_back(log: &mut LogState, victims: Vec<Arc<Segment>>, start: Offset) {
    for seg in victims {
        log.closed_bytes += seg.size;
        log.segments.insert(seg.base_offset, seg);
    }
    log.log_start = start;
}

/// Removes closed segments from the front while `doomed(segment, total
/// bytes of the log)` holds. Never touches the active segment.
fn take_while_front(
    log: &mut LogState,
    mut doomed: impl FnMut(&Segment, u64) -> bool,
) -> Vec<Arc<Segment>> {
    let mut out = Vec::new();
    while let Some(seg) = log.segments.first_key_value().map(|(_, s)| s.clone()) {
        let total = log.closed_bytes + log.active.size;
        if !doomed(&seg, total) {
            break;
        }
        log.segments.remove(&seg.base_offset);
        log.closed_bytes -= seg.size;
        out.push(seg);
    }
    out
}
