//! Group coordinators under hostile or confused clients: member ids,
//! instance ids, epochs, joins and leaves in any order, through the KIP-848
//! protocol (ConsumerGroupHeartbeat) and the classic one (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup). Whatever a client sends, the answer is
//! an error code, never a panic: a panic would close the connection (seen
//! here as a missing response) and, before locks recovered from poison,
//! disable every group until restart.
//!
//! Sequences come from a small xorshift generator with fixed seeds, so a
//! failure names the seed that reproduces it.

mod common;
mod group_support;

use common::*;
use group_support::*;
use kafka_protocol::messages::*;

const MEMBERS: [&str; 4] = ["a", "b", "c", ""];
const INSTANCES: [&str; 3] = ["i", "j", "k"];

/// A KIP-848 heartbeat with the given member, instance and epoch; joins
/// (epoch 0) carry the subscription.
fn heartbeat_848(
    member: &str,
    instance: Option<&str>,
    epoch: i32,
) -> ConsumerGroupHeartbeatRequest {
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(gid("g"))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_instance_id(instance.map(s))
        .with_rebalance_timeout_ms(if epoch == 0 { 30_000 } else { -1 });
    if epoch == 0 {
        req.with_subscribed_topic_names(Some(vec![topic_name("t")]))
            .with_topic_partitions(Some(vec![]))
    } else {
        req
    }
}

async fn kip848_broker() -> TestBroker {
    let b = TestBroker::start_with(|c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.group_consumer_session_timeout_ms = 45_000;
    })
    .await;
    b.client().await.create_topic("t", 4).await;
    b
}

/// The broker still serves groups: a fresh member joins a new group.
async fn assert_groups_work(b: &TestBroker, context: &str) {
    let mut c = b.client().await;
    let r = c
        .send(
            1,
            heartbeat_848("fresh", None, 0).with_group_id(gid("after")),
        )
        .await;
    assert_eq!(r.error_code, 0, "{context}: {:?}", r.error_message);
    assert_eq!(r.member_epoch, 1, "{context}");
}

// Symptom (found by reading the code): a static member taking over with a
// member id that already belonged to another static member overwrote it,
// leaving that member's instance mapped to an id that was later removed;
// the next join of that instance indexed the missing member and panicked
// inside the groups mutex, poisoning it for every group.
#[tokio::test]
async fn a_static_takeover_cannot_leave_an_instance_mapped_to_nobody() {
    let b = kip848_broker().await;
    let mut c = b.client().await;
    let r = c.send(1, heartbeat_848("a", Some("i"), 0)).await;
    assert_eq!(r.error_code, 0);
    // a leaves as a static member (epoch -2): i may come back.
    let r = c.send(1, heartbeat_848("a", Some("i"), -2)).await;
    assert_eq!(r.error_code, 0);
    let r = c.send(1, heartbeat_848("b", Some("j"), 0)).await;
    assert_eq!(r.error_code, 0);
    // b, already j's member, claims instance i: refused, b is not replaced.
    let r = c.send(1, heartbeat_848("b", Some("i"), 0)).await;
    assert_eq!(r.error_code, INVALID_REQUEST, "{:?}", r.error_message);
    // b leaves for good; j's next member joins cleanly.
    let r = c.send(1, heartbeat_848("b", None, -1)).await;
    assert_eq!(r.error_code, 0);
    let r = c.send(1, heartbeat_848("c", Some("j"), 0)).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_groups_work(&b, "after the takeover").await;
}

const INVALID_REQUEST: i16 = 42;

#[tokio::test]
async fn random_kip848_members_never_panic_the_coordinator() {
    let b = kip848_broker().await;
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let group = format!("g{seed}");
        let mut c = b.client().await;
        for step in 0..40 {
            let member = rng.pick(&MEMBERS);
            let instance = match rng.below(3) {
                0 => None,
                _ => Some(rng.pick(&INSTANCES)),
            };
            let epoch = [0, 0, -1, -2, 1, 2, 5][rng.below(7)];
            let req = heartbeat_848(member, instance, epoch).with_group_id(gid(&group));
            // A panic closes the connection: recv then fails, naming the seed.
            let (cid, frame) = c.frame(1, &req);
            c.write_raw(&frame).await;
            let (got, _) = c.recv::<ConsumerGroupHeartbeatRequest>(1).await;
            assert_eq!(got, cid, "seed {seed} step {step}");
        }
        let d = c
            .send(
                0,
                ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid(&group)]),
            )
            .await;
        assert_eq!(d.groups.len(), 1, "seed {seed}");
    }
    assert_groups_work(&b, "after 40 random sequences").await;
}

/// Classic-protocol requests of one random member, pipelined on its own
/// connection (a JoinGroup waits for the rebalance, so nothing waits for an
/// answer until the end).
fn classic_request(rng: &mut Rng, group: &str, c: &mut Client) -> (i32, bytes::Bytes) {
    let member = rng.pick(&MEMBERS);
    let instance = match rng.below(2) {
        0 => None,
        _ => Some(rng.pick(&INSTANCES)),
    };
    let generation = [-1, 0, 1, 2, 7][rng.below(5)];
    match rng.below(4) {
        0 => c.frame(
            9,
            &join_req(group, member, instance, 200, subscription(&["t"])),
        ),
        1 => c.frame(
            5,
            &sync_req(group, generation, member, &[(member, b"x")])
                .with_group_instance_id(instance.map(s)),
        ),
        2 => c.frame(
            4,
            &heartbeat_req(group, generation, member).with_group_instance_id(instance.map(s)),
        ),
        _ => c.frame(5, &leave_req(group, &[(member, instance)])),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_classic_members_never_panic_the_coordinator() {
    let b = TestBroker::start_with(|c| {
        c.group_initial_rebalance_delay_ms = 0;
        c.group_min_session_timeout_ms = 10;
    })
    .await;
    b.client().await.create_topic("t", 4).await;
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let group = format!("classic{seed}");
        // Three connections, each sending a stream of requests.
        let mut clients = Vec::new();
        for _ in 0..3 {
            let mut c = b.client().await;
            let mut sent = 0;
            for _ in 0..15 {
                let (_, frame) = classic_request(&mut rng, &group, &mut c);
                c.write_raw(&frame).await;
                sent += 1;
            }
            clients.push((c, sent));
        }
        // Every request is answered: JoinGroups complete once the 200 ms
        // rebalance ends, the rest at once.
        for (i, (mut c, sent)) in clients.into_iter().enumerate() {
            for n in 0..sent {
                let frame = c.read_frame().await;
                assert!(frame.len() >= 4, "seed {seed} connection {i} response {n}");
            }
        }
    }
    // The classic coordinator still forms groups.
    let mut c = b.client().await;
    let id = member_id(&mut c, "after-classic", 10_000, &["t"]).await;
    assert!(!id.is_empty());
    assert_groups_work(&b, "after the classic sequences").await;
}
