//! The state of a sliding-window aggregation (Kafka Streams'
//! `SlidingWindows`, KIP-450): which windows a record creates and updates,
//! and what each holds. The operator around it (`windowed`) does stream
//! time, emitting and late records, as for the other window kinds.
//!
//! # Which windows exist
//!
//! With time difference `d`, windows are `[s, s + d]` (both ends
//! included) and exist only around records of their key:
//!
//! - each record at `t` has its *own* window `[t - d, t]` (for `t < d`:
//!   `[0, d]`, which then holds every record in `[0, d]`, as Kafka
//!   Streams does rather than start a window below 0);
//! - each record at `t` has a *right* window `[t + 1, t + 1 + d]` while a
//!   record falls in it (the window a record "drops out of").
//!
//! Windows are identified by their start: an own window and a right
//! window with the same start are one window. So every distinct set of
//! records at most `d` apart is the content of exactly one window.
//!
//! A new record at `t` therefore changes:
//!
//! 1. every window containing `t`: the own windows of the records in
//!    `[t, t + d]` (its own among them) and the right windows of the
//!    records in `[t - d - 1, t - 1]`; those right windows may be new
//!    (before `t` came, nothing fell in them);
//! 2. its own right window `[t + 1, t + 1 + d]` when records follow
//!    within it (it arrived out of order) and the window did not exist
//!    already (as the own window of a record at `t + 1 + d`, or as the
//!    right window of an earlier record at `t`). Its content is not new,
//!    but the window is, and is emitted like the others.
//!
//! Closed windows (see `window`) are left as they are: a record arriving
//! late changes only the windows still open.
//!
//! # State: the records, not the windows
//!
//! The store holds each key's records (event time, arrival number, the
//! value the aggregate reads), and its changelog holds them too: a
//! window's content is a function of the records, so restoring the
//! records restores every window, and no rule has to work out a new
//! window's aggregate from its neighbours' (as Kafka Streams' window store
//! does). A window's aggregate folds its records in arrival order, as
//! updating it record by record would (LATEST_BY_OFFSET and COLLECT_LIST
//! see the order the records came in).
//!
//! Aggregates of open windows are kept in memory as they are computed and
//! updated in place by each new record (`Aggregate::add`), so a record
//! costs one `add` per window it falls in plus a fold of the records of
//! the at most three windows it creates. That cache is not logged: after a
//! restore, an aggregate is folded again from the records when first
//! needed. Invariant: a cached aggregate is the fold of the records in its
//! window, for every window that is open.
//!
//! Changelog records: key = the encoded key, then the event time and the
//! arrival number (8 bytes each, big-endian); value = the value's JSON; a
//! record leaving the store is a tombstone.
//!
//! # Retention
//!
//! A record at `u` can still matter while its right window, ending at
//! `u + 1 + d`, may be open (a record arriving late may fall in that
//! window, which then exists because of `u`): it is dropped once stream
//! time passes `u + 1 + d + retention` (the retention being at least the
//! grace). The cached aggregates of a key's closed windows go with its
//! records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{BufMut, Bytes, BytesMut};

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::store::{Change, ChangeCapture};
use crate::value::Value;
use crate::window::{SlidingWindows, Window};

/// A window's aggregate, and the largest event time folded in (its
/// result's timestamp).
#[derive(Debug, Clone)]
pub(crate) struct Folded {
    pub(crate) acc: Value,
    pub(crate) max_ts: i64,
}

/// One key's records and the aggregates of its open windows.
struct KeyRecords {
    /// The key as records carry it (results are keyed by it).
    key: Value,
    /// (event time, arrival number) -> the value the aggregate reads.
    records: BTreeMap<(i64, u64), Value>,
    /// Window start -> aggregate, for windows computed so far (see the
    /// module doc for the invariant).
    folded: BTreeMap<i64, Folded>,
}

pub(crate) struct SlidingState {
    windows: SlidingWindows,
    keys: HashMap<Bytes, KeyRecords>,
    /// (event time, encoded key, arrival number) of every record held:
    /// what retention drops, oldest first.
    by_time: BTreeSet<(i64, Bytes, u64)>,
    /// The arrival number of the next record (above every one held, also
    /// after a restore).
    next_arrival: u64,
    changelog: ChangeCapture,
}

impl SlidingState {
    pub(crate) fn new(windows: SlidingWindows) -> SlidingState {
        SlidingState {
            windows,
            keys: HashMap::new(),
            by_time: BTreeSet::new(),
            next_arrival: 0,
            changelog: ChangeCapture::default(),
        }
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.by_time.len()
    }

    /// Adds `value`, of the record of `key` at `t` (`t >= 0`), and returns
    /// the open windows it changed or created with their aggregates, by
    /// start. The caller has checked that a window that can hold the
    /// record is still open (`SlidingWindows::is_too_late`).
    pub(crate) fn add(
        &mut self,
        agg: &Aggregate,
        key: &Bytes,
        key_value: &Value,
        t: i64,
        value: Value,
        stream_time: i64,
    ) -> Vec<(Window, Folded)> {
        let sw = self.windows;
        let d = sw.time_difference_ms;
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.changelog.record(
            record_key(key, t, arrival),
            Some(Bytes::from(crate::format::json_bytes(&value))),
        );
        self.by_time.insert((t, key.clone(), arrival));
        let kr = self.keys.entry(key.clone()).or_insert_with(|| KeyRecords {
            key: key_value.clone(),
            records: BTreeMap::new(),
            folded: BTreeMap::new(),
        });
        let had_t = kr.has_record_in(t, t);
        kr.records.insert((t, arrival), value.clone());

        // 1. The windows containing t.
        let mut containing = BTreeSet::new();
        for u in kr.times_in(t, t.saturating_add(d)) {
            containing.insert(sw.own_window(u).start);
        }
        for u in kr.times_in(t.saturating_sub(d).saturating_sub(1), t.saturating_sub(1)) {
            containing.insert(sw.right_window(u).start);
        }
        let mut changed = Vec::new();
        for start in containing {
            let w = sw.starting_at(start);
            if sw.is_closed(&w, stream_time) {
                continue;
            }
            let folded = match kr.folded.get_mut(&start) {
                Some(f) => {
                    f.acc = agg.add(std::mem::replace(&mut f.acc, Value::Null), &value);
                    f.max_ts = f.max_ts.max(t);
                    f.clone()
                }
                None => kr.fold(agg, w),
            };
            changed.push((w, folded));
        }

        // 2. Its right window, when records follow within it and the
        // window is new. It is open: t is not too late.
        let right = sw.right_window(t);
        let existed = had_t || kr.has_record_in(right.end, right.end);
        if !existed && kr.has_record_in(right.start, right.end) {
            let folded = kr.fold(agg, right);
            changed.push((right, folded));
        }
        changed.sort_by_key(|(w, _)| w.start);
        changed
    }

    /// The window starting at `start` of `key` as it closes, with the key
    /// and the aggregate, taken out of the cache (a closed window changes
    /// no more).
    pub(crate) fn close(
        &mut self,
        agg: &Aggregate,
        key: &Bytes,
        start: i64,
    ) -> Option<(Window, Value, Folded)> {
        let w = self.windows.starting_at(start);
        let kr = self.keys.get_mut(key)?;
        let folded = match kr.folded.remove(&w.start) {
            Some(f) => f,
            None if kr.has_record_in(w.start, w.end) => kr.fold(agg, w),
            None => return None,
        };
        Some((w, kr.key.clone(), folded))
    }

    /// Drops the records whose right window ends before `horizon` (stream
    /// time minus the retention), with the cached aggregates of their
    /// keys' windows that end before it.
    pub(crate) fn expire(&mut self, horizon: i64) {
        let d = self.windows.time_difference_ms;
        while let Some((t, key, arrival)) = self.by_time.first().cloned() {
            if self.windows.right_window(t).end >= horizon {
                break;
            }
            self.by_time.pop_first();
            self.changelog.record(record_key(&key, t, arrival), None);
            let Some(kr) = self.keys.get_mut(&key) else {
                continue;
            };
            kr.records.remove(&(t, arrival));
            if kr.records.is_empty() {
                self.keys.remove(&key);
            } else {
                // Windows ending before the horizon are closed.
                let first_kept_start = horizon.saturating_sub(d);
                kr.folded = kr.folded.split_off(&first_kept_start);
            }
        }
    }

    /// Applies one changelog record. Not captured again.
    pub(crate) fn restore(
        &mut self,
        changelog_key: &[u8],
        value: Option<&[u8]>,
        key_format: Format,
    ) -> Result<()> {
        let at = changelog_key.len().checked_sub(16).ok_or_else(|| {
            Error::Decode("changelog of a sliding window store: a key too short".into())
        })?;
        let key = Bytes::copy_from_slice(&changelog_key[..at]);
        let t = i64::from_be_bytes(changelog_key[at..at + 8].try_into().expect("8 bytes"));
        let arrival = u64::from_be_bytes(changelog_key[at + 8..].try_into().expect("8 bytes"));
        let Some(v) = value else {
            self.by_time.remove(&(t, key.clone(), arrival));
            if let Some(kr) = self.keys.get_mut(&key) {
                kr.records.remove(&(t, arrival));
                if kr.records.is_empty() {
                    self.keys.remove(&key);
                }
            }
            return Ok(());
        };
        let v: Value = serde_json::from_slice(v)
            .map_err(|e| Error::Decode(format!("changelog of a sliding window store: {e}")))?;
        let kr = match self.keys.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(KeyRecords {
                key: key_format.decode(Some(&key))?,
                records: BTreeMap::new(),
                folded: BTreeMap::new(),
            }),
        };
        kr.records.insert((t, arrival), v);
        self.by_time.insert((t, key, arrival));
        self.next_arrival = self.next_arrival.max(arrival + 1);
        Ok(())
    }

    /// The changelog records since the last call.
    pub(crate) fn take_changelog(&mut self) -> Vec<Change> {
        self.changelog.take()
    }
}

impl KeyRecords {
    fn has_record_in(&self, from: i64, to: i64) -> bool {
        from <= to
            && self
                .records
                .range((from, 0)..=(to, u64::MAX))
                .next()
                .is_some()
    }

    /// The distinct event times of records in `[from, to]`.
    fn times_in(&self, from: i64, to: i64) -> Vec<i64> {
        if from > to {
            return Vec::new();
        }
        let mut times: Vec<i64> = self
            .records
            .range((from, 0)..=(to, u64::MAX))
            .map(|((t, _), _)| *t)
            .collect();
        times.dedup();
        times
    }

    /// Folds the records in `w`, in arrival order, and caches the result.
    fn fold(&mut self, agg: &Aggregate, w: Window) -> Folded {
        let mut in_window: Vec<(u64, i64, &Value)> = self
            .records
            .range((w.start, 0)..=(w.end, u64::MAX))
            .map(|((t, arrival), v)| (*arrival, *t, v))
            .collect();
        in_window.sort_by_key(|(arrival, _, _)| *arrival);
        let mut folded = Folded {
            acc: agg.init(),
            max_ts: i64::MIN,
        };
        for (_, t, v) in in_window {
            folded.acc = agg.add(std::mem::replace(&mut folded.acc, Value::Null), v);
            folded.max_ts = folded.max_ts.max(t);
        }
        self.folded.insert(w.start, folded.clone());
        folded
    }
}

/// A record's changelog key: the encoded key, its event time, its arrival
/// number.
fn record_key(key: &[u8], t: i64, arrival: u64) -> Bytes {
    let mut b = BytesMut::with_capacity(key.len() + 16);
    b.put_slice(key);
    b.put_i64(t);
    b.put_u64(arrival);
    b.freeze()
}
