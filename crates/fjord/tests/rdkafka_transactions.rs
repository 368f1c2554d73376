//! Transactions with librdkafka through the `rdkafka` crate, against a real
//! `fjord serve`: a transactional producer sends to 3 partitions and commits
//! a group's offsets with send_offsets_to_transaction; one transaction
//! commits, one aborts, one commits; a read_committed consumer sees only the
//! committed records, in order, a read_uncommitted one sees the aborted ones
//! too; the group's offsets move only on commit; the last stable offset holds
//! back a plain record appended behind an open transaction; and a zombie
//! producer fenced by a new instance with its transactional.id cannot commit.
//! The same scenario as tests/conformance/test_transactions_java.py.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Broker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 4;
const TIMEOUT: Duration = Duration::from_secs(30);

type Plain = ThreadedProducer<rdkafka::producer::DefaultProducerContext>;

fn config(broker: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.addr.to_string());
    c
}

fn create_topics(broker: &Broker, names: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = config(broker).create().unwrap();
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime
        .block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "create: {results:?}");
}

fn transactional(broker: &Broker, id: &str) -> Plain {
    let producer: Plain = config(broker).set("transactional.id", id).create().unwrap();
    producer
        .init_transactions(TIMEOUT)
        .expect("init_transactions");
    producer
}

fn plain(broker: &Broker) -> Plain {
    config(broker).create().unwrap()
}

fn send(producer: &Plain, topic: &str, partition: i32, value: &str) {
    producer
        .send(
            BaseRecord::<(), str>::to(topic)
                .partition(partition)
                .payload(value),
        )
        .map_err(|(e, _)| e)
        .expect("send");
}

/// NAME-p-i for i in 0..PER_PARTITION to every partition.
fn send_all(producer: &Plain, topic: &str, name: &str) {
    for i in 0..PER_PARTITION {
        for p in 0..PARTITIONS {
            send(producer, topic, p, &format!("{name}-{p}-{i}"));
        }
    }
}

fn values(name: &str, p: i32) -> Vec<String> {
    (0..PER_PARTITION)
        .map(|i| format!("{name}-{p}-{i}"))
        .collect()
}

fn offsets_of(topic: &str, offset: i64) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Offset(offset))
            .unwrap();
    }
    tpl
}

fn reader(broker: &Broker, isolation: &str) -> BaseConsumer {
    config(broker)
        .set("group.id", "never-joined")
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Per partition, (offset, value) from the beginning up to the end of the
/// partition for this isolation level (EOF on every partition), reading for
/// at least `min` so records that should stay invisible get their chance.
fn read(
    broker: &Broker,
    topic: &str,
    isolation: &str,
    min: Duration,
) -> BTreeMap<i32, Vec<(i64, String)>> {
    let consumer = reader(broker, isolation);
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    let mut out: BTreeMap<i32, Vec<(i64, String)>> =
        (0..PARTITIONS).map(|p| (p, Vec::new())).collect();
    let mut eof = std::collections::BTreeSet::new();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{isolation} read of {topic}: no EOF on every partition after 60 s (EOF: {eof:?}); read {out:?}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                eof.insert(p);
            }
            Some(Err(e)) => panic!("{isolation} read of {topic}: {e}"),
            Some(Ok(m)) => {
                eof.remove(&m.partition());
                let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
                out.get_mut(&m.partition())
                    .unwrap()
                    .push((m.offset(), value));
            }
        }
        if eof.len() == PARTITIONS as usize && start.elapsed() >= min {
            return out;
        }
    }
}

/// The end offset of each partition as a consumer of this isolation level
/// sees it (ListOffsets: the LSO for read_committed).
fn end_offsets(broker: &Broker, topic: &str, isolation: &str) -> Vec<i64> {
    let consumer = reader(broker, isolation);
    (0..PARTITIONS)
        .map(|p| consumer.fetch_watermarks(topic, p, TIMEOUT).unwrap().1)
        .collect()
}

/// The group's committed offset per partition of `topic` (None: none).
///
/// With read_uncommitted, librdkafka's OffsetFetch does not set
/// require_stable: with read_committed (its default) the broker answers
/// UNSTABLE_OFFSET_COMMIT while a transaction holds pending offsets for the
/// group, as Kafka does (KIP-447), and librdkafka retries until it ends.
fn group_offsets(broker: &Broker, group: &str, topic: &str) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = config(broker)
        .set("group.id", group)
        .set("isolation.level", "read_uncommitted")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT).unwrap();
    (0..PARTITIONS)
        .map(
            |p| match committed.find_partition(topic, p).unwrap().offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            },
        )
        .collect()
}

fn just_values(records: &[(i64, String)]) -> Vec<String> {
    records.iter().map(|(_, v)| v.clone()).collect()
}

fn assert_increasing(parts: &BTreeMap<i32, Vec<(i64, String)>>, who: &str) {
    for (p, recs) in parts {
        assert!(
            recs.windows(2).all(|w| w[0].0 < w[1].0),
            "{who}: partition {p} offsets not increasing: {recs:?}"
        );
    }
}

#[test]
fn commit_abort_read_committed_and_uncommitted() {
    let broker = Broker::start();
    let (input, output, group) = ("txn-in", "txn-out", "txn-group");
    create_topics(&broker, &[input, output]);
    let filler = plain(&broker);
    for p in 0..PARTITIONS {
        for i in 0..10 {
            send(&filler, input, p, &format!("in-{p}-{i}"));
        }
    }
    filler.flush(TIMEOUT).unwrap();

    // A member of the group, as in a consume-transform-produce loop.
    let consumer: BaseConsumer = config(&broker)
        .set("group.id", group)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[input]).unwrap();
    let mut read_in = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_in < 30 {
        assert!(
            Instant::now() < deadline,
            "the group's consumer read {read_in} of 30"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            m.expect("input record");
            read_in += 1;
        }
    }
    let cgm = consumer.group_metadata().expect("group metadata");

    let producer = transactional(&broker, "txn-rdkafka");
    producer.begin_transaction().unwrap();
    send_all(&producer, output, "t1");
    producer.flush(TIMEOUT).unwrap();
    producer
        .send_offsets_to_transaction(&offsets_of(input, 5), &cgm, TIMEOUT)
        .expect("send_offsets_to_transaction t1");
    send(&filler, output, 0, "plain-0");
    filler.flush(TIMEOUT).unwrap();

    // t1 is open: invisible to read_committed, and so is the plain record
    // behind it (the LSO holds); the group's offsets are not committed.
    assert_eq!(
        group_offsets(&broker, group, input),
        vec![None; 3],
        "offsets before the commit"
    );
    assert_eq!(
        end_offsets(&broker, output, "read_committed"),
        vec![0, 0, 0],
        "LSO with t1 open"
    );
    assert_eq!(
        end_offsets(&broker, output, "read_uncommitted"),
        vec![5, 4, 4],
        "high watermarks with t1 open"
    );
    let open_rc = read(&broker, output, "read_committed", Duration::from_secs(3));
    assert!(
        open_rc.values().all(Vec::is_empty),
        "read_committed saw an open transaction: {open_rc:?}"
    );
    let open_ru = read(&broker, output, "read_uncommitted", Duration::ZERO);
    for p in 0..PARTITIONS {
        let mut want = values("t1", p);
        if p == 0 {
            want.push("plain-0".into());
        }
        assert_eq!(
            just_values(&open_ru[&p]),
            want,
            "read_uncommitted, t1 open, partition {p}"
        );
    }

    producer.commit_transaction(TIMEOUT).expect("commit t1");
    assert_eq!(
        group_offsets(&broker, group, input),
        vec![Some(5); 3],
        "after t1 commit"
    );

    producer.begin_transaction().unwrap();
    send_all(&producer, output, "t2");
    producer
        .send_offsets_to_transaction(&offsets_of(input, 8), &cgm, TIMEOUT)
        .expect("send_offsets_to_transaction t2");
    producer.flush(TIMEOUT).unwrap();
    producer.abort_transaction(TIMEOUT).expect("abort t2");
    assert_eq!(
        group_offsets(&broker, group, input),
        vec![Some(5); 3],
        "after t2 abort"
    );

    producer.begin_transaction().unwrap();
    send_all(&producer, output, "t3");
    producer
        .send_offsets_to_transaction(&offsets_of(input, 10), &cgm, TIMEOUT)
        .expect("send_offsets_to_transaction t3");
    producer.commit_transaction(TIMEOUT).expect("commit t3");
    assert_eq!(
        group_offsets(&broker, group, input),
        vec![Some(10); 3],
        "after t3 commit"
    );

    // One control record per partition per transaction.
    assert_eq!(
        end_offsets(&broker, output, "read_uncommitted"),
        vec![16, 15, 15]
    );
    assert_eq!(
        end_offsets(&broker, output, "read_committed"),
        vec![16, 15, 15]
    );
    let ru = read(&broker, output, "read_uncommitted", Duration::ZERO);
    let rc = read(&broker, output, "read_committed", Duration::ZERO);
    assert_increasing(&ru, "read_uncommitted");
    for p in 0..PARTITIONS {
        let mut want = values("t1", p);
        if p == 0 {
            want.push("plain-0".into());
        }
        want.extend(values("t2", p));
        want.extend(values("t3", p));
        assert_eq!(just_values(&ru[&p]), want, "read_uncommitted partition {p}");
        let committed: Vec<(i64, String)> = ru[&p]
            .iter()
            .filter(|(_, v)| !v.starts_with("t2-"))
            .cloned()
            .collect();
        assert_eq!(rc[&p], committed, "read_committed partition {p}");
    }
}

#[test]
fn fenced_zombie_cannot_commit() {
    let broker = Broker::start();
    let topic = "zombie";
    create_topics(&broker, &[topic]);
    let zombie = transactional(&broker, "txn-zombie");
    zombie.begin_transaction().unwrap();
    send_all(&zombie, topic, "zA");
    zombie.flush(TIMEOUT).unwrap();

    // A new instance with the same transactional.id fences the old one and
    // aborts its open transaction.
    let successor = transactional(&broker, "txn-zombie");

    send(&zombie, topic, 0, "zA-late");
    let err = zombie
        .commit_transaction(TIMEOUT)
        .expect_err("a fenced producer's commit must fail");
    let code = match &err {
        KafkaError::Transaction(e) => e.code(),
        other => panic!("commit failed with a non-transaction error: {other}"),
    };
    assert!(
        matches!(
            code,
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
        ),
        "the zombie's commit failed with {code:?} ({err}), not as fenced"
    );

    successor.begin_transaction().unwrap();
    send_all(&successor, topic, "zB");
    successor
        .commit_transaction(TIMEOUT)
        .expect("successor commits");
    drop(zombie);

    let rc = read(&broker, topic, "read_committed", Duration::ZERO);
    let ru = read(&broker, topic, "read_uncommitted", Duration::ZERO);
    assert_increasing(&ru, "read_uncommitted");
    for p in 0..PARTITIONS {
        assert_eq!(
            just_values(&rc[&p]),
            values("zB", p),
            "read_committed partition {p}"
        );
        let mut want = values("zA", p);
        want.extend(values("zB", p));
        // The zombie's send after the fence must not be written at all.
        assert_eq!(just_values(&ru[&p]), want, "read_uncommitted partition {p}");
    }
}

#[test]
fn expired_transaction_is_aborted_and_the_lso_moves_on() {
    let broker = Broker::start();
    let topic = "expiring";
    create_topics(&broker, &[topic]);
    let producer: Plain = config(&broker)
        .set("transactional.id", "txn-expiring")
        .set("transaction.timeout.ms", "1000")
        .create()
        .unwrap();
    producer.init_transactions(TIMEOUT).unwrap();
    producer.begin_transaction().unwrap();
    send_all(&producer, topic, "late");
    producer.flush(TIMEOUT).unwrap();
    assert_eq!(end_offsets(&broker, topic, "read_committed"), vec![0, 0, 0]);

    // The coordinator aborts the transaction once it is past its timeout
    // (checked every 10 s by default): an ABORT marker per partition, after
    // which the LSO reaches the high watermark.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let lso = end_offsets(&broker, topic, "read_committed");
        if lso == vec![PER_PARTITION as i64 + 1; 3] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "transaction not aborted 40 s after its 1 s timeout; LSO {lso:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let err = producer
        .commit_transaction(TIMEOUT)
        .expect_err("committing a transaction the coordinator aborted must fail");
    drop(producer);

    let rc = read(&broker, topic, "read_committed", Duration::ZERO);
    let ru = read(&broker, topic, "read_uncommitted", Duration::ZERO);
    for p in 0..PARTITIONS {
        assert!(
            rc[&p].is_empty(),
            "read_committed partition {p}: {:?} (commit error: {err})",
            rc[&p]
        );
        assert_eq!(
            just_values(&ru[&p]),
            values("late", p),
            "read_uncommitted partition {p}"
        );
    }

    // The transactional id is usable again by a new instance.
    let next = transactional(&broker, "txn-expiring");
    next.begin_transaction().unwrap();
    send_all(&next, topic, "next");
    next.commit_transaction(TIMEOUT)
        .expect("a new instance commits");
    let rc = read(&broker, topic, "read_committed", Duration::ZERO);
    for p in 0..PARTITIONS {
        assert_eq!(
            just_values(&rc[&p]),
            values("next", p),
            "read_committed partition {p}"
        );
    }
}
