//! Segments: one `.log` file of consecutive batches plus its indexes.
//!
//! A partition has any number of closed [`Segment`]s and exactly one
//! [`ActiveSegment`]. Invariants:
//! - a segment's file name is its base offset; batches inside are stored in
//!   offset order, contiguous with the previous segment's last offset;
//! - a closed segment is immutable, was fsynced before the next segment was
//!   created, and its indexes are persisted (or rebuilt lazily from the data
//!   if missing or invalid, so an index file is an optimisation, never the
//!   truth);
//! - the active segment's indexes live in memory and are persisted on roll
//!   and close; everything up to `size` is fully written batches.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::batch::{BatchHeader, BATCH_HEADER_LEN};
use crate::error::{LogError, Result};
use crate::fs::{write_atomic, FileSystem, LogFile};
use crate::index::{relative, OffsetIndex, TimeIndex};
use crate::Offset;

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `<dir>/<base:020>.<suffix>`, Kafka's naming.
pub(crate) fn segment_path(dir: &Path, base: Offset, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}"))
}

/// The base offset in a segment file name, if it is one.
pub(crate) fn parse_segment_name(path: &Path, suffix: &str) -> Option<Offset> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(suffix)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Reads the header of the batch at `pos`, if a whole header lies before
/// `limit` and parses. Garbage yields Ok(None), never an error or panic.
pub(crate) fn header_at(
    file: &dyn LogFile,
    pos: u64,
    limit: u64,
) -> io::Result<Option<BatchHeader>> {
    if pos + BATCH_HEADER_LEN as u64 > limit {
        return Ok(None);
    }
    let mut buf = [0u8; BATCH_HEADER_LEN];
    file.read_exact_at(&mut buf, pos)?;
    match BatchHeader::parse(&buf) {
        Ok(h) if pos + h.total_len() as u64 <= limit => Ok(Some(h)),
        _ => Ok(None),
    }
}

/// Finds the batch containing `offset`, scanning headers from `pos` (a batch
/// start at or before it). Returns its position and header, or None if the
/// segment ends first.
pub(crate) fn locate(
    file: &dyn LogFile,
    mut pos: u64,
    limit: u64,
    offset: Offset,
) -> io::Result<Option<(u64, BatchHeader)>> {
    while let Some(h) = header_at(file, pos, limit)? {
        if h.last_offset() >= offset {
            return Ok(Some((pos, h)));
        }
        pos += h.total_len() as u64;
    }
    Ok(None)
}

/// Reads whole batches starting at `pos` (a batch start), at most
/// `max_bytes` in total, or exactly the first batch if even that does not
/// fit and `min_one_batch` is set.
pub(crate) fn read_batches(
    file: &dyn LogFile,
    pos: u64,
    limit: u64,
    max_bytes: usize,
    min_one_batch: bool,
) -> io::Result<Vec<u8>> {
    let want = (max_bytes as u64).min(limit.saturating_sub(pos)) as usize;
    let mut buf = vec![0u8; want];
    file.read_exact_at(&mut buf, pos)?;
    // Keep only whole batches: walk the length fields.
    let mut end = 0;
    while end + 12 <= buf.len() {
        let len = i32::from_be_bytes(buf[end + 8..end + 12].try_into().expect("4 bytes"));
        let total = len.max(0) as usize + 12;
        if end + total > buf.len() {
            break;
        }
        end += total;
    }
    if end == 0 && min_one_batch {
        if let Some(h) = header_at(file, pos, limit)? {
            let mut one = vec![0u8; h.total_len()];
            file.read_exact_at(&mut one, pos)?;
            return Ok(one);
        }
    }
    buf.truncate(end);
    Ok(buf)
}

/// Scans batch headers from `pos` to `limit` and builds both indexes, as
/// appends would have. Used when an index file is missing or invalid.
pub(crate) fn build_indexes(
    file: &dyn LogFile,
    base: Offset,
    limit: u64,
    interval: u64,
) -> io::Result<(OffsetIndex, TimeIndex)> {
    let mut builder = IndexBuilder::new(base, interval);
    let mut pos = 0;
    while let Some(h) = header_at(file, pos, limit)? {
        builder.add(&h, pos);
        pos += h.total_len() as u64;
    }
    builder.finish();
    Ok((builder.offset_index, builder.time_index))
}

/// Maintains a segment's indexes as batches are added in order.
#[derive(Debug, Clone)]
pub(crate) struct IndexBuilder {
    pub base: Offset,
    pub interval: u64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Bytes appended since the last offset index entry.
    pub bytes_since_entry: u64,
    /// Largest batch max timestamp so far and the batch that first had it.
    pub max_ts: Option<(i64, Offset)>,
}

impl IndexBuilder {
    pub fn new(base: Offset, interval: u64) -> IndexBuilder {
        IndexBuilder {
            base,
            interval,
            offset_index: OffsetIndex::new(),
            time_index: TimeIndex::new(),
            bytes_since_entry: 0,
            max_ts: None,
        }
    }

    /// Records batch `h` (with its assigned base offset) stored at `pos`.
    pub fn add(&mut self, h: &BatchHeader, pos: u64) {
        if pos > 0 && self.bytes_since_entry >= self.interval {
            self.offset_index
                .push(relative(h.base_offset, self.base), pos as u32);
            self.bytes_since_entry = 0;
            self.push_time_entry();
        }
        self.bytes_since_entry += h.total_len() as u64;
        if self.max_ts.is_none_or(|(ts, _)| h.max_timestamp > ts) {
            self.max_ts = Some((h.max_timestamp, h.base_offset));
        }
    }

    fn push_time_entry(&mut self) {
        if let Some((ts, off)) = self.max_ts {
            self.time_index.push(ts, relative(off, self.base));
        }
    }

    /// Makes the time index's last entry the segment's max timestamp.
    pub fn finish(&mut self) {
        self.push_time_entry();
    }
}

/// A closed, immutable segment. Indexes load on first use.
pub(crate) struct Segment {
    pub base_offset: Offset,
    /// One past the last offset stored (the next segment's base).
    pub end_offset: Offset,
    /// Bytes in the log file.
    pub size: u64,
    pub file: Arc<dyn LogFile>,
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    index_interval: u64,
    offset_index: OnceLock<OffsetIndex>,
    time_index: OnceLock<TimeIndex>,
}

impl Segment {
    /// A segment found on disk; nothing but the log file is read now, so
    /// opening a partition with many segments stays fast.
    pub fn open_lazy(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        base_offset: Offset,
        end_offset: Offset,
        index_interval: u64,
    ) -> Result<Segment> {
        let path = segment_path(dir, base_offset, LOG_SUFFIX);
        let file = fs
            .open(&path, false)
            .map_err(|e| LogError::io(format!("opening {}", path.display()), e))?;
        let size = file
            .len()
            .map_err(|e| LogError::io(format!("reading length of {}", path.display()), e))?;
        Ok(Segment {
            base_offset,
            end_offset,
            size,
            file,
            dir: dir.to_path_buf(),
            fs,
            index_interval,
            offset_index: OnceLock::new(),
            time_index: OnceLock::new(),
        })
    }

    /// A segment just rolled, with its indexes already in memory.
    pub fn from_active(active: ActiveSegment, end_offset: Offset) -> Segment {
        let seg = Segment {
            base_offset: active.base_offset,
            end_offset,
            size: active.size,
            file: active.file,
            dir: active.dir,
            fs: active.fs,
            index_interval: active.index.interval,
            offset_index: OnceLock::new(),
            time_index: OnceLock::new(),
        };
        let _ = seg.offset_index.set(active.index.offset_index);
        let _ = seg.time_index.set(active.index.time_index);
        seg
    }

    /// A segment the cleaner just wrote, with the indexes built while
    /// writing it.
    pub fn from_cleaned(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        end_offset: Offset,
        file: Arc<dyn LogFile>,
        size: u64,
        index: IndexBuilder,
    ) -> Segment {
        let seg = Segment {
            base_offset: index.base,
            end_offset,
            size,
            file,
            dir: dir.to_path_buf(),
            fs,
            index_interval: index.interval,
            offset_index: OnceLock::new(),
            time_index: OnceLock::new(),
        };
        let _ = seg.offset_index.set(index.offset_index);
        let _ = seg.time_index.set(index.time_index);
        seg
    }

    /// Writes both indexes atomically (for a segment whose indexes were
    /// built in memory).
    pub fn persist_indexes(&self) -> Result<()> {
        let [_, index_path, time_path] = self.paths();
        write_atomic(&*self.fs, &index_path, &self.offset_index().to_bytes())
            .map_err(|e| LogError::io(format!("writing {}", index_path.display()), e))?;
        write_atomic(&*self.fs, &time_path, &self.time_index().to_bytes())
            .map_err(|e| LogError::io(format!("writing {}", time_path.display()), e))?;
        Ok(())
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        self.offset_index.get_or_init(|| {
            let path = segment_path(&self.dir, self.base_offset, INDEX_SUFFIX);
            let loaded = self.fs.open(&path, false).and_then(|f| f.read_all()).ok();
            if let Some(i) = loaded.and_then(|b| OffsetIndex::from_bytes(&b, self.size)) {
                return i;
            }
            tracing::info!(segment = %path.display(), "offset index missing or invalid; rebuilding from the log");
            self.rebuild().0
        })
    }

    pub fn time_index(&self) -> &TimeIndex {
        self.time_index.get_or_init(|| {
            let path = segment_path(&self.dir, self.base_offset, TIME_INDEX_SUFFIX);
            let loaded = self.fs.open(&path, false).and_then(|f| f.read_all()).ok();
            // Entries must lie inside this segment's offsets.
            let span = (self.end_offset - self.base_offset).max(0);
            if let Some(t) = loaded
                .and_then(|b| TimeIndex::from_bytes(&b))
                .filter(|t| t.last().is_none_or(|(_, rel)| (rel as i64) < span))
                .filter(|t| !t.is_empty() || self.size == 0)
            {
                return t;
            }
            tracing::info!(segment = %path.display(), "time index missing or invalid; rebuilding from the log");
            self.rebuild().1
        })
    }

    fn rebuild(&self) -> (OffsetIndex, TimeIndex) {
        // An empty index is correct (reads scan from the start), so an I/O
        // error here degrades speed, not answers.
        build_indexes(
            &*self.file,
            self.base_offset,
            self.size,
            self.index_interval,
        )
        .unwrap_or_default()
    }

    /// The segment's max timestamp and the base offset of the batch holding it.
    pub fn max_timestamp(&self) -> Option<(i64, Offset)> {
        self.time_index()
            .last()
            .map(|(ts, rel)| (ts, self.base_offset + rel as i64))
    }

    /// Paths of the segment's files, for deletion.
    pub fn paths(&self) -> [PathBuf; 3] {
        segment_paths(&self.dir, self.base_offset)
    }
}

pub(crate) fn segment_paths(dir: &Path, base: Offset) -> [PathBuf; 3] {
    [
        segment_path(dir, base, LOG_SUFFIX),
        segment_path(dir, base, INDEX_SUFFIX),
        segment_path(dir, base, TIME_INDEX_SUFFIX),
    ]
}

/// The segment appends go to.
pub(crate) struct ActiveSegment {
    pub base_offset: Offset,
    pub file: Arc<dyn LogFile>,
    /// Bytes of complete batches; appends write here.
    pub size: u64,
    pub index: IndexBuilder,
    /// Wall-clock time of the segment's first batch, for segment.ms.
    pub first_batch_ms: Option<i64>,
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
}

impl ActiveSegment {
    /// Creates a new, empty segment file and makes its name durable.
    pub fn create(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        base: Offset,
        interval: u64,
    ) -> Result<ActiveSegment> {
        let path = segment_path(dir, base, LOG_SUFFIX);
        let file = fs
            .open(&path, true)
            .map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
        file.set_len(0)
            .map_err(|e| LogError::io(format!("truncating {}", path.display()), e))?;
        fs.sync_dir(dir)
            .map_err(|e| LogError::io(format!("syncing directory {}", dir.display()), e))?;
        Ok(ActiveSegment::from_parts(
            fs,
            dir,
            base,
            file,
            0,
            IndexBuilder::new(base, interval),
        ))
    }

    pub fn from_parts(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        base: Offset,
        file: Arc<dyn LogFile>,
        size: u64,
        index: IndexBuilder,
    ) -> ActiveSegment {
        ActiveSegment {
            base_offset: base,
            file,
            size,
            index,
            first_batch_ms: None,
            dir: dir.to_path_buf(),
            fs,
        }
    }

    /// Writes the indexes (with a final time index entry) atomically.
    pub fn persist_indexes(&mut self) -> Result<()> {
        self.index.finish();
        let [_, index_path, time_path] = segment_paths(&self.dir, self.base_offset);
        write_atomic(&*self.fs, &index_path, &self.index.offset_index.to_bytes())
            .map_err(|e| LogError::io(format!("writing {}", index_path.display()), e))?;
        write_atomic(&*self.fs, &time_path, &self.index.time_index.to_bytes())
            .map_err(|e| LogError::io(format!("writing {}", time_path.display()), e))?;
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| {
            LogError::io(
                format!(
                    "fsyncing {}",
                    segment_path(&self.dir, self.base_offset, LOG_SUFFIX).display()
                ),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::assign_offset;
    use crate::fault_fs::FaultFs;
    use crate::testing::simple_batch;

    #[test]
    fn names_round_trip() {
        let p = segment_path(Path::new("/d"), 42, LOG_SUFFIX);
        assert_eq!(p, PathBuf::from("/d/00000000000000000042.log"));
        assert_eq!(parse_segment_name(&p, LOG_SUFFIX), Some(42));
        assert_eq!(parse_segment_name(&p, INDEX_SUFFIX), None);
        assert_eq!(parse_segment_name(Path::new("/d/42.log"), LOG_SUFFIX), None);
    }

    #[test]
    fn locate_and_read_whole_batches() {
        let fs = FaultFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/f"), true).unwrap();
        let mut pos = 0u64;
        let mut lens = vec![];
        for i in 0..5 {
            let mut b = simple_batch(&vec![b'x'; 10 * (i + 1)], i as i64);
            assign_offset(&mut b, i as i64);
            f.write_at(&b, pos).unwrap();
            pos += b.len() as u64;
            lens.push(b.len());
        }
        let (p, h) = locate(&*f, 0, pos, 3).unwrap().unwrap();
        assert_eq!((p as usize, h.base_offset), (lens[..3].iter().sum(), 3));
        assert!(locate(&*f, 0, pos, 5).unwrap().is_none());
        let two = read_batches(&*f, 0, pos, lens[0] + lens[1] + 5, false).unwrap();
        assert_eq!(two.len(), lens[0] + lens[1]);
        assert!(read_batches(&*f, 0, pos, 5, false).unwrap().is_empty());
        assert_eq!(read_batches(&*f, 0, pos, 5, true).unwrap().len(), lens[0]);
        let (oi, ti) = build_indexes(&*f, 0, pos, 0).unwrap();
        assert_eq!(oi.len(), 4);
        assert_eq!(ti.last(), Some((4, 4)));
    }
}
