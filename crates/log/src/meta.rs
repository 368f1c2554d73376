//! The small files beside the segments: the log start offset (`meta`), the
//! clean-shutdown marker, and producer-state snapshots.
//!
//! Each is written whole with [`write_atomic`], so after a crash it is
//! either the previous or the new version, never torn. Each is written only
//! after the log data it describes is durable, so recovery may trust it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{LogError, Result};
use crate::fs::{write_atomic, FileSystem};
use crate::producer_state::{ProducerStates, Snapshot};
use crate::Offset;

const META_FILE: &str = "meta";
const CLEAN_SHUTDOWN_FILE: &str = ".clean_shutdown";
const CLEANER_CHECKPOINT_FILE: &str = "cleaner-checkpoint";
const SNAPSHOT_SUFFIX: &str = "snapshot";
/// Snapshots kept besides the newest, in case the newest turns out to lie
/// beyond the recovered log end.
const SNAPSHOTS_KEPT: usize = 2;

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    /// On-disk format version; bump (never reuse) on change.
    version: u32,
    log_start_offset: Offset,
}

pub(crate) fn clean_marker_path(dir: &Path) -> PathBuf {
    dir.join(CLEAN_SHUTDOWN_FILE)
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    let context = format!("{what} {}", path.display());
    move |e| LogError::io(context, e)
}

/// The persisted log start offset, if any.
pub(crate) fn read_log_start(fs: &dyn FileSystem, dir: &Path) -> Option<Offset> {
    let path = dir.join(META_FILE);
    let bytes = fs.open(&path, false).and_then(|f| f.read_all()).ok()?;
    match serde_json::from_slice::<Meta>(&bytes) {
        Ok(m) if m.version == 1 => Some(m.log_start_offset),
        _ => {
            tracing::warn!(path = %path.display(), "unreadable meta file; deriving log start from segments");
            None
        }
    }
}

pub(crate) fn write_log_start(fs: &dyn FileSystem, dir: &Path, log_start: Offset) -> Result<()> {
    let path = dir.join(META_FILE);
    let meta = Meta {
        version: 1,
        log_start_offset: log_start,
    };
    let bytes = serde_json::to_vec(&meta).unwrap_or_default();
    write_atomic(fs, &path, &bytes).map_err(io_err("writing", &path))
}

/// The cleaner's checkpoint.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct CleanerCheckpoint {
    /// On-disk format version; bump (never reuse) on change.
    version: u32,
    /// Everything below this offset has been compacted at least once.
    pub clean_end: Offset,
    /// The earliest delete horizon among the batches the cleaner kept a
    /// tombstone in (KIP-534): when a pass is next due whatever the dirty
    /// ratio. Absent in checkpoints written before horizons existed, whose
    /// logs hold no horizon.
    #[serde(default)]
    pub delete_horizon: Option<i64>,
}

/// The cleaner's checkpoint. Missing or unreadable means "nothing is
/// clean" (the next pass cleans everything, which is only slower).
pub(crate) fn read_cleaner_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Option<CleanerCheckpoint> {
    let path = dir.join(CLEANER_CHECKPOINT_FILE);
    let bytes = fs.open(&path, false).and_then(|f| f.read_all()).ok()?;
    match serde_json::from_slice::<CleanerCheckpoint>(&bytes) {
        Ok(c) if c.version == 1 => Some(c),
        _ => None,
    }
}

pub(crate) fn write_cleaner_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
    clean_end: Offset,
    delete_horizon: Option<i64>,
) -> Result<()> {
    let path = dir.join(CLEANER_CHECKPOINT_FILE);
    let c = CleanerCheckpoint {
        version: 1,
        clean_end,
        delete_horizon,
    };
    let bytes = serde_json::to_vec(&c).unwrap_or_default();
    write_atomic(fs, &path, &bytes).map_err(io_err("writing", &path))
}

pub(crate) fn write_clean_marker(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    let path = clean_marker_path(dir);
    write_atomic(fs, &path, b"clean\n").map_err(io_err("writing", &path))
}

/// Removes the marker (if present) and makes the removal durable, so a
/// crash after this point is never taken for a clean shutdown.
pub(crate) fn remove_clean_marker(fs: &dyn FileSystem, dir: &Path) -> Result<bool> {
    let path = clean_marker_path(dir);
    if !fs.exists(&path) {
        return Ok(false);
    }
    fs.remove_file(&path).map_err(io_err("removing", &path))?;
    fs.sync_dir(dir).map_err(io_err("syncing", dir))?;
    Ok(true)
}

fn snapshot_path(dir: &Path, offset: Offset) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_SUFFIX}"))
}

/// Offsets of the snapshot files in `files`, ascending.
pub(crate) fn snapshot_offsets(files: &[PathBuf]) -> Vec<Offset> {
    let mut out: Vec<Offset> = files
        .iter()
        .filter_map(|p| crate::segment::parse_segment_name(p, SNAPSHOT_SUFFIX))
        .collect();
    out.sort_unstable();
    out
}

/// Writes a snapshot of `producers` covering offsets below `offset`, then
/// prunes older snapshots. `existing` lists the snapshot offsets on disk,
/// ascending, and is kept up to date (so no directory listing per roll).
pub(crate) fn write_snapshot(
    fs: &dyn FileSystem,
    dir: &Path,
    offset: Offset,
    producers: &ProducerStates,
    existing: &mut Vec<Offset>,
) -> Result<()> {
    let path = snapshot_path(dir, offset);
    write_atomic(fs, &path, &Snapshot::encode(offset, producers))
        .map_err(io_err("writing", &path))?;
    existing.retain(|&o| o != offset);
    existing.push(offset);
    existing.sort_unstable();
    while existing.len() > SNAPSHOTS_KEPT {
        let old = existing.remove(0);
        // Failing to prune only costs disk space.
        let _ = fs.remove_file(&snapshot_path(dir, old));
    }
    Ok(())
}

/// The newest readable snapshot at or below `max_offset`, and the offsets
/// of the snapshots left on disk. Snapshots beyond `max_offset` (the log
/// was truncated under them) are deleted.
pub(crate) fn load_snapshot(
    fs: &dyn FileSystem,
    dir: &Path,
    files: &[PathBuf],
    max_offset: Offset,
) -> (Option<Snapshot>, Vec<Offset>) {
    let mut offsets = snapshot_offsets(files);
    for &o in offsets.iter().filter(|&&o| o > max_offset) {
        tracing::warn!(
            offset = o,
            "removing producer snapshot beyond the recovered log end"
        );
        let _ = fs.remove_file(&snapshot_path(dir, o));
    }
    offsets.retain(|&o| o <= max_offset);
    for &o in offsets.iter().rev() {
        let path = snapshot_path(dir, o);
        let bytes = fs.open(&path, false).and_then(|f| f.read_all()).ok();
        match bytes.as_deref().and_then(Snapshot::decode) {
            Some(s) if s.offset == o => return (Some(s), offsets),
            _ => {
                tracing::warn!(path = %path.display(), "unreadable producer snapshot; trying an older one")
            }
        }
    }
    (None, offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_fs::FaultFs;
    use crate::fs::FileSystem;

    #[test]
    fn a_checkpoint_written_before_delete_horizons_reads_as_none() {
        let fs = FaultFs::new();
        let dir = Path::new("/p");
        fs.create_dir_all(dir).unwrap();
        let path = dir.join(CLEANER_CHECKPOINT_FILE);
        // What releases before KIP-534 horizons wrote.
        write_atomic(&fs, &path, br#"{"version":1,"clean_end":42}"#).unwrap();
        let c = read_cleaner_checkpoint(&fs, dir).unwrap();
        assert_eq!((c.clean_end, c.delete_horizon), (42, None));
        write_cleaner_checkpoint(&fs, dir, 50, Some(7)).unwrap();
        let c = read_cleaner_checkpoint(&fs, dir).unwrap();
        assert_eq!((c.clean_end, c.delete_horizon), (50, Some(7)));
    }
}
