//! Windows on event time, and exactly when each one closes.
//!
//! Stream time is the largest event time a task has seen (the record in
//! hand included). The *close time* is stream time minus the grace period.
//!
//! - **Tumbling** (size) and **hopping** (size, advance) windows are
//!   `[start, start + size)`, aligned to the epoch: starts are multiples of
//!   the advance (the size, for tumbling). A record at `t` belongs to every
//!   window with `start <= t < end` (starts below 0 excluded, as in Kafka
//!   Streams). A window accepts records while `end > close time`; it
//!   *closes* when stream time reaches `end + grace`. With no grace given,
//!   grace is zero: a window closes at its end. (Kafka Streams before 3.0
//!   defaulted to 24 hours; ksqlDB still does. Here the default is zero and
//!   [`TimeWindows::grace`] sets it.)
//! - **Session** windows (inactivity gap): a session is `[start, end]`, the
//!   first and last event time of its records. A record at `t` joins (and
//!   merges) every session with `end >= t - gap` and `start <= t + gap`. A
//!   record is late when the session it would make ends before the close
//!   time. A session is *final* once stream time passes `end + gap + grace`:
//!   no record can extend it after that.
//! - **Sliding** windows (time difference `d`, Kafka Streams'
//!   `SlidingWindows`, KIP-450) are `[start, start + d]`, both ends
//!   included, and placed by the records themselves: each record at `t`
//!   has its window `[t - d, t]`, and `[t + 1, t + 1 + d]` exists when a
//!   record falls in it. A record at `t < d` has `[0, d]` instead of its
//!   own (no window starts below 0, as in Kafka Streams). A window accepts
//!   records while `end >= close time`; it *closes* when stream time
//!   passes `end + grace`, i.e. at `end + grace + 1` (its end is included,
//!   a time window's is not). A record whose own window has closed is
//!   late; it is still folded into the later windows that are open, unless
//!   none that could hold it is (`t + d < close time`: Kafka Streams drops
//!   it). See `sliding` for which windows a record creates.
//!
//! A record for a closed window is late: the windowed operators send it
//! to the late-data topic (never drop it silently), see `windowed`.

use bytes::{BufMut, Bytes, BytesMut};

/// One window of event time: `[start, end)` for time windows, `[start,
/// end]` for sessions and sliding windows (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// Tumbling or hopping windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub size_ms: i64,
    pub advance_ms: i64,
    pub grace_ms: i64,
}

impl TimeWindows {
    /// Fixed-size, non-overlapping windows.
    pub fn tumbling(size_ms: i64) -> TimeWindows {
        TimeWindows {
            size_ms: size_ms.max(1),
            advance_ms: size_ms.max(1),
            grace_ms: 0,
        }
    }

    /// Fixed-size windows starting every `advance_ms` (overlapping when
    /// the advance is smaller than the size).
    pub fn hopping(size_ms: i64, advance_ms: i64) -> TimeWindows {
        TimeWindows {
            size_ms: size_ms.max(1),
            advance_ms: advance_ms.clamp(1, size_ms.max(1)),
            grace_ms: 0,
        }
    }

    /// How long after its end a window still accepts out-of-order records.
    pub fn grace(mut self, grace_ms: i64) -> TimeWindows {
        self.grace_ms = grace_ms.max(0);
        self
    }

    /// Every window `t` belongs to, oldest first.
    pub fn windows_for(&self, t: i64) -> Vec<Window> {
        let last_start = t - t.rem_euclid(self.advance_ms);
        let mut out = Vec::new();
        let mut start = last_start;
        while start > t - self.size_ms && start >= 0 {
            out.push(Window {
                start,
                end: start.saturating_add(self.size_ms),
            });
            start -= self.advance_ms;
        }
        out.reverse();
        out
    }

    /// Whether `w` no longer accepts records at this stream time.
    pub fn is_closed(&self, w: &Window, stream_time: i64) -> bool {
        w.end <= stream_time.saturating_sub(self.grace_ms)
    }
}

/// Session windows: a session extends while records keep coming within
/// the inactivity gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub gap_ms: i64,
    pub grace_ms: i64,
}

impl SessionWindows {
    pub fn with_gap(gap_ms: i64) -> SessionWindows {
        SessionWindows {
            gap_ms: gap_ms.max(0),
            grace_ms: 0,
        }
    }

    pub fn grace(mut self, grace_ms: i64) -> SessionWindows {
        self.grace_ms = grace_ms.max(0);
        self
    }

    /// Whether a record at `t` may join (and so merge with) session `s`.
    pub fn reaches(&self, s: &Window, t: i64) -> bool {
        s.end >= t.saturating_sub(self.gap_ms) && s.start <= t.saturating_add(self.gap_ms)
    }

    /// Whether a session ending at `end` no longer accepts records.
    pub fn is_closed(&self, end: i64, stream_time: i64) -> bool {
        end < stream_time.saturating_sub(self.grace_ms)
    }

    /// Whether no record can change session `s` any more (EMIT FINAL).
    pub fn is_final(&self, s: &Window, stream_time: i64) -> bool {
        s.end
            .saturating_add(self.gap_ms)
            .saturating_add(self.grace_ms)
            < stream_time
    }
}

/// Sliding windows: every window spans `time_difference_ms`, both ends
/// included, and starts or ends at a record (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub time_difference_ms: i64,
    pub grace_ms: i64,
}

impl SlidingWindows {
    /// Windows of the records at most `time_difference_ms` apart (Kafka
    /// Streams' `ofTimeDifferenceWithNoGrace`; add [`SlidingWindows::grace`]).
    pub fn of_time_difference(time_difference_ms: i64) -> SlidingWindows {
        SlidingWindows {
            time_difference_ms: time_difference_ms.max(0),
            grace_ms: 0,
        }
    }

    /// How long after its end a window still accepts out-of-order records.
    pub fn grace(mut self, grace_ms: i64) -> SlidingWindows {
        self.grace_ms = grace_ms.max(0);
        self
    }

    /// The window starting at `start`.
    pub fn starting_at(&self, start: i64) -> Window {
        Window {
            start,
            end: start.saturating_add(self.time_difference_ms),
        }
    }

    /// The window a record at `t` (`t >= 0`) makes: the one ending at it,
    /// or `[0, d]` for a record earlier than the time difference.
    pub fn own_window(&self, t: i64) -> Window {
        let end = t.max(self.time_difference_ms);
        Window {
            start: end - self.time_difference_ms,
            end,
        }
    }

    /// The window just after a record at `t` (it exists while a record
    /// falls in it).
    pub fn right_window(&self, t: i64) -> Window {
        self.starting_at(t.saturating_add(1))
    }

    /// Whether `w` no longer accepts records at this stream time.
    pub fn is_closed(&self, w: &Window, stream_time: i64) -> bool {
        w.end < stream_time.saturating_sub(self.grace_ms)
    }

    /// Whether no open window can hold a record at `t`: the latest window
    /// that contains it, `[t, t + d]`, is closed (Kafka Streams drops such
    /// a record).
    pub fn is_too_late(&self, t: i64, stream_time: i64) -> bool {
        self.is_closed(&self.starting_at(t), stream_time)
    }
}

/// A windowed key as Kafka Streams writes it, so its tools read it: the
/// key's bytes, then the window start (8 bytes, big-endian) for time and
/// sliding windows (TimeWindowedSerializer), or the end then the start for
/// sessions (SessionWindowedSerializer).
pub fn windowed_key(key: &[u8], w: &Window, session: bool) -> Bytes {
    let mut b = BytesMut::with_capacity(key.len() + 16);
    b.put_slice(key);
    if session {
        b.put_i64(w.end);
    }
    b.put_i64(w.start);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    #[test]
    fn tumbling_and_hopping_windows_of_a_time() {
        let t = TimeWindows::tumbling(10);
        assert_eq!(t.windows_for(0), vec![w(0, 10)]);
        assert_eq!(t.windows_for(9), vec![w(0, 10)]);
        assert_eq!(t.windows_for(10), vec![w(10, 20)]);
        let h = TimeWindows::hopping(10, 5);
        assert_eq!(h.windows_for(12), vec![w(5, 15), w(10, 20)]);
        // No window starts below 0.
        assert_eq!(h.windows_for(3), vec![w(0, 10)]);
    }

    #[test]
    fn a_window_closes_at_its_end_plus_grace() {
        let t = TimeWindows::tumbling(10).grace(5);
        assert!(!t.is_closed(&w(0, 10), 14));
        assert!(t.is_closed(&w(0, 10), 15));
        let no_grace = TimeWindows::tumbling(10);
        assert!(!no_grace.is_closed(&w(0, 10), 9));
        assert!(no_grace.is_closed(&w(0, 10), 10));
    }

    #[test]
    fn sessions_reach_within_the_gap_and_close_after_it() {
        let s = SessionWindows::with_gap(5).grace(2);
        assert!(s.reaches(&w(10, 20), 25));
        assert!(!s.reaches(&w(10, 20), 26));
        assert!(s.reaches(&w(10, 20), 5));
        assert!(!s.is_final(&w(10, 20), 27));
        assert!(s.is_final(&w(10, 20), 28));
    }

    #[test]
    fn sliding_windows_end_at_records_and_close_after_end_plus_grace() {
        let s = SlidingWindows::of_time_difference(10).grace(5);
        assert_eq!(s.own_window(100), w(90, 100));
        assert_eq!(s.right_window(100), w(101, 111));
        // Before the time difference: the window [0, d].
        assert_eq!(s.own_window(3), w(0, 10));
        // Both ends included: open while end >= stream time - grace.
        assert!(!s.is_closed(&w(90, 100), 105));
        assert!(s.is_closed(&w(90, 100), 106));
        // A record at 95 fits [95, 105], open until stream time 110.
        assert!(!s.is_too_late(95, 110));
        assert!(s.is_too_late(95, 111));
    }

    #[test]
    fn windowed_keys_match_kafka_streams() {
        let k = windowed_key(b"k", &w(1, 2), false);
        assert_eq!(k.as_ref(), &[b'k', 0, 0, 0, 0, 0, 0, 0, 1]);
        let k = windowed_key(b"k", &w(1, 2), true);
        assert_eq!(
            k.as_ref(),
            &[b'k', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }
}
