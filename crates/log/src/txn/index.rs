//! The aborted-transaction index: one entry per transaction that ended with
//! an ABORT marker, so read_committed fetches can tell clients which
//! producers' batches to drop.
//!
//! In memory the partition keeps every entry, keyed by the marker's offset
//! (`last_offset`; one marker ends one transaction, so keys are unique).
//! On disk, entries live beside the segment holding their marker, in
//! `<base:020>.txnindex`, Kafka's layout: 34 bytes per entry, big-endian
//! `version: i16 = 0, producer_id: i64, first_offset: i64, last_offset:
//! i64, last_stable_offset: i64`. A closed segment's file is written (even
//! empty) when the segment rolls, the active segment's on close; what a
//! crash leaves unwritten is rebuilt by the producer-state replay (see
//! `crate::recovery`). A segment with no file was written before
//! transactions existed and holds none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{LogError, Result};
use crate::fs::{write_atomic, FileSystem};
use crate::Offset;

pub(crate) const TXN_INDEX_SUFFIX: &str = "txnindex";
/// On-disk entry format version; never reuse a number.
const ENTRY_VERSION: i16 = 0;
const ENTRY_LEN: usize = 34;

/// One aborted transaction in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// Offset of the transaction's first batch in this partition.
    pub first_offset: Offset,
    /// Offset of its ABORT marker.
    pub last_offset: Offset,
    /// The LSO right after the abort: the first offset of the oldest
    /// transaction still open then, or the marker's offset + 1.
    pub last_stable_offset: Offset,
}

impl AbortedTxn {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&ENTRY_VERSION.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.last_stable_offset.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        if b.len() != ENTRY_LEN || i16::from_be_bytes([b[0], b[1]]) != ENTRY_VERSION {
            return None;
        }
        let t = AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        };
        (t.first_offset <= t.last_offset).then_some(t)
    }
}

/// Every aborted transaction of a partition, by marker offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TxnIndex {
    entries: BTreeMap<Offset, AbortedTxn>,
    /// Base offsets of the `.txnindex` files on disk, so deleting segments
    /// also deletes the files of segments the cleaner merged into them.
    files: std::collections::BTreeSet<Offset>,
}

/// The offset ranges of aborted transactions, by producer.
#[derive(Debug, Clone, Default)]
pub(crate) struct AbortedRanges {
    by_producer: BTreeMap<i64, Vec<(Offset, Offset)>>,
}

impl AbortedRanges {
    /// Whether the batch of `producer_id` at `offset` belongs to an aborted
    /// transaction (its marker is in the index).
    pub fn contains(&self, producer_id: i64, offset: Offset) -> bool {
        self.by_producer.get(&producer_id).is_some_and(|rs| {
            rs.iter()
                .any(|&(first, last)| first <= offset && offset <= last)
        })
    }
}

pub(crate) fn txn_index_path(dir: &Path, base: Offset) -> PathBuf {
    dir.join(format!("{base:020}.{TXN_INDEX_SUFFIX}"))
}

impl TxnIndex {
    pub fn insert(&mut self, t: AbortedTxn) {
        self.entries.insert(t.last_offset, t);
    }

    /// Aborted transactions that may have data in `[from, to)`: their marker
    /// is at or after `from` and they began before `to`; oldest first.
    pub fn overlapping(&self, from: Offset, to: Offset) -> Vec<AbortedTxn> {
        let mut out: Vec<AbortedTxn> = self
            .entries
            .range(from..)
            .map(|(_, t)| *t)
            .filter(|t| t.first_offset < to)
            .collect();
        out.sort_by_key(|t| t.first_offset);
        out
    }

    /// Forgets entries whose marker lies at or after `offset` (they will be
    /// replayed from the log).
    pub fn truncate_from(&mut self, offset: Offset) {
        self.entries.split_off(&offset);
    }

    /// Writes the entries with markers in `[base, end)` to `base`'s file.
    pub fn persist(
        &mut self,
        fs: &dyn FileSystem,
        dir: &Path,
        base: Offset,
        end: Offset,
    ) -> Result<()> {
        let mut bytes = Vec::new();
        for t in self.entries.range(base..end).map(|(_, t)| t) {
            t.encode(&mut bytes);
        }
        let path = txn_index_path(dir, base);
        write_atomic(fs, &path, &bytes)
            .map_err(|e| LogError::io(format!("writing {}", path.display()), e))?;
        self.files.insert(base);
        Ok(())
    }

    /// Drops the entries with markers below `segment_end` (the end of the
    /// last deleted segment) and returns the files of segments that began
    /// below it, for the caller to delete.
    pub fn drop_below(&mut self, dir: &Path, segment_end: Offset) -> Vec<PathBuf> {
        self.entries = self.entries.split_off(&segment_end);
        let kept = self.files.split_off(&segment_end);
        std::mem::replace(&mut self.files, kept)
            .into_iter()
            .map(|base| txn_index_path(dir, base))
            .collect()
    }

    /// Loads every `.txnindex` file among `files`, ignoring entries below
    /// `log_start`. Files are written atomically, so an unreadable one means
    /// disk damage: its entries are lost (logged), the log itself is not.
    pub fn load(fs: &dyn FileSystem, files: &[PathBuf], log_start: Offset) -> TxnIndex {
        let mut index = TxnIndex::default();
        for path in files {
            let Some(base) = crate::segment::parse_segment_name(path, TXN_INDEX_SUFFIX) else {
                continue;
            };
            index.files.insert(base);
            let Ok(bytes) = fs.open(path, false).and_then(|f| f.read_all()) else {
                tracing::warn!(path = %path.display(), "unreadable transaction index");
                continue;
            };
            if bytes.len() % ENTRY_LEN != 0 {
                tracing::warn!(path = %path.display(), "transaction index has a partial entry; keeping whole ones");
            }
            for t in bytes.chunks_exact(ENTRY_LEN).filter_map(AbortedTxn::decode) {
                if t.last_offset >= log_start {
                    index.insert(t);
                }
            }
        }
        index
    }

    /// Every entry's (producer id, first offset, last offset), for the
    /// cleaner to tell aborted batches apart.
    pub fn ranges(&self) -> AbortedRanges {
        let mut by_producer: BTreeMap<i64, Vec<(Offset, Offset)>> = BTreeMap::new();
        for t in self.entries.values() {
            by_producer
                .entry(t.producer_id)
                .or_default()
                .push((t.first_offset, t.last_offset));
        }
        AbortedRanges { by_producer }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_fs::FaultFs;

    fn t(pid: i64, first: Offset, last: Offset) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn persist_load_and_drop() {
        let fs = FaultFs::new();
        let dir = Path::new("/p");
        fs.create_dir_all(dir).unwrap();
        let mut idx = TxnIndex::default();
        idx.insert(t(1, 0, 5));
        idx.insert(t(2, 3, 12));
        idx.insert(t(3, 20, 25));
        idx.persist(&fs, dir, 0, 10).unwrap();
        idx.persist(&fs, dir, 10, 20).unwrap();
        idx.persist(&fs, dir, 20, 30).unwrap();
        let files = fs.list_dir(dir).unwrap();
        let loaded = TxnIndex::load(&fs, &files, 0);
        assert_eq!(loaded, idx);
        assert_eq!(TxnIndex::load(&fs, &files, 6).len(), 2);
        assert_eq!(idx.overlapping(6, 100), vec![t(2, 3, 12), t(3, 20, 25)]);
        assert_eq!(idx.overlapping(0, 3), vec![t(1, 0, 5)]);
        assert!(idx.overlapping(26, 100).is_empty());
        assert_eq!(idx.drop_below(dir, 10), vec![txn_index_path(dir, 0)]);
        assert_eq!(idx.len(), 2);
        idx.truncate_from(12);
        assert!(idx.overlapping(0, 100).is_empty());
    }
}
