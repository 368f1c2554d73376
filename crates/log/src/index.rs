//! Sparse per-segment indexes: offset -> file position, and timestamp ->
//! offset.
//!
//! Invariants (checked when an index is loaded; a file that breaks them is
//! discarded and rebuilt from the segment):
//! - offset index entries `(relative base offset of a batch, its byte
//!   position)` strictly increase in both fields, and each position is the
//!   start of a batch. A lookup returns the greatest entry at or below the
//!   wanted offset; scanning from there finds the batch. An empty index is
//!   always correct, just slower (scan from position 0).
//! - time index entries `(running max timestamp, relative base offset of the
//!   batch that first reached it)` strictly increase in both fields; every
//!   batch before an entry's batch has max timestamp below the entry's. The
//!   last entry of a closed segment holds the segment's max timestamp.
//!
//! On disk: big-endian, offset entries 8 bytes (u32 rel, u32 pos), time
//! entries 12 bytes (i64 ts, u32 rel). They are written whole and atomically
//! (temp file + rename), so a file is either a complete old or new version.

use crate::Offset;

/// Offset index of one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    /// (relative offset, byte position), both strictly increasing.
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub const ENTRY_LEN: usize = 8;

    pub fn new() -> OffsetIndex {
        OffsetIndex::default()
    }

    /// Adds an entry if it keeps the index strictly increasing.
    pub fn push(&mut self, rel: u32, pos: u32) {
        if self.entries.last().is_none_or(|&(r, p)| rel > r && pos > p) {
            self.entries.push((rel, pos));
        }
    }

    /// The position of the greatest indexed batch starting at or before
    /// `rel`, as (relative offset, position); (0, 0) if none.
    pub fn lookup(&self, rel: u32) -> (u32, u32) {
        let i = self.entries.partition_point(|&(r, _)| r <= rel);
        if i == 0 {
            (0, 0)
        } else {
            self.entries[i - 1]
        }
    }

    pub fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * Self::ENTRY_LEN);
        for &(rel, pos) in &self.entries {
            out.extend_from_slice(&rel.to_be_bytes());
            out.extend_from_slice(&pos.to_be_bytes());
        }
        out
    }

    /// Decodes an index file, or None if it breaks the invariants or points
    /// beyond `segment_len`.
    pub fn from_bytes(bytes: &[u8], segment_len: u64) -> Option<OffsetIndex> {
        if bytes.len() % Self::ENTRY_LEN != 0 {
            return None;
        }
        let mut index = OffsetIndex::new();
        for e in bytes.chunks_exact(Self::ENTRY_LEN) {
            let rel = u32::from_be_bytes(e[0..4].try_into().ok()?);
            let pos = u32::from_be_bytes(e[4..8].try_into().ok()?);
            let n = index.entries.len();
            index.push(rel, pos);
            if index.entries.len() == n || pos as u64 >= segment_len {
                return None;
            }
        }
        Some(index)
    }
}

/// Time index of one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeIndex {
    /// (max timestamp so far, relative offset of the batch that reached it).
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub const ENTRY_LEN: usize = 12;

    pub fn new() -> TimeIndex {
        TimeIndex::default()
    }

    /// Adds an entry if it keeps the index strictly increasing.
    pub fn push(&mut self, ts: i64, rel: u32) {
        if self.entries.last().is_none_or(|&(t, r)| ts > t && rel > r) {
            self.entries.push((ts, rel));
        }
    }

    /// Where to start scanning for the first batch whose max timestamp is
    /// at or above `ts`: the batch of the last entry below `ts` (0 if none).
    pub fn scan_start(&self, ts: i64) -> u32 {
        let i = self.entries.partition_point(|&(t, _)| t < ts);
        if i == 0 {
            0
        } else {
            self.entries[i - 1].1
        }
    }

    /// (max timestamp, relative offset) of the newest entry.
    pub fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops entries for batches at or after relative offset `rel`.
    pub fn truncate_to_rel(&mut self, rel: u32) {
        self.entries.retain(|&(_, r)| r < rel);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * Self::ENTRY_LEN);
        for &(ts, rel) in &self.entries {
            out.extend_from_slice(&ts.to_be_bytes());
            out.extend_from_slice(&rel.to_be_bytes());
        }
        out
    }

    /// Decodes a time index file, or None if it breaks the invariants.
    pub fn from_bytes(bytes: &[u8]) -> Option<TimeIndex> {
        if bytes.len() % Self::ENTRY_LEN != 0 {
            return None;
        }
        let mut index = TimeIndex::new();
        for e in bytes.chunks_exact(Self::ENTRY_LEN) {
            let ts = i64::from_be_bytes(e[0..8].try_into().ok()?);
            let rel = u32::from_be_bytes(e[8..12].try_into().ok()?);
            let n = index.entries.len();
            index.push(ts, rel);
            if index.entries.len() == n {
                return None;
            }
        }
        Some(index)
    }
}

/// Converts an absolute offset to one relative to `base`, saturating (the
/// segment rolls before relative offsets could overflow u32).
pub fn relative(offset: Offset, base: Offset) -> u32 {
    (offset - base).clamp(0, u32::MAX as i64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_and_round_trip() {
        let mut i = OffsetIndex::new();
        assert_eq!(i.lookup(5), (0, 0));
        i.push(10, 4000);
        i.push(20, 8100);
        i.push(15, 9000); // not increasing: ignored
        assert_eq!(i.len(), 2);
        assert_eq!(i.lookup(9), (0, 0));
        assert_eq!(i.lookup(10), (10, 4000));
        assert_eq!(i.lookup(19), (10, 4000));
        assert_eq!(i.lookup(1000), (20, 8100));
        let back = OffsetIndex::from_bytes(&i.to_bytes(), 9000).unwrap();
        assert_eq!(back, i);
        assert!(
            OffsetIndex::from_bytes(&i.to_bytes(), 8100).is_none(),
            "points past the log"
        );
        assert!(OffsetIndex::from_bytes(&[1, 2, 3], 100).is_none());
        assert_eq!(i.last(), Some((20, 8100)));
    }

    #[test]
    fn time_index_scan_start() {
        let mut t = TimeIndex::new();
        t.push(100, 0);
        t.push(200, 5);
        t.push(150, 7); // lower timestamp: ignored
        t.push(300, 9);
        assert_eq!(t.scan_start(50), 0);
        assert_eq!(t.scan_start(100), 0);
        assert_eq!(t.scan_start(150), 0);
        assert_eq!(t.scan_start(250), 5);
        assert_eq!(t.scan_start(1000), 9);
        assert_eq!(t.last(), Some((300, 9)));
        assert_eq!(TimeIndex::from_bytes(&t.to_bytes()).unwrap(), t);
        t.truncate_to_rel(6);
        assert_eq!(t.last(), Some((200, 5)));
    }
}
