//! Regression tests for the group coordinator: one per bug found while
//! testing it with real clients (tests/conformance/test_groups.py), each
//! named after what broke, with the symptom in a comment.

mod common;
mod group_support;

use std::time::Duration;

use group_support::*;

// Symptom: kafka-python (JoinGroup v5) as a static leader restarted within
// its session timeout was told it was the leader but given no member
// metadata; it assigned from an empty member list and then rejoined,
// rebalancing the whole group (the other member saw revoke + assign).
#[tokio::test]
async fn restarted_static_leader_before_v9_is_not_told_it_leads() {
    let b = group_broker(0).await;
    let mut a = b.client().await;
    let join = |member: &str| join_req("g", member, Some("inst-a"), 10_000, subscription(&["t"]));
    let ja = a.send(5, join("")).await;
    assert_eq!(ja.error_code, 0);
    let ma = ja.member_id.to_string();
    assert_eq!((ja.leader.as_str(), ja.generation_id), (ma.as_str(), 1));
    let mut sync = sync_req("g", 1, &ma, &[(&ma, b"A")]);
    sync.group_instance_id = Some(s("inst-a"));
    assert_eq!(a.send(5, sync).await.assignment.as_ref(), b"A");

    // Restart on JoinGroup v5: a new member id that is not the leader id
    // returned, so the client syncs as a follower and gets its assignment.
    let mut a2 = b.client().await;
    let j2 = a2.send(5, join("")).await;
    let ma2 = j2.member_id.to_string();
    assert_eq!((j2.error_code, j2.generation_id), (0, 1));
    assert_ne!(ma2, ma);
    assert_eq!(
        j2.leader.as_str(),
        ma,
        "the old leader id, as Kafka answers"
    );
    assert!(j2.members.is_empty());
    let mut sync = sync_req("g", 1, &ma2, &[]);
    sync.group_instance_id = Some(s("inst-a"));
    let s2 = a2.send(5, sync).await;
    assert_eq!((s2.error_code, s2.assignment.as_ref()), (0, &b"A"[..]));

    // Restart on JoinGroup v9 (KIP-814): it leads, sees the members and
    // skips the assignment.
    let mut a3 = b.client().await;
    let j3 = a3.send(9, join("")).await;
    let ma3 = j3.member_id.to_string();
    assert_eq!((j3.error_code, j3.generation_id), (0, 1));
    assert_eq!(j3.leader.as_str(), ma3);
    assert!(j3.skip_assignment);
    assert_eq!(j3.members.len(), 1);
    assert_eq!(describe(&mut a3, "g").await.group_state.as_str(), "Stable");
}

// Symptom: when a leader died between JoinGroup and SyncGroup, the
// follower waiting in SyncGroup was told REBALANCE_IN_PROGRESS as the
// leader's session ended, and its own session, counted from its SyncGroup,
// ended a moment later: its rejoin got UNKNOWN_MEMBER_ID and it had to
// join again as a new member (one more rebalance for the group).
#[tokio::test]
async fn follower_told_to_rejoin_after_the_leader_expired_has_time_to_rejoin() {
    let b = group_broker(0).await;
    let (mut leader, mut follower) = (b.client().await, b.client().await);
    let session = 500;
    let m1 = member_id(&mut leader, "g", session, &["t"]).await;
    start_join(&mut leader, "g", &m1, session, &["t"]).await;
    assert_eq!(finish_join(&mut leader).await.generation_id, 1);
    let m2 = member_id(&mut follower, "g", session, &["t"]).await;
    start_join(&mut follower, "g", &m2, session, &["t"]).await;
    start_join(&mut leader, "g", &m1, session, &["t"]).await;
    let (j1, j2) = (
        finish_join(&mut leader).await,
        finish_join(&mut follower).await,
    );
    assert_eq!((j1.generation_id, j2.generation_id), (2, 2));
    assert_eq!(j2.leader.as_str(), m1);

    // The leader never syncs; the follower waits for its assignment.
    follower.send_only(5, &sync_req("g", 2, &m2, &[])).await;
    let synced = tokio::time::timeout(Duration::from_secs(5), finish_sync(&mut follower))
        .await
        .expect("SyncGroup answered once the leader's session ends");
    assert_eq!(synced.error_code, REBALANCE_IN_PROGRESS);
    // A client that takes a moment to rejoin (well within its session).
    tokio::time::sleep(Duration::from_millis(150)).await;
    start_join(&mut follower, "g", &m2, session, &["t"]).await;
    let rejoined = tokio::time::timeout(Duration::from_secs(5), finish_join(&mut follower))
        .await
        .expect("JoinGroup answered");
    assert_eq!(rejoined.error_code, 0, "the follower is still a member");
    assert_eq!(
        (rejoined.generation_id, rejoined.leader.as_str()),
        (3, m2.as_str())
    );
}

// Symptom: a static Java consumer restarted within its session timeout
// made the whole group rebalance whenever the group had been through more
// than one generation: its subscription metadata carries the last
// generation it knew (-1 after a restart), the bytes differed from the
// old member's, and any difference counted as a change. Kafka rebalances
// only when the protocol the group would select changes.
#[tokio::test]
async fn restarted_static_member_with_new_metadata_bytes_does_not_rebalance() {
    let b = group_broker(0).await;
    let mut a = b.client().await;
    let ja = a
        .send(
            9,
            join_req("g", "", Some("inst-a"), 10_000, subscription(&["t"])),
        )
        .await;
    let ma = ja.member_id.to_string();
    assert_eq!((ja.error_code, ja.generation_id), (0, 1));
    let mut sync = sync_req("g", 1, &ma, &[(&ma, b"A")]);
    sync.group_instance_id = Some(s("inst-a"));
    assert_eq!(a.send(5, sync).await.error_code, 0);

    // Same protocol ("range"), other metadata bytes.
    let mut a2 = b.client().await;
    let meta = subscription(&["t", "u"]);
    let j2 = a2
        .send(9, join_req("g", "", Some("inst-a"), 10_000, meta.clone()))
        .await;
    assert_eq!(j2.error_code, 0);
    assert_eq!(j2.generation_id, 1, "no new generation");
    assert!(j2.skip_assignment);
    assert_eq!(
        j2.members[0].metadata, meta,
        "the leader sees the new metadata"
    );
    assert_eq!(describe(&mut a2, "g").await.group_state.as_str(), "Stable");
}
