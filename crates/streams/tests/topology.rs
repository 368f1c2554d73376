//! Topologies of stateless operators, dead letters, sinks and the checks
//! a topology gets when it is built.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fjord_streams::*;

mod common;
use common::*;

#[test]
fn filter_map_flat_map_select_key_and_peek() {
    let seen = Arc::new(AtomicUsize::new(0));
    let b = StreamsBuilder::new("app");
    let counter = seen.clone();
    b.stream("bids", Format::String, Format::Json)
        .peek(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .filter(|r| Ok(price(r) >= 10))
        .map_values(|r| Ok(Value::Int(price(r) * 2)))
        .flat_map(|r| Ok(vec![r.clone(), r]))
        .select_key(|r| Ok(Value::from(format!("{}!", r.key))))
        .to("doubled", Format::String, Format::Long);
    let mut task = b.build().unwrap().task(0);
    let out = feed(
        &mut task,
        "bids",
        &[("a", r#"{"price": 5}"#, 1), ("b", r#"{"price": 12}"#, 2)],
    );
    assert_eq!(seen.load(Ordering::Relaxed), 2);
    let long = |v: i64| String::from_utf8_lossy(&v.to_be_bytes()).into_owned();
    assert_eq!(
        rows(&out),
        vec![
            ("doubled".into(), "b!".into(), long(24)),
            ("doubled".into(), "b!".into(), long(24)),
        ]
    );
    assert_eq!(out[0].timestamp, 2);
}

#[test]
fn branch_sends_each_record_to_its_first_match_and_merge_joins_streams() {
    let b = StreamsBuilder::new("app");
    let parts = b.stream("in", Format::String, Format::String).branch(vec![
        Arc::new(|r: &Record| Ok(r.value.as_str() == Some("x"))),
        Arc::new(|r: &Record| Ok(r.value.as_str().is_some_and(|v| v.starts_with('x')))),
    ]);
    parts[0].to("exact", Format::String, Format::String);
    parts[1].to("prefix", Format::String, Format::String);
    let other = b.stream("in2", Format::String, Format::String);
    parts[0]
        .merge(&[other])
        .to("merged", Format::String, Format::String);
    let mut task = b.build().unwrap().task(0);
    let mut out = feed(
        &mut task,
        "in",
        &[("1", "x", 1), ("2", "xy", 2), ("3", "z", 3)],
    );
    out.extend(feed(&mut task, "in2", &[("4", "w", 4)]));
    assert_eq!(
        rows(&out),
        vec![
            ("exact".into(), "1".into(), "x".into()),
            ("merged".into(), "1".into(), "x".into()),
            ("prefix".into(), "2".into(), "xy".into()),
            ("merged".into(), "4".into(), "w".into()),
        ]
    );
}

#[test]
fn failing_records_go_to_the_dead_letter_topic_unchanged_with_where_and_why() {
    let b = StreamsBuilder::new("stats");
    b.stream("bids", Format::String, Format::Json)
        .map_values(|r| match r.value.field("price") {
            Some(p) => Ok(p.clone()),
            None => Err(Error::Operator("no price".into())),
        })
        .to("prices", Format::String, Format::Long);
    let mut task = b.build().unwrap().task(0);
    let out = feed(
        &mut task,
        "bids",
        &[
            ("a", "not json", 1),          // does not decode
            ("b", r#"{"item": "x"}"#, 2),  // the function fails
            ("c", r#"{"price": 1.5}"#, 3), // does not encode as a long
            ("d", r#"{"price": 7}"#, 4),   // fine
        ],
    );
    assert_eq!(task.dead_letters(), 3);
    assert_eq!(out.len(), 4);
    for (o, (offset, value, why)) in out.iter().zip([
        ("0", "not json", "cannot decode"),
        ("1", r#"{"item": "x"}"#, "no price"),
        ("2", r#"{"price": 1.5}"#, "cannot encode"),
    ]) {
        assert_eq!(o.topic, "stats-dlq");
        assert_eq!(text(&o.value), value, "the record as it was read");
        assert_eq!(o.header("fjord.dlq.topic"), Some("bids"));
        assert_eq!(o.header("fjord.dlq.partition"), Some("0"));
        assert_eq!(o.header("fjord.dlq.offset"), Some(offset));
        assert_eq!(o.header("fjord.dlq.group"), Some("stats"));
        assert!(o.header("fjord.dlq.error").unwrap().contains(why), "{o:?}");
    }
    assert_eq!(out[3].topic, "prices");
}

#[test]
fn event_time_from_a_field() {
    let b = StreamsBuilder::new("app");
    b.stream_with_time(
        "in",
        Format::String,
        Format::Json,
        EventTime::Field("at".into()),
    )
    .to("out", Format::String, Format::Json);
    let mut task = b.build().unwrap().task(0);
    let out = feed(
        &mut task,
        "in",
        &[("k", r#"{"at": 1234}"#, 99), ("k", r#"{}"#, 99)],
    );
    assert_eq!(out[0].timestamp, 1234);
    assert_eq!(out[1].topic, "app-dlq");
    assert!(out[1].header("fjord.dlq.error").unwrap().contains("'at'"));
}

#[test]
fn windowed_results_are_written_with_kafka_streams_windowed_keys() {
    let b = StreamsBuilder::new("app");
    b.stream("clicks", Format::String, Format::String)
        .window_aggregate(
            "clicks-per-10ms",
            WindowKind::Time(TimeWindows::tumbling(10)),
            Aggregate::Count,
            |_| Value::Null,
            Emit::Changes,
            None,
        )
        .to("counts", Format::String, Format::Long);
    let topology = b.build().unwrap();
    assert_eq!(
        topology.changelog_topics(),
        vec!["app-clicks-per-10ms-changelog".to_string()]
    );
    let mut task = topology.task(3);
    let out = feed(&mut task, "clicks", &[("u", "", 12), ("u", "", 15)]);
    let mut key = b"u".to_vec();
    key.extend_from_slice(&10i64.to_be_bytes());
    assert_eq!(out[1].key.as_deref(), Some(&key[..]));
    assert_eq!(out[1].value.as_deref(), Some(&2i64.to_be_bytes()[..]));
    let logs = task.take_changelogs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].topic, "app-clicks-per-10ms-changelog");
    assert_eq!(
        logs[0].partition,
        Some(3),
        "a task's changelog partition is its own"
    );
}

#[test]
fn bad_topologies_are_refused_when_built() {
    let b = StreamsBuilder::new("app");
    assert!(matches!(b.build(), Err(Error::Topology(_))));
    b.stream("t", Format::String, Format::String);
    b.stream("t", Format::String, Format::String);
    let e = b.build().err().unwrap().to_string();
    assert!(e.contains("read by two sources"), "{e}");

    let b = StreamsBuilder::new("app");
    let s = b.stream("t", Format::String, Format::String);
    for _ in 0..2 {
        s.window_aggregate(
            "same",
            WindowKind::Time(TimeWindows::tumbling(1)),
            Aggregate::Count,
            |_| Value::Null,
            Emit::Changes,
            None,
        );
    }
    assert!(b.build().err().unwrap().to_string().contains("two stores"));

    let b = StreamsBuilder::new("app");
    b.stream("t", Format::String, Format::String);
    let mut task = b.build().unwrap().task(0);
    assert!(task.process("nope", 0, 0, None, None, 0, vec![]).is_err());
}

#[test]
fn advancing_stream_time_without_records_emits_the_windows_that_close() {
    let b = StreamsBuilder::new("app");
    b.stream("clicks", Format::String, Format::String)
        .window_aggregate(
            "per-10ms",
            WindowKind::Time(TimeWindows::tumbling(10).grace(5)),
            Aggregate::Count,
            |_| Value::Null,
            Emit::Final,
            None,
        )
        .to("counts", Format::String, Format::Long);
    let mut task = b.build().unwrap().task(0);
    assert!(feed(&mut task, "clicks", &[("u", "", 3), ("u", "", 4)]).is_empty());
    assert!(
        task.advance_stream_time(14).unwrap().is_empty(),
        "within grace"
    );
    let out = task.advance_stream_time(15).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value.as_deref(), Some(&2i64.to_be_bytes()[..]));
    assert_eq!(task.stream_time(), Some(15));
    assert!(
        task.advance_stream_time(10).unwrap().is_empty(),
        "never backwards"
    );
    assert_eq!(task.stream_time(), Some(15));
}

#[test]
fn a_key_change_before_an_aggregation_goes_through_a_repartition_topic() {
    let b = StreamsBuilder::new("app");
    b.stream("clicks", Format::String, Format::Json)
        .select_key(|r| Ok(r.value.field("page").cloned().unwrap_or(Value::Null)))
        .aggregate("clicks-per-page", Aggregate::Count, |_| Value::Null)
        .to("page-counts", Format::String, Format::Long);
    let topology = b.build().unwrap();
    assert_eq!(
        topology.source_topics(),
        vec![
            "clicks".to_string(),
            "app-clicks-per-page-repartition".to_string()
        ]
    );
    assert_eq!(topology.input_topics(), vec!["clicks".to_string()]);
    assert!(topology
        .output_topics()
        .contains(&"app-clicks-per-page-repartition".to_string()));
    let mut task = topology.task(0);
    // A click is re-keyed by page and written to the repartition topic
    // (a string key as it is, so it lands where "/home" lands in any
    // topic keyed by strings)...
    let out = feed(&mut task, "clicks", &[("ann", r#"{"page": "/home"}"#, 5)]);
    assert_eq!(
        rows(&out),
        vec![(
            "app-clicks-per-page-repartition".into(),
            "/home".into(),
            r#"{"page":"/home"}"#.into()
        )]
    );
    // ...and counted when read back from it (in the task of its new key).
    let mut counted = Vec::new();
    for (i, o) in out.iter().chain(out.iter()).enumerate() {
        counted.extend(
            task.process(
                &o.topic,
                0,
                i as i64,
                o.key.as_deref(),
                o.value.as_deref(),
                o.timestamp,
                vec![],
            )
            .unwrap(),
        );
    }
    assert_eq!(counted.len(), 2);
    assert_eq!(counted[1].topic, "page-counts");
    assert_eq!(counted[1].key.as_deref(), Some(&b"/home"[..]));
    assert_eq!(counted[1].value.as_deref(), Some(&2i64.to_be_bytes()[..]));
    assert_eq!(
        topology.changelog_topics(),
        vec!["app-clicks-per-page-changelog".to_string()]
    );
}

#[test]
fn no_repartition_without_a_key_change() {
    let b = StreamsBuilder::new("app");
    b.stream("clicks", Format::String, Format::Json)
        .filter(|_| Ok(true))
        .map_values(|r| Ok(r.value.clone()))
        .set_timestamp(|r| Ok(r.timestamp))
        .aggregate("per-user", Aggregate::Count, |_| Value::Null)
        .to("user-counts", Format::String, Format::Long);
    let topology = b.build().unwrap();
    assert_eq!(topology.source_topics(), vec!["clicks".to_string()]);
    let mut task = topology.task(0);
    let out = feed(&mut task, "clicks", &[("ann", "{}", 1), ("ann", "{}", 2)]);
    assert_eq!(out[1].value.as_deref(), Some(&2i64.to_be_bytes()[..]));
}

#[test]
fn an_aggregation_passes_on_and_logs_only_results_that_changed() {
    let b = StreamsBuilder::new("app");
    b.stream("bids", Format::String, Format::Json)
        .aggregate("highest", Aggregate::Max, |r| Value::Int(price(r)))
        .to("highest-bids", Format::String, Format::Json);
    let mut task = b.build().unwrap().task(0);
    let bids = [
        ("bike", r#"{"price":5}"#, 1),
        ("bike", r#"{"price":3}"#, 2),
        ("bike", r#"{"price":5}"#, 3),
        ("bike", r#"{"price":9}"#, 4),
        ("car", r#"{"price":1}"#, 5),
    ];
    let (mut values, mut logged) = (Vec::new(), Vec::new());
    for bid in bids {
        let out = feed(&mut task, "bids", &[bid]);
        values.extend(rows(&out).into_iter().map(|(_, k, v)| (k, v)));
        logged.push(task.take_changelogs().len());
    }
    assert_eq!(
        values,
        [("bike", "5"), ("bike", "9"), ("car", "1")].map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(logged, [1, 0, 0, 1, 1], "changelog records per bid");
}

/// Feeds a task's repartition outputs back to it (as the runtime does
/// through the topic), until only other outputs are left.
fn settle(task: &mut Task, mut pending: Vec<Output>) -> Vec<Output> {
    let mut done = Vec::new();
    let mut offset = 1000;
    while !pending.is_empty() {
        let mut next = Vec::new();
        for o in pending {
            if o.topic.ends_with("-repartition") {
                offset += 1;
                next.extend(
                    task.process(
                        &o.topic,
                        0,
                        offset,
                        o.key.as_deref(),
                        o.value.as_deref(),
                        o.timestamp,
                        o.headers,
                    )
                    .unwrap(),
                );
            } else {
                done.push(o);
            }
        }
        pending = next;
    }
    done
}

#[test]
fn a_table_aggregated_by_a_new_key_retracts_changed_and_deleted_rows() {
    let b = StreamsBuilder::new("shop");
    b.table("products", "products", Format::String, Format::Json)
        .group_by_aggregate(
            "price-per-category",
            |r| Ok(r.value.field("category").cloned().unwrap_or(Value::Null)),
            Aggregate::Sum,
            |r| r.value.field("price").cloned().unwrap_or(Value::Null),
        )
        .to("category-totals", Format::String, Format::Long);
    let topology = b.build().unwrap();
    assert_eq!(
        topology.changelog_topics(),
        vec![
            "shop-products-changelog".to_string(),
            "shop-price-per-category-changelog".to_string()
        ]
    );
    let mut task = topology.task(0);
    let mut step = |key: &str, value: Option<&str>| -> Vec<(String, i64)> {
        let out = task
            .process(
                "products",
                0,
                0,
                Some(key.as_bytes()),
                value.map(str::as_bytes),
                1,
                vec![],
            )
            .unwrap();
        settle(&mut task, out)
            .iter()
            .map(|o| {
                (
                    text(&o.key),
                    i64::from_be_bytes(o.value.as_deref().unwrap().try_into().unwrap()),
                )
            })
            .collect()
    };
    let sport = |n: i64| ("sport".to_string(), n);
    let home = |n: i64| ("home".to_string(), n);
    assert_eq!(
        step("bike", Some(r#"{"category": "sport", "price": 10}"#)),
        vec![sport(10)]
    );
    assert_eq!(
        step("ball", Some(r#"{"category": "sport", "price": 5}"#)),
        vec![sport(15)]
    );
    // A new price: the old one is taken out, the new one added.
    assert_eq!(
        step("bike", Some(r#"{"category": "sport", "price": 12}"#)),
        vec![sport(5), sport(17)]
    );
    // A new category: out of the old group, into the new one.
    assert_eq!(
        step("bike", Some(r#"{"category": "home", "price": 12}"#)),
        vec![sport(5), home(12)]
    );
    // A tombstone deletes the row: out of its group.
    assert_eq!(step("ball", None), vec![sport(0)]);
    // Both stores log their last state per key.
    let log = task.take_changelogs();
    let of = |topic: &str, key: &str| {
        log.iter()
            .find(|o| o.topic == topic && o.key.as_deref() == Some(key.as_bytes()))
            .map(|o| {
                o.value
                    .as_ref()
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
            })
    };
    assert_eq!(
        of("shop-products-changelog", "ball"),
        Some(None),
        "a deleted row: tombstone"
    );
    assert_eq!(
        of("shop-products-changelog", "bike"),
        Some(Some(r#"{"category":"home","price":12}"#.to_string()))
    );
    assert_eq!(
        of("shop-price-per-category-changelog", "sport"),
        Some(Some("0".to_string()))
    );
}

#[test]
fn a_table_aggregation_that_cannot_retract_is_refused() {
    let b = StreamsBuilder::new("shop");
    b.table("products", "products", Format::String, Format::Json)
        .group_by_aggregate(
            "max",
            |r| Ok(r.key.clone()),
            Aggregate::Max,
            |r| r.value.clone(),
        )
        .to("out", Format::String, Format::Json);
    let e = b.build().err().unwrap().to_string();
    assert!(e.contains("cannot aggregate a table"), "{e}");
}

#[test]
fn a_table_as_a_stream_shows_updates_and_deletes() {
    let b = StreamsBuilder::new("shop");
    b.table("products", "rows", Format::String, Format::String)
        .to_stream()
        .to("changes", Format::String, Format::String);
    let mut task = b.build().unwrap().task(0);
    let mut out = Vec::new();
    for (k, v) in [("a", Some("1")), ("a", Some("2")), ("a", None)] {
        out.extend(
            task.process(
                "products",
                0,
                0,
                Some(k.as_bytes()),
                v.map(str::as_bytes),
                1,
                vec![],
            )
            .unwrap(),
        );
    }
    let values: Vec<Option<String>> = out
        .iter()
        .map(|o| {
            o.value
                .as_ref()
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
        })
        .collect();
    assert_eq!(values, vec![Some("1".into()), Some("2".into()), None]);
    assert_eq!(task.store_sizes(), vec![("rows".to_string(), 0)]);
}
