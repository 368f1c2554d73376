//! In-memory file system that models power loss (skeleton).
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::{FileSystem, LogFile};

/// In-memory file system for crash tests.
#[derive(Debug, Clone, Default)]
pub struct FaultFs {}

impl FaultFs {
    pub fn new() -> FaultFs {
        FaultFs {}
    }
    pub fn fsync_count(&self) -> u64 {
        todo!()
    }
    pub fn crash(&self) -> FaultFs {
        todo!()
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        todo!()
    }
    fn list_dir(&self, _path: &Path) -> io::Result<Vec<PathBuf>> {
        todo!()
    }
    fn open(&self, _path: &Path, _create: bool) -> io::Result<Arc<dyn LogFile>> {
        todo!()
    }
    fn remove_file(&self, _path: &Path) -> io::Result<()> {
        todo!()
    }
    fn rename(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        todo!()
    }
    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        todo!()
    }
    fn exists(&self, _path: &Path) -> bool {
        todo!()
    }
}
