//! Joins: stream-table, stream-stream within a window (inner, left,
//! outer), table-table on the key, and a join restored from its
//! changelog.

use fjord_streams::*;

mod common;
use common::*;

#[test]
fn a_stream_joins_the_table_row_of_its_key_as_it_is_when_the_record_comes() {
    for left in [false, true] {
        let b = StreamsBuilder::new("shop");
        let customers = b.table("customers", "customers", Format::String, Format::String);
        b.stream("orders", Format::String, Format::String)
            .join_table(
                &customers,
                |order, name| Ok(Value::from(format!("{order} for {name}"))),
                left,
            )
            .to("enriched", Format::String, Format::String);
        let mut task = b.build().unwrap().task(0);
        let mut out = Vec::new();
        let mut send = |topic: &str, k: &str, v: Option<&str>| {
            out.extend(
                task.process(
                    topic,
                    0,
                    0,
                    Some(k.as_bytes()),
                    v.map(str::as_bytes),
                    1,
                    vec![],
                )
                .unwrap(),
            );
        };
        send("orders", "c1", Some("book")); // no row yet
        send("customers", "c1", Some("Ann")); // a table update joins nothing
        send("orders", "c1", Some("pen"));
        send("customers", "c1", Some("Ann B."));
        send("orders", "c1", Some("ink"));
        send("customers", "c1", None); // deleted
        send("orders", "c1", Some("cap"));
        let values: Vec<String> = out.iter().map(|o| text(&o.value)).collect();
        let expected: Vec<&str> = if left {
            vec![
                "book for null",
                "pen for Ann",
                "ink for Ann B.",
                "cap for null",
            ]
        } else {
            vec!["pen for Ann", "ink for Ann B."]
        };
        assert_eq!(values, expected, "left join: {left}");
    }
}

/// Left records L, right records R of key k; `join` feeds them in order
/// and returns the joined values.
fn join_run(kind: JoinKind) -> (Vec<String>, Vec<Output>) {
    let b = StreamsBuilder::new("app");
    let left = b.stream("left", Format::String, Format::String);
    let right = b.stream("right", Format::String, Format::String);
    left.join(
        &right,
        "pairs",
        kind,
        10,
        0,
        |l, r| Ok(Value::from(format!("{l}+{r}"))),
        Some("late"),
    )
    .to("joined", Format::String, Format::String);
    let mut task = b.build().unwrap().task(0);
    let mut out = Vec::new();
    for (topic, key, value, ts) in [
        ("left", "k", "l1", 100),
        ("right", "k", "r1", 105), // meets l1
        ("left", "k", "l2", 200),  // meets nothing
        ("right", "k", "r2", 295),
        ("left", "k", "l3", 300),   // meets r2, which came first
        ("right", "k", "r3", 100),  // its window closed long ago: late
        ("right", "z", "r9", 1000), // moves stream time on
    ] {
        out.extend(
            task.process(
                topic,
                0,
                ts,
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                ts,
                vec![],
            )
            .unwrap(),
        );
    }
    let (late, joined): (Vec<Output>, Vec<Output>) =
        out.into_iter().partition(|o| o.topic == "late");
    (joined.iter().map(|o| text(&o.value)).collect(), late)
}

#[test]
fn stream_stream_joins_match_within_the_window_and_emit_unmatched_records_when_it_closes() {
    let (inner, late) = join_run(JoinKind::Inner);
    assert_eq!(inner, vec!["l1+r1", "l3+r2"]);
    assert_eq!(late.len(), 1);
    assert_eq!(text(&late[0].value), "r3");
    assert_eq!(late[0].header("fjord.late.stream.time"), Some("300"));
    // l2 joined with null once its window closed (at stream time 295), not
    // when it arrived.
    let (left, _) = join_run(JoinKind::Left);
    assert_eq!(left, vec!["l1+r1", "l2+null", "l3+r2"]);
    // r9 is still within its window at the end; nothing else is unmatched.
    let (outer, _) = join_run(JoinKind::Outer);
    assert_eq!(outer, vec!["l1+r1", "l2+null", "l3+r2"]);
}

#[test]
fn an_outer_join_emits_unmatched_right_records_too() {
    let b = StreamsBuilder::new("app");
    let left = b.stream("left", Format::String, Format::String);
    let right = b.stream("right", Format::String, Format::String);
    left.join(
        &right,
        "p",
        JoinKind::Outer,
        5,
        0,
        |l, r| Ok(Value::from(format!("{l}+{r}"))),
        None,
    )
    .to("joined", Format::String, Format::String);
    let mut task = b.build().unwrap().task(0);
    let mut out = Vec::new();
    out.extend(
        task.process("right", 0, 0, Some(b"k"), Some(b"r1"), 10, vec![])
            .unwrap(),
    );
    assert!(out.is_empty(), "nothing before the window closes");
    out.extend(task.advance_stream_time(16).unwrap());
    assert_eq!(
        out.iter().map(|o| text(&o.value)).collect::<Vec<_>>(),
        vec!["null+r1"]
    );
}

#[test]
fn table_table_joins_follow_both_sides_and_delete_joined_rows_that_go() {
    let run = |kind: JoinKind| -> Vec<Option<String>> {
        let b = StreamsBuilder::new("app");
        let users = b.table("users", "users", Format::String, Format::String);
        let cities = b.table("cities", "cities", Format::String, Format::String);
        users
            .join(&cities, kind, |u, c| Ok(Value::from(format!("{u}@{c}"))))
            .to("user-cities", Format::String, Format::String);
        let mut task = b.build().unwrap().task(0);
        let mut out = Vec::new();
        for (topic, value) in [
            ("users", Some("ann")),   // no city yet
            ("cities", Some("oslo")), // now both
            ("users", Some("anna")),  // the user changes
            ("cities", None),         // the city goes
            ("users", None),          // the user goes
        ] {
            out.extend(
                task.process(
                    topic,
                    0,
                    0,
                    Some(b"k1"),
                    value.map(str::as_bytes),
                    1,
                    vec![],
                )
                .unwrap(),
            );
        }
        out.iter()
            .map(|o| {
                o.value
                    .as_ref()
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
            })
            .collect()
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        run(JoinKind::Inner),
        vec![s("ann@oslo"), s("anna@oslo"), None],
        "inner: a row only while both sides have one; a tombstone when it goes"
    );
    assert_eq!(
        run(JoinKind::Left),
        vec![
            s("ann@null"),
            s("ann@oslo"),
            s("anna@oslo"),
            s("anna@null"),
            None
        ]
    );
    assert_eq!(
        run(JoinKind::Outer),
        vec![
            s("ann@null"),
            s("ann@oslo"),
            s("anna@oslo"),
            s("anna@null"),
            None
        ]
    );
}

#[test]
fn a_join_restored_from_its_changelog_goes_on_as_the_original() {
    let topology = || {
        let b = StreamsBuilder::new("app");
        let left = b.stream("left", Format::String, Format::String);
        let right = b.stream("right", Format::String, Format::String);
        left.join(
            &right,
            "pairs",
            JoinKind::Left,
            10,
            0,
            |l, r| Ok(Value::from(format!("{l}+{r}"))),
            None,
        )
        .to("joined", Format::String, Format::String);
        b.build().unwrap()
    };
    assert_eq!(
        topology().changelog_topics(),
        vec!["app-pairs-join-changelog".to_string()]
    );
    let mut first = topology().task(0);
    first
        .process("left", 0, 0, Some(b"k"), Some(b"l1"), 100, vec![])
        .unwrap();
    first
        .process("left", 0, 1, Some(b"k"), Some(b"l2"), 104, vec![])
        .unwrap();
    first
        .process("right", 0, 0, Some(b"k"), Some(b"r1"), 95, vec![])
        .unwrap();
    let log = first.take_changelogs();
    assert_eq!(
        log.len(),
        3,
        "three buffered records, each logged as it is now"
    );
    // Another instance takes the task over from the changelog.
    let mut second = topology().task(0);
    for o in &log {
        second
            .restore(&o.topic, o.key.as_deref().unwrap(), o.value.as_deref())
            .unwrap();
    }
    second.restore_stream_time(104);
    assert_eq!(
        second.stream_time(),
        Some(104),
        "joins keep stream time too"
    );
    // A record whose window closed before the restart is late after it.
    assert!(second
        .process("right", 0, 9, Some(b"k"), Some(b"old"), 90, vec![])
        .unwrap()
        .is_empty());
    assert_eq!(second.late_records(), 1);
    let mut out = second
        .process("right", 0, 1, Some(b"k"), Some(b"r2"), 112, vec![])
        .unwrap();
    out.extend(
        second
            .process("left", 0, 2, Some(b"z"), Some(b"x"), 200, vec![])
            .unwrap(),
    );
    let values: Vec<String> = out.iter().map(|o| text(&o.value)).collect();
    // r2 meets l2 (8 ms apart) but not l1 (12); l1 and l2 matched before,
    // so the window closing emits nothing for them; r1 and r2 are right
    // records of a left join: never emitted alone.
    assert_eq!(values, vec!["l2+r2"]);
}
