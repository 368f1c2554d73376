//! An in-memory [`FileSystem`] that models power loss, for crash tests.
//!
//! The model, per file: `current` is what reads see; `synced` is what the
//! last `sync_data` made durable. Per directory: the set of names a crash
//! would leave, updated only by `sync_dir` (so a file created, renamed or
//! removed since the last directory sync reverts to the directory's synced
//! state). Directories themselves are durable once created.
//!
//! [`FaultFs::crash`] returns a new, independent file system as it would be
//! found after power loss: for each durable name, the file's synced bytes
//! plus a torn prefix of the unsynced tail chosen by [`TornWrite`]. If
//! unsynced writes changed bytes inside the synced range (an overwrite or a
//! truncation), the crash image is the synced bytes alone — the model does
//! not mix old and new bytes within the durable prefix.
//!
//! Faults can also be injected: fsyncs that fail, writes that fail (a full
//! disk), directory fsyncs that fail with EIO or ENOSPC ([`DirSyncFault`]),
//! and a delay per fsync so group commit has something to amortise. A
//! failed directory sync makes nothing durable: the names it would have
//! committed wait for the next one that succeeds.
//!
//! Directories are durable once created, unless [`FaultFs::track_new_dirs`]
//! is on: then a directory created from that point survives a crash only
//! once its parent has been synced, as on a real file system.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::fs::{FileSystem, LogFile};

/// How much of a file's unsynced tail survives a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornWrite {
    /// Nothing unsynced survives.
    DropAll,
    /// Everything written survives (the page cache happened to be flushed).
    KeepAll,
    /// The first half of the unsynced tail survives: a torn batch.
    KeepHalf,
    /// The unsynced tail keeps its length but reads back as zeros, as after
    /// a file-system journal replays a size update without the data.
    Zeros,
    /// A pseudo-random prefix length per file, from this seed.
    Random(u64),
}

#[derive(Debug, Default)]
struct FileData {
    current: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug, Default)]
struct MemFile {
    data: Mutex<FileData>,
}

/// The error an injected directory-fsync failure reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirSyncError {
    /// EIO: the directory could not be written back.
    Eio,
    /// ENOSPC: no room for the directory's metadata.
    Enospc,
}

impl DirSyncError {
    /// The errno, the same on Linux and macOS.
    pub fn errno(self) -> i32 {
        match self {
            DirSyncError::Eio => 5,
            DirSyncError::Enospc => 28,
        }
    }

    fn to_io(self) -> io::Error {
        io::Error::from_raw_os_error(self.errno())
    }
}

/// Which directory syncs fail, and how ([`FaultFs::fail_dir_syncs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSyncFault {
    pub error: DirSyncError,
    /// Only syncs of this directory fail; None: of every directory.
    pub dir: Option<PathBuf>,
    /// This many of the syncs that would fail succeed first, so a test can
    /// fail the n-th directory sync of an operation.
    pub after: u64,
}

impl DirSyncFault {
    /// Every directory sync fails with `error`.
    pub fn every(error: DirSyncError) -> DirSyncFault {
        DirSyncFault {
            error,
            dir: None,
            after: 0,
        }
    }

    /// Syncs of `dir` fail with `error`; others succeed.
    pub fn of(dir: &Path, error: DirSyncError) -> DirSyncFault {
        DirSyncFault {
            dir: Some(dir.to_path_buf()),
            ..DirSyncFault::every(error)
        }
    }

    /// The first `n` matching syncs succeed.
    pub fn after(self, n: u64) -> DirSyncFault {
        DirSyncFault { after: n, ..self }
    }

    /// Whether this sync of `path` fails; counts down `after`.
    fn strikes(&mut self, path: &Path) -> bool {
        if self.dir.as_deref().is_some_and(|d| d != path) {
            return false;
        }
        if self.after > 0 {
            self.after -= 1;
            return false;
        }
        true
    }
}

#[derive(Debug)]
struct State {
    /// Names visible now.
    live: BTreeMap<PathBuf, Arc<MemFile>>,
    /// Names a crash would leave (as of each directory's last sync).
    durable: BTreeMap<PathBuf, Arc<MemFile>>,
    /// Per directory, names created, renamed or removed since its last
    /// sync: `sync_dir` copies just these into `durable`, so its cost does
    /// not grow with the number of files.
    dirty: HashMap<PathBuf, HashSet<PathBuf>>,
    dirs: BTreeSet<PathBuf>,
    /// Directories created while `track_dirs` was on whose entry in their
    /// parent no `sync_dir` of the parent has made durable yet.
    pending_dirs: BTreeSet<PathBuf>,
    track_dirs: bool,
    torn: TornWrite,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    fsyncs: AtomicU64,
    dir_syncs: AtomicU64,
    fail_syncs: AtomicBool,
    fail_writes: AtomicBool,
    dir_fault: Mutex<Option<DirSyncFault>>,
    sync_delay_us: AtomicU64,
    read_delay_us: AtomicU64,
    /// When set, the crash image after every fsync and directory sync.
    images: Mutex<Option<Vec<FaultFs>>>,
}

/// In-memory file system for crash tests. Clones share one image.
#[derive(Debug, Clone)]
pub struct FaultFs {
    shared: Arc<Shared>,
}

impl Default for FaultFs {
    fn default() -> Self {
        FaultFs::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge the others.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl FaultFs {
    /// An empty file system; crashes tear half of each unsynced tail.
    pub fn new() -> FaultFs {
        FaultFs::with_state(State {
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            dirty: HashMap::new(),
            dirs: BTreeSet::new(),
            pending_dirs: BTreeSet::new(),
            track_dirs: false,
            torn: TornWrite::KeepHalf,
        })
    }

    fn with_state(state: State) -> FaultFs {
        FaultFs {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                fsyncs: AtomicU64::new(0),
                dir_syncs: AtomicU64::new(0),
                fail_syncs: AtomicBool::new(false),
                fail_writes: AtomicBool::new(false),
                dir_fault: Mutex::new(None),
                sync_delay_us: AtomicU64::new(0),
                read_delay_us: AtomicU64::new(0),
                images: Mutex::new(None),
            }),
        }
    }

    /// A shareable handle, the form `Partition::open` takes.
    pub fn shared(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }

    /// Chooses what `crash` keeps of unsynced tails.
    pub fn set_torn_write(&self, torn: TornWrite) {
        lock(&self.shared.state).torn = torn;
    }

    /// Number of `sync_data` calls that succeeded, on all files.
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::SeqCst)
    }

    /// Number of `sync_dir` calls that succeeded.
    pub fn dir_sync_count(&self) -> u64 {
        self.shared.dir_syncs.load(Ordering::SeqCst)
    }

    /// Makes every later `sync_data` fail with an I/O error (or stop failing).
    pub fn fail_syncs(&self, fail: bool) {
        self.shared.fail_syncs.store(fail, Ordering::SeqCst);
    }

    /// Makes every later write fail as on a full disk (or stop failing).
    pub fn fail_writes(&self, fail: bool) {
        self.shared.fail_writes.store(fail, Ordering::SeqCst);
    }

    /// Makes later `sync_dir` calls fail as `fault` says (None: stop
    /// failing). A failed sync makes no name durable.
    pub fn fail_dir_syncs(&self, fault: Option<DirSyncFault>) {
        *lock(&self.shared.dir_fault) = fault;
    }

    /// From now on (or no longer), a directory `create_dir_all` makes
    /// survives a crash only once its parent is synced. Off by default, so
    /// tests can build their roots without syncing `/`.
    pub fn track_new_dirs(&self, on: bool) {
        lock(&self.shared.state).track_dirs = on;
    }

    /// Sleeps this long in every `sync_data`, like a real disk flush.
    pub fn set_sync_delay(&self, delay: Duration) {
        self.shared
            .sync_delay_us
            .store(delay.as_micros() as u64, Ordering::SeqCst);
    }

    /// Sleeps this long in every read, like a disk read that misses the
    /// page cache.
    pub fn set_read_delay(&self, delay: Duration) {
        self.shared
            .read_delay_us
            .store(delay.as_micros() as u64, Ordering::SeqCst);
    }

    /// The contents of a file as reads see it now (test inspection).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let state = lock(&self.shared.state);
        state.live.get(path).map(|f| lock(&f.data).current.clone())
    }

    /// The file system as found after a power loss at this instant. The
    /// returned image is independent: this one keeps working (threads still
    /// writing to it do not affect the image).
    pub fn crash(&self) -> FaultFs {
        image_of(&lock(&self.shared.state))
    }

    /// Starts (or stops) recording the crash image after every
    /// `sync_data` and `sync_dir`: the only moments what a crash leaves can
    /// change under [`TornWrite::DropAll`]. Replaying an operation against
    /// each image tests a crash at every point of it.
    pub fn record_crash_images(&self, on: bool) {
        *lock(&self.shared.images) = on.then(Vec::new);
    }

    /// The images recorded since `record_crash_images(true)`, oldest first.
    pub fn take_crash_images(&self) -> Vec<FaultFs> {
        lock(&self.shared.images)
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// Records a crash image if recording is on. Takes the state lock: call
/// without holding it or any file's lock.
fn capture(shared: &Shared) {
    let mut images = lock(&shared.images);
    if let Some(images) = images.as_mut() {
        images.push(image_of(&lock(&shared.state)));
    }
}

/// The file system a power loss would leave, given the current state.
fn image_of(state: &State) -> FaultFs {
    let mut rng = match state.torn {
        TornWrite::Random(seed) => seed | 1,
        _ => 1,
    };
    let mut image = BTreeMap::new();
    for (path, file) in &state.durable {
        if state.lost_in_crash(&parent(path)) {
            continue;
        }
        let data = lock(&file.data);
        let synced = &data.synced;
        let intact =
            data.current.len() >= synced.len() && data.current[..synced.len()] == synced[..];
        let mut bytes = synced.clone();
        if intact {
            let tail = &data.current[synced.len()..];
            let keep = match state.torn {
                TornWrite::DropAll => 0,
                TornWrite::KeepAll => tail.len(),
                TornWrite::KeepHalf => tail.len() / 2,
                TornWrite::Zeros => {
                    bytes.resize(bytes.len() + tail.len(), 0);
                    0
                }
                TornWrite::Random(_) => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % (tail.len() as u64 + 1)) as usize
                }
            };
            bytes.extend_from_slice(&tail[..keep]);
        }
        let file = Arc::new(MemFile {
            data: Mutex::new(FileData {
                current: bytes.clone(),
                synced: bytes,
            }),
        });
        image.insert(path.clone(), file);
    }
    FaultFs::with_state(State {
        live: image.clone(),
        durable: image,
        dirty: HashMap::new(),
        dirs: state
            .dirs
            .iter()
            .filter(|d| !state.lost_in_crash(d))
            .cloned()
            .collect(),
        pending_dirs: BTreeSet::new(),
        track_dirs: state.track_dirs,
        torn: state.torn,
    })
}

impl State {
    /// Whether directory `dir` would be gone after a crash: it, or a
    /// directory above it, was created and its parent not synced since.
    fn lost_in_crash(&self, dir: &Path) -> bool {
        !self.pending_dirs.is_empty() && dir.ancestors().any(|d| self.pending_dirs.contains(d))
    }

    /// Notes that `path`'s directory entry changed since the last dir sync.
    fn touch(&mut self, path: &Path) {
        self.dirty
            .entry(parent(path))
            .or_default()
            .insert(path.to_path_buf());
    }
}

struct Handle {
    file: Arc<MemFile>,
    shared: Arc<Shared>,
}

impl LogFile for Handle {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let delay = self.shared.read_delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        let data = lock(&self.file.data);
        let pos = pos as usize;
        if pos >= data.current.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.current.len() - pos);
        buf[..n].copy_from_slice(&data.current[pos..pos + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        if self.shared.fail_writes.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "injected: disk full",
            ));
        }
        let mut data = lock(&self.file.data);
        let end = pos as usize + buf.len();
        if data.current.len() < end {
            data.current.resize(end, 0);
        }
        data.current[pos as usize..end].copy_from_slice(buf);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let delay = self.shared.sync_delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        if self.shared.fail_syncs.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected: fsync failed"));
        }
        {
            let mut data = lock(&self.file.data);
            data.synced = data.current.clone();
        }
        self.shared.fsyncs.fetch_add(1, Ordering::SeqCst);
        capture(&self.shared);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.file.data).current.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        lock(&self.file.data).current.resize(len as usize, 0);
        Ok(())
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = lock(&self.shared.state);
        for dir in path.ancestors() {
            if !dir.as_os_str().is_empty()
                && state.dirs.insert(dir.to_path_buf())
                && state.track_dirs
            {
                state.pending_dirs.insert(dir.to_path_buf());
            }
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let state = lock(&self.shared.state);
        if !state.dirs.contains(path) {
            return Err(not_found(path));
        }
        Ok(state
            .live
            .keys()
            .filter(|p| p.parent() == Some(path))
            .cloned()
            .collect())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let mut state = lock(&self.shared.state);
        let file = match state.live.get(path) {
            Some(f) => f.clone(),
            None if create => {
                if !state.dirs.contains(&parent(path)) {
                    return Err(not_found(&parent(path)));
                }
                let f = Arc::new(MemFile::default());
                state.live.insert(path.to_path_buf(), f.clone());
                state.touch(path);
                f
            }
            None => return Err(not_found(path)),
        };
        Ok(Arc::new(Handle {
            file,
            shared: self.shared.clone(),
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = lock(&self.shared.state);
        state
            .live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = lock(&self.shared.state);
        let file = state.live.remove(from).ok_or_else(|| not_found(from))?;
        state.live.insert(to.to_path_buf(), file);
        state.touch(from);
        state.touch(to);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if let Some(fault) = lock(&self.shared.dir_fault).as_mut() {
            if fault.strikes(path) {
                return Err(fault.error.to_io());
            }
        }
        let mut state = lock(&self.shared.state);
        let State {
            live,
            durable,
            dirty,
            pending_dirs,
            ..
        } = &mut *state;
        for p in dirty.remove(path).unwrap_or_default() {
            match live.get(&p) {
                Some(f) => durable.insert(p, f.clone()),
                None => durable.remove(&p),
            };
        }
        pending_dirs.retain(|d| d.parent() != Some(path));
        self.shared.dir_syncs.fetch_add(1, Ordering::SeqCst);
        drop(state);
        capture(&self.shared);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let state = lock(&self.shared.state);
        state.live.contains_key(path) || state.dirs.contains(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (FaultFs, PathBuf) {
        let fs = FaultFs::new();
        let dir = PathBuf::from("/d");
        fs.create_dir_all(&dir).unwrap();
        (fs, dir)
    }

    #[test]
    fn crash_keeps_synced_bytes_and_tears_the_tail() {
        let (fs, dir) = setup();
        let p = dir.join("f");
        let f = fs.open(&p, true).unwrap();
        fs.sync_dir(&dir).unwrap();
        f.write_at(b"durable", 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(b"12345678", 7).unwrap();
        assert_eq!(fs.fsync_count(), 1);
        let after = fs.crash();
        assert_eq!(after.contents(&p).unwrap(), b"durable1234");
        fs.set_torn_write(TornWrite::DropAll);
        assert_eq!(fs.crash().contents(&p).unwrap(), b"durable");
        fs.set_torn_write(TornWrite::Zeros);
        assert_eq!(fs.crash().contents(&p).unwrap(), b"durable\0\0\0\0\0\0\0\0");
        // The old image keeps working and the crash image is independent.
        f.write_at(b"!", 15).unwrap();
        assert_eq!(after.contents(&p).unwrap().len(), 11);
    }

    #[test]
    fn names_need_a_directory_sync() {
        let (fs, dir) = setup();
        let a = dir.join("a");
        fs.open(&a, true).unwrap().write_at(b"x", 0).unwrap();
        assert!(fs.crash().contents(&a).is_none(), "created, dir not synced");
        fs.sync_dir(&dir).unwrap();
        fs.rename(&a, &dir.join("b")).unwrap();
        let img = fs.crash();
        assert!(img.contents(&a).is_some() && img.contents(&dir.join("b")).is_none());
        fs.sync_dir(&dir).unwrap();
        let img = fs.crash();
        assert!(img.contents(&a).is_none() && img.contents(&dir.join("b")).is_some());
        assert_eq!(img.list_dir(&dir).unwrap(), vec![dir.join("b")]);
    }

    #[test]
    fn injected_faults() {
        let (fs, dir) = setup();
        let f = fs.open(&dir.join("f"), true).unwrap();
        fs.fail_writes(true);
        assert!(f.write_at(b"x", 0).is_err());
        fs.fail_writes(false);
        f.write_at(b"x", 0).unwrap();
        fs.fail_syncs(true);
        assert!(f.sync_data().is_err());
        assert_eq!(fs.fsync_count(), 0);
        assert!(fs.open(&PathBuf::from("/nodir/f"), true).is_err());
    }

    #[test]
    fn failed_directory_syncs_make_nothing_durable() {
        let (fs, dir) = setup();
        let a = dir.join("a");
        fs.open(&a, true).unwrap();
        for error in [DirSyncError::Eio, DirSyncError::Enospc] {
            fs.fail_dir_syncs(Some(DirSyncFault::every(error)));
            let e = fs.sync_dir(&dir).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(error.errno()));
            assert!(fs.crash().contents(&a).is_none());
        }
        assert_eq!(
            fs.sync_dir(&dir).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        // Only the second sync of /d fails; /other is not concerned.
        fs.create_dir_all(Path::new("/other")).unwrap();
        let fault = DirSyncFault::of(&dir, DirSyncError::Eio).after(1);
        fs.fail_dir_syncs(Some(fault));
        fs.sync_dir(Path::new("/other")).unwrap();
        fs.sync_dir(&dir).unwrap();
        assert!(fs.crash().contents(&a).is_some());
        assert!(fs.sync_dir(&dir).is_err());
        fs.fail_dir_syncs(None);
        fs.sync_dir(&dir).unwrap();
        assert_eq!(fs.dir_sync_count(), 3, "successes only");
    }

    #[test]
    fn tracked_new_directories_need_their_parent_synced() {
        let (fs, _) = setup();
        fs.track_new_dirs(true);
        let leaf = PathBuf::from("/d/p/q");
        fs.create_dir_all(&leaf).unwrap();
        let f = leaf.join("f");
        fs.open(&f, true).unwrap().write_at(b"x", 0).unwrap();
        fs.open(&f, true).unwrap().sync_data().unwrap();
        fs.sync_dir(&leaf).unwrap();
        let img = fs.crash();
        assert!(img.contents(&f).is_none() && !img.exists(&leaf));
        fs.sync_dir(Path::new("/d/p")).unwrap();
        assert!(fs.crash().contents(&f).is_none(), "/d/p still pending");
        fs.sync_dir(Path::new("/d")).unwrap();
        let img = fs.crash();
        assert_eq!(img.contents(&f).unwrap(), b"x");
        assert!(img.exists(&leaf));
    }
}
