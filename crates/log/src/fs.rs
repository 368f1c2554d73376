//! The file-system seam. Every byte the log reads or writes goes through
//! [`FileSystem`] and [`LogFile`], so tests can swap the real disk for
//! [`crate::FaultFs`] and simulate power loss.
//!
//! Files are addressed positionally (`read_at` / `write_at`): readers share
//! one handle with the writer without a seek position to fight over.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A directory tree of files.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// Creates `path` and its parents if missing.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The full paths of the regular files directly inside `path`.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Opens a file for reading and writing; with `create`, makes it if
    /// missing (without truncating an existing one).
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals inside directory `path` durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool;
}

/// An open file with positional I/O.
pub trait LogFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read
    /// (fewer only at end of file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `pos`, extending the file if needed.
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads exactly `buf.len()` bytes at `pos`, or fails with UnexpectedEof.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], pos + done as u64)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("short read at {} (+{done})", pos),
                ));
            }
            done += n;
        }
        Ok(())
    }

    /// The whole file's contents.
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; self.len()? as usize];
        self.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// The real disk, through `std::fs` with pread/pwrite.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl RealFs {
    /// A shareable handle, the form `Partition::open` takes.
    pub fn shared() -> Arc<dyn FileSystem> {
        Arc::new(RealFs)
    }
}

struct RealFile(File);

impl LogFile for RealFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        loop {
            match self.0.read_at(buf, pos) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.0.write_all_at(buf, pos)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

impl FileSystem for RealFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                out.push(entry.path());
            }
        }
        out.sort();
        Ok(out)
    }
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(RealFile(file)))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// Replaces `path` with `contents` so that a crash leaves either the old or
/// the new file, never a mix: write a temp file, fsync it, rename it over,
/// fsync the directory.
pub fn write_atomic(fs: &dyn FileSystem, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = fs.open(&tmp, true)?;
    file.set_len(0)?;
    file.write_at(contents, 0)?;
    file.sync_data()?;
    fs.rename(&tmp, path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs.sync_dir(dir),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_fs_positional_io_and_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let p = dir.path().join("a");
        let f = fs.open(&p, true).unwrap();
        f.write_at(b"hello", 0).unwrap();
        f.write_at(b"!", 5).unwrap();
        assert_eq!(f.read_all().unwrap(), b"hello!");
        f.set_len(4).unwrap();
        assert_eq!(f.len().unwrap(), 4);
        let mut b = [0u8; 8];
        assert_eq!(f.read_at(&mut b, 2).unwrap(), 2);
        assert!(f.read_exact_at(&mut b, 0).is_err());
        write_atomic(&fs, &dir.path().join("m"), b"x").unwrap();
        assert_eq!(fs.list_dir(dir.path()).unwrap().len(), 2);
        assert!(fs.exists(&dir.path().join("m")));
    }
}
