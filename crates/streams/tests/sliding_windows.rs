//! Sliding windows beyond the semantics tables of `window_semantics`: the
//! definition checked on shuffled input, how long records are kept, and
//! the windowed aggregation in a topology, restored from its changelog
//! topics.

use std::sync::Arc;

use bytes::Bytes;
use fjord_streams::*;

/// (key, window start, window end, value) of a result.
type Row = (String, i64, i64, Value);

struct Run {
    results: Vec<Row>,
    late: Vec<Output>,
}

fn sliding_op(
    kind: WindowKind,
    emit: Emit,
    (agg, extract): (Aggregate, windowed::Extract),
) -> WindowedAggregate {
    WindowedAggregate::new("s", kind, agg, extract, emit, Format::String).late_to("late")
}

fn count() -> (Aggregate, windowed::Extract) {
    (Aggregate::Count, Arc::new(|_: &Record| Value::Null))
}

fn rows(records: Vec<Record>) -> impl Iterator<Item = Row> {
    records.into_iter().map(|r| {
        let w = r.window.expect("windowed");
        (r.key.to_string(), w.start, w.end, r.value)
    })
}

/// Runs `input` (key, value, timestamp) through `op`.
fn feed(op: &mut WindowedAggregate, input: &[(&str, i64, i64)]) -> Run {
    let (mut results, mut late) = (Vec::new(), Vec::new());
    for &(key, value, ts) in input {
        let mut out = Vec::new();
        op.process(&Record::new(key, value, ts), &mut out, &mut late)
            .unwrap();
        results.extend(rows(out));
    }
    Run { results, late }
}

fn list(values: &[i64]) -> Value {
    Value::Array(values.iter().map(|v| Value::Int(*v)).collect())
}

/// (window start, window end, stream time, late by) of a late record.
fn late_headers(o: &Output) -> (i64, i64, i64, i64) {
    let h = |n: &str| o.header(n).expect(n).parse::<i64>().unwrap();
    (
        h("fjord.late.window.start"),
        h("fjord.late.window.end"),
        h("fjord.late.stream.time"),
        h("fjord.late.by.ms"),
    )
}

/// Shuffled input where no record is late (each within grace of stream
/// time): the windows emitted are exactly those the definition gives, each
/// holding exactly the records within its bounds, however they came.
#[test]
fn sliding_windows_match_their_definition_on_shuffled_input() {
    use std::collections::BTreeMap;
    let (d, grace) = (10, 5);
    let sliding = WindowKind::Sliding(SlidingWindows::of_time_difference(d).grace(grace));
    let collect_set = || -> (Aggregate, windowed::Extract) {
        (
            Aggregate::CollectSet,
            Arc::new(|r: &Record| r.value.clone()),
        )
    };
    for seed in 1..=20u64 {
        // A small linear congruential generator: the same input every run.
        let mut state = seed;
        let mut next = |n: i64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % n as u64) as i64
        };
        let mut input = Vec::new();
        let mut stream_time = 0;
        for value in 0..60 {
            let key = if next(3) == 0 { "b" } else { "a" };
            let t = (stream_time + next(7) - next(grace + 1)).max(0);
            stream_time = stream_time.max(t);
            input.push((key, value, t));
        }
        // The windows by definition: each record's own window ([0, d]
        // before d) and each record's right window when not empty.
        let mut want: BTreeMap<(String, i64), Value> = BTreeMap::new();
        for &(key, _, t) in &input {
            let times = input.iter().filter(|r| r.0 == key).map(|r| r.2);
            let own_start = t.max(d) - d;
            let mut starts = vec![own_start];
            if times.clone().any(|u| u > t && u <= t + 1 + d) {
                starts.push(t + 1);
            }
            for start in starts {
                let mut values: Vec<i64> = input
                    .iter()
                    .filter(|r| r.0 == key && (start..=start + d).contains(&r.2))
                    .map(|r| r.1)
                    .collect();
                values.sort();
                want.insert((key.to_string(), start), list(&values));
            }
        }
        for emit in [Emit::Changes, Emit::Final] {
            let mut op = sliding_op(sliding, emit, collect_set());
            let mut run = feed(&mut op, &input);
            let mut flushed = Vec::new();
            op.advance_stream_time(i64::MAX / 2, &mut flushed);
            run.results.extend(rows(flushed));
            assert!(run.late.is_empty(), "seed {seed}");
            let mut got: BTreeMap<(String, i64), Value> = BTreeMap::new();
            for (key, start, end, value) in run.results {
                assert_eq!(end, start + d);
                let again = got.insert((key.clone(), start), value).is_some();
                assert!(
                    emit == Emit::Changes || !again,
                    "seed {seed}: [{start},{end}] of {key} emitted twice"
                );
            }
            assert_eq!(got, want, "seed {seed}, {emit:?}, input {input:?}");
        }
    }
}

#[test]
fn sliding_windows_keep_records_until_their_right_window_closes() {
    let sliding = WindowKind::Sliding(SlidingWindows::of_time_difference(10));
    let mut op = sliding_op(sliding, Emit::Changes, count());
    let record_key = |t: i64, arrival: u64| {
        let mut k = b"a".to_vec();
        k.extend_from_slice(&t.to_be_bytes());
        k.extend_from_slice(&arrival.to_be_bytes());
        Bytes::from(k)
    };
    feed(&mut op, &[("a", 0, 100)]);
    let logs = op.take_changelog();
    assert_eq!(logs[0].0, "s");
    assert_eq!(
        logs[0].1,
        vec![(record_key(100, 0), Some(Bytes::from("null")))]
    );
    // Stream time 111: 100's right window [101,111] is still open.
    feed(&mut op, &[("a", 0, 111)]);
    assert_eq!(op.window_count(), 2);
    // Stream time 112: it closed; the record at 100 goes.
    feed(&mut op, &[("a", 0, 112)]);
    assert_eq!(op.window_count(), 2);
    let logs = op.take_changelog();
    assert!(logs[0].1.contains(&(record_key(100, 0), None)), "{logs:?}");
}

/// Through a topology: results keyed as Kafka Streams' time-windowed keys
/// (the key, then the start), and a task moved to another instance
/// restored from its changelog topics.
#[test]
fn sliding_windows_in_a_topology_write_windowed_keys_and_restore() {
    let b = StreamsBuilder::new("app");
    b.stream("clicks", Format::String, Format::String)
        .window_aggregate(
            "per-10ms",
            WindowKind::Sliding(SlidingWindows::of_time_difference(10).grace(5)),
            Aggregate::Count,
            |_| Value::Null,
            Emit::Final,
            Some("clicks-late"),
        )
        .to("counts", Format::String, Format::Long);
    let topology = b.build().unwrap();
    assert_eq!(
        topology.changelog_topics(),
        vec![
            "app-per-10ms-changelog".to_string(),
            "app-per-10ms-suppress-changelog".to_string()
        ]
    );
    let click = |task: &mut Task, offset: i64, ts: i64| {
        task.process("clicks", 0, offset, Some(b"u"), Some(b""), ts, vec![])
            .unwrap()
    };
    let mut task = topology.task(0);
    assert!(click(&mut task, 0, 100).is_empty());
    assert!(click(&mut task, 1, 105).is_empty());
    let mut moved = topology.task(0);
    for o in task.take_changelogs() {
        moved
            .restore(&o.topic, o.key.as_deref().unwrap(), o.value.as_deref())
            .unwrap();
    }
    moved.restore_stream_time(105);
    // Stream time 112 closes [90,100] (100) and [95,105] (100 and 105).
    let out = click(&mut moved, 2, 112);
    let windowed = |start: i64| {
        let mut k = b"u".to_vec();
        k.extend_from_slice(&start.to_be_bytes());
        k
    };
    let got: Vec<(&str, Vec<u8>, Vec<u8>)> = out
        .iter()
        .map(|o| {
            (
                o.topic.as_str(),
                o.key.as_deref().unwrap().to_vec(),
                o.value.as_deref().unwrap().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("counts", windowed(90), 1i64.to_be_bytes().to_vec()),
            ("counts", windowed(95), 2i64.to_be_bytes().to_vec()),
        ]
    );
    // 80 fits no open window ([80,90] closed at 96): to the late topic.
    let out = click(&mut moved, 3, 80);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "clicks-late");
    assert_eq!(late_headers(&out[0]), (70, 80, 112, 27));
    assert_eq!(out[0].header("fjord.late.source.offset"), Some("3"));
}
