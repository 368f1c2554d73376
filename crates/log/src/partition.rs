//! A partition's log (skeleton).
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::LogConfig;
use crate::error::Result;
use crate::fs::FileSystem;
use crate::Offset;

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub base_offset: Offset,
    pub last_offset: Offset,
    pub log_start_offset: Offset,
    pub duplicate: bool,
}

/// Whole batches read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSlice {
    pub bytes: Bytes,
    pub high_watermark: Offset,
    pub log_start_offset: Offset,
}

/// What one `maintain` pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub segments_deleted: usize,
    pub segments_rolled: usize,
}

/// One partition's log.
pub struct Partition {}

impl Partition {
    pub fn open(_dir: PathBuf, _config: LogConfig, _fs: Arc<dyn FileSystem>) -> Result<Partition> {
        todo!()
    }
    pub fn append(&self, _records: &[u8], _now_ms: i64) -> Result<AppendOutcome> {
        todo!()
    }
    pub fn sync_to(&self, _offset: Offset) -> Result<()> {
        todo!()
    }
    pub fn flush(&self) -> Result<()> {
        todo!()
    }
    pub fn read(
        &self,
        _offset: Offset,
        _max_bytes: usize,
        _min_one_batch: bool,
    ) -> Result<ReadSlice> {
        todo!()
    }
    pub fn log_start_offset(&self) -> Offset {
        todo!()
    }
    pub fn log_end_offset(&self) -> Offset {
        todo!()
    }
    pub fn size_bytes(&self) -> u64 {
        todo!()
    }
    pub fn offset_for_timestamp(&self, _timestamp_ms: i64) -> Result<Option<(Offset, i64)>> {
        todo!()
    }
    pub fn max_timestamp(&self) -> Option<(i64, Offset)> {
        todo!()
    }
    pub fn delete_records_before(&self, _offset: Offset) -> Result<Offset> {
        todo!()
    }
    pub fn config(&self) -> LogConfig {
        todo!()
    }
    pub fn set_config(&self, _config: LogConfig) {
        todo!()
    }
    pub fn maintain(&self, _now_ms: i64) -> Result<MaintenanceReport> {
        todo!()
    }
    pub fn close(&self) -> Result<()> {
        todo!()
    }
    pub fn producer_ids(&self) -> Vec<(i64, i16, i32)> {
        todo!()
    }
}
