//! Distributed workers' membership: every worker with the same `group.id`
//! joins one classic group of protocol type `connect` (as Kafka Connect's
//! workers do) and the leader hands out connectors and tasks with
//! [`assignor::assign`]. The loop runs on its own thread with Fjord's
//! small Kafka client (librdkafka cannot join a group of another protocol
//! type) and publishes each assignment for the worker to apply.
//!
//! The protocol is named `fjord-1`, not Kafka's `sessioned`: a Java worker
//! configured into the same group is refused by the coordinator
//! (INCONSISTENT_GROUP_PROTOCOL) instead of misreading our metadata.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjord_kafka_client::group::{codes, connect_coordinator, GroupMember, JoinOutcome};
use tokio::sync::watch;

use crate::runtime::assignor::{assign, Assignment, LeaderMemory, MemberMetadata, Work};

pub const PROTOCOL_TYPE: &str = "connect";
pub const PROTOCOL: &str = "fjord-1";

/// What the membership loop needs from its worker.
pub trait GroupWorker: Send + Sync + 'static {
    /// Every connector and task that should run, and the config offset
    /// that set describes.
    fn all_work(&self) -> (BTreeSet<Work>, i64);
    /// How far this worker has read the config topic.
    fn config_offset(&self) -> i64;
}

pub struct GroupSettings {
    pub bootstrap: String,
    pub client_settings: Vec<(String, String)>,
    pub group_id: String,
    pub url: String,
    pub session_timeout_ms: i32,
    pub heartbeat_interval: Duration,
    pub rebalance_timeout_ms: i32,
    pub max_delay: Duration,
}

/// The loop's handle: the current assignment, whether a rebalance is
/// under way, and a way to ask for one.
#[derive(Clone)]
pub struct Membership {
    pub assignment: watch::Receiver<Option<Assignment>>,
    rebalancing: Arc<AtomicBool>,
    rejoin: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Membership {
    /// True between joining and receiving an assignment (writes answer 409).
    pub fn rebalancing(&self) -> bool {
        self.rebalancing.load(Ordering::Relaxed)
    }

    /// Asks for a rebalance (the set of connectors or tasks changed).
    pub fn request_rebalance(&self) {
        self.rejoin.store(true, Ordering::Relaxed);
    }

    /// Leaves the group (the others rebalance at once).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn start(settings: GroupSettings, worker: Arc<dyn GroupWorker>) -> Membership {
    let (tx, rx) = watch::channel(None);
    let membership = Membership {
        assignment: rx,
        rebalancing: Arc::new(AtomicBool::new(true)),
        rejoin: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let m = membership.clone();
    std::thread::Builder::new()
        .name("connect-group".into())
        .spawn(move || {
            let mut memory = LeaderMemory::default();
            while !m.stop.load(Ordering::Relaxed) {
                if let Err(e) = run_member(&settings, worker.as_ref(), &m, &tx, &mut memory) {
                    tracing::warn!(group = %settings.group_id, error = %e, "connect group: retrying");
                    m.rebalancing.store(true, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        })
        .expect("the group thread starts");
    membership
}

fn sleep_unless(flags: &[&AtomicBool], d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !flags.iter().any(|f| f.load(Ordering::Relaxed)) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One stay in the group: join, sync, heartbeat until a rebalance; again.
fn run_member(
    settings: &GroupSettings,
    worker: &dyn GroupWorker,
    m: &Membership,
    tx: &watch::Sender<Option<Assignment>>,
    memory: &mut LeaderMemory,
) -> Result<(), fjord_kafka_client::Error> {
    let timeout = Duration::from_millis(settings.rebalance_timeout_ms as u64 + 10_000);
    let conn = connect_coordinator(
        &settings.bootstrap,
        &settings.client_settings,
        &settings.group_id,
        timeout,
    )?;
    let mut member = GroupMember {
        conn,
        group: settings.group_id.clone(),
        protocol_type: PROTOCOL_TYPE.to_string(),
    };
    let mut member_id = String::new();
    while !m.stop.load(Ordering::Relaxed) {
        m.rebalancing.store(true, Ordering::Relaxed);
        m.rejoin.store(false, Ordering::Relaxed);
        let owned = tx
            .borrow()
            .as_ref()
            .map(|a| a.assigned.clone())
            .unwrap_or_default();
        let metadata = MemberMetadata {
            url: settings.url.clone(),
            config_offset: worker.config_offset(),
            owned,
        };
        let metadata = Bytes::from(serde_json::to_vec(&metadata).expect("serializes"));
        let joined = match member.join(
            &member_id,
            settings.session_timeout_ms,
            settings.rebalance_timeout_ms,
            PROTOCOL,
            metadata,
        )? {
            JoinOutcome::Joined(j) => j,
            JoinOutcome::MemberIdRequired(id) => {
                member_id = id;
                continue;
            }
            JoinOutcome::Error(codes::UNKNOWN_MEMBER_ID) => {
                member_id.clear();
                continue;
            }
            JoinOutcome::Error(codes::REBALANCE_IN_PROGRESS) => continue,
            JoinOutcome::Error(code) => {
                return Err(fjord_kafka_client::Error::broker(code, Some("JoinGroup")))
            }
        };
        member_id = joined.member_id.clone();
        let assignments = if joined.leader == member_id {
            lead(settings, worker, &joined.members, &member_id, memory)
        } else {
            Vec::new()
        };
        let bytes = match member.sync(joined.generation, &member_id, assignments)? {
            Ok(a) => a,
            Err(codes::UNKNOWN_MEMBER_ID) => {
                member_id.clear();
                continue;
            }
            Err(codes::REBALANCE_IN_PROGRESS | codes::ILLEGAL_GENERATION) => continue,
            Err(code) => return Err(fjord_kafka_client::Error::broker(code, Some("SyncGroup"))),
        };
        let assignment: Assignment = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable assignment; rejoining");
                continue;
            }
        };
        let rejoin_at = assignment
            .rejoin_after_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        tracing::info!(generation = joined.generation, leader = %assignment.leader_url,
            work = assignment.assigned.len(), "connect group assignment");
        tx.send_replace(Some(assignment));
        m.rebalancing.store(false, Ordering::Relaxed);
        // Heartbeat until the group rebalances, we are asked to rejoin, or
        // held-back work is due.
        loop {
            sleep_unless(&[&m.stop, &m.rejoin], settings.heartbeat_interval);
            if m.stop.load(Ordering::Relaxed) {
                let _ = member.leave(&member_id);
                return Ok(());
            }
            if m.rejoin.load(Ordering::Relaxed) || rejoin_at.is_some_and(|t| Instant::now() >= t) {
                break;
            }
            match member.heartbeat(joined.generation, &member_id)? {
                Ok(()) => {}
                Err(codes::REBALANCE_IN_PROGRESS) => break,
                Err(codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION) => {
                    member_id.clear();
                    break;
                }
                Err(code) => {
                    return Err(fjord_kafka_client::Error::broker(code, Some("Heartbeat")))
                }
            }
        }
    }
    Ok(())
}

/// The leader's part: wait until this worker has read the config topic as
/// far as any member has, then assign.
fn lead(
    settings: &GroupSettings,
    worker: &dyn GroupWorker,
    members: &[(String, Bytes)],
    me: &str,
    memory: &mut LeaderMemory,
) -> Vec<(String, Bytes)> {
    let metadata: Vec<(String, MemberMetadata)> = members
        .iter()
        .filter_map(|(id, bytes)| {
            serde_json::from_slice::<MemberMetadata>(bytes)
                .ok()
                .map(|m| (id.clone(), m))
        })
        .collect();
    let newest = metadata
        .iter()
        .map(|(_, m)| m.config_offset)
        .max()
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.config_offset() < newest && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (all_work, config_offset) = worker.all_work();
    let plan = assign(
        &metadata,
        &all_work,
        memory,
        settings.max_delay,
        Instant::now(),
    );
    plan.into_iter()
        .map(|(id, (assigned, rejoin_after_ms))| {
            let assignment = Assignment {
                leader: me.to_string(),
                leader_url: settings.url.clone(),
                config_offset,
                assigned: assigned.into_iter().collect(),
                rejoin_after_ms,
            };
            (
                id,
                Bytes::from(serde_json::to_vec(&assignment).expect("serializes")),
            )
        })
        .collect()
}
