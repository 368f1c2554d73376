//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use fjord_log::testing::{record_values, simple_batch, split_batches};
use fjord_log::{BatchHeader, FaultFs, LogConfig, Offset, Partition};

pub const DIR: &str = "/data/topic-0";

pub fn dir() -> PathBuf {
    PathBuf::from(DIR)
}

/// A config with small segments and dense indexes, so a few hundred bytes
/// of test data exercise rolls and index lookups.
pub fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig::default()
        .with("segment.bytes", &segment_bytes.to_string())
        .unwrap()
        .with("index.interval.bytes", "100")
        .unwrap()
}

pub fn open(fs: &FaultFs, config: LogConfig) -> Partition {
    Partition::open(dir(), config, fs.shared()).expect("open partition")
}

/// Appends one single-record batch with value `v` and timestamp `ts`.
pub fn put(p: &Partition, v: &str, ts: i64) -> Offset {
    p.append(&simple_batch(v.as_bytes(), ts), ts)
        .expect("append")
        .base_offset
}

/// Every batch from `from` to the end: (header, record values).
pub fn read_all(p: &Partition, from: Offset) -> Vec<(BatchHeader, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut next = from;
    while next < p.log_end_offset() {
        let slice = p.read(next, 1 << 20, true).expect("read");
        let batches = split_batches(&slice.bytes);
        assert!(!batches.is_empty(), "no progress reading at {next}");
        for (h, bytes) in batches {
            h.verify_crc(&bytes).expect("stored batch CRC");
            next = h.last_offset() + 1;
            out.push((h, record_values(&bytes)));
        }
    }
    out
}

/// The single values of `read_all`, as strings.
pub fn values(p: &Partition, from: Offset) -> Vec<String> {
    read_all(p, from)
        .into_iter()
        .flat_map(|(_, vs)| vs)
        .map(|v| String::from_utf8(v).unwrap())
        .collect()
}

pub fn segment_files(fs: &FaultFs, suffix: &str) -> Vec<PathBuf> {
    use fjord_log::FileSystem;
    fs.list_dir(&dir())
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == suffix))
        .collect()
}

pub fn shared(fs: &FaultFs) -> Arc<dyn fjord_log::FileSystem> {
    fs.shared()
}

/// Milliseconds since the Unix epoch: the clock recovery expires idle
/// producers by, so batches whose producer state must survive a reopen
/// carry timestamps near it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
