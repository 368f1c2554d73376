//! Window semantics, as tables: for each window type, a sequence of
//! timestamped records (in order, out of order within grace, late beyond
//! it) and the exact output of each emit mode, with the late records and
//! their headers.

use std::sync::Arc;

use bytes::Bytes;
use fjord_streams::store::StoreChanges;
use fjord_streams::*;

/// (key, window start, window end, value) of a result; a null value is a
/// tombstone (a session merged away).
type Row = (String, i64, i64, Value);

struct Run {
    results: Vec<Row>,
    late: Vec<Output>,
}

fn count() -> (Aggregate, windowed::Extract) {
    (Aggregate::Count, Arc::new(|_: &Record| Value::Null))
}

fn sum() -> (Aggregate, windowed::Extract) {
    (Aggregate::Sum, Arc::new(|r: &Record| r.value.clone()))
}

fn run(
    kind: WindowKind,
    emit: Emit,
    (agg, extract): (Aggregate, windowed::Extract),
    input: &[(&str, i64, i64)],
) -> Run {
    let mut op =
        WindowedAggregate::new("s", kind, agg, extract, emit, Format::String).late_to("late");
    let r = feed(&mut op, input);
    assert_eq!(op.late(), r.late.len() as u64);
    r
}

/// Runs `input` (key, value, timestamp) through `op`.
fn feed(op: &mut WindowedAggregate, input: &[(&str, i64, i64)]) -> Run {
    let (mut results, mut late) = (Vec::new(), Vec::new());
    for &(key, value, ts) in input {
        let mut out = Vec::new();
        op.process(&Record::new(key, value, ts), &mut out, &mut late)
            .unwrap();
        results.extend(out.into_iter().map(|r| {
            let w = r.window.expect("windowed");
            (r.key.to_string(), w.start, w.end, r.value)
        }));
    }
    Run { results, late }
}

fn row(key: &str, start: i64, end: i64, v: impl Into<Value>) -> Row {
    (key.to_string(), start, end, v.into())
}

fn tombstone(key: &str, start: i64, end: i64) -> Row {
    (key.to_string(), start, end, Value::Null)
}

/// (window start, window end, stream time, late by) of a late record.
fn late_headers(o: &Output) -> (i64, i64, i64, i64) {
    let h = |n: &str| {
        o.header(n)
            .unwrap_or_else(|| panic!("header {n}"))
            .parse::<i64>()
            .unwrap()
    };
    (
        h("fjord.late.window.start"),
        h("fjord.late.window.end"),
        h("fjord.late.stream.time"),
        h("fjord.late.by.ms"),
    )
}

// Tumbling 10 ms, grace 5 ms, COUNT(*). The value column is unused.
const TUMBLING: &[(&str, i64, i64)] = &[
    ("a", 0, 1),
    ("a", 0, 4),
    ("a", 0, 12), // stream time 12: [0,10) still open until 15
    ("a", 0, 8),  // out of order, within grace: counted
    ("a", 0, 16), // stream time 16: [0,10) closed
    ("a", 0, 9),  // late by 1 ms: to the late topic
    ("a", 0, 25), // [10,20) closes at 25
    ("a", 0, 21),
];

#[test]
fn tumbling_emit_changes() {
    let r = run(
        WindowKind::Time(TimeWindows::tumbling(10).grace(5)),
        Emit::Changes,
        count(),
        TUMBLING,
    );
    assert_eq!(
        r.results,
        vec![
            row("a", 0, 10, 1),
            row("a", 0, 10, 2),
            row("a", 10, 20, 1),
            row("a", 0, 10, 3),
            row("a", 10, 20, 2),
            row("a", 20, 30, 1),
            row("a", 20, 30, 2),
        ]
    );
    assert_eq!(r.late.len(), 1);
    assert_eq!(r.late[0].timestamp, 9);
    assert_eq!(late_headers(&r.late[0]), (0, 10, 16, 1));
}

#[test]
fn tumbling_emit_final() {
    let r = run(
        WindowKind::Time(TimeWindows::tumbling(10).grace(5)),
        Emit::Final,
        count(),
        TUMBLING,
    );
    // One result per window, when it closes; [20,30) is still open.
    assert_eq!(r.results, vec![row("a", 0, 10, 3), row("a", 10, 20, 2)]);
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(0, 10, 16, 1)]
    );
}

#[test]
fn without_grace_a_window_closes_at_its_end() {
    let input = [("a", 0, 5), ("a", 0, 10), ("a", 0, 9)];
    let r = run(
        WindowKind::Time(TimeWindows::tumbling(10)),
        Emit::Final,
        count(),
        &input,
    );
    assert_eq!(r.results, vec![row("a", 0, 10, 1)]);
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(0, 10, 10, 0)]
    );
}

// Hopping 10 ms every 5 ms, no grace, SUM(value).
const HOPPING: &[(&str, i64, i64)] = &[
    ("k", 1, 2),
    ("k", 2, 7),
    ("k", 4, 11), // stream time 11: [0,10) closed
    ("k", 8, 6),  // misses [0,10), still counts in [5,15)
    ("k", 16, 20),
];

#[test]
fn hopping_emit_changes() {
    let r = run(
        WindowKind::Time(TimeWindows::hopping(10, 5)),
        Emit::Changes,
        sum(),
        HOPPING,
    );
    assert_eq!(
        r.results,
        vec![
            row("k", 0, 10, 1),
            row("k", 0, 10, 3),
            row("k", 5, 15, 2),
            row("k", 5, 15, 6),
            row("k", 10, 20, 4),
            row("k", 5, 15, 14),
            row("k", 15, 25, 16),
            row("k", 20, 30, 16),
        ]
    );
    // Late once, for the one window it missed.
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(0, 10, 11, 1)]
    );
}

#[test]
fn hopping_emit_final() {
    let r = run(
        WindowKind::Time(TimeWindows::hopping(10, 5)),
        Emit::Final,
        sum(),
        HOPPING,
    );
    assert_eq!(
        r.results,
        vec![row("k", 0, 10, 3), row("k", 5, 15, 14), row("k", 10, 20, 4)]
    );
    assert_eq!(r.late.len(), 1);
}

// Sessions with a 5 ms gap, no grace, COUNT(*).
const SESSIONS: &[(&str, i64, i64)] = &[
    ("u", 0, 1),
    ("u", 0, 4),  // joins [1,1]: [1,4]
    ("u", 0, 20), // a new session; [1,4] is final (4 + 5 < 20)
    ("u", 0, 12), // its own session [12,12] would end before stream time: late
    ("u", 0, 16), // joins [20,20]: [16,20]
    ("u", 0, 30), // [16,20] final
];

#[test]
fn session_emit_changes() {
    let r = run(
        WindowKind::Session(SessionWindows::with_gap(5)),
        Emit::Changes,
        count(),
        SESSIONS,
    );
    assert_eq!(
        r.results,
        vec![
            row("u", 1, 1, 1),
            tombstone("u", 1, 1),
            row("u", 1, 4, 2),
            row("u", 20, 20, 1),
            tombstone("u", 20, 20),
            row("u", 16, 20, 2),
            row("u", 30, 30, 1),
        ]
    );
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(12, 12, 20, 8)]
    );
}

#[test]
fn session_emit_final() {
    let r = run(
        WindowKind::Session(SessionWindows::with_gap(5)),
        Emit::Final,
        count(),
        SESSIONS,
    );
    assert_eq!(r.results, vec![row("u", 1, 4, 2), row("u", 16, 20, 2)]);
    assert_eq!(r.late.len(), 1);
}

#[test]
fn sessions_within_grace_merge_even_when_out_of_order() {
    // Grace 10: the record at 12 arrives at stream time 20 and is on time.
    let r = run(
        WindowKind::Session(SessionWindows::with_gap(5).grace(10)),
        Emit::Final,
        count(),
        &[
            ("u", 0, 1),
            ("u", 0, 20),
            ("u", 0, 12),
            ("u", 0, 16),
            ("u", 0, 60),
        ],
    );
    assert_eq!(r.results, vec![row("u", 1, 1, 1), row("u", 12, 20, 3)]);
    assert!(r.late.is_empty());
}

#[test]
fn keys_are_windowed_apart() {
    let input = [("a", 0, 1), ("b", 0, 2), ("a", 0, 3), ("b", 0, 12)];
    let r = run(
        WindowKind::Time(TimeWindows::tumbling(10)),
        Emit::Final,
        count(),
        &input,
    );
    assert_eq!(r.results, vec![row("a", 0, 10, 2), row("b", 0, 10, 1)]);
}

#[test]
fn a_late_record_goes_out_as_it_was_read_with_where_from() {
    let mut op = WindowedAggregate::new(
        "s",
        WindowKind::Time(TimeWindows::tumbling(10)),
        Aggregate::Count,
        Arc::new(|_: &Record| Value::Null),
        Emit::Changes,
        Format::String,
    )
    .late_to("bids-late");
    let (mut results, mut late) = (Vec::new(), Vec::new());
    op.process(
        &Record::new("item", Value::Null, 30),
        &mut results,
        &mut late,
    )
    .unwrap();
    let source = Source {
        topic: "bids".into(),
        partition: 2,
        offset: 41,
        key: Some(Bytes::from_static(b"item")),
        value: Some(Bytes::from_static(br#"{"price": 7}"#)),
        headers: vec![("trace".into(), Some(Bytes::from_static(b"x")))],
    };
    let mut r = Record::new("item", Value::Null, 5);
    r.source = Some(Arc::new(source));
    op.process(&r, &mut results, &mut late).unwrap();
    let o = &late[0];
    assert_eq!(o.topic, "bids-late");
    assert_eq!(o.key.as_deref(), Some(&b"item"[..]));
    assert_eq!(o.value.as_deref(), Some(&br#"{"price": 7}"#[..]));
    assert_eq!(o.timestamp, 5);
    assert_eq!(o.header("trace"), Some("x"));
    assert_eq!(o.header("fjord.late.source.topic"), Some("bids"));
    assert_eq!(o.header("fjord.late.source.partition"), Some("2"));
    assert_eq!(o.header("fjord.late.source.offset"), Some("41"));
    assert_eq!(late_headers(o), (0, 10, 30, 20));
}

#[test]
fn the_changelog_holds_the_last_state_per_window_and_tombstones_expired_ones() {
    let mut op = WindowedAggregate::new(
        "counts",
        WindowKind::Time(TimeWindows::tumbling(10)),
        Aggregate::Count,
        Arc::new(|_: &Record| Value::Null),
        Emit::Final,
        Format::String,
    );
    let (mut results, mut late) = (Vec::new(), Vec::new());
    for ts in [1, 2, 3] {
        op.process(&Record::new("a", Value::Null, ts), &mut results, &mut late)
            .unwrap();
    }
    let logs = op.take_changelog();
    let window_key =
        fjord_streams::window::windowed_key(b"a", &Window { start: 0, end: 10 }, false);
    assert_eq!(logs[0].0, "counts");
    assert_eq!(
        logs[0].1,
        vec![(window_key.clone(), Some(Bytes::from("3")))],
        "one record for three updates"
    );
    assert_eq!(logs[1].0, "counts-suppress");
    assert_eq!(
        logs[1].1,
        vec![(window_key.clone(), Some(Bytes::from("10")))]
    );
    // The window closes: emitted, out of the suppress buffer and, with no
    // retention beyond grace, out of the store.
    op.process(&Record::new("b", Value::Null, 10), &mut results, &mut late)
        .unwrap();
    assert_eq!(results.len(), 1);
    let logs = op.take_changelog();
    assert!(logs[0].1.contains(&(window_key.clone(), None)));
    assert!(logs[1].1.contains(&(window_key, None)));
    assert_eq!(op.window_count(), 1, "only b's window is left");
}

/// Two runs of the same time range, one after the other (two writers'
/// chunks in one repartition partition): each window is emitted once.
#[test]
fn emit_final_writes_a_window_once_when_its_records_come_again_late() {
    let tumbling = WindowKind::Time(TimeWindows::tumbling(1_000).grace(500));
    let mut input = Vec::new();
    for _ in 0..2 {
        for t in (0..10_000).step_by(100) {
            input.push(("k", 1, t));
        }
    }
    let r = run(tumbling, Emit::Final, count(), &input);
    let mut starts: Vec<i64> = r.results.iter().map(|row| row.1).collect();
    let all = starts.len();
    starts.dedup();
    assert_eq!(starts.len(), all, "a window emitted twice: {:?}", r.results);
}

/// Chunks of two writers, each up to 100 s of event time behind the
/// other, with a grace of 60 s: the windows that close are emitted once.
#[test]
fn emit_final_with_a_long_grace_emits_what_closes_once() {
    let tumbling = WindowKind::Time(TimeWindows::tumbling(10_000).grace(60_000));
    let mut input = Vec::new();
    for half in 0..2 {
        for _writer in 0..2 {
            for t in (half * 100_000..(half + 1) * 100_000).step_by(10) {
                input.push(("all", 1, t));
            }
        }
    }
    let r = run(tumbling, Emit::Final, count(), &input);
    // Stream time ends at 199.99 s: windows ending by 139.99 s close. The
    // second writer's records for windows that closed while the first
    // writer was ahead are late: those windows count one writer.
    let got: Vec<(i64, Value)> = r.results.into_iter().map(|row| (row.1, row.3)).collect();
    let want: Vec<(i64, Value)> = (0..13)
        .map(|w| {
            let both = (3..10).contains(&w);
            (w * 10_000, Value::Int(if both { 2_000 } else { 1_000 }))
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(r.late.len(), 6 * 1_000);
}

// Sliding windows, time difference 10 ms, grace 5 ms, SUM(value): each
// value a power of two, so a sum names the records in its window. A
// window is [start, start + 10], both ends included, and closes once
// stream time passes end + 5.
const SLIDING: &[(&str, i64, i64)] = &[
    ("a", 1, 100),
    ("a", 2, 105),
    ("a", 4, 112),  // stream time 112: [90,100] and [95,105] closed
    ("a", 8, 108),  // out of order, within grace: its own and 4 more windows
    ("a", 16, 125), // stream time 125: windows ending before 120 closed
    ("a", 32, 104), // 104 + 10 < 120, no window that could hold it is open: late
    ("a", 64, 118), // its own [108,118] closed: late, but counted in 3 open windows
    ("a", 128, 140),
];

fn sliding_10_grace_5() -> WindowKind {
    WindowKind::Sliding(SlidingWindows::of_time_difference(10).grace(5))
}

#[test]
fn sliding_emit_changes() {
    let r = run(sliding_10_grace_5(), Emit::Changes, sum(), SLIDING);
    assert_eq!(
        r.results,
        vec![
            // 100: its own window.
            row("a", 90, 100, 1),
            // 105: its own window, and 100's right window, now not empty.
            row("a", 95, 105, 1 + 2),
            row("a", 101, 111, 2),
            // 112: its own window, and 105's right window.
            row("a", 102, 112, 2 + 4),
            row("a", 106, 116, 4),
            // 108: its own window (new), the three open windows it falls
            // in, and its right window (new, holding 112 only).
            row("a", 98, 108, 1 + 2 + 8),
            row("a", 101, 111, 2 + 8),
            row("a", 102, 112, 2 + 4 + 8),
            row("a", 106, 116, 4 + 8),
            row("a", 109, 119, 4),
            // 125: alone within 10 ms.
            row("a", 115, 125, 16),
            // 104: late, nothing.
            // 118: 112's right window (new), 125's own window, and its
            // own right window (new, holding 125). Its own [108,118] and
            // [109,119] are closed and stay as they were.
            row("a", 113, 123, 64),
            row("a", 115, 125, 16 + 64),
            row("a", 119, 129, 16),
            row("a", 130, 140, 128),
        ]
    );
    // Late: 104 for its own window [94,104] (closed since stream time
    // 110, i.e. 120 - 104 = 16 ms before the close time), and 118 for
    // [108,118] (counted in the open windows above).
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(94, 104, 125, 16), (108, 118, 125, 2)]
    );
    assert_eq!(
        r.late.iter().map(|o| o.timestamp).collect::<Vec<_>>(),
        vec![104, 118]
    );
}

#[test]
fn sliding_emit_final() {
    let r = run(sliding_10_grace_5(), Emit::Final, sum(), SLIDING);
    // Each window once, as it closes (stream time > end + 5), in the order
    // they close; [130,140] is still open at stream time 140.
    assert_eq!(
        r.results,
        vec![
            // At 112.
            row("a", 90, 100, 1),
            row("a", 95, 105, 1 + 2),
            // At 125.
            row("a", 98, 108, 1 + 2 + 8),
            row("a", 101, 111, 2 + 8),
            row("a", 102, 112, 2 + 4 + 8),
            row("a", 106, 116, 4 + 8),
            row("a", 109, 119, 4),
            // At 140.
            row("a", 113, 123, 64),
            row("a", 115, 125, 16 + 64),
            row("a", 119, 129, 16),
        ]
    );
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(94, 104, 125, 16), (108, 118, 125, 2)]
    );
}

#[test]
fn sliding_windows_at_the_edge_of_closing() {
    // Time difference 10, no grace, COUNT(*).
    let input = [
        ("k", 0, 100),
        ("k", 0, 120), // close time 120: [90,100] closed, [110,120] open
        ("k", 0, 110), // own [100,110] closed; [110,120] and [111,121] open
        ("k", 0, 109), // [109,119], the last window that could hold it, closed
        ("k", 0, 121), // its own window is 110's right window: one window
    ];
    let sliding = WindowKind::Sliding(SlidingWindows::of_time_difference(10));
    let r = run(sliding, Emit::Changes, count(), &input);
    assert_eq!(
        r.results,
        vec![
            row("k", 90, 100, 1),
            row("k", 110, 120, 1),
            row("k", 110, 120, 2),
            row("k", 111, 121, 1),
            row("k", 111, 121, 2),
            row("k", 121, 131, 1),
        ]
    );
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(100, 110, 120, 10), (99, 109, 120, 11)]
    );
    let r = run(sliding, Emit::Final, count(), &input);
    // [90,100] closes at stream time 101 (seen at 120), [110,120] at 121.
    assert_eq!(r.results, vec![row("k", 90, 100, 1), row("k", 110, 120, 2)]);
}

/// A record is kept while its right window is open: a late record may
/// still fall in that window (here 100's [101,111], at close time 111).
#[test]
fn a_late_record_reaches_the_right_window_of_an_earlier_record() {
    let input = [
        ("a", 0, 100),
        ("a", 0, 110),
        ("b", 0, 111), // close time 111: a's [100,110] closed, [101,111] open
        ("a", 0, 105), // own [95,105] closed: late, but in [101,111]
    ];
    let sliding = WindowKind::Sliding(SlidingWindows::of_time_difference(10));
    let r = run(sliding, Emit::Changes, count(), &input);
    assert_eq!(
        r.results,
        vec![
            row("a", 90, 100, 1),
            row("a", 100, 110, 2),
            row("a", 101, 111, 1),
            row("b", 101, 111, 1),
            row("a", 101, 111, 2),
            row("a", 106, 116, 1),
        ]
    );
    assert_eq!(
        r.late.iter().map(late_headers).collect::<Vec<_>>(),
        vec![(95, 105, 111, 6)]
    );
}

#[test]
fn sliding_records_before_the_time_difference_share_the_window_from_0() {
    // As Kafka Streams: no window starts below 0, so records at 0..10
    // have [0,10] as their own window.
    let sliding = WindowKind::Sliding(SlidingWindows::of_time_difference(10));
    let input = [("k", 0, 2), ("k", 0, 8), ("k", 0, 5)];
    let r = run(sliding, Emit::Changes, count(), &input);
    assert_eq!(
        r.results,
        vec![
            row("k", 0, 10, 1),
            row("k", 0, 10, 2),
            row("k", 3, 13, 1),
            row("k", 0, 10, 3),
            row("k", 3, 13, 2),
            row("k", 6, 16, 1),
        ]
    );
    assert!(r.late.is_empty());
}

/// COLLECT_LIST over sliding windows of 10 ms with 5 ms of grace (103
/// comes within it): a window lists its values in the order the records
/// came, also when it is made from the records.
const SLIDING_OUT_OF_ORDER: &[(&str, i64, i64)] = &[("k", 1, 100), ("k", 2, 105), ("k", 3, 103)];

fn list(values: &[i64]) -> Value {
    Value::Array(values.iter().map(|v| Value::Int(*v)).collect())
}

fn collect_list() -> (Aggregate, windowed::Extract) {
    (
        Aggregate::CollectList,
        Arc::new(|r: &Record| r.value.clone()),
    )
}

#[test]
fn sliding_windows_fold_their_records_in_arrival_order() {
    let r = run(
        sliding_10_grace_5(),
        Emit::Changes,
        collect_list(),
        SLIDING_OUT_OF_ORDER,
    );
    assert!(r.late.is_empty());
    assert_eq!(
        r.results,
        vec![
            row("k", 90, 100, list(&[1])),
            row("k", 95, 105, list(&[1, 2])),
            row("k", 101, 111, list(&[2])),
            row("k", 93, 103, list(&[1, 3])),
            row("k", 95, 105, list(&[1, 2, 3])),
            row("k", 101, 111, list(&[2, 3])),
            row("k", 104, 114, list(&[2])),
        ]
    );
}

fn sliding_op(
    kind: WindowKind,
    emit: Emit,
    agg: (Aggregate, windowed::Extract),
) -> WindowedAggregate {
    WindowedAggregate::new("s", kind, agg.0, agg.1, emit, Format::String).late_to("late")
}

/// Feeds `input` into `op`, taking its changelogs after every record (a
/// commit each) and keeping them in the order written.
fn feed_logged(
    op: &mut WindowedAggregate,
    input: &[(&str, i64, i64)],
    log: &mut Vec<StoreChanges>,
) -> Run {
    let mut run = Run {
        results: Vec::new(),
        late: Vec::new(),
    };
    for one in input {
        let r = feed(op, std::slice::from_ref(one));
        run.results.extend(r.results);
        run.late.extend(r.late);
        log.extend(op.take_changelog());
    }
    run
}

/// A task moved elsewhere: a new operator restored from the changelogs
/// and the committed stream time.
fn restored(
    kind: WindowKind,
    emit: Emit,
    agg: (Aggregate, windowed::Extract),
    log: &[StoreChanges],
    stream_time: i64,
) -> WindowedAggregate {
    let mut op = sliding_op(kind, emit, agg);
    for (store, changes) in log {
        for (key, value) in changes {
            match store.as_str() {
                "s" => op.restore_window(key, value.as_deref()).unwrap(),
                "s-suppress" => op.restore_suppress(key, value.as_deref()).unwrap(),
                other => panic!("no store {other}"),
            }
        }
    }
    op.restore_stream_time(stream_time);
    op
}

#[test]
fn sliding_windows_restored_from_their_changelogs_go_on_as_before() {
    for emit in [Emit::Changes, Emit::Final] {
        // Split after 108 (stream time 112), before the rest of the table.
        let (before, after) = SLIDING.split_at(4);
        let mut original = sliding_op(sliding_10_grace_5(), emit, sum());
        let mut log = Vec::new();
        feed_logged(&mut original, before, &mut log);
        let mut moved = restored(
            sliding_10_grace_5(),
            emit,
            sum(),
            &log,
            original.stream_time(),
        );
        assert_eq!(moved.window_count(), original.window_count());
        let want = feed(&mut original, after);
        let got = feed(&mut moved, after);
        assert_eq!(got.results, want.results, "{emit:?}");
        assert_eq!(
            got.late.iter().map(late_headers).collect::<Vec<_>>(),
            want.late.iter().map(late_headers).collect::<Vec<_>>(),
            "{emit:?}"
        );
        // And what the tables above say (from 125 on).
        let tail = match emit {
            Emit::Changes => vec![
                row("a", 115, 125, 16),
                row("a", 113, 123, 64),
                row("a", 115, 125, 16 + 64),
                row("a", 119, 129, 16),
                row("a", 130, 140, 128),
            ],
            Emit::Final => vec![
                row("a", 98, 108, 1 + 2 + 8),
                row("a", 101, 111, 2 + 8),
                row("a", 102, 112, 2 + 4 + 8),
                row("a", 106, 116, 4 + 8),
                row("a", 109, 119, 4),
                row("a", 113, 123, 64),
                row("a", 115, 125, 16 + 64),
                row("a", 119, 129, 16),
            ],
        };
        assert_eq!(got.results, tail, "{emit:?}");
    }
}

#[test]
fn sliding_windows_restored_keep_the_arrival_order() {
    let sliding = sliding_10_grace_5();
    let (before, after) = SLIDING_OUT_OF_ORDER.split_at(2);
    let mut original = sliding_op(sliding, Emit::Changes, collect_list());
    let mut log = Vec::new();
    feed_logged(&mut original, before, &mut log);
    let mut moved = restored(
        sliding,
        Emit::Changes,
        collect_list(),
        &log,
        original.stream_time(),
    );
    // Nothing is cached after a restore: every window of 103 is folded
    // again from the records.
    assert_eq!(
        feed(&mut moved, after).results,
        vec![
            row("k", 93, 103, list(&[1, 3])),
            row("k", 95, 105, list(&[1, 2, 3])),
            row("k", 101, 111, list(&[2, 3])),
            row("k", 104, 114, list(&[2])),
        ]
    );
}

#[test]
fn a_late_sliding_record_goes_out_as_it_was_read() {
    let sliding = WindowKind::Sliding(SlidingWindows::of_time_difference(10).grace(5));
    let mut op = sliding_op(sliding, Emit::Final, count());
    let (mut results, mut late) = (Vec::new(), Vec::new());
    op.process(
        &Record::new("item", Value::Null, 100),
        &mut results,
        &mut late,
    )
    .unwrap();
    let mut r = Record::new("item", Value::Null, 80);
    r.source = Some(Arc::new(Source {
        topic: "bids".into(),
        partition: 1,
        offset: 7,
        key: Some(Bytes::from_static(b"item")),
        value: Some(Bytes::from_static(b"{}")),
        headers: Vec::new(),
    }));
    op.process(&r, &mut results, &mut late).unwrap();
    assert!(results.is_empty());
    let o = &late[0];
    assert_eq!(o.topic, "late");
    assert_eq!(o.key.as_deref(), Some(&b"item"[..]));
    assert_eq!(o.value.as_deref(), Some(&b"{}"[..]));
    assert_eq!(o.timestamp, 80);
    assert_eq!(o.header("fjord.late.source.topic"), Some("bids"));
    assert_eq!(o.header("fjord.late.source.offset"), Some("7"));
    // Own window [70,80]; close time 95.
    assert_eq!(late_headers(o), (70, 80, 100, 15));
}
