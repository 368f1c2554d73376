//! Classic consumer-group membership: join, sync, heartbeat, leave,
//! rebalances, session timeouts and static membership, driven over the
//! wire the way a client's consumer does it.

mod common;
mod group_support;

use std::time::Duration;

use common::*;
use group_support::*;
use kafka_protocol::messages::*;

/// Two members join a new group within the initial rebalance delay: one
/// generation, the leader sees both members' metadata, the follower's
/// SyncGroup waits for the leader's and gets its assignment.
#[tokio::test]
async fn two_members_join_sync_and_heartbeat() {
    let b = group_broker(300).await;
    let (mut c1, mut c2) = (b.client().await, b.client().await);
    let m1 = member_id(&mut c1, "g", 10_000, &["t1"]).await;
    let m2 = member_id(&mut c2, "g", 10_000, &["t2"]).await;
    start_join(&mut c1, "g", &m1, 10_000, &["t1"]).await;
    start_join(&mut c2, "g", &m2, 10_000, &["t2"]).await;
    let (j1, j2) = (finish_join(&mut c1).await, finish_join(&mut c2).await);
    assert_eq!((j1.error_code, j2.error_code), (0, 0));
    assert_eq!((j1.generation_id, j2.generation_id), (1, 1));
    assert_eq!(j1.leader.as_str(), m1, "the first member to join leads");
    assert_eq!(j2.leader.as_str(), m1);
    assert_eq!(j1.protocol_name.as_ref().unwrap().as_str(), "range");
    assert_eq!(j1.protocol_type.as_ref().unwrap().as_str(), "consumer");
    let metas: Vec<_> = j1
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.metadata.clone()))
        .collect();
    assert_eq!(
        metas,
        vec![
            (m1.clone(), subscription(&["t1"])),
            (m2.clone(), subscription(&["t2"]))
        ]
    );
    assert!(j2.members.is_empty(), "followers get no member list");

    // The follower syncs first and waits for the leader.
    c2.send_only(5, &sync_req("g", 1, &m2, &[])).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    c1.send_only(
        5,
        &sync_req("g", 1, &m1, &[(&m1, b"for-1"), (&m2, b"for-2")]),
    )
    .await;
    let (s1, s2) = (finish_sync(&mut c1).await, finish_sync(&mut c2).await);
    assert_eq!((s1.error_code, s2.error_code), (0, 0));
    assert_eq!(s1.assignment.as_ref(), b"for-1");
    assert_eq!(s2.assignment.as_ref(), b"for-2");
    assert_eq!(s2.protocol_name.as_ref().unwrap().as_str(), "range");

    assert_eq!(heartbeat(&mut c1, "g", 1, &m1).await, 0);
    assert_eq!(heartbeat(&mut c2, "g", 1, &m2).await, 0);
    assert_eq!(describe(&mut c1, "g").await.group_state.as_str(), "Stable");
}

/// Forms a stable group of `n` members (no initial delay): each joins in
/// turn, and everyone already in rejoins when told to. Returns the clients,
/// member ids and generation.
async fn stable_group(
    b: &TestBroker,
    group: &str,
    n: usize,
    session_ms: i32,
) -> (Vec<Client>, Vec<String>, i32) {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(b.client().await);
    }
    let mut ids: Vec<String> = Vec::new();
    for i in 0..n {
        let id = member_id(&mut clients[i], group, session_ms, &["t"]).await;
        start_join(&mut clients[i], group, &id, session_ms, &["t"]).await;
        ids.push(id);
        // Everyone before must rejoin for the new generation.
        for j in 0..i {
            start_join(&mut clients[j], group, &ids[j], session_ms, &["t"]).await;
        }
        for c in clients.iter_mut().take(i + 1) {
            let j = finish_join(c).await;
            assert_eq!(j.error_code, 0);
        }
    }
    let gen = describe_generation(&mut clients[0], group, &ids[0]).await;
    let assignments: Vec<(String, Vec<u8>)> = ids
        .iter()
        .map(|m| (m.clone(), format!("a-{m}").into_bytes()))
        .collect();
    let refs: Vec<(&str, &[u8])> = assignments
        .iter()
        .map(|(m, a)| (m.as_str(), a.as_slice()))
        .collect();
    clients[0]
        .send_only(5, &sync_req(group, gen, &ids[0], &refs))
        .await;
    for i in 1..n {
        clients[i]
            .send_only(5, &sync_req(group, gen, &ids[i], &[]))
            .await;
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let s = finish_sync(c).await;
        assert_eq!(s.error_code, 0);
        assert_eq!(s.assignment.as_ref(), format!("a-{}", ids[i]).as_bytes());
    }
    (clients, ids, gen)
}

/// The current generation, found by a heartbeat's answer (only the right
/// generation is accepted).
async fn describe_generation(c: &mut Client, group: &str, member: &str) -> i32 {
    for g in 1..100 {
        if heartbeat(c, group, g, member).await != ILLEGAL_GENERATION {
            return g;
        }
    }
    panic!("no generation found");
}

/// A third member joining makes everyone rejoin into a new generation.
#[tokio::test]
async fn a_new_member_triggers_a_rebalance() {
    let b = group_broker(0).await;
    let (mut clients, ids, gen) = stable_group(&b, "g", 2, 10_000).await;
    let mut c3 = b.client().await;
    let m3 = member_id(&mut c3, "g", 10_000, &["t"]).await;
    start_join(&mut c3, "g", &m3, 10_000, &["t"]).await;

    for (c, id) in clients.iter_mut().zip(&ids) {
        assert_eq!(heartbeat(c, "g", gen, id).await, REBALANCE_IN_PROGRESS);
        start_join(c, "g", id, 10_000, &["t"]).await;
    }
    let mut joins = Vec::new();
    for c in clients.iter_mut() {
        joins.push(finish_join(c).await);
    }
    joins.push(finish_join(&mut c3).await);
    for j in &joins {
        assert_eq!(j.error_code, 0);
        assert_eq!(j.generation_id, gen + 1);
        assert_eq!(j.leader.as_str(), ids[0], "the leader keeps leading");
    }
    assert_eq!(joins[0].members.len(), 3);
    // The old generation is gone.
    assert_eq!(
        heartbeat(&mut clients[1], "g", gen, &ids[1]).await,
        ILLEGAL_GENERATION
    );
}

/// A member that stops heartbeating is removed after its session timeout
/// and the others rebalance without it.
#[tokio::test]
async fn a_silent_member_is_removed_after_its_session_timeout() {
    let b = group_broker(0).await;
    let (mut clients, ids, gen) = stable_group(&b, "g", 2, 600).await;
    // Member 1 goes silent; member 0 keeps heartbeating.
    let code = heartbeat_until_error(&mut clients[0], "g", gen, &ids[0]).await;
    assert_eq!(code, REBALANCE_IN_PROGRESS);
    start_join(&mut clients[0], "g", &ids[0], 600, &["t"]).await;
    let j = finish_join(&mut clients[0]).await;
    assert_eq!(j.error_code, 0);
    assert_eq!(j.generation_id, gen + 1);
    assert_eq!(j.members.len(), 1, "only the live member remains");
    assert_eq!(
        heartbeat(&mut clients[1], "g", gen, &ids[1]).await,
        UNKNOWN_MEMBER_ID
    );
}

/// A member that does not rejoin within the rebalance timeout is removed
/// and the rebalance completes without it.
#[tokio::test]
async fn members_that_do_not_rejoin_in_time_are_dropped() {
    let b = group_broker(0).await;
    // Session 5 s, rebalance timeout 5 s by join_req; the third member
    // uses a short rebalance timeout so the wait is short.
    let (mut clients, ids, gen) = stable_group(&b, "g", 2, 5_000).await;
    let mut c3 = b.client().await;
    let m3 = member_id(&mut c3, "g", 5_000, &["t"]).await;
    let mut req = join_req("g", &m3, None, 5_000, subscription(&["t"]));
    req.rebalance_timeout_ms = 300;
    c3.send_only(9, &req).await;
    // Member 0 rejoins; member 1 never does (and keeps no heartbeat).
    assert_eq!(
        heartbeat(&mut clients[0], "g", gen, &ids[0]).await,
        REBALANCE_IN_PROGRESS
    );
    start_join(&mut clients[0], "g", &ids[0], 5_000, &["t"]).await;
    let started = std::time::Instant::now();
    let j0 = finish_join(&mut clients[0]).await;
    let j3 = finish_join(&mut c3).await;
    assert_eq!((j0.error_code, j3.error_code), (0, 0));
    assert_eq!(j0.generation_id, gen + 1);
    assert_eq!(j0.members.len(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited for the longest rebalance timeout"
    );
    assert_eq!(
        heartbeat(&mut clients[1], "g", gen + 1, &ids[1]).await,
        UNKNOWN_MEMBER_ID
    );
}

#[tokio::test]
async fn leave_group_rebalances_the_rest_and_empties_the_group() {
    let b = group_broker(0).await;
    let (mut clients, ids, gen) = stable_group(&b, "g", 2, 10_000).await;
    let resp = clients[1]
        .send(5, leave_req("g", &[(&ids[1], None), ("nobody", None)]))
        .await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.members[0].error_code, 0);
    assert_eq!(resp.members[1].error_code, UNKNOWN_MEMBER_ID);
    assert_eq!(
        heartbeat(&mut clients[0], "g", gen, &ids[0]).await,
        REBALANCE_IN_PROGRESS
    );
    start_join(&mut clients[0], "g", &ids[0], 10_000, &["t"]).await;
    let j = finish_join(&mut clients[0]).await;
    assert_eq!(
        (j.error_code, j.generation_id, j.members.len()),
        (0, gen + 1, 1)
    );

    // v0 form: the last member leaves; the group is Empty.
    let resp = clients[0]
        .send(
            0,
            LeaveGroupRequest::default()
                .with_group_id(gid("g"))
                .with_member_id(s(&ids[0])),
        )
        .await;
    assert_eq!(resp.error_code, 0);
    let d = describe(&mut clients[0], "g").await;
    assert_eq!(d.group_state.as_str(), "Empty");
    assert!(d.members.is_empty());
    let resp = clients[0]
        .send(1, leave_req("nope", &[]).with_member_id(s("x")))
        .await;
    assert_eq!(resp.error_code, UNKNOWN_MEMBER_ID);
}

/// KIP-394: from JoinGroup v4 a new member first gets MEMBER_ID_REQUIRED
/// with its id; older versions join at once.
#[tokio::test]
async fn member_id_required_two_step_join() {
    let b = group_broker(0).await;
    let mut c = b.client().await;
    let first = c
        .send(4, join_req("g", "", None, 10_000, subscription(&["t"])))
        .await;
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert!(
        first.member_id.starts_with("fjord-broker-tests-"),
        "{:?}",
        first.member_id
    );
    let second = c
        .send(
            4,
            join_req(
                "g",
                first.member_id.as_str(),
                None,
                10_000,
                subscription(&["t"]),
            ),
        )
        .await;
    assert_eq!(second.error_code, 0);
    assert_eq!(second.member_id, first.member_id);
    assert_eq!(second.generation_id, 1);

    let old = c
        .send(3, join_req("g3", "", None, 10_000, subscription(&["t"])))
        .await;
    assert_eq!(old.error_code, 0, "v3 joins without the extra step");
    assert!(!old.member_id.is_empty());
    // An id that was never handed out is refused.
    let bogus = c
        .send(
            9,
            join_req("g3", "made-up", None, 10_000, subscription(&["t"])),
        )
        .await;
    assert_eq!(bogus.error_code, UNKNOWN_MEMBER_ID);
}

/// A static member that restarts (rejoins with its group.instance.id and
/// no member id) within its session timeout gets a new member id, keeps
/// its assignment, and the group does not rebalance; the old id is fenced.
#[tokio::test]
async fn static_member_rejoin_keeps_its_assignment_without_a_rebalance() {
    let b = group_broker(0).await;
    let (mut a, mut bb) = (b.client().await, b.client().await);
    let ja = a
        .send(
            9,
            join_req("g", "", Some("inst-a"), 10_000, subscription(&["t"])),
        )
        .await;
    assert_eq!(ja.error_code, 0, "static members skip MEMBER_ID_REQUIRED");
    let ma = ja.member_id.to_string();
    let mut jb_req = join_req("g", "", Some("inst-b"), 10_000, subscription(&["t"]));
    bb.send_only(9, &jb_req).await;
    // A joined; B's join started a rebalance that A must rejoin.
    assert_eq!(heartbeat(&mut a, "g", 1, &ma).await, REBALANCE_IN_PROGRESS);
    a.send_only(
        9,
        &join_req("g", &ma, Some("inst-a"), 10_000, subscription(&["t"])),
    )
    .await;
    let (ja, jb) = (finish_join(&mut a).await, finish_join(&mut bb).await);
    let (gen, mb) = (ja.generation_id, jb.member_id.to_string());
    assert_eq!((ja.error_code, jb.error_code, gen), (0, 0, 2));
    a.send_only(5, &sync_req("g", gen, &ma, &[(&ma, b"A"), (&mb, b"B")]))
        .await;
    bb.send_only(5, &sync_req("g", gen, &mb, &[])).await;
    assert_eq!(finish_sync(&mut a).await.assignment.as_ref(), b"A");
    assert_eq!(finish_sync(&mut bb).await.assignment.as_ref(), b"B");

    // B restarts: same instance id, no member id.
    let mut b2 = b.client().await;
    jb_req.member_id = s("");
    let rejoin = b2.send(9, jb_req.clone()).await;
    assert_eq!(rejoin.error_code, 0);
    assert_eq!(rejoin.generation_id, gen, "no new generation");
    let mb2 = rejoin.member_id.to_string();
    assert_ne!(mb2, mb);
    let mut sync = sync_req("g", gen, &mb2, &[]);
    sync.group_instance_id = Some(s("inst-b"));
    let synced = b2.send(5, sync).await;
    assert_eq!(
        (synced.error_code, synced.assignment.as_ref()),
        (0, &b"B"[..])
    );
    // Nobody rebalances; the replaced id is fenced.
    assert_eq!(heartbeat(&mut a, "g", gen, &ma).await, 0);
    let mut hb = heartbeat_req("g", gen, &mb);
    hb.group_instance_id = Some(s("inst-b"));
    assert_eq!(bb.send(4, hb).await.error_code, FENCED_INSTANCE_ID);
    assert_eq!(describe(&mut a, "g").await.group_state.as_str(), "Stable");
}

#[tokio::test]
async fn illegal_generation_and_unknown_member_errors() {
    let b = group_broker(0).await;
    let (mut clients, ids, gen) = stable_group(&b, "g", 1, 10_000).await;
    let c = &mut clients[0];
    assert_eq!(
        heartbeat(c, "g", gen + 5, &ids[0]).await,
        ILLEGAL_GENERATION
    );
    assert_eq!(heartbeat(c, "g", gen, "stranger").await, UNKNOWN_MEMBER_ID);
    assert_eq!(
        heartbeat(c, "no-such-group", 1, "x").await,
        UNKNOWN_MEMBER_ID
    );
    let r = c.send(5, sync_req("g", gen + 1, &ids[0], &[])).await;
    assert_eq!(r.error_code, ILLEGAL_GENERATION);
    let r = c.send(5, sync_req("g", gen, "stranger", &[])).await;
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
    // A different protocol type cannot join.
    let mut other = join_req("g", "", None, 10_000, subscription(&["t"]));
    other.protocol_type = s("connect");
    assert_eq!(
        c.send(9, other).await.error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    // Session timeouts outside the broker's bounds are refused.
    let too_long = join_req("g2", "", None, 1_900_000, subscription(&["t"]));
    assert_eq!(c.send(9, too_long).await.error_code, 26);
}

/// FindCoordinator: this broker for groups (single and batched keys), not
/// available for transactions; the first lookup creates __consumer_offsets,
/// which Metadata lists as internal.
#[tokio::test]
async fn find_coordinator_at_every_version() {
    let b = group_broker(0).await;
    let mut c = b.client().await;
    for v in 0..=3 {
        let r = c
            .send(
                v,
                FindCoordinatorRequest::default()
                    .with_key(s("g"))
                    .with_key_type(0),
            )
            .await;
        assert_eq!(r.error_code, 0, "v{v}");
        assert_eq!((r.node_id.0, r.port), (0, b.addr.port() as i32), "v{v}");
        assert_eq!(r.host.as_str(), "127.0.0.1");
    }
    for v in 4..=6 {
        let r = c
            .send(
                v,
                FindCoordinatorRequest::default()
                    .with_key_type(0)
                    .with_coordinator_keys(vec![s("a"), s("b")]),
            )
            .await;
        let keys: Vec<_> = r
            .coordinators
            .iter()
            .map(|k| (k.key.to_string(), k.error_code, k.port))
            .collect();
        let port = b.addr.port() as i32;
        assert_eq!(
            keys,
            vec![("a".into(), 0, port), ("b".into(), 0, port)],
            "v{v}"
        );
        let r = c
            .send(
                v,
                FindCoordinatorRequest::default()
                    .with_key_type(1)
                    .with_coordinator_keys(vec![s("txn")]),
            )
            .await;
        // This broker is the transaction coordinator too.
        assert_eq!(
            (r.coordinators[0].error_code, r.coordinators[0].port),
            (0, port),
            "v{v}"
        );
    }
    let r = c
        .send(
            1,
            FindCoordinatorRequest::default()
                .with_key(s("txn"))
                .with_key_type(1),
        )
        .await;
    assert_eq!(r.error_code, 0, "transaction coordinator at v1");

    let meta = c.metadata(12, Some(&["__consumer_offsets"]), false).await;
    assert_eq!(meta.topics[0].error_code, 0);
    assert!(meta.topics[0].is_internal);
    assert_eq!(
        b.broker()
            .topics
            .get("__consumer_offsets")
            .unwrap()
            .config
            .get("cleanup.policy"),
        Some("compact")
    );
}

/// Every advertised JoinGroup, SyncGroup, Heartbeat and LeaveGroup version
/// answers with a response that decodes.
#[tokio::test]
async fn membership_apis_at_every_version() {
    let b = group_broker(0).await;
    let mut c = b.client().await;
    let (jmin, jmax) = fjord_broker::api::supported(ApiKey::JoinGroup).unwrap();
    for v in jmin..=jmax {
        let group = format!("sweep-{v}");
        let mut resp = c
            .send(v, join_req(&group, "", None, 10_000, subscription(&["t"])))
            .await;
        if v >= 4 {
            assert_eq!(resp.error_code, MEMBER_ID_REQUIRED, "JoinGroup v{v}");
            let id = resp.member_id.to_string();
            resp = c
                .send(v, join_req(&group, &id, None, 10_000, subscription(&["t"])))
                .await;
        }
        assert_eq!(resp.error_code, 0, "JoinGroup v{v}");
        assert_eq!(resp.generation_id, 1, "JoinGroup v{v}");
        assert_eq!(
            resp.protocol_name.as_ref().map(|p| p.to_string()),
            Some("range".into())
        );
        let m = resp.member_id.to_string();
        let sv = v.min(5);
        let mut sync = sync_req(&group, 1, &m, &[(&m, b"x")]);
        if sv < 5 {
            sync.protocol_type = None;
            sync.protocol_name = None;
        }
        let r = c.send(sv, sync).await;
        assert_eq!(
            (r.error_code, r.assignment.as_ref()),
            (0, &b"x"[..]),
            "SyncGroup v{sv}"
        );
        let hv = v.min(4);
        let r = c.send(hv, heartbeat_req(&group, 1, &m)).await;
        assert_eq!(r.error_code, 0, "Heartbeat v{hv}");
        let lv = v.min(5);
        let leave = if lv >= 3 {
            leave_req(&group, &[(&m, None)])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(gid(&group))
                .with_member_id(s(&m))
        };
        let r = c.send(lv, leave).await;
        assert_eq!(r.error_code, 0, "LeaveGroup v{lv}");
    }
}
