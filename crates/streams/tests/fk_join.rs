//! Foreign-key table-table joins (KIP-213): orders (keyed by order id)
//! joined with customers (keyed by customer id) on the order's
//! "customer" field, inner and left. The expected results are worked out
//! from the semantics: the result is keyed by the order; any change of an
//! order or of the customer it names emits the order's row again.
//!
//! The helper `App` plays the runtime's part: outputs to the internal
//! topics are fed back to the task of the partition the producer would
//! write them to (the Java client's murmur2 partitioner, which the
//! runtime's producer uses: `murmur2_random`).

use std::collections::BTreeMap;

use fjord_streams::*;

const REGISTRATION: &str = "shop-order-customer-subscription-registration-topic";
const RESPONSE: &str = "shop-order-customer-subscription-response-topic";
const STORE_CHANGELOG: &str = "shop-order-customer-subscription-store-changelog";

fn topology(kind: JoinKind) -> Topology {
    let b = StreamsBuilder::new("shop");
    let orders = b.table("orders", "orders", Format::String, Format::Json);
    let customers = b.table("customers", "customers", Format::String, Format::Json);
    orders
        .join_foreign_key(
            &customers,
            "order-customer",
            kind,
            |order| order.field("customer").cloned().unwrap_or(Value::Null),
            |order, customer| {
                Ok(Value::record([
                    (
                        "amount",
                        order.field("amount").cloned().unwrap_or(Value::Null),
                    ),
                    (
                        "name",
                        customer.field("name").cloned().unwrap_or(Value::Null),
                    ),
                ]))
            },
        )
        .to("enriched", Format::String, Format::Json);
    b.build().unwrap()
}

/// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2).
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java producer's partition for a key (`toPositive(murmur2) % n`).
fn partition_of(key: &[u8], partitions: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % partitions
}

fn is_internal(topic: &str) -> bool {
    topic == REGISTRATION || topic == RESPONSE
}

/// An application's tasks, one per partition, with the runtime's routing.
struct App {
    tasks: Vec<Task>,
    offset: i64,
    time: i64,
}

impl App {
    fn new(topology: &Topology, partitions: usize) -> App {
        App {
            tasks: (0..partitions as i32).map(|p| topology.task(p)).collect(),
            offset: 0,
            time: 0,
        }
    }

    /// The partition the producer writes `o` to.
    fn route(&self, o: &Output) -> usize {
        match o.partition {
            Some(p) => p as usize,
            None => partition_of(o.key.as_deref().expect("keyed"), self.tasks.len()),
        }
    }

    fn process(&mut self, p: usize, topic: &str, o: &Output) -> Vec<(usize, Output)> {
        self.offset += 1;
        self.tasks[p]
            .process(
                topic,
                p as i32,
                self.offset,
                o.key.as_deref(),
                o.value.as_deref(),
                o.timestamp,
                o.headers.clone(),
            )
            .unwrap()
            .into_iter()
            .map(|o| (p, o))
            .collect()
    }

    /// One input record (value None: a tombstone), processed by the task
    /// of its key's partition; its outputs as they come, not fed back.
    fn input(&mut self, topic: &str, key: &str, value: Option<&str>) -> Vec<(usize, Output)> {
        self.time += 1;
        let o = Output {
            topic: topic.into(),
            partition: None,
            key: Some(key.to_string().into()),
            value: value.map(|v| v.to_string().into()),
            timestamp: self.time,
            headers: vec![],
        };
        let p = self.route(&o);
        self.process(p, topic, &o)
    }

    /// Feeds the internal-topic records of `pending` to their partitions'
    /// tasks once; returns what that emits and the other records.
    fn hop(&mut self, pending: Vec<(usize, Output)>) -> Vec<(usize, Output)> {
        let mut next = Vec::new();
        for (from, o) in pending {
            if is_internal(&o.topic) {
                let p = self.route(&o);
                next.extend(self.process(p, &o.topic.clone(), &o));
            } else {
                next.push((from, o));
            }
        }
        next
    }

    /// Hops until nothing is on its way; the outputs left, with the task
    /// that emitted each.
    fn settle(&mut self, mut pending: Vec<(usize, Output)>) -> Vec<(usize, Output)> {
        while pending.iter().any(|(_, o)| is_internal(&o.topic)) {
            pending = self.hop(pending);
        }
        pending
    }

    /// An input record, settled: the results as (order, row or None).
    fn send(&mut self, topic: &str, key: &str, value: Option<&str>) -> Vec<Row> {
        let out = self.input(topic, key, value);
        rows(&self.settle(out))
    }
}

type Row = (String, Option<serde_json::Value>);

fn rows(out: &[(usize, Output)]) -> Vec<Row> {
    out.iter()
        .map(|(_, o)| {
            assert_eq!(o.topic, "enriched", "{o:?}");
            let key = String::from_utf8(o.key.as_deref().unwrap().to_vec()).unwrap();
            let value = o
                .value
                .as_deref()
                .map(|v| serde_json::from_slice(v).unwrap());
            (key, value)
        })
        .collect()
}

fn row(order: &str, amount: i64, name: Option<&str>) -> Row {
    (
        order.to_string(),
        Some(serde_json::json!({"amount": amount, "name": name})),
    )
}

fn tombstone(order: &str) -> Row {
    (order.to_string(), None)
}

fn order(customer: &str, amount: i64) -> String {
    format!(r#"{{"customer": "{customer}", "amount": {amount}}}"#)
}

fn customer(name: &str) -> String {
    format!(r#"{{"name": "{name}"}}"#)
}

/// Applies results to a table, as a consumer of the result topic would.
fn apply(table: &mut BTreeMap<String, serde_json::Value>, results: &[Row]) {
    for (k, v) in results {
        match v {
            Some(v) => table.insert(k.clone(), v.clone()),
            None => table.remove(k),
        };
    }
}

enum Change {
    Order(&'static str, Option<String>),
    Customer(&'static str, Option<String>),
}

/// The scenario both join kinds go through, with what each emits per
/// step (in the order emitted), worked out by hand.
fn scenario() -> Vec<(&'static str, Change, Vec<Row>, Vec<Row>)> {
    use Change::*;
    vec![
        (
            "a customer nobody references: nothing",
            Customer("c1", Some(customer("Ann"))),
            vec![],
            vec![],
        ),
        (
            "an order after its customer",
            Order("o1", Some(order("c1", 10))),
            vec![row("o1", 10, Some("Ann"))],
            vec![row("o1", 10, Some("Ann"))],
        ),
        (
            "an order before its customer: inner nothing, left with null",
            Order("o2", Some(order("c2", 20))),
            vec![],
            vec![row("o2", 20, None)],
        ),
        (
            "the customer comes",
            Customer("c2", Some(customer("Bob"))),
            vec![row("o2", 20, Some("Bob"))],
            vec![row("o2", 20, Some("Bob"))],
        ),
        (
            "a second order of c1",
            Order("o3", Some(order("c1", 30))),
            vec![row("o3", 30, Some("Ann"))],
            vec![row("o3", 30, Some("Ann"))],
        ),
        (
            "c1 updated: both its orders again",
            Customer("c1", Some(customer("Ann B"))),
            vec![row("o1", 10, Some("Ann B")), row("o3", 30, Some("Ann B"))],
            vec![row("o1", 10, Some("Ann B")), row("o3", 30, Some("Ann B"))],
        ),
        (
            "o1 moves to c2 (and changes amount)",
            Order("o1", Some(order("c2", 11))),
            vec![row("o1", 11, Some("Bob"))],
            vec![row("o1", 11, Some("Bob"))],
        ),
        (
            "c1 updated: only o3 references it now",
            Customer("c1", Some(customer("Ann C"))),
            vec![row("o3", 30, Some("Ann C"))],
            vec![row("o3", 30, Some("Ann C"))],
        ),
        (
            "o3 moves to a customer that does not exist: retracted / null",
            Order("o3", Some(order("c9", 30))),
            vec![tombstone("o3")],
            vec![row("o3", 30, None)],
        ),
        (
            "c1 updated: nobody references it",
            Customer("c1", Some(customer("Ann D"))),
            vec![],
            vec![],
        ),
        (
            "c2 deleted: its orders retracted / joined with null",
            Customer("c2", None),
            vec![tombstone("o1"), tombstone("o2")],
            vec![row("o1", 11, None), row("o2", 20, None)],
        ),
        (
            "o2 deleted: a tombstone (inner too, as Kafka Streams)",
            Order("o2", None),
            vec![tombstone("o2")],
            vec![tombstone("o2")],
        ),
        (
            "deleting a deleted order: nothing",
            Order("o2", None),
            vec![],
            vec![],
        ),
        (
            "the missing customer comes",
            Customer("c9", Some(customer("Cy"))),
            vec![row("o3", 30, Some("Cy"))],
            vec![row("o3", 30, Some("Cy"))],
        ),
        (
            "an order without a customer (null foreign key)",
            Order("o4", Some(r#"{"amount": 40}"#.to_string())),
            vec![],
            vec![row("o4", 40, None)],
        ),
        (
            "it gets one",
            Order("o4", Some(order("c9", 41))),
            vec![row("o4", 41, Some("Cy"))],
            vec![row("o4", 41, Some("Cy"))],
        ),
        (
            "and loses it again: retracted / null",
            Order("o4", Some(r#"{"amount": 42}"#.to_string())),
            vec![tombstone("o4")],
            vec![row("o4", 42, None)],
        ),
        (
            "c2 comes back: o1 references it still",
            Customer("c2", Some(customer("Bo"))),
            vec![row("o1", 11, Some("Bo"))],
            vec![row("o1", 11, Some("Bo"))],
        ),
    ]
}

fn run_scenario(app: &mut App, kind: JoinKind) -> BTreeMap<String, serde_json::Value> {
    let mut table = BTreeMap::new();
    for (what, change, inner, left) in scenario() {
        let got = match change {
            Change::Order(k, v) => app.send("orders", k, v.as_deref()),
            Change::Customer(k, v) => app.send("customers", k, v.as_deref()),
        };
        let want = if kind == JoinKind::Inner { inner } else { left };
        assert_eq!(got, want, "{kind:?}: {what}");
        apply(&mut table, &got);
    }
    table
}

fn final_table(rows: &[Row]) -> BTreeMap<String, serde_json::Value> {
    let mut t = BTreeMap::new();
    apply(&mut t, rows);
    t
}

#[test]
fn inner_join_follows_both_tables() {
    let mut app = App::new(&topology(JoinKind::Inner), 1);
    let table = run_scenario(&mut app, JoinKind::Inner);
    assert_eq!(
        table,
        final_table(&[row("o1", 11, Some("Bo")), row("o3", 30, Some("Cy"))])
    );
}

#[test]
fn left_join_follows_both_tables() {
    let mut app = App::new(&topology(JoinKind::Left), 1);
    let table = run_scenario(&mut app, JoinKind::Left);
    assert_eq!(
        table,
        final_table(&[
            row("o1", 11, Some("Bo")),
            row("o3", 30, Some("Cy")),
            row("o4", 42, None),
        ])
    );
}

#[test]
fn the_same_scenario_over_two_partitions() {
    for kind in [JoinKind::Inner, JoinKind::Left] {
        let mut app = App::new(&topology(kind), 2);
        let one = run_scenario(&mut App::new(&topology(kind), 1), kind);
        assert_eq!(run_scenario(&mut app, kind), one, "{kind:?}");
    }
}

#[test]
fn subscriptions_reach_the_right_rows_partition_and_answers_come_back() {
    // The producer's partitions of the keys used (murmur2, 2 partitions),
    // checked against Kafka's own test vectors first.
    assert_eq!(murmur2(b"21"), -973_932_308);
    assert_eq!(murmur2(b"foobar"), -790_332_482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
    let part = |k: &str| partition_of(k.as_bytes(), 2);
    assert_eq!((part("o1"), part("o2")), (1, 0));
    assert_eq!((part("c1"), part("c4")), (1, 0));

    let mut app = App::new(&topology(JoinKind::Inner), 2);
    assert!(app
        .send("customers", "c1", Some(&customer("Ann")))
        .is_empty());
    assert!(app
        .send("customers", "c4", Some(&customer("Dee")))
        .is_empty());

    // o2 (partition 0) names c1 (partition 1): its subscription goes to
    // partition 1, the answer back to partition 0, whose task emits.
    let out = app.input("orders", "o2", Some(&order("c1", 20)));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 0, "the order's task subscribes");
    assert_eq!(out[0].1.topic, REGISTRATION);
    assert_eq!(out[0].1.key.as_deref(), Some(&b"c1"[..]));
    assert_eq!(app.route(&out[0].1), 1, "to the customer's partition");
    let answer = app.hop(out);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].0, 1, "the customer's task answers");
    assert_eq!(answer[0].1.topic, RESPONSE);
    assert_eq!(app.route(&answer[0].1), 0, "to the order's partition");
    let result = app.hop(answer);
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].0, 0, "the order's task emits the result");
    assert_eq!(rows(&result), vec![row("o2", 20, Some("Ann"))]);

    // And the other way round: o1 (partition 1) names c4 (partition 0).
    let out = app.input("orders", "o1", Some(&order("c4", 10)));
    assert_eq!((out[0].0, app.route(&out[0].1)), (1, 0));
    let result = app.settle(out);
    assert_eq!(result[0].0, 1);
    assert_eq!(rows(&result), vec![row("o1", 10, Some("Dee"))]);

    // A customer's change reaches the orders in the other partition.
    let out = app.input("customers", "c1", Some(&customer("Ann B")));
    assert_eq!(out[0].0, 1);
    assert_eq!(app.route(&out[0].1), 0);
    let result = app.settle(out);
    assert_eq!(result[0].0, 0);
    assert_eq!(rows(&result), vec![row("o2", 20, Some("Ann B"))]);

    // Each side's task holds the subscriptions of its own customers.
    let subs = |t: &Task| {
        t.store_sizes()
            .into_iter()
            .find(|(s, _)| s == "order-customer-subscription-store")
            .unwrap()
            .1
    };
    assert_eq!((subs(&app.tasks[0]), subs(&app.tasks[1])), (1, 1));
}

#[test]
fn a_stale_response_is_dropped() {
    for kind in [JoinKind::Inner, JoinKind::Left] {
        let mut app = App::new(&topology(kind), 2);
        app.send("customers", "c1", Some(&customer("Ann")));
        app.send("customers", "c4", Some(&customer("Dee")));

        // o2 is updated twice before the first subscription is answered;
        // the answer to the second (from c4's partition) comes back first,
        // the one to the first (c1's) after it: only the latest counts.
        let first = app.input("orders", "o2", Some(&order("c1", 1)));
        let second = app.input("orders", "o2", Some(&order("c4", 2)));
        let first_answer = app.hop(first);
        let second_answer = app.hop(second);
        assert_eq!(first_answer.len(), 1, "c1 answers o2's first value");
        assert_eq!(
            rows(&app.hop(second_answer)),
            vec![row("o2", 2, Some("Dee"))]
        );
        assert_eq!(rows(&app.hop(first_answer)), vec![], "stale: dropped");

        // Both in order, same foreign key: only the latest is emitted.
        let first = app.input("orders", "o5", Some(&order("c1", 1)));
        let second = app.input("orders", "o5", Some(&order("c1", 2)));
        let mut both = first;
        both.extend(second);
        assert_eq!(
            rows(&app.settle(both)),
            vec![row("o5", 2, Some("Ann"))],
            "{kind:?}"
        );

        // o2 left c1 (its unsubscription went in order after the
        // subscription): c1's changes no longer reach it.
        assert_eq!(
            app.send("customers", "c1", Some(&customer("Ann B"))),
            vec![row("o5", 2, Some("Ann B"))]
        );
    }
}

#[test]
fn an_answer_to_a_deleted_row_is_dropped() {
    let mut app = App::new(&topology(JoinKind::Left), 1);
    app.send("customers", "c1", Some(&customer("Ann")));
    let subscribed = app.input("orders", "o1", Some(&order("c1", 1)));
    let deleted = app.input("orders", "o1", None);
    let answer = app.hop(subscribed);
    // The delete's own answer comes back first, then the answer to the
    // subscription: dropped, the tombstone stands.
    assert_eq!(rows(&app.settle(deleted)), vec![tombstone("o1")]);
    assert_eq!(rows(&app.hop(answer)), vec![]);
    // The unsubscription followed the subscription: none is left.
    let sizes = app.tasks[0].store_sizes();
    assert!(sizes.contains(&("order-customer-subscription-store".to_string(), 0)));
}

#[test]
fn a_restored_task_goes_on_joining() {
    for kind in [JoinKind::Inner, JoinKind::Left] {
        let topology = topology(kind);
        assert!(topology
            .changelog_topics()
            .contains(&STORE_CHANGELOG.to_string()));
        let mut app = App::new(&topology, 1);
        app.send("customers", "c1", Some(&customer("Ann")));
        app.send("orders", "o1", Some(&order("c1", 10)));
        app.send("orders", "o3", Some(&order("c1", 30)));
        app.send("orders", "o2", Some(&order("c2", 20)));
        app.send("orders", "o2", Some(&order("c1", 21)));
        let changelogs = app.tasks[0].take_changelogs();
        assert!(changelogs.iter().any(|o| o.topic == STORE_CHANGELOG));

        // Another instance takes the task over from the changelogs.
        let mut restored = App::new(&topology, 1);
        for o in &changelogs {
            restored.tasks[0]
                .restore(&o.topic, o.key.as_deref().unwrap(), o.value.as_deref())
                .unwrap();
        }
        restored.tasks[0].finish_restore().unwrap();
        assert_eq!(
            restored.tasks[0].store_sizes(),
            app.tasks[0].store_sizes(),
            "{kind:?}"
        );
        // c1's change reaches the three orders: the subscriptions were
        // restored (o2 moved off c2: nothing of c2's reaches it).
        assert_eq!(
            restored.send("customers", "c1", Some(&customer("Ann B"))),
            vec![
                row("o1", 10, Some("Ann B")),
                row("o2", 21, Some("Ann B")),
                row("o3", 30, Some("Ann B")),
            ]
        );
        let c2 = restored.send("customers", "c2", Some(&customer("Bob")));
        assert_eq!(c2, vec![], "{kind:?}");
        // An order's change is checked against the restored order row.
        assert_eq!(restored.send("orders", "o1", None), vec![tombstone("o1")]);
        assert_eq!(
            restored.send("customers", "c1", Some(&customer("Ann C"))),
            vec![row("o2", 21, Some("Ann C")), row("o3", 30, Some("Ann C"))]
        );
    }
}

#[test]
fn the_topology_names_its_internal_topics_and_refuses_outer_joins() {
    let t = topology(JoinKind::Inner);
    let sources = t.source_topics();
    assert!(sources.contains(&REGISTRATION.to_string()));
    assert!(sources.contains(&RESPONSE.to_string()));
    // The runtime creates the topics the topology writes that are missing.
    let outputs = t.output_topics();
    assert!(outputs.contains(&REGISTRATION.to_string()));
    assert!(outputs.contains(&RESPONSE.to_string()));
    assert_eq!(t.input_topics(), vec!["orders", "customers"]);
    assert_eq!(
        t.changelog_topics(),
        vec![
            "shop-orders-changelog",
            "shop-customers-changelog",
            STORE_CHANGELOG
        ]
    );

    let b = StreamsBuilder::new("shop");
    let orders = b.table("orders", "orders", Format::String, Format::Json);
    let customers = b.table("customers", "customers", Format::String, Format::Json);
    orders
        .join_foreign_key(
            &customers,
            "oc",
            JoinKind::Outer,
            |o| o.field("customer").cloned().unwrap_or(Value::Null),
            |o, _| Ok(o.clone()),
        )
        .to("out", Format::String, Format::Json);
    assert!(matches!(b.build(), Err(Error::Topology(_))));
}
