//! A distributed worker's REST writes while its group is mid-rebalance:
//! they wait (up to 5 s) for the rebalance to end, then answer 409 with
//! Kafka Connect's JSON error body; once the group settles they succeed.
//!
//! The rebalance is held open deterministically: before the worker starts,
//! the test joins the worker group (`connect-cluster`, protocol type
//! `connect`, protocol `fjord-1`) as a member of its own and so leads it;
//! when the worker joins, the test rejoins too (the group's second
//! generation, still led by the test) and never sends SyncGroup, so the
//! worker's SyncGroup waits for an assignment that does not come.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{call, TestBroker, TestWorker};
use fjord_kafka_client::group::{connect_coordinator, GroupMember, JoinOutcome, Joined};
use serde_json::json;

const GROUP: &str = "connect-cluster"; // WorkerSettings' default group.id
const SESSION_MS: i32 = 30_000;
const REBALANCE_MS: i32 = 60_000;

/// Joins the worker group as a fake member: (the member, its id, what
/// JoinGroup answered).
fn join_as_fake(bootstrap: &str) -> (GroupMember, String, Joined) {
    let conn = connect_coordinator(bootstrap, &[], GROUP, Duration::from_secs(70)).unwrap();
    let mut member = GroupMember {
        conn,
        group: GROUP.to_string(),
        protocol_type: "connect".to_string(),
    };
    let mut id = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the fake member never joined");
        match member.join(&id, SESSION_MS, REBALANCE_MS, "fjord-1", metadata()) {
            Ok(JoinOutcome::Joined(j)) => return (member, j.member_id.clone(), j),
            Ok(JoinOutcome::MemberIdRequired(new_id)) => id = new_id,
            // The coordinator may still be loading its partition.
            Ok(JoinOutcome::Error(_)) | Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// What a worker would send (the leader never reads ours: we lead).
fn metadata() -> Bytes {
    Bytes::from_static(br#"{"url":"fake:0","config_offset":-1,"owned":[]}"#)
}

#[test]
fn writes_answer_409_with_kafka_connects_body_while_the_group_is_mid_rebalance() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();

    // Generation 1: the fake member alone, and its leader.
    let (mut fake, fake_id, first) = join_as_fake(&broker.bootstrap());
    assert_eq!(first.leader, fake_id);
    assert_eq!(first.members.len(), 1);

    let worker = TestWorker::start(&broker, dir.path());

    // Rejoin (as a member whose SyncGroup never came would) until the
    // worker is in the round too: generation 2, the fake still leading.
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        assert!(
            Instant::now() < deadline,
            "the worker never joined the group"
        );
        match fake
            .join(&fake_id, SESSION_MS, REBALANCE_MS, "fjord-1", metadata())
            .unwrap()
        {
            JoinOutcome::Joined(j) if j.members.len() == 2 => break j,
            JoinOutcome::Joined(_) => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("unexpected JoinGroup answer: {other:?}"),
        }
    };
    assert_eq!(second.leader, fake_id, "the fake member leads the round");
    assert!(second.generation > first.generation);
    // No SyncGroup from the leader: the worker has no assignment.

    // Reads answer at once; writes wait for the rebalance, then 409.
    let (code, names) = worker.call("GET", "/connectors", None);
    assert_eq!((code, names), (200, json!([])));
    let config = json!({
        "connector.class": "FileStreamSink",
        "file": dir.path().join("out.txt").display().to_string(),
        "topics": "t",
    });
    let expected = json!({
        "error_code": 409,
        "message": "Cannot complete request because of a conflicting operation (e.g. worker rebalance)",
    });
    let started = Instant::now();
    let url = worker.url.clone();
    let (post, put) = std::thread::scope(|s| {
        let post = s.spawn(|| {
            let body = json!({"name": "a", "config": config});
            call(&url, "POST", "/connectors", Some(&body), &[])
        });
        let put = s.spawn(|| call(&url, "PUT", "/connectors/b/config", Some(&config), &[]));
        (post.join().unwrap(), put.join().unwrap())
    });
    let waited = started.elapsed();
    assert_eq!(post, (409, expected.clone()), "POST /connectors");
    assert_eq!(put, (409, expected), "PUT /connectors/b/config");
    assert!(
        waited >= Duration::from_millis(4_500) && waited < Duration::from_secs(12),
        "writes waited {waited:?}, expected about 5 s"
    );
    assert_eq!(
        worker.call("GET", "/connectors", None).1,
        json!([]),
        "nothing was created"
    );

    // The fake member leaves: the worker rejoins alone, leads, and writes
    // go through again.
    fake.leave(&fake_id).unwrap();
    let (code, body) = worker.call(
        "POST",
        "/connectors",
        Some(&json!({"name": "a", "config": config})),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(worker.call("GET", "/connectors", None).1, json!(["a"]));
}
