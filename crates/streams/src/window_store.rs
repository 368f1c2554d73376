//! The store of a time or session window aggregation: each window's
//! accumulator in a [`KvStore`] (so under the task's memory budget,
//! spilling to disk past it), and in memory only what finds windows
//! without reading them.
//!
//! The store's keys are the changelog's (the windowed key: the encoded
//! key, then the window's start, or for sessions its end and start, see
//! `window::windowed_key`), so a changelog record restores exactly one
//! entry. An entry's value is `[accumulator, key as records carry it,
//! largest event time folded in]`: the result needs all three, and the
//! changelog logs only the accumulator.
//!
//! What stays in memory, one entry per open window:
//!
//! - `by_end`, (end, encoded key, start): windows close and expire in end
//!   order, and that order has to be read without touching the windows;
//! - for sessions, `sessions`, (encoded key, start) -> end: the sessions a
//!   record reaches, found without scanning the store.
//!
//! An index entry is a few dozen bytes and the encoded key (shared, not
//! copied, between the two maps); what grows with the data (COLLECT_LIST,
//! TOPK, a struct per window) is the accumulator, and that is what the
//! budget bounds. Invariant: a window is in the index iff it has an entry
//! in the store.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::kv::{KvStore, StateLimits};
use crate::value::Value;
use crate::window::{windowed_key, Window};

/// One window's state.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The key as records carry it (results are keyed by it).
    pub(crate) key: Value,
    pub(crate) acc: Value,
    /// Largest event time folded in: the result's timestamp.
    pub(crate) max_ts: i64,
}

impl Entry {
    fn into_value(self) -> Value {
        Value::Array(vec![self.acc, self.key, Value::Int(self.max_ts)])
    }

    /// Whether `v` is an entry's value (what `from_value` takes).
    fn check(v: &Value, store: &str) -> Result<()> {
        match v {
            Value::Array(parts) if parts.len() == 3 && parts[2].as_i64().is_some() => Ok(()),
            _ => Err(Error::Store(format!(
                "state store {store}: a window entry is not [acc, key, time]"
            ))),
        }
    }

    /// From a value `check` accepted.
    fn from_value(v: Value) -> Entry {
        let Value::Array(parts) = v else {
            unreachable!("checked");
        };
        let [acc, key, max_ts] = <[Value; 3]>::try_from(parts).expect("checked");
        Entry {
            key,
            acc,
            max_ts: max_ts.as_i64().expect("checked"),
        }
    }
}

pub(crate) struct WindowStore {
    name: String,
    session: bool,
    /// windowed key -> entry (see the module doc).
    kv: KvStore,
    /// (end, encoded key, start) of every window held: what closes and
    /// what retention removes, oldest first.
    by_end: BTreeSet<(i64, Bytes, i64)>,
    /// Sessions only: (encoded key, start) -> end. Sessions of one key
    /// never overlap, so their start identifies them.
    sessions: BTreeMap<(Bytes, i64), i64>,
    /// Changelog records applied since the restore was last finished: the
    /// store's count of keys is unknown until it is (see
    /// `KvStore::finish_restore`), so the first use after a restore
    /// finishes it if the caller did not.
    restoring: bool,
}

impl WindowStore {
    pub(crate) fn open(name: &str, session: bool, limits: &StateLimits) -> Result<WindowStore> {
        Ok(WindowStore {
            name: name.to_string(),
            session,
            kv: KvStore::open(name, limits)?,
            by_end: BTreeSet::new(),
            sessions: BTreeMap::new(),
            restoring: false,
        })
    }

    /// Windows held.
    pub(crate) fn len(&self) -> usize {
        self.by_end.len()
    }

    /// Estimated bytes of the accumulators cached in memory.
    pub(crate) fn cached_bytes(&self) -> usize {
        self.kv.cached_bytes()
    }

    fn windowed(&self, key: &[u8], w: &Window) -> Bytes {
        windowed_key(key, w, self.session)
    }

    fn index(&mut self, key: &Bytes, w: Window) {
        self.by_end.insert((w.end, key.clone(), w.start));
        if self.session {
            self.sessions.insert((key.clone(), w.start), w.end);
        }
    }

    fn unindex(&mut self, key: &Bytes, w: Window) {
        self.by_end.remove(&(w.end, key.clone(), w.start));
        if self.session && self.sessions.get(&(key.clone(), w.start)) == Some(&w.end) {
            self.sessions.remove(&(key.clone(), w.start));
        }
    }

    /// Whether window `w` of `key` is held.
    pub(crate) fn contains(&self, key: &Bytes, w: &Window) -> bool {
        self.by_end.contains(&(w.end, key.clone(), w.start))
    }

    /// The session of `key` starting at `start`, if there is one.
    pub(crate) fn session_at(&self, key: &Bytes, start: i64) -> Option<Window> {
        let end = *self.sessions.get(&(key.clone(), start))?;
        Some(Window { start, end })
    }

    /// The sessions of `key`, by start.
    pub(crate) fn sessions_of(&self, key: &Bytes) -> Vec<Window> {
        self.sessions
            .range((key.clone(), i64::MIN)..=(key.clone(), i64::MAX))
            .map(|((_, start), end)| Window {
                start: *start,
                end: *end,
            })
            .collect()
    }

    /// The window that ends first.
    pub(crate) fn first_by_end(&self) -> Option<(Bytes, Window)> {
        self.by_end.first().map(|(end, key, start)| {
            (
                key.clone(),
                Window {
                    start: *start,
                    end: *end,
                },
            )
        })
    }

    /// Window `w` of `key`.
    pub(crate) fn get(&mut self, key: &Bytes, w: &Window) -> Result<Option<Entry>> {
        self.restored()?;
        if !self.contains(key, w) {
            return Ok(None);
        }
        let wk = self.windowed(key, w);
        let Some(v) = self.kv.get(&wk)? else {
            return Ok(None);
        };
        Entry::check(&v, &self.name)?;
        Ok(Some(Entry::from_value(v)))
    }

    /// Runs `f` on window `w` of `key` (None: not held; setting None
    /// removes it).
    pub(crate) fn update<R>(
        &mut self,
        key: &Bytes,
        w: Window,
        f: impl FnOnce(&mut Option<Entry>) -> R,
    ) -> Result<R> {
        self.restored()?;
        let wk = self.windowed(key, &w);
        let name = &self.name;
        let (r, was_held, held) = self.kv.update(wk, |slot| {
            if let Some(v) = slot.as_ref() {
                Entry::check(v, name)?;
            }
            let was_held = slot.is_some();
            let mut e = slot.take().map(Entry::from_value);
            let r = f(&mut e);
            let held = e.is_some();
            *slot = e.map(Entry::into_value);
            Ok::<_, Error>((r, was_held, held))
        })??;
        // The index changes only when the window comes or goes (most
        // updates fold a record into a window already held).
        match (was_held, held) {
            (false, true) => self.index(key, w),
            (true, false) => self.unindex(key, w),
            _ => {}
        }
        Ok(r)
    }

    /// Sets window `w` of `key`.
    pub(crate) fn put(&mut self, key: &Bytes, w: Window, e: Entry) -> Result<()> {
        self.restored()?;
        let wk = self.windowed(key, &w);
        self.kv.put(wk, Some(e.into_value()))?;
        self.index(key, w);
        Ok(())
    }

    /// Takes window `w` of `key` out.
    pub(crate) fn remove(&mut self, key: &Bytes, w: Window) -> Result<Option<Entry>> {
        self.restored()?;
        if !self.contains(key, &w) {
            return Ok(None);
        }
        let wk = self.windowed(key, &w);
        let old = self.kv.put(wk, None)?;
        self.unindex(key, w);
        match old {
            Some(v) => {
                Entry::check(&v, &self.name)?;
                Ok(Some(Entry::from_value(v)))
            }
            None => Ok(None),
        }
    }

    /// Applies one changelog record: window `w` of `key` becomes `e`
    /// (None: goes). A value replaces whatever window of `key` started at
    /// `w.start` (a session logged again with a new end); a tombstone
    /// removes only its own window. A commit's records come in key order,
    /// and a session's end sorts as unsigned bytes: a session grown from a
    /// negative end to a positive one is logged new end first, then the
    /// old end's tombstone, which must not take the new one out.
    pub(crate) fn restore(&mut self, key: Bytes, w: Window, e: Option<Entry>) -> Result<()> {
        self.restoring = true;
        let old = if self.session && e.is_some() {
            self.session_at(&key, w.start)
        } else {
            Some(w).filter(|w| self.contains(&key, w))
        };
        if let Some(old) = old {
            if old != w {
                self.kv.restore_value(self.windowed(&key, &old), None)?;
            }
            self.unindex(&key, old);
        }
        let wk = self.windowed(&key, &w);
        match e {
            None => self.kv.restore_value(wk, None),
            Some(e) => {
                self.kv.restore_value(wk, Some(e.into_value()))?;
                self.index(&key, w);
                Ok(())
            }
        }
    }

    /// After the last changelog record (see `KvStore::finish_restore`).
    pub(crate) fn finish_restore(&mut self) -> Result<()> {
        self.restoring = false;
        self.kv.finish_restore()
    }

    /// Finishes a restore the caller left unfinished (an operator
    /// restored on its own, without a task).
    fn restored(&mut self) -> Result<()> {
        if self.restoring {
            self.finish_restore()?;
        }
        Ok(())
    }
}
