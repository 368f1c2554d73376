//! Writer election across registry instances on the same topic, Confluent's
//! way: every instance joins a classic group (default `schema-registry`,
//! protocol type "sr") with its identity (host, port, scheme, leader
//! eligibility) as member metadata; the group leader picks the writer and
//! the assignment tells every member who it is. Non-writers forward writes
//! to the writer's URL.
//!
//! Membership runs on its own thread over fjord-kafka-client (blocking
//! JoinGroup/SyncGroup/Heartbeat). The current role is published on a
//! watch channel; `generation` grows each time this instance becomes the
//! writer, so the write path knows when to read the topic to its end first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjord_kafka_client::group::{codes, connect_coordinator, GroupMember, JoinOutcome};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The group protocol type and protocol name members join with.
const PROTOCOL_TYPE: &str = "sr";
const PROTOCOL: &str = "v0";

/// How an instance is reached, sent as its member metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub version: i32,
    pub host: String,
    pub port: u16,
    pub scheme: String,
    pub leader_eligibility: bool,
}

impl Identity {
    pub fn url(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// What the leader assigns every member.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Assignment {
    version: i32,
    /// 0, or 1 when no member may be the writer.
    error: i32,
    leader: Option<String>,
    leader_identity: Option<Identity>,
}

/// Who takes writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// Between elections, or the group cannot be reached.
    Unknown,
    Me,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub writer: Writer,
    /// Bumped each time this instance becomes the writer.
    pub generation: u64,
}

#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub bootstrap_servers: String,
    pub client_settings: Vec<(String, String)>,
    pub group_id: String,
    pub identity: Identity,
    pub session_timeout_ms: i32,
}

pub struct Election {
    role: watch::Receiver<Role>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Election {
    /// Joins the group on a background thread.
    pub fn start(config: ElectionConfig) -> Election {
        let (tx, role) = watch::channel(Role {
            writer: Writer::Unknown,
            generation: 0,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("registry-election".into())
                .spawn(move || membership_loop(config, tx, stop))
                .expect("spawn election thread")
        };
        Election {
            role,
            stop,
            thread: Some(thread),
        }
    }

    /// No group: this instance is the only writer (for clusters this
    /// client cannot reach, e.g. over TLS or SASL; run one instance there).
    pub fn solo() -> Election {
        let (_tx, role) = watch::channel(Role {
            writer: Writer::Me,
            generation: 1,
        });
        Election {
            role,
            stop: Arc::new(AtomicBool::new(true)),
            thread: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// The role once a writer is known, or Unknown after `timeout`.
    pub async fn known_role(&self, timeout: Duration) -> Role {
        let mut rx = self.role.clone();
        let wait = async move {
            rx.wait_for(|r| r.writer != Writer::Unknown)
                .await
                .map(|role| role.clone())
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(role)) => role,
            _ => self.role(),
        }
    }
}

impl Drop for Election {
    /// Stops the membership thread; it leaves the group at its next
    /// heartbeat tick. Waits briefly for that, but never for a JoinGroup
    /// in flight (the process may be exiting).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn membership_loop(config: ElectionConfig, tx: watch::Sender<Role>, stop: Arc<AtomicBool>) {
    let mut generation = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = run_member(&config, &tx, &stop, &mut generation) {
            tracing::warn!(group = %config.group_id, error = %e, "registry election: retrying");
            set_role(&tx, Writer::Unknown, &mut generation);
            sleep_unless_stopped(&stop, Duration::from_secs(1));
        }
    }
}

fn set_role(tx: &watch::Sender<Role>, writer: Writer, generation: &mut u64) {
    let current = tx.borrow().clone();
    if current.writer == writer {
        return;
    }
    if writer == Writer::Me {
        *generation += 1;
    }
    tracing::info!(?writer, "registry writer");
    tx.send_replace(Role {
        writer,
        generation: *generation,
    });
}

fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One stay in the group: join, sync, heartbeat until a rebalance, again;
/// returns on errors (the caller reconnects) or on stop (after leaving).
fn run_member(
    config: &ElectionConfig,
    tx: &watch::Sender<Role>,
    stop: &AtomicBool,
    generation: &mut u64,
) -> Result<(), fjord_kafka_client::Error> {
    // JoinGroup waits for the whole rebalance: allow for it.
    let timeout = Duration::from_millis(config.session_timeout_ms as u64 * 2 + 10_000);
    let conn = connect_coordinator(
        &config.bootstrap_servers,
        &config.client_settings,
        &config.group_id,
        timeout,
    )?;
    let mut member = GroupMember {
        conn,
        group: config.group_id.clone(),
        protocol_type: PROTOCOL_TYPE.to_string(),
    };
    let metadata = Bytes::from(serde_json::to_vec(&config.identity).expect("serializes"));
    let mut member_id = String::new();
    let mut last_writer: Option<String> = None;
    let heartbeat_every = Duration::from_millis((config.session_timeout_ms / 3).max(100) as u64);
    while !stop.load(Ordering::Relaxed) {
        let joined = match member.join(
            &member_id,
            config.session_timeout_ms,
            config.session_timeout_ms,
            PROTOCOL,
            metadata.clone(),
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
            assign(&joined.members, &mut last_writer)
        } else {
            Vec::new()
        };
        let assignment = match member.sync(joined.generation, &member_id, assignments)? {
            Ok(a) => a,
            Err(codes::UNKNOWN_MEMBER_ID) => {
                member_id.clear();
                continue;
            }
            Err(codes::REBALANCE_IN_PROGRESS | codes::ILLEGAL_GENERATION) => continue,
            Err(code) => return Err(fjord_kafka_client::Error::broker(code, Some("SyncGroup"))),
        };
        let writer = match serde_json::from_slice::<Assignment>(&assignment) {
            Ok(Assignment {
                error: 0,
                leader: Some(leader),
                leader_identity: Some(identity),
                ..
            }) => {
                if leader == member_id {
                    Writer::Me
                } else {
                    Writer::Other(identity.url())
                }
            }
            _ => Writer::Unknown,
        };
        set_role(tx, writer, generation);
        // Heartbeat until the group rebalances or we stop.
        loop {
            sleep_unless_stopped(stop, heartbeat_every);
            if stop.load(Ordering::Relaxed) {
                let _ = member.leave(&member_id);
                set_role(tx, Writer::Unknown, generation);
                return Ok(());
            }
            match member.heartbeat(joined.generation, &member_id)? {
                Ok(()) => {}
                Err(codes::REBALANCE_IN_PROGRESS) => break,
                Err(codes::UNKNOWN_MEMBER_ID | codes::ILLEGAL_GENERATION) => {
                    member_id.clear();
                    set_role(tx, Writer::Unknown, generation);
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

/// The leader's choice: the previous writer while it is still a member and
/// eligible, else the eligible member with the smallest URL (then member
/// id), so the choice is the same whichever member leads.
fn assign(members: &[(String, Bytes)], last_writer: &mut Option<String>) -> Vec<(String, Bytes)> {
    let identities: Vec<(String, Option<Identity>)> = members
        .iter()
        .map(|(id, meta)| (id.clone(), serde_json::from_slice::<Identity>(meta).ok()))
        .collect();
    let eligible = |id: &String| {
        identities
            .iter()
            .any(|(m, i)| m == id && i.as_ref().is_some_and(|i| i.leader_eligibility))
    };
    let chosen = last_writer.clone().filter(|w| eligible(w)).or_else(|| {
        identities
            .iter()
            .filter_map(|(m, i)| {
                i.as_ref()
                    .filter(|i| i.leader_eligibility)
                    .map(|i| (i.url(), m))
            })
            .min()
            .map(|(_, m)| m.clone())
    });
    *last_writer = chosen.clone();
    let identity = chosen.as_ref().and_then(|c| {
        identities
            .iter()
            .find(|(m, _)| m == c)
            .and_then(|(_, i)| i.clone())
    });
    let assignment = Assignment {
        version: 1,
        error: if chosen.is_some() { 0 } else { 1 },
        leader: chosen,
        leader_identity: identity,
    };
    let bytes = Bytes::from(serde_json::to_vec(&assignment).expect("serializes"));
    members
        .iter()
        .map(|(m, _)| (m.clone(), bytes.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(port: u16, eligible: bool) -> Bytes {
        Bytes::from(
            serde_json::to_vec(&Identity {
                version: 1,
                host: "127.0.0.1".into(),
                port,
                scheme: "http".into(),
                leader_eligibility: eligible,
            })
            .unwrap(),
        )
    }

    fn writer_of(assignments: &[(String, Bytes)]) -> Option<String> {
        let a: Assignment = serde_json::from_slice(&assignments[0].1).unwrap();
        a.leader
    }

    #[test]
    fn the_leader_keeps_the_writer_and_skips_ineligible_members() {
        let mut last = None;
        let members = vec![
            ("b".to_string(), meta(9002, true)),
            ("a".to_string(), meta(9001, false)),
            ("c".to_string(), meta(9003, true)),
        ];
        assert_eq!(writer_of(&assign(&members, &mut last)), Some("b".into()));
        // A newcomer with a smaller URL does not take over a live writer.
        let mut more = members.clone();
        more.push(("d".to_string(), meta(9000, true)));
        assert_eq!(writer_of(&assign(&more, &mut last)), Some("b".into()));
        // The writer gone: the next eligible member by URL.
        more.retain(|(m, _)| m != "b");
        assert_eq!(writer_of(&assign(&more, &mut last)), Some("d".into()));
        // Nobody eligible: error 1, no writer.
        let none = vec![("a".to_string(), meta(9001, false))];
        let out = assign(&none, &mut None);
        let a: Assignment = serde_json::from_slice(&out[0].1).unwrap();
        assert_eq!((a.error, a.leader), (1, None));
    }
}
