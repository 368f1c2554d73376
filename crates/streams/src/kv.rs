//! A key-value state store with a memory budget: the values a task works
//! on are cached decoded, and when the cache outgrows its budget the
//! changed entries are written to an embedded on-disk store (redb) and the
//! least recently used ones are dropped from memory, to be read back when
//! their key comes again.
//!
//! The disk copy is spill space, not the source of truth: a task's state
//! is its changelog topic. The file is emptied when the task is created
//! and the store restored from the changelog, so it never needs to be
//! durable (writes skip fsync) and a crash or a reset
//! (`fjord streams reset`) leaves nothing stale behind. A store without a
//! directory (tests, a topology run in process) keeps everything in
//! memory.
//!
//! Values are kept on disk as the changelog writes them (their JSON).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::value::Value;

const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("state");

/// Bytes an entry is counted for beyond its key and value: the hash map's
/// slot, the key's handle, the bookkeeping.
const ENTRY_OVERHEAD: usize = 96;

/// Where a task's stores spill and how much memory they may use.
#[derive(Debug, Clone)]
pub struct StateLimits {
    /// The store's own directory; None keeps everything in memory.
    pub dir: Option<PathBuf>,
    /// The cache's budget in bytes (estimated).
    pub cache_bytes: usize,
}

impl StateLimits {
    pub fn in_memory() -> StateLimits {
        StateLimits {
            dir: None,
            cache_bytes: usize::MAX,
        }
    }
}

struct Slot {
    /// None: the key has no value (deleted, or known to be absent).
    value: Option<Value>,
    /// Changed since it was last written to disk.
    dirty: bool,
    /// When it was last used (the store's clock).
    used: u64,
    size: usize,
}

/// The disk part of a store.
struct Spill {
    db: redb::Database,
    path: PathBuf,
}

pub struct KvStore {
    name: String,
    /// foldhash's keyed (per-process random) hasher: SipHash showed in
    /// every profile of a store (7% of a restore); "quality" keeps keys
    /// chosen by the input's writers from colliding on purpose.
    cache: HashMap<Bytes, Slot, foldhash::quality::RandomState>,
    cached_bytes: usize,
    budget: usize,
    clock: u64,
    /// Keys with a value, in memory or on disk.
    len: usize,
    spill: Option<Spill>,
}

/// Bytes an entry is counted for in the cache.
fn entry_size(key: &[u8], value: Option<&Value>) -> usize {
    key.len() + value.map_or(0, Value::approx_size) + ENTRY_OVERHEAD
}

fn store_error(store: &str, e: impl std::fmt::Display) -> Error {
    Error::Store(format!("state store {store}: {e}"))
}

impl KvStore {
    /// A store named `name` (its changelog's store name) within `limits`:
    /// on disk at `<dir>/<name>.redb`, emptied first.
    pub fn open(name: &str, limits: &StateLimits) -> Result<KvStore> {
        let spill = match &limits.dir {
            None => None,
            Some(dir) => Some(Spill::create(name, dir)?),
        };
        Ok(KvStore {
            name: name.to_string(),
            cache: HashMap::default(),
            cached_bytes: 0,
            budget: limits.cache_bytes,
            clock: 0,
            len: 0,
            spill,
        })
    }

    /// Keys with a value.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Estimated bytes of the cache.
    pub fn cached_bytes(&self) -> usize {
        self.cached_bytes
    }

    /// The value of `key`.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Value>> {
        let key = Bytes::copy_from_slice(key);
        let value = self.slot(&key)?.value.clone();
        self.shrink()?;
        Ok(value)
    }

    /// Runs `f` on `key`'s value (None: absent; setting None deletes).
    pub fn update<R>(&mut self, key: Bytes, f: impl FnOnce(&mut Option<Value>) -> R) -> Result<R> {
        let slot = self.slot(&key)?;
        let had = slot.value.is_some();
        let result = f(&mut slot.value);
        slot.dirty = true;
        let has = slot.value.is_some();
        let size = entry_size(&key, slot.value.as_ref());
        let old_size = std::mem::replace(&mut slot.size, size);
        self.cached_bytes = self.cached_bytes + size - old_size;
        match (had, has) {
            (false, true) => self.len += 1,
            (true, false) => self.len -= 1,
            _ => {}
        }
        self.shrink()?;
        Ok(result)
    }

    /// Sets (or, with None, deletes) `key`'s value; returns the old one.
    pub fn put(&mut self, key: Bytes, value: Option<Value>) -> Result<Option<Value>> {
        self.update(key, |slot| std::mem::replace(slot, value))
    }

    /// Applies one changelog record (its value the JSON the changelog
    /// writes; None a tombstone) while restoring.
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let value = match value {
            None => None,
            Some(v) => Some(
                serde_json::from_slice::<Value>(v)
                    .map_err(|e| Error::Decode(format!("changelog of {}: {e}", self.name)))?,
            ),
        };
        self.overwrite(Bytes::copy_from_slice(key), value)
    }

    /// As [`KvStore::restore`], for a value decoded already (a store whose
    /// entries are made from its changelog's, see `window_store`).
    pub(crate) fn restore_value(&mut self, key: Bytes, value: Option<Value>) -> Result<()> {
        self.overwrite(key, value)
    }

    /// Sets `key`'s value without reading what it was: a changelog record
    /// replaces it, whatever it was. Reading the disk copy of every key
    /// not in the cache made restores slow (a redb lookup per record, 16 s
    /// for a million keys). The count of keys is unknown until
    /// [`KvStore::finish_restore`].
    fn overwrite(&mut self, key: Bytes, value: Option<Value>) -> Result<()> {
        self.clock += 1;
        let size = entry_size(&key, value.as_ref());
        let slot = Slot {
            value,
            dirty: true,
            used: self.clock,
            size,
        };
        let replaced = self.cache.insert(key, slot).map_or(0, |old| old.size);
        self.cached_bytes = self.cached_bytes + size - replaced;
        self.shrink()
    }

    /// Ends a restore: counts the keys with a value again (the disk copy
    /// made complete first, so the count is the disk's).
    pub fn finish_restore(&mut self) -> Result<()> {
        if self.spill.is_none() {
            self.len = self.cache.values().filter(|s| s.value.is_some()).count();
            return Ok(());
        }
        self.write_dirty()?;
        if let Some(spill) = &self.spill {
            self.len = spill.count(&self.name)?;
        }
        Ok(())
    }

    /// Writes the entries changed since they were last written to disk
    /// (none without a disk).
    fn write_dirty(&mut self) -> Result<()> {
        let Some(spill) = &self.spill else {
            return Ok(());
        };
        spill.write(
            &self.name,
            self.cache
                .iter()
                .filter(|(_, s)| s.dirty)
                .map(|(k, s)| (k, s.value.as_ref())),
        )?;
        for slot in self.cache.values_mut() {
            slot.dirty = false;
        }
        Ok(())
    }

    /// `key`'s slot in the cache, read from disk if it is not there.
    fn slot(&mut self, key: &Bytes) -> Result<&mut Slot> {
        self.clock += 1;
        let clock = self.clock;
        if !self.cache.contains_key(key) {
            let value = match &self.spill {
                Some(spill) => spill.read(&self.name, key)?,
                None => None,
            };
            let size = entry_size(key, value.as_ref());
            self.cached_bytes += size;
            self.cache.insert(
                key.clone(),
                Slot {
                    value,
                    dirty: false,
                    used: clock,
                    size,
                },
            );
        }
        let slot = self.cache.get_mut(key).expect("inserted above");
        slot.used = clock;
        Ok(slot)
    }

    /// Over budget: writes the changed entries to disk, then drops the
    /// least recently used from memory until a quarter of the budget is
    /// free (so a store at its budget does not write on every record).
    fn shrink(&mut self) -> Result<()> {
        if self.cached_bytes <= self.budget {
            return Ok(());
        }
        if self.spill.is_none() {
            return Ok(());
        }
        self.write_dirty()?;
        let mut by_use: Vec<(u64, Bytes)> = self
            .cache
            .iter()
            .map(|(k, s)| (s.used, k.clone()))
            .collect();
        by_use.sort_unstable_by_key(|(used, _)| *used);
        let target = self.budget - self.budget / 4;
        for (_, key) in by_use {
            if self.cached_bytes <= target {
                break;
            }
            if let Some(slot) = self.cache.remove(&key) {
                self.cached_bytes -= slot.size;
            }
        }
        Ok(())
    }
}

impl Spill {
    fn create(name: &str, dir: &Path) -> Result<Spill> {
        let error = |e: &dyn std::fmt::Display| store_error(name, e);
        std::fs::create_dir_all(dir).map_err(|e| error(&e))?;
        // Only for this file's name: a store name is made of the
        // application's own names, but keep it to one path component.
        let file: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{file}.redb"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(&e)),
        }
        let db = redb::Builder::new()
            // redb's own page cache; ours holds the hot entries.
            .set_cache_size(4 << 20)
            .create(&path)
            .map_err(|e| error(&e))?;
        let tx = db.begin_write().map_err(|e| error(&e))?;
        tx.open_table(TABLE).map_err(|e| error(&e))?;
        tx.commit().map_err(|e| error(&e))?;
        Ok(Spill { db, path })
    }

    fn read(&self, name: &str, key: &[u8]) -> Result<Option<Value>> {
        let error = |e: &dyn std::fmt::Display| store_error(name, e);
        let tx = self.db.begin_read().map_err(|e| error(&e))?;
        let table = tx.open_table(TABLE).map_err(|e| error(&e))?;
        let Some(stored) = table.get(key).map_err(|e| error(&e))? else {
            return Ok(None);
        };
        let value: Value = serde_json::from_slice(stored.value()).map_err(|e| error(&e))?;
        Ok(Some(value))
    }

    fn count(&self, name: &str) -> Result<usize> {
        use redb::ReadableTableMetadata;
        let error = |e: &dyn std::fmt::Display| store_error(name, e);
        let tx = self.db.begin_read().map_err(|e| error(&e))?;
        let table = tx.open_table(TABLE).map_err(|e| error(&e))?;
        Ok(table.len().map_err(|e| error(&e))? as usize)
    }

    fn write<'a>(
        &self,
        name: &str,
        entries: impl Iterator<Item = (&'a Bytes, Option<&'a Value>)>,
    ) -> Result<()> {
        let error = |e: &dyn std::fmt::Display| store_error(name, e);
        // In key order: the B-tree's pages are then each read and written
        // once per batch, where the cache's hash order touched a random
        // page per entry (a restore of a million keys spent most of its
        // time in redb's page reads and writes).
        let mut entries: Vec<_> = entries.collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut tx = self.db.begin_write().map_err(|e| error(&e))?;
        // Not durable: the file is spill space, emptied at every start.
        tx.set_durability(redb::Durability::Eventual);
        {
            let mut table = tx.open_table(TABLE).map_err(|e| error(&e))?;
            for (key, value) in entries {
                match value {
                    Some(v) => {
                        let json = crate::format::json_bytes(v);
                        table
                            .insert(key.as_ref(), json.as_slice())
                            .map_err(|e| error(&e))?;
                    }
                    None => {
                        table.remove(key.as_ref()).map_err(|e| error(&e))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| error(&e))
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        // The task went (moved, or the instance stopped): its spill file
        // is of no further use.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(dir: &Path, cache_bytes: usize) -> StateLimits {
        StateLimits {
            dir: Some(dir.to_path_buf()),
            cache_bytes,
        }
    }

    #[test]
    fn values_past_the_budget_go_to_disk_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = KvStore::open("counts", &limits(dir.path(), 64 << 10)).unwrap();
        for i in 0..5_000i64 {
            store
                .put(Bytes::from(format!("key-{i}")), Some(Value::Int(i)))
                .unwrap();
        }
        assert!(store.cached_bytes() <= 64 << 10, "{}", store.cached_bytes());
        assert_eq!(store.len(), 5_000);
        // The first keys were evicted long ago: read back from disk.
        for i in (0..5_000i64).step_by(7) {
            let got = store.get(format!("key-{i}").as_bytes()).unwrap();
            assert_eq!(got, Some(Value::Int(i)));
        }
        // Updated and deleted after eviction: the disk copy does not win.
        store
            .update(Bytes::from("key-0"), |v| *v = Some(Value::Int(-1)))
            .unwrap();
        store.put(Bytes::from("key-1"), None).unwrap();
        for i in 2..3_000i64 {
            store.get(format!("key-{i}").as_bytes()).unwrap();
        }
        assert_eq!(store.get(b"key-0").unwrap(), Some(Value::Int(-1)));
        assert_eq!(store.get(b"key-1").unwrap(), None);
        assert_eq!(store.len(), 4_999);
    }

    #[test]
    fn a_restore_past_the_budget_keeps_the_last_record_of_each_key_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = KvStore::open("latest", &limits(dir.path(), 64 << 10)).unwrap();
        // An uncompacted changelog: every key twice, some deleted after.
        for round in 0..2i64 {
            for i in 0..4_000i64 {
                let json = format!("{}", i * 10 + round);
                store
                    .restore(format!("key-{i}").as_bytes(), Some(json.as_bytes()))
                    .unwrap();
            }
        }
        for i in (0..4_000i64).step_by(4) {
            store.restore(format!("key-{i}").as_bytes(), None).unwrap();
        }
        store.finish_restore().unwrap();
        assert!(store.cached_bytes() <= 64 << 10, "{}", store.cached_bytes());
        assert_eq!(store.len(), 3_000);
        assert_eq!(store.get(b"key-0").unwrap(), None);
        assert_eq!(store.get(b"key-1").unwrap(), Some(Value::Int(11)));
        assert_eq!(store.get(b"key-3999").unwrap(), Some(Value::Int(39_991)));
        // Updates after the restore count as before.
        store
            .put(Bytes::from("key-0"), Some(Value::Int(0)))
            .unwrap();
        store.put(Bytes::from("key-1"), None).unwrap();
        assert_eq!(store.len(), 3_000);
    }

    #[test]
    fn a_store_starts_empty_whatever_its_file_held() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = KvStore::open("t", &limits(dir.path(), 1 << 10)).unwrap();
            for i in 0..200 {
                store
                    .put(Bytes::from(format!("{i}")), Some(Value::Int(i)))
                    .unwrap();
            }
        }
        let mut store = KvStore::open("t", &limits(dir.path(), 1 << 10)).unwrap();
        assert_eq!(store.get(b"5").unwrap(), None);
        assert!(store.is_empty());
    }

    #[test]
    fn without_a_directory_everything_stays_in_memory() {
        let mut store = KvStore::open("m", &StateLimits::in_memory()).unwrap();
        for i in 0..1_000 {
            store
                .put(Bytes::from(format!("{i}")), Some(Value::Int(i)))
                .unwrap();
        }
        assert_eq!(store.len(), 1_000);
        assert_eq!(store.get(b"999").unwrap(), Some(Value::Int(999)));
    }
}
