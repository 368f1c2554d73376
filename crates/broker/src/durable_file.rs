//! Crash-safe small-file writes for broker metadata.

use std::io::Write;
use std::path::Path;

use crate::error::{BrokerError, Result};

/// Writes `bytes` to `path` so that after a crash the file holds either the
/// old or the new content, never a mix: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let ctx = |what: &str| format!("{what} {}", path.display());
    let dir = path.parent().expect("metadata files live in a directory");
    std::fs::create_dir_all(dir).map_err(|e| BrokerError::io(ctx("creating dir for"), e))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| BrokerError::io(ctx("creating"), e))?;
    f.write_all(bytes)
        .map_err(|e| BrokerError::io(ctx("writing"), e))?;
    f.sync_all()
        .map_err(|e| BrokerError::io(ctx("syncing"), e))?;
    std::fs::rename(&tmp, path).map_err(|e| BrokerError::io(ctx("renaming"), e))?;
    sync_dir(dir)
}

/// Makes the entries of `dir` (files created, renamed or removed in it)
/// survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BrokerError::io(format!("syncing dir {}", dir.display()), e))
}
