//! Windowed aggregations under a memory budget: the window accumulators
//! live in a key-value store that spills to disk past the budget. Many
//! keys times many windows, with a budget far below what they take, must
//! give exactly the outputs (results, late records, changelogs) of the
//! same aggregation held all in memory, while the cache stays within its
//! budget.

use std::sync::Arc;

use fjord_streams::store::StoreChanges;
use fjord_streams::*;

const BUDGET: usize = 64 << 10;

fn limits(dir: &std::path::Path) -> StateLimits {
    StateLimits {
        dir: Some(dir.to_path_buf()),
        cache_bytes: BUDGET,
    }
}

fn op(kind: WindowKind, emit: Emit) -> WindowedAggregate {
    WindowedAggregate::new(
        "w",
        kind,
        Aggregate::CollectList,
        Arc::new(|r: &Record| r.value.clone()),
        emit,
        Format::String,
    )
    .late_to("late")
    .retention(5_000)
}

/// 200 keys, records out of order by up to 30 ms (some past the grace,
/// so late), event times over 4 s: with hopping windows of 1 s every
/// 100 ms and a retention of 5 s, every window ever opened is still held
/// at the end (about 7,600, 3.5 MB in memory); sessions with a 150 ms gap
/// merge often (about 1,800 left, 0.9 MB). The first records fall
/// before 0: a session ending below 0 that grows past it is logged in an
/// order a restore must read right (see `WindowStore::restore`).
fn input() -> Vec<Record> {
    let mut seed = 7u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    (0..4_000i64)
        .map(|i| {
            let key = format!("key-{}", next() % 200);
            let ts = i - (next() % 30) as i64;
            Record::new(key, i, ts)
        })
        .collect()
}

/// Everything `op` emits for `input`, with a changelog taken every 100
/// records (a commit), checking its cache after every record.
fn run(op: &mut WindowedAggregate, input: &[Record], budget: Option<usize>) -> Emitted {
    let mut e = Emitted::default();
    for (i, r) in input.iter().enumerate() {
        op.process(r, &mut e.results, &mut e.late).unwrap();
        if let Some(b) = budget {
            assert!(op.cached_bytes() <= b, "{} > {b}", op.cached_bytes());
        }
        if i % 100 == 99 {
            e.changelogs.extend(op.take_changelog());
        }
    }
    e.changelogs.extend(op.take_changelog());
    e
}

#[derive(Default, PartialEq, Debug)]
struct Emitted {
    results: Vec<Record>,
    late: Vec<Output>,
    changelogs: Vec<StoreChanges>,
}

fn kinds() -> Vec<WindowKind> {
    vec![
        WindowKind::Time(TimeWindows::hopping(1_000, 100).grace(20)),
        WindowKind::Session(SessionWindows::with_gap(150).grace(20)),
    ]
}

#[test]
fn windows_past_the_memory_budget_spill_and_give_the_same_outputs() {
    let input = input();
    for kind in kinds() {
        for emit in [Emit::Changes, Emit::Final] {
            let mut in_memory = op(kind, emit);
            let want = run(&mut in_memory, &input, None);
            // The budget is far below what the windows take.
            assert!(
                in_memory.cached_bytes() > 8 * BUDGET,
                "{kind:?}: {} bytes in memory",
                in_memory.cached_bytes()
            );
            let dir = tempfile::tempdir().unwrap();
            let mut spilling = op(kind, emit).with_state(&limits(dir.path())).unwrap();
            let got = run(&mut spilling, &input, Some(BUDGET));
            assert_eq!(got.results.len(), want.results.len(), "{kind:?} {emit:?}");
            assert_eq!(got, want, "{kind:?} {emit:?}");
            assert!(!want.late.is_empty(), "some records are late");
            assert_eq!(spilling.window_count(), in_memory.window_count());
            assert_eq!(spilling.late(), in_memory.late());
        }
    }
}

#[test]
fn a_spilling_window_store_restored_from_its_changelogs_goes_on_as_before() {
    let input = input();
    let (before, after) = input.split_at(2_500);
    for kind in kinds() {
        for emit in [Emit::Changes, Emit::Final] {
            let mut original = op(kind, emit);
            let logged = run(&mut original, before, None);
            let dir = tempfile::tempdir().unwrap();
            let mut moved = op(kind, emit).with_state(&limits(dir.path())).unwrap();
            for (store, changes) in &logged.changelogs {
                for (key, value) in changes {
                    match store.as_str() {
                        "w" => moved.restore_window(key, value.as_deref()).unwrap(),
                        "w-suppress" => moved.restore_suppress(key, value.as_deref()).unwrap(),
                        other => panic!("no store {other}"),
                    }
                }
            }
            moved.finish_restore().unwrap();
            moved.restore_stream_time(original.stream_time());
            assert!(moved.cached_bytes() <= BUDGET);
            assert_eq!(moved.window_count(), original.window_count());
            // Restored windows carry no largest event time (their last
            // instant stands in), so compare what does not depend on it.
            let strip = |e: Emitted| {
                let results: Vec<_> = e
                    .results
                    .into_iter()
                    .map(|r| (r.key, r.value, r.window))
                    .collect();
                (results, e.late, e.changelogs)
            };
            let mut restored_in_memory = op(kind, emit);
            for (store, changes) in &logged.changelogs {
                for (key, value) in changes {
                    match store.as_str() {
                        "w" => restored_in_memory
                            .restore_window(key, value.as_deref())
                            .unwrap(),
                        _ => restored_in_memory
                            .restore_suppress(key, value.as_deref())
                            .unwrap(),
                    }
                }
            }
            restored_in_memory.restore_stream_time(original.stream_time());
            let want = run(&mut restored_in_memory, after, None);
            let got = run(&mut moved, after, Some(BUDGET));
            assert_eq!(got, want, "{kind:?} {emit:?}");
            let continued = run(&mut original, after, None);
            assert_eq!(strip(got), strip(continued), "{kind:?} {emit:?}");
        }
    }
}
