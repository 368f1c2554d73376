//! Windowed aggregation on event time: the operator behind "bids per item
//! per minute", with stream time, grace, the two emit modes, and late
//! records routed to a topic instead of dropped.
//!
//! Per record: stream time becomes the largest event time seen; the record
//! is folded into each of its windows that is still open (see `window` for
//! exactly when a window closes); each window it missed makes it *late*.
//!
//! - `Emit::Changes` (EMIT CHANGES): every update of a window's result is
//!   emitted at once. Sessions merged away by a record are emitted as
//!   tombstones (null value), as Kafka Streams does. A sliding window a
//!   record creates is emitted too, also when the record is not in it
//!   (see `sliding`); the windows of one record go out by start.
//! - `Emit::Final` (EMIT FINAL, Kafka Streams' suppress until window
//!   close): a window's result is emitted once, when it closes. Windows
//!   waiting for that are kept in a second store (`<store>-suppress`, with
//!   its own changelog), not only in memory, so a restarted task still
//!   emits them exactly once.
//!
//! A late record goes to the late-data topic unchanged, with the
//! `fjord.late.*` headers saying why (see `late`; for hopping windows, the
//! latest window it missed; for sliding windows, its own window, the one
//! ending at it).
//!
//! A record late for some hopping windows and on time for others is
//! folded into the open ones and sent to the late topic once; so is a
//! record whose own sliding window has closed while later windows that
//! hold it are open. Without a
//! late topic, late records are counted ([`WindowedAggregate::late`]) and
//! dropped, which the topology builder only allows when asked explicitly.
//!
//! A window's state is removed from the store once stream time passes its
//! end plus the retention (at least the grace period; by default exactly
//! that, so a window leaves the store as it closes). Sliding windows keep
//! their records instead of their windows (`sliding` says why and for how
//! long); the suppress buffer is the same for every kind.
//!
//! Memory: time and session windows keep their accumulators in a
//! key-value store under the task's memory budget (`window_store`; past
//! the budget they spill to disk), with an index entry per open window in
//! memory. The suppress buffer is such an index too, (final at, key,
//! start) per window waiting to close, without values (it reads them from
//! the window store when it emits), so it stays in memory. Sliding
//! windows' records and cached aggregates are in memory (see `sliding`).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::kv::StateLimits;
use crate::late::{late_output, Lateness};
use crate::record::{Output, Record};
use crate::sliding::SlidingState;
use crate::store::{ChangeCapture, StoreChanges};
use crate::value::Value;
use crate::window::{windowed_key, SessionWindows, SlidingWindows, TimeWindows, Window};
use crate::window_store::{Entry, WindowStore};

/// When a windowed aggregation emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// Every update (EMIT CHANGES).
    Changes,
    /// Once, when the window closes (EMIT FINAL).
    Final,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Time(TimeWindows),
    Session(SessionWindows),
    Sliding(SlidingWindows),
}

impl WindowKind {
    fn grace(&self) -> i64 {
        match self {
            WindowKind::Time(t) => t.grace_ms,
            WindowKind::Session(s) => s.grace_ms,
            WindowKind::Sliding(s) => s.grace_ms,
        }
    }

    fn is_session(&self) -> bool {
        matches!(self, WindowKind::Session(_))
    }

    /// Stream time at which window `w`'s result is final.
    fn final_at(&self, w: &Window) -> i64 {
        match self {
            WindowKind::Time(t) => w.end.saturating_add(t.grace_ms),
            WindowKind::Session(s) => w
                .end
                .saturating_add(s.gap_ms)
                .saturating_add(s.grace_ms)
                .saturating_add(1),
            // Its end is included: closed once stream time passes it.
            WindowKind::Sliding(s) => w.end.saturating_add(s.grace_ms).saturating_add(1),
        }
    }
}

/// The value a record contributes to the aggregate.
pub type Extract = Arc<dyn Fn(&Record) -> Value + Send + Sync>;

pub struct WindowedAggregate {
    store: String,
    kind: WindowKind,
    agg: Aggregate,
    extract: Extract,
    emit: Emit,
    late_topic: Option<String>,
    retention_ms: i64,
    key_format: Format,
    stream_time: i64,
    /// Time and session windows: their accumulators and the index of
    /// what closes when (see `window_store`).
    windows: WindowStore,
    /// EMIT FINAL: (final at, encoded key, start) not yet emitted.
    unemitted: BTreeSet<(i64, Bytes, i64)>,
    /// Sliding windows' records (their store instead of `windows`).
    sliding: Option<SlidingState>,
    changelog: ChangeCapture,
    suppress_changelog: ChangeCapture,
    late: u64,
}

impl WindowedAggregate {
    pub fn new(
        store: impl Into<String>,
        kind: WindowKind,
        agg: Aggregate,
        extract: Extract,
        emit: Emit,
        key_format: Format,
    ) -> WindowedAggregate {
        let grace = kind.grace();
        let store = store.into();
        WindowedAggregate {
            windows: WindowStore::open(&store, kind.is_session(), &StateLimits::in_memory())
                .expect("an in-memory store opens"),
            store,
            kind,
            agg,
            extract,
            emit,
            late_topic: None,
            retention_ms: grace,
            key_format,
            stream_time: i64::MIN,
            unemitted: BTreeSet::new(),
            sliding: match kind {
                WindowKind::Sliding(sw) => Some(SlidingState::new(sw)),
                _ => None,
            },
            changelog: ChangeCapture::default(),
            suppress_changelog: ChangeCapture::default(),
            late: 0,
        }
    }

    /// Where late records go.
    pub fn late_to(mut self, topic: impl Into<String>) -> WindowedAggregate {
        self.late_topic = Some(topic.into());
        self
    }

    /// How long after its end a window's result stays in the store (at
    /// least the grace period).
    pub fn retention(mut self, ms: i64) -> WindowedAggregate {
        self.retention_ms = ms.max(self.kind.grace());
        self
    }

    /// Keeps the windows' accumulators in a store within `limits` (on
    /// disk at `<dir>/<store>.redb` past its budget) instead of all in
    /// memory. Before any record. Sliding windows keep their records in
    /// memory either way.
    pub fn with_state(mut self, limits: &StateLimits) -> Result<WindowedAggregate> {
        if self.sliding.is_none() {
            self.windows = WindowStore::open(&self.store, self.kind.is_session(), limits)?;
        }
        Ok(self)
    }

    pub fn store_name(&self) -> &str {
        &self.store
    }

    /// Estimated bytes of the window accumulators cached in memory (the
    /// part the memory budget bounds; 0 for sliding windows, whose
    /// records are not in that store).
    pub fn cached_bytes(&self) -> usize {
        self.windows.cached_bytes()
    }

    /// Late records seen so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }

    /// Windows held in the store (for sliding windows: records).
    pub fn window_count(&self) -> usize {
        match &self.sliding {
            Some(s) => s.len(),
            None => self.windows.len(),
        }
    }

    /// Processes one record: results go to `results` (downstream), late
    /// records to `outputs`.
    pub fn process(
        &mut self,
        r: &Record,
        results: &mut Vec<Record>,
        outputs: &mut Vec<Output>,
    ) -> Result<()> {
        self.stream_time = self.stream_time.max(r.timestamp);
        let key = self
            .key_format
            .encode_key(&r.key, "a windowed aggregation")?;
        let v = (self.extract)(r);
        let missed = match self.kind {
            WindowKind::Time(tw) => self.fold_time(tw, &key, r, &v, results)?,
            WindowKind::Session(sw) => self.fold_session(sw, &key, r, &v, results)?,
            WindowKind::Sliding(sw) => self.fold_sliding(sw, &key, r, v, results),
        };
        if let Some(w) = missed {
            self.late += 1;
            if let Some(topic) = &self.late_topic {
                outputs.push(self.late_output(topic, r, &w)?);
            }
        }
        self.advance(results)
    }

    /// Folds into every open window of `r`; returns the latest it missed.
    fn fold_time(
        &mut self,
        tw: TimeWindows,
        key: &Bytes,
        r: &Record,
        v: &Value,
        results: &mut Vec<Record>,
    ) -> Result<Option<Window>> {
        let mut missed = None;
        for w in tw.windows_for(r.timestamp) {
            if tw.is_closed(&w, self.stream_time) {
                missed = Some(w);
                continue;
            }
            let agg = &self.agg;
            let changes = self.emit == Emit::Changes;
            let (json, result) = self.windows.update(key, w, |slot| {
                let e = slot.get_or_insert_with(|| Entry {
                    key: r.key.clone(),
                    acc: agg.init(),
                    max_ts: r.timestamp,
                });
                e.acc = agg.add(std::mem::replace(&mut e.acc, Value::Null), v);
                e.max_ts = e.max_ts.max(r.timestamp);
                let result = changes.then(|| window_result(agg, false, e, w));
                (crate::format::json_bytes(&e.acc), result)
            })?;
            self.updated(key, w, json, result, results);
        }
        Ok(missed)
    }

    /// Joins `r` to the sessions of its key it reaches, merging them;
    /// returns the session it would have made if that is already closed.
    fn fold_session(
        &mut self,
        sw: SessionWindows,
        key: &Bytes,
        r: &Record,
        v: &Value,
        results: &mut Vec<Record>,
    ) -> Result<Option<Window>> {
        let t = r.timestamp;
        let reached: Vec<Window> = self
            .windows
            .sessions_of(key)
            .into_iter()
            .filter(|w| sw.reaches(w, t))
            .collect();
        let merged = reached
            .iter()
            .fold(Window { start: t, end: t }, |m, w| Window {
                start: m.start.min(w.start),
                end: m.end.max(w.end),
            });
        if sw.is_closed(merged.end, self.stream_time) {
            return Ok(Some(merged));
        }
        // The reached sessions and the record itself, merged in time order
        // (a merged accumulator keeps earlier values before later ones).
        let mut parts: Vec<(i64, Value, i64)> = vec![(t, self.agg.add(self.agg.init(), v), t)];
        for w in reached {
            if let Some(e) = self.remove_window(key, w, results)? {
                parts.push((w.start, e.acc, e.max_ts));
            }
        }
        parts.sort_by_key(|(start, _, _)| *start);
        let mut folded = self.agg.init();
        let mut max_ts = t;
        for (_, acc, ts) in parts {
            folded = self.agg.merge(folded, acc);
            max_ts = max_ts.max(ts);
        }
        let e = Entry {
            key: r.key.clone(),
            acc: folded,
            max_ts,
        };
        let json = crate::format::json_bytes(&e.acc);
        let result =
            (self.emit == Emit::Changes).then(|| window_result(&self.agg, true, &e, merged));
        self.windows.put(key, merged, e)?;
        self.updated(key, merged, json, result, results);
        Ok(None)
    }

    /// Adds `r` to the sliding windows of its key that are open; returns
    /// its own window if that has closed (see `window`).
    fn fold_sliding(
        &mut self,
        sw: SlidingWindows,
        key: &Bytes,
        r: &Record,
        v: Value,
        results: &mut Vec<Record>,
    ) -> Option<Window> {
        let t = r.timestamp;
        // No window starts below 0: as for time windows, a record before
        // the epoch has none.
        if t < 0 {
            return None;
        }
        let own = sw.own_window(t);
        let missed = sw.is_closed(&own, self.stream_time).then_some(own);
        if sw.is_too_late(t, self.stream_time) {
            return missed;
        }
        let sliding = self.sliding.as_mut().expect("sliding windows keep records");
        let changed = sliding.add(&self.agg, key, &r.key, t, v, self.stream_time);
        for (w, folded) in changed {
            match self.emit {
                Emit::Changes => {
                    results.push(self.result(&r.key, &folded.acc, folded.max_ts, w));
                }
                Emit::Final => self.hold_until_final(key, w),
            }
        }
        missed
    }

    /// A session merged away: out of the store (a changelog tombstone),
    /// and, under EMIT CHANGES, a tombstone downstream.
    fn remove_window(
        &mut self,
        key: &Bytes,
        w: Window,
        results: &mut Vec<Record>,
    ) -> Result<Option<Entry>> {
        let Some(e) = self.windows.remove(key, w)? else {
            return Ok(None);
        };
        let start = w.start;
        let session = self.kind.is_session();
        let wk = windowed_key(key, &w, session);
        self.changelog.record(wk.clone(), None);
        let final_at = self.kind.final_at(&w);
        if self.unemitted.remove(&(final_at, key.clone(), start)) {
            self.suppress_changelog.record(wk, None);
        }
        if self.emit == Emit::Changes {
            results.push(Record {
                key: e.key.clone(),
                value: Value::Null,
                timestamp: e.max_ts,
                headers: Vec::new(),
                source: None,
                old: None,
                window: Some(w),
                session,
            });
        }
        Ok(Some(e))
    }

    /// After window `w` of `key` changed: its changelog record (`json`,
    /// the accumulator's), and its `result` now (EMIT CHANGES) or a place
    /// among those waiting to close.
    fn updated(
        &mut self,
        key: &Bytes,
        w: Window,
        json: Vec<u8>,
        result: Option<Record>,
        results: &mut Vec<Record>,
    ) {
        let wk = windowed_key(key, &w, self.kind.is_session());
        self.changelog.record(wk, Some(Bytes::from(json)));
        match self.emit {
            Emit::Changes => results.extend(result),
            Emit::Final => self.hold_until_final(key, w),
        }
    }

    /// EMIT FINAL: window `w` of `key` waits (in the suppress buffer) to
    /// be emitted when it closes.
    fn hold_until_final(&mut self, key: &Bytes, w: Window) {
        let final_at = self.kind.final_at(&w);
        if self.unemitted.insert((final_at, key.clone(), w.start)) {
            self.suppress_changelog.record(
                windowed_key(key, &w, self.kind.is_session()),
                Some(Bytes::from(final_at.to_string())),
            );
        }
    }

    /// The result of window `w` of `key`, its aggregate `acc`.
    fn result(&self, key: &Value, acc: &Value, max_ts: i64, w: Window) -> Record {
        result_record(&self.agg, self.kind.is_session(), key, acc, max_ts, w)
    }

    /// Emits the windows that closed (EMIT FINAL) and removes those past
    /// retention. Also what an idle task's wall-clock advance calls.
    fn advance(&mut self, results: &mut Vec<Record>) -> Result<()> {
        let st = self.stream_time;
        let session = self.kind.is_session();
        while let Some((final_at, key, start)) = self.unemitted.first().cloned() {
            if final_at > st {
                break;
            }
            self.unemitted.pop_first();
            if let Some(sliding) = self.sliding.as_mut() {
                if let Some((w, key_value, folded)) = sliding.close(&self.agg, &key, start) {
                    results.push(self.result(&key_value, &folded.acc, folded.max_ts, w));
                    self.suppress_changelog
                        .record(windowed_key(&key, &w, session), None);
                }
            } else if let Some(w) = self.window_at(&key, start) {
                if let Some(e) = self.windows.get(&key, &w)? {
                    results.push(self.result(&e.key, &e.acc, e.max_ts, w));
                    self.suppress_changelog
                        .record(windowed_key(&key, &w, session), None);
                }
            }
        }
        let horizon = st.saturating_sub(self.retention_ms);
        if let Some(sliding) = self.sliding.as_mut() {
            sliding.expire(horizon);
            return Ok(());
        }
        while let Some((key, Window { start, end })) = self.windows.first_by_end() {
            let expired = match self.kind {
                WindowKind::Time(_) => end <= horizon,
                // A session leaves once final (it could grow until then).
                WindowKind::Session(_) => {
                    self.kind.final_at(&Window { start, end }) <= st && end <= horizon
                }
                WindowKind::Sliding(_) => unreachable!("sliding windows expire their records"),
            };
            // Retention is at least the grace period, so a window past it
            // has been emitted already (EMIT FINAL pops it above first).
            if !expired {
                break;
            }
            let w = Window { start, end };
            self.windows.remove(&key, w)?;
            self.changelog.record(windowed_key(&key, &w, session), None);
        }
        Ok(())
    }

    /// The time or session window of `key` starting at `start`, if held.
    fn window_at(&self, key: &Bytes, start: i64) -> Option<Window> {
        match self.kind {
            WindowKind::Time(t) => Some(Window {
                start,
                end: start.saturating_add(t.size_ms),
            })
            .filter(|w| self.windows.contains(key, w)),
            WindowKind::Session(_) => self.windows.session_at(key, start),
            WindowKind::Sliding(_) => None,
        }
    }

    fn late_output(&self, topic: &str, r: &Record, w: &Window) -> Result<Output> {
        let close_time = self.stream_time.saturating_sub(self.kind.grace());
        let why = Lateness {
            window: *w,
            stream_time: self.stream_time,
            late_by_ms: close_time.saturating_sub(w.end),
        };
        late_output(topic, r, self.key_format, &why)
    }

    /// Moves stream time forward without a record (an idle task's
    /// wall-clock advance): windows that close emit (EMIT FINAL) into
    /// `results`. Fails only when the store's spill file does.
    pub fn try_advance_stream_time(&mut self, t: i64, results: &mut Vec<Record>) -> Result<()> {
        if t > self.stream_time {
            self.stream_time = t;
            self.advance(results)?;
        }
        Ok(())
    }

    /// As [`WindowedAggregate::try_advance_stream_time`], for an operator
    /// whose store is in memory (the default; a task calls the other).
    ///
    /// # Panics
    ///
    /// If the store spills (`with_state`) and its file fails.
    pub fn advance_stream_time(&mut self, t: i64, results: &mut Vec<Record>) {
        self.try_advance_stream_time(t, results)
            .expect("the window store's spill file failed")
    }

    /// Stream time as it was committed (the runtime keeps it with the
    /// input offsets): windows close as they would have without a restart.
    pub fn restore_stream_time(&mut self, t: i64) {
        self.stream_time = self.stream_time.max(t);
    }

    /// Applies one record of the window store's changelog (restoring a
    /// task elsewhere). Not captured again.
    pub fn restore_window(&mut self, windowed: &[u8], value: Option<&[u8]>) -> Result<()> {
        if let Some(sliding) = self.sliding.as_mut() {
            // A sliding window store logs records, not windows.
            return sliding.restore(windowed, value, self.key_format);
        }
        let (key, w) = self.parse_windowed(windowed)?;
        let Some(v) = value else {
            return self.windows.restore(key, w, None);
        };
        let acc: Value = serde_json::from_slice(v)
            .map_err(|e| Error::Decode(format!("changelog of {}: {e}", self.store)))?;
        let decoded_key = self.key_format.decode(Some(&key))?;
        let e = Entry {
            key: decoded_key,
            acc,
            // The largest event time folded in is not logged; the
            // window's last instant stands in for it.
            max_ts: w.end.saturating_sub(1).max(w.start),
        };
        self.windows.restore(key, w, Some(e))
    }

    /// After the last changelog record (see `KvStore::finish_restore`).
    pub fn finish_restore(&mut self) -> Result<()> {
        self.windows.finish_restore()
    }

    /// Applies one record of the suppress buffer's changelog.
    pub fn restore_suppress(&mut self, windowed: &[u8], value: Option<&[u8]>) -> Result<()> {
        let (key, w) = self.parse_windowed(windowed)?;
        let final_at = self.kind.final_at(&w);
        match value {
            Some(_) => self.unemitted.insert((final_at, key, w.start)),
            None => self.unemitted.remove(&(final_at, key, w.start)),
        };
        Ok(())
    }

    /// (encoded key, window) of a windowed key.
    fn parse_windowed(&self, b: &[u8]) -> Result<(Bytes, Window)> {
        let be = |s: &[u8]| i64::from_be_bytes(s.try_into().expect("8 bytes"));
        let bad = || {
            Error::Decode(format!(
                "changelog of {}: a windowed key too short",
                self.store
            ))
        };
        match self.kind {
            WindowKind::Time(t) => {
                let at = b.len().checked_sub(8).ok_or_else(bad)?;
                let start = be(&b[at..]);
                Ok((
                    Bytes::copy_from_slice(&b[..at]),
                    Window {
                        start,
                        end: start.saturating_add(t.size_ms),
                    },
                ))
            }
            WindowKind::Sliding(s) => {
                let at = b.len().checked_sub(8).ok_or_else(bad)?;
                Ok((
                    Bytes::copy_from_slice(&b[..at]),
                    s.starting_at(be(&b[at..])),
                ))
            }
            WindowKind::Session(_) => {
                let at = b.len().checked_sub(16).ok_or_else(bad)?;
                Ok((
                    Bytes::copy_from_slice(&b[..at]),
                    Window {
                        end: be(&b[at..at + 8]),
                        start: be(&b[at + 8..]),
                    },
                ))
            }
        }
    }

    /// The changelog records since the last commit: the window store's
    /// and the suppress buffer's, by store name.
    pub fn take_changelog(&mut self) -> Vec<StoreChanges> {
        let store_changes = match self.sliding.as_mut() {
            Some(sliding) => sliding.take_changelog(),
            None => self.changelog.take(),
        };
        let mut out = vec![(self.store.clone(), store_changes)];
        if self.emit == Emit::Final {
            out.push((
                format!("{}-suppress", self.store),
                self.suppress_changelog.take(),
            ));
        }
        out
    }
}

/// The result of window `w` for its state `e`.
fn window_result(agg: &Aggregate, session: bool, e: &Entry, w: Window) -> Record {
    result_record(agg, session, &e.key, &e.acc, e.max_ts, w)
}

/// The result of window `w` of `key`, its aggregate `acc`.
fn result_record(
    agg: &Aggregate,
    session: bool,
    key: &Value,
    acc: &Value,
    max_ts: i64,
    w: Window,
) -> Record {
    Record {
        key: key.clone(),
        value: agg.result(acc),
        timestamp: max_ts,
        headers: Vec::new(),
        source: None,
        old: None,
        window: Some(w),
        session,
    }
}
