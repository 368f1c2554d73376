//! Window semantics, as tables: for each window type, a sequence of
//! timestamped records (in order, out of order within grace, late beyond
//! it) and the exact output of each emit mode, with the late records and
//! their headers.

use std::sync::Arc;

use bytes::Bytes;
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
    assert_eq!(op.late(), late.len() as u64);
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
