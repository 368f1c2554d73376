//! Stream-stream joins within a time window (KStream.join with
//! JoinWindows): a record joins every record of the other side with the
//! same key whose event time is at most `within_ms` away.
//!
//! - Both sides share one stream time (the task's largest event time).
//! - Each side keeps its records while they can still match: a record at
//!   `t` can meet a record up to `t + within`, arriving up to `grace`
//!   later; once stream time passes `t + within + grace` it leaves.
//! - Left and outer joins emit a record that never matched (joined with
//!   Null) when it leaves, that is when its join window closes. Never
//!   before, so a match arriving within the window is never preceded by a
//!   spurious null result (Kafka Streams' behaviour since 3.1).
//! - A record that arrives after its window closed is late: it joins
//!   nothing and goes to the late-data topic with the `fjord.late.*`
//!   headers (see `windowed`), or is counted when there is none.
//!
//! The result's key is the join key, its timestamp the later of the two.
//!
//! The buffers are logged to `<application-id>-<name>-join-changelog`
//! (one record per buffered record: key = side, arrival, event time and
//! the key's bytes; value = the record and whether it matched; a tombstone
//! when it leaves), so a task restored elsewhere joins as it would have.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::Format;
use crate::late::{late_output, Lateness};
use crate::record::{Output, Record};
use crate::store::{ChangeCapture, StoreChanges};
use crate::value::Value;

/// Which join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    /// Every left record, with Null when nothing matched.
    Left,
    /// Every record of either side, with Null when nothing matched.
    Outer,
}

/// Which side a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Left => 0,
            Side::Right => 1,
        }
    }
}

/// (left value, right value) -> joined value; Null stands for no match.
pub type ValueJoiner = std::sync::Arc<dyn Fn(&Value, &Value) -> Result<Value> + Send + Sync>;

/// A buffered record: (encoded key, event time, arrival) -> (record, matched).
type Buffer = BTreeMap<(Bytes, i64, u64), (Record, bool)>;

pub struct StreamJoin {
    /// The store name of the buffers (`<join name>-join`).
    store: String,
    changelog: ChangeCapture,
    kind: JoinKind,
    within_ms: i64,
    grace_ms: i64,
    joiner: ValueJoiner,
    key_format: Format,
    late_topic: Option<String>,
    stream_time: i64,
    buffers: [Buffer; 2],
    /// Per side: (event time, key, arrival), oldest first, for expiry.
    by_time: [BTreeSet<(i64, Bytes, u64)>; 2],
    arrivals: u64,
    late: u64,
}

impl StreamJoin {
    pub fn new(
        name: &str,
        kind: JoinKind,
        within_ms: i64,
        grace_ms: i64,
        joiner: ValueJoiner,
        late_topic: Option<String>,
    ) -> StreamJoin {
        StreamJoin {
            store: format!("{name}-join"),
            changelog: ChangeCapture::default(),
            kind,
            within_ms: within_ms.max(0),
            grace_ms: grace_ms.max(0),
            joiner,
            key_format: Format::String,
            late_topic,
            stream_time: i64::MIN,
            buffers: [Buffer::new(), Buffer::new()],
            by_time: [BTreeSet::new(), BTreeSet::new()],
            arrivals: 0,
            late: 0,
        }
    }

    pub fn late(&self) -> u64 {
        self.late
    }

    /// Records held on both sides.
    pub fn buffered(&self) -> usize {
        self.buffers[0].len() + self.buffers[1].len()
    }

    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }

    /// Stream time as it was committed (after a restore): records arriving
    /// are late exactly as they would have been without a restart.
    pub fn restore_stream_time(&mut self, t: i64) {
        self.stream_time = self.stream_time.max(t);
    }

    /// One record of `side`: joined results go to `results`, a late record
    /// to `outputs`.
    pub fn process(
        &mut self,
        side: Side,
        r: Record,
        results: &mut Vec<Record>,
        outputs: &mut Vec<Output>,
    ) -> Result<()> {
        self.stream_time = self.stream_time.max(r.timestamp);
        let key = self.key_format.encode_key(&r.key, "a join")?;
        let t = r.timestamp;
        if self.closed_at(t) <= self.stream_time {
            self.late += 1;
            if let Some(topic) = &self.late_topic {
                outputs.push(self.late_output(topic, &r)?);
            }
            return Ok(());
        }
        let (lo, hi) = (
            t.saturating_sub(self.within_ms),
            t.saturating_add(self.within_ms),
        );
        let other_side = match side {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        };
        let other = &mut self.buffers[other_side.index()];
        let mut newly_matched = Vec::new();
        let range = (key.clone(), lo, 0)..=(key.clone(), hi, u64::MAX);
        for (slot, (o, o_matched)) in other.range_mut(range) {
            if !*o_matched {
                *o_matched = true;
                newly_matched.push(slot.clone());
            }
            let (l, rv) = match side {
                Side::Left => (&r.value, &o.value),
                Side::Right => (&o.value, &r.value),
            };
            results.push(joined(&r, (self.joiner)(l, rv)?, t.max(o.timestamp)));
        }
        // Matched if the other side holds any record in its window.
        let matched = self.buffers[other_side.index()]
            .range((key.clone(), lo, 0)..=(key.clone(), hi, u64::MAX))
            .next()
            .is_some();
        for slot in newly_matched {
            self.log(other_side, &slot);
        }
        self.arrivals += 1;
        let slot = (key.clone(), t, self.arrivals);
        self.by_time[side.index()].insert((t, key, self.arrivals));
        self.buffers[side.index()].insert(slot.clone(), (r, matched));
        self.log(side, &slot);
        self.expire(results)
    }

    /// Stream time at which a record at `t` can match nothing more.
    fn closed_at(&self, t: i64) -> i64 {
        t.saturating_add(self.within_ms)
            .saturating_add(self.grace_ms)
            .saturating_add(1)
    }

    /// Drops what can match nothing more; left and outer joins emit it
    /// with Null if it never matched.
    fn expire(&mut self, results: &mut Vec<Record>) -> Result<()> {
        for side in [Side::Left, Side::Right] {
            let emits = match (self.kind, side) {
                (JoinKind::Inner, _) | (JoinKind::Left, Side::Right) => false,
                (JoinKind::Left, Side::Left) | (JoinKind::Outer, _) => true,
            };
            let mut expired = Vec::new();
            while let Some((t, key, n)) = self.by_time[side.index()].first().cloned() {
                if self.closed_at(t) > self.stream_time {
                    break;
                }
                self.by_time[side.index()].pop_first();
                expired.push((key, t, n));
            }
            for k in expired {
                let Some((r, matched)) = self.buffers[side.index()].remove(&k) else {
                    continue;
                };
                self.changelog.record(changelog_key(side, &k), None);
                if emits && !matched {
                    let value = match side {
                        Side::Left => (self.joiner)(&r.value, &Value::Null)?,
                        Side::Right => (self.joiner)(&Value::Null, &r.value)?,
                    };
                    let ts = r.timestamp;
                    results.push(joined(&r, value, ts));
                }
            }
        }
        Ok(())
    }

    /// Logs the buffered record at `slot` of `side` as it is now.
    fn log(&mut self, side: Side, slot: &(Bytes, i64, u64)) {
        let Some((r, matched)) = self.buffers[side.index()].get(slot) else {
            return;
        };
        let value = serde_json::json!({
            "key": r.key.to_json(),
            "value": r.value.to_json(),
            "matched": matched,
        });
        self.changelog.record(
            changelog_key(side, slot),
            Some(Bytes::from(value.to_string())),
        );
    }

    pub fn store_name(&self) -> &str {
        &self.store
    }

    pub fn take_changelog(&mut self) -> StoreChanges {
        (self.store.clone(), self.changelog.take())
    }

    /// Applies one changelog record (restoring a task elsewhere).
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let bad = || Error::Decode(format!("changelog of {}: a bad key", self.store));
        if key.len() < 17 {
            return Err(bad());
        }
        let side = match key[0] {
            0 => Side::Left,
            1 => Side::Right,
            _ => return Err(bad()),
        };
        let n = u64::from_be_bytes(key[1..9].try_into().map_err(|_| bad())?);
        let t = i64::from_be_bytes(key[9..17].try_into().map_err(|_| bad())?);
        let k = Bytes::copy_from_slice(&key[17..]);
        let slot = (k.clone(), t, n);
        self.arrivals = self.arrivals.max(n);
        let Some(v) = value else {
            self.buffers[side.index()].remove(&slot);
            self.by_time[side.index()].remove(&(t, k, n));
            return Ok(());
        };
        let doc: serde_json::Value = serde_json::from_slice(v)
            .map_err(|e| Error::Decode(format!("changelog of {}: {e}", self.store)))?;
        let record = Record::new(
            Value::from_json(doc["key"].clone()),
            Value::from_json(doc["value"].clone()),
            t,
        );
        let matched = doc["matched"].as_bool().unwrap_or(false);
        self.by_time[side.index()].insert((t, k, n));
        self.buffers[side.index()].insert(slot, (record, matched));
        Ok(())
    }

    /// Moves stream time on without a record (an idle task).
    pub fn advance_stream_time(&mut self, t: i64, results: &mut Vec<Record>) -> Result<()> {
        if t > self.stream_time {
            self.stream_time = t;
            self.expire(results)?;
        }
        Ok(())
    }

    fn late_output(&self, topic: &str, r: &Record) -> Result<Output> {
        let closed = self.closed_at(r.timestamp) - 1;
        let why = Lateness {
            window: crate::window::Window {
                start: r.timestamp.saturating_sub(self.within_ms),
                end: r.timestamp.saturating_add(self.within_ms),
            },
            stream_time: self.stream_time,
            late_by_ms: self.stream_time.saturating_sub(closed),
        };
        late_output(topic, r, self.key_format, &why)
    }
}

/// The changelog key of a buffered record: side, arrival, event time (all
/// big-endian), then the key's bytes.
fn changelog_key(side: Side, (key, t, n): &(Bytes, i64, u64)) -> Bytes {
    let mut b = Vec::with_capacity(17 + key.len());
    b.push(side.index() as u8);
    b.extend_from_slice(&n.to_be_bytes());
    b.extend_from_slice(&t.to_be_bytes());
    b.extend_from_slice(key);
    Bytes::from(b)
}

fn joined(r: &Record, value: Value, timestamp: i64) -> Record {
    Record::new(r.key.clone(), value, timestamp)
}
