//! Consumer groups (classic protocol, and KIP-848 for the seed 000 scenario)
//! with librdkafka through the `rdkafka`
//! crate, against `fjord serve` at its default settings (the initial
//! rebalance delay is Kafka's 3 s): the seed 000 scenario, a rebalance
//! with the eager (range) and cooperative-sticky assignors, static
//! membership, stop and resume, and auto.offset.reset for a new group.
//!
//! Each member is a thread polling its own `BaseConsumer` and recording
//! what it sees (rebalance callbacks, records, successful commits) with a
//! time stamp, so a test can put the members' histories in one order.
//! Killing a member without a LeaveGroup needs a process: that case is in
//! tests/conformance/test_groups.py (confluent-kafka is librdkafka too).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::Broker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(40);

fn config(broker: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.addr.to_string());
    c
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(broker).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics(
            [&NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(
        results.iter().all(|r| r.is_ok()),
        "create {name}: {results:?}"
    );
}

/// Produces records `from..from + count` (key `key-{i % 100}`); returns
/// their (partition, offset).
fn produce(broker: &Broker, topic: &str, from: usize, count: usize) -> BTreeSet<(i32, i64)> {
    let producer: FutureProducer = config(broker).set("linger.ms", "5").create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut acks = BTreeSet::new();
        let keys: Vec<(String, String)> = (from..from + count)
            .map(|i| (format!("key-{}", i % 100), format!("value-{i}")))
            .collect();
        // send_result enqueues at once (send() is lazy: awaiting one
        // after another would send one record at a time).
        let sends: Vec<_> = keys
            .iter()
            .map(|(k, v)| {
                producer
                    .send_result(FutureRecord::to(topic).key(k).payload(v))
                    .map_err(|(e, _)| e)
                    .expect("enqueued")
            })
            .collect();
        for s in sends {
            let d = s
                .await
                .expect("not cancelled")
                .map_err(|(e, _)| e)
                .expect("delivered");
            acks.insert((d.partition, d.offset));
        }
        acks
    })
}

/// What a member saw, in order, each with the time since the test began.
#[derive(Debug, Clone)]
enum Event {
    Assign(Vec<i32>),
    Revoke(Vec<i32>),
    Records(Vec<(i32, i64)>),
    Committed(Vec<(i32, i64)>),
}

#[derive(Default)]
struct Log {
    events: Mutex<Vec<(Instant, Event)>>,
}

impl Log {
    fn push(&self, e: Event) {
        self.events.lock().unwrap().push((Instant::now(), e));
    }
}

struct Recorder(Arc<Log>);

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            self.0.push(Event::Revoke(partitions(tpl)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = r {
            self.0.push(Event::Assign(partitions(tpl)));
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

/// One group member on its own thread.
struct Member {
    name: String,
    log: Arc<Log>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Clone, Copy)]
enum Commits {
    Auto,
    /// Synchronously, after each polled batch is recorded.
    Manual,
}

impl Member {
    fn spawn(
        name: &str,
        broker: &Broker,
        topic: &str,
        group: &str,
        commits: Commits,
        extra: &[(&str, &str)],
    ) -> Member {
        let mut c = config(broker);
        c.set("group.id", group)
            .set("client.id", name)
            .set("auto.offset.reset", "earliest")
            .set(
                "enable.auto.commit",
                if matches!(commits, Commits::Auto) {
                    "true"
                } else {
                    "false"
                },
            );
        for (k, v) in extra {
            c.set(*k, *v);
        }
        let log = Arc::new(Log::default());
        let consumer: BaseConsumer<Recorder> =
            c.create_with_context(Recorder(log.clone())).unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2, topic) = (log.clone(), stop.clone(), topic.to_string());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let mut batch = Vec::new();
                if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                    let m = m.expect("poll without error");
                    batch.push((m.partition(), m.offset()));
                    // Whatever else is already fetched, as one batch.
                    while let Some(m) = consumer.poll(Duration::ZERO) {
                        let m = m.expect("poll without error");
                        batch.push((m.partition(), m.offset()));
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                log2.push(Event::Records(batch.clone()));
                if matches!(commits, Commits::Manual) {
                    let mut upto: BTreeMap<i32, i64> = BTreeMap::new();
                    for (p, o) in &batch {
                        let e = upto.entry(*p).or_insert(0);
                        *e = (*e).max(o + 1);
                    }
                    let mut tpl = TopicPartitionList::new();
                    for (p, o) in &upto {
                        tpl.add_partition_offset(&topic, *p, Offset::Offset(*o))
                            .unwrap();
                    }
                    // A commit refused because of a rebalance is fine: the
                    // records are delivered again.
                    if consumer.commit(&tpl, CommitMode::Sync).is_ok() {
                        log2.push(Event::Committed(upto.into_iter().collect()));
                    }
                }
            }
            drop(consumer); // close: auto commit, LeaveGroup unless static
        });
        Member {
            name: name.to_string(),
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn events(&self) -> Vec<(Instant, Event)> {
        self.log.events.lock().unwrap().clone()
    }

    /// The partitions it holds now, from its rebalance callbacks.
    fn assignment(&self) -> BTreeSet<i32> {
        let mut held = BTreeSet::new();
        for (_, e) in self.events() {
            match e {
                Event::Assign(ps) => held.extend(ps),
                Event::Revoke(ps) => ps.iter().for_each(|p| {
                    held.remove(p);
                }),
                _ => {}
            }
        }
        held
    }

    fn records(&self) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for (_, e) in self.events() {
            if let Event::Records(rs) = e {
                out.extend(rs);
            }
        }
        out
    }

    fn committed(&self) -> BTreeMap<i32, i64> {
        let mut out = BTreeMap::new();
        for (_, e) in self.events() {
            if let Event::Committed(cs) = e {
                for (p, o) in cs {
                    let e = out.entry(p).or_insert(0);
                    *e = (*e).max(o);
                }
            }
        }
        out
    }

    fn rebalance_events(&self) -> usize {
        self.events()
            .iter()
            .filter(|(_, e)| matches!(e, Event::Assign(_) | Event::Revoke(_)))
            .count()
    }

    /// Closes the consumer (commit, LeaveGroup) and waits for it.
    fn stop(mut self) -> Member {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("member thread");
        }
        self
    }

    fn describe(&self) -> String {
        format!(
            "{}: holds {:?}, {} records, commits {:?}",
            self.name,
            self.assignment(),
            self.records().len(),
            self.committed()
        )
    }
}

impl Drop for Member {
    /// Closes the consumer while the broker (declared earlier, dropped
    /// later) is still up.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn wait_until(what: &str, members: &[&Member], mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            members
                .iter()
                .map(|m| m.describe())
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Disjoint assignments covering `0..partitions`, sizes within one.
fn split_evenly(members: &[&Member], partitions: i32) -> bool {
    let held: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
    let union: BTreeSet<i32> = held.iter().flatten().copied().collect();
    let sizes: Vec<usize> = held.iter().map(|h| h.len()).collect();
    sizes.iter().sum::<usize>() == partitions as usize
        && union == (0..partitions).collect()
        && sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1
}

fn end_offsets(broker: &Broker, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let c: BaseConsumer = config(broker).set("group.id", "probe").create().unwrap();
    (0..partitions)
        .map(|p| {
            let (_, high) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            (p, high)
        })
        .collect()
}

fn committed_offsets(
    broker: &Broker,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, i64> {
    let c: BaseConsumer = config(broker).set("group.id", group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    c.committed_offsets(tpl, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => (e.partition(), o),
            other => panic!(
                "partition {}: no committed offset ({other:?})",
                e.partition()
            ),
        })
        .collect()
}

/// Seed 000: group "db" of two members splits a 4-partition topic (2
/// each, disjoint) and together gets each of 10,000 keyed records once;
/// group "backup" of one gets every record. "db" auto-commits, "backup"
/// commits by hand; both end at the end offsets.
#[test]
fn seed_000_db_group_splits_and_backup_gets_everything() {
    seed_000(&[]);
}

/// The same scenario on the KIP-848 consumer protocol: the broker assigns
/// (its default `uniform` assignor) and the members heartbeat with
/// ConsumerGroupHeartbeat instead of JoinGroup/SyncGroup.
#[test]
fn seed_000_on_the_kip_848_consumer_protocol() {
    seed_000(&[("group.protocol", "consumer")]);
}

fn seed_000(protocol: &[(&str, &str)]) {
    let broker = Broker::start();
    create_topic(&broker, "bids", 4);
    let db1 = Member::spawn("db1", &broker, "bids", "db", Commits::Auto, protocol);
    let db2 = Member::spawn("db2", &broker, "bids", "db", Commits::Auto, protocol);
    let backup = Member::spawn(
        "backup",
        &broker,
        "bids",
        "backup",
        Commits::Manual,
        protocol,
    );
    let all = [&db1, &db2, &backup];
    wait_until("db split 2/2, backup holding all 4", &all, || {
        split_evenly(&[&db1, &db2], 4) && backup.assignment().len() == 4
    });
    let held = [db1.assignment(), db2.assignment()];
    assert_eq!([held[0].len(), held[1].len()], [2, 2]);

    let acks = produce(&broker, "bids", 0, 10_000);
    assert_eq!(acks.len(), 10_000);
    wait_until("every record in db and backup", &all, || {
        let db: HashSet<_> = db1.records().into_iter().chain(db2.records()).collect();
        let b: HashSet<_> = backup.records().into_iter().collect();
        acks.iter().all(|r| db.contains(r) && b.contains(r))
    });
    let (db1, db2, backup) = (db1.stop(), db2.stop(), backup.stop());

    let mut db: Vec<_> = db1.records();
    for (p, _) in &db {
        assert!(
            held[0].contains(p),
            "db1 read partition {p} outside {:?}",
            held[0]
        );
    }
    for (p, _) in db2.records() {
        assert!(
            held[1].contains(&p),
            "db2 read partition {p} outside {:?}",
            held[1]
        );
    }
    db.extend(db2.records());
    db.sort();
    assert_eq!(
        db,
        acks.iter().copied().collect::<Vec<_>>(),
        "db: each record once"
    );
    let mut b = backup.records();
    b.sort();
    assert_eq!(
        b,
        acks.iter().copied().collect::<Vec<_>>(),
        "backup: each record once"
    );
    let end = end_offsets(&broker, "bids", 4);
    assert_eq!(committed_offsets(&broker, "db", "bids", 4), end);
    assert_eq!(committed_offsets(&broker, "backup", "bids", 4), end);
}

/// Two members, a third joins (6 partitions spread 2/2/2), then one
/// leaves: the other two take its partitions. Records flow throughout;
/// commits are manual, after processing: every record is processed, none
/// below an offset already committed for its partition.
fn rebalance_with(assignor: &str) {
    let broker = Broker::start();
    let topic = "moving";
    create_topic(&broker, topic, 6);
    let extra = [
        ("partition.assignment.strategy", assignor),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
    ];
    let spawn = |name: &str| Member::spawn(name, &broker, topic, "g", Commits::Manual, &extra);
    let (m1, m2) = (spawn("m1"), spawn("m2"));
    wait_until("two members splitting 6 partitions", &[&m1, &m2], || {
        split_evenly(&[&m1, &m2], 6)
    });
    let mut acks = produce(&broker, topic, 0, 600);
    let m3 = spawn("m3");
    wait_until("three members holding 2 each", &[&m1, &m2, &m3], || {
        split_evenly(&[&m1, &m2, &m3], 6)
    });
    acks.extend(produce(&broker, topic, 600, 600));
    wait_until("records reaching the new member", &[&m1, &m2, &m3], || {
        !m3.records().is_empty()
    });
    let m2 = m2.stop();
    wait_until("two members taking over", &[&m1, &m3], || {
        split_evenly(&[&m1, &m3], 6)
    });
    acks.extend(produce(&broker, topic, 1200, 600));
    wait_until("every record processed", &[&m1, &m3], || {
        let got: HashSet<_> = [&m1, &m2, &m3].iter().flat_map(|m| m.records()).collect();
        acks.iter().all(|r| got.contains(r))
    });
    let (m1, m3) = (m1.stop(), m3.stop());

    // In time order over the three members: no offset below a commit.
    let mut timeline: Vec<(Instant, Event)> =
        [&m1, &m2, &m3].iter().flat_map(|m| m.events()).collect();
    timeline.sort_by_key(|(t, _)| *t);
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    for (_, e) in timeline {
        match e {
            Event::Committed(cs) => {
                for (p, o) in cs {
                    let c = committed.entry(p).or_insert(0);
                    *c = (*c).max(o);
                }
            }
            Event::Records(rs) => {
                for (p, o) in rs {
                    let c = committed.get(&p).copied().unwrap_or(0);
                    assert!(
                        o >= c,
                        "{assignor}: partition {p} offset {o} delivered after {c} was committed"
                    );
                }
            }
            _ => {}
        }
    }
}

#[test]
fn rebalance_eager_range() {
    rebalance_with("range");
}

#[test]
fn rebalance_cooperative_sticky() {
    rebalance_with("cooperative-sticky");
}

/// Static membership: a member closed (static members send no
/// LeaveGroup) and restarted within its session timeout gets its
/// partitions back; the other member sees no rebalance.
#[test]
fn static_member_restart_keeps_partitions_without_a_rebalance() {
    let broker = Broker::start();
    create_topic(&broker, "static", 4);
    let spawn = |name: &str, instance: &str| {
        Member::spawn(
            name,
            &broker,
            "static",
            "g",
            Commits::Manual,
            &[
                ("group.instance.id", instance),
                ("session.timeout.ms", "15000"),
            ],
        )
    };
    let (a, b) = (spawn("a", "inst-a"), spawn("b", "inst-b"));
    wait_until("two static members splitting 4", &[&a, &b], || {
        split_evenly(&[&a, &b], 4)
    });
    // Restart each in turn, so the leader is restarted once.
    let mut members = [Some(a), Some(b)];
    for (i, instance) in ["inst-a", "inst-b"].into_iter().enumerate() {
        let old = members[i].take().unwrap().stop();
        let other = members[1 - i].as_ref().unwrap();
        let (mine, before) = (old.assignment_before_close(), other.rebalance_events());
        let started = Instant::now();
        let new = spawn(&format!("{instance}-again"), instance);
        wait_until(
            "the restarted member getting its partitions back",
            &[&new, other],
            || new.assignment() == mine,
        );
        assert!(started.elapsed() < Duration::from_secs(15));
        let acks = produce(&broker, "static", i * 100, 100);
        wait_until("records to both", &[&new, other], || {
            let got: HashSet<_> = new.records().into_iter().chain(other.records()).collect();
            acks.iter().all(|r| got.contains(r))
        });
        assert_eq!(
            other.rebalance_events(),
            before,
            "restarting {instance}: the other member went through a rebalance"
        );
        members[i] = Some(new);
    }
}

impl Member {
    /// What it held before its own close revoked everything.
    fn assignment_before_close(&self) -> BTreeSet<i32> {
        let mut held = BTreeSet::new();
        let events = self.events();
        let last_assign = events
            .iter()
            .rposition(|(_, e)| matches!(e, Event::Assign(_)))
            .expect("was assigned");
        for (_, e) in &events[..=last_assign] {
            match e {
                Event::Assign(ps) => held.extend(ps.iter().copied()),
                Event::Revoke(ps) => ps.iter().for_each(|p| {
                    held.remove(p);
                }),
                _ => {}
            }
        }
        held
    }
}

/// A member commits and stops; a new one continues from the committed
/// offsets and reads exactly the records produced since.
#[test]
fn stop_and_resume_from_committed_offsets() {
    let broker = Broker::start();
    create_topic(&broker, "resume", 2);
    for round in 0..2 {
        let acks = produce(&broker, "resume", round * 300, 300);
        let end = end_offsets(&broker, "resume", 2);
        let m = Member::spawn("r", &broker, "resume", "g", Commits::Manual, &[]);
        wait_until("committing to the end", &[&m], || m.committed() == end);
        let m = m.stop();
        let mut got = m.records();
        got.sort();
        assert_eq!(
            got,
            acks.iter().copied().collect::<Vec<_>>(),
            "round {round}"
        );
        assert_eq!(committed_offsets(&broker, "g", "resume", 2), end);
    }
}

/// A new group starts at the log start (earliest) or at the end (latest:
/// only what is produced after it joined).
#[test]
fn auto_offset_reset_earliest_and_latest() {
    let broker = Broker::start();
    create_topic(&broker, "reset", 2);
    let old = produce(&broker, "reset", 0, 100);
    let spawn = |reset: &str| {
        Member::spawn(
            reset,
            &broker,
            "reset",
            &format!("g-{reset}"),
            Commits::Manual,
            &[("auto.offset.reset", reset)],
        )
    };
    let (earliest, latest) = (spawn("earliest"), spawn("latest"));
    wait_until("both assigned", &[&earliest, &latest], || {
        earliest.assignment().len() == 2 && latest.assignment().len() == 2
    });
    std::thread::sleep(Duration::from_millis(1500)); // let "latest" resolve
    let new = produce(&broker, "reset", 100, 50);
    let all: BTreeSet<_> = old.union(&new).copied().collect();
    wait_until("records", &[&earliest, &latest], || {
        let (e, l): (HashSet<_>, HashSet<_>) = (
            earliest.records().into_iter().collect(),
            latest.records().into_iter().collect(),
        );
        all.iter().all(|r| e.contains(r)) && new.iter().all(|r| l.contains(r))
    });
    std::thread::sleep(Duration::from_millis(300));
    let (earliest, latest) = (earliest.stop(), latest.stop());
    let sorted = |mut v: Vec<(i32, i64)>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(earliest.records()),
        all.into_iter().collect::<Vec<_>>()
    );
    assert_eq!(
        sorted(latest.records()),
        new.into_iter().collect::<Vec<_>>()
    );
}
