//! Heartbeats on a thread of their own, as the Java consumer sends them,
//! so a long restore or commit never outlasts the session: with heartbeats
//! in the processing loop, a restore longer than the session timeout got
//! the member removed right after it joined, every time it rejoined.
//!
//! The thread has its own connection to the coordinator. It beats for the
//! member and generation it was given; when the coordinator answers with
//! an error (a rebalance, the member unknown) or the connection fails, it
//! stops beating and leaves the outcome for the processing loop, which
//! rejoins and gives it the new generation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fjord_kafka_client::group::GroupMember;

/// What a heartbeat came to, other than "fine".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Beat {
    /// The coordinator's error code (REBALANCE_IN_PROGRESS, ...).
    Refused(i16),
    /// The coordinator could not be reached.
    Failed(String),
}

#[derive(Default)]
struct State {
    /// None: not a member right now (joining), nothing to beat for.
    member: Option<(String, i32)>,
    outcome: Option<Beat>,
}

pub(crate) struct Heartbeats {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeats {
    /// Starts beating (once given a member) every `interval` on `member`'s
    /// connection.
    pub fn start(mut member: GroupMember, interval: Duration) -> Heartbeats {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (state.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("streams-heartbeat".into())
            .spawn(move || {
                let mut next = Instant::now() + interval;
                while !stopped.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20).min(interval));
                    if Instant::now() < next {
                        continue;
                    }
                    next = Instant::now() + interval;
                    let Some((id, generation)) = lock(&shared).member.clone() else {
                        continue;
                    };
                    let outcome = match member.heartbeat(generation, &id) {
                        Ok(Ok(())) => continue,
                        Ok(Err(code)) => Beat::Refused(code),
                        Err(e) => Beat::Failed(e.to_string()),
                    };
                    let mut s = lock(&shared);
                    // Only for the generation it beat for: the loop may
                    // have rejoined meanwhile.
                    if s.member.as_ref().is_some_and(|m| m.1 == generation) {
                        s.member = None;
                        s.outcome = Some(outcome);
                    }
                }
            })
            .expect("spawning the heartbeat thread");
        Heartbeats {
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Beats for `member_id` in `generation` from now on.
    pub fn member(&self, member_id: &str, generation: i32) {
        let mut s = lock(&self.state);
        s.member = Some((member_id.to_string(), generation));
        s.outcome = None;
    }

    /// Stops beating (the member is rejoining).
    pub fn pause(&self) {
        let mut s = lock(&self.state);
        s.member = None;
        s.outcome = None;
    }

    /// A refused or failed heartbeat since the last call, if any.
    pub fn outcome(&self) -> Option<Beat> {
        lock(&self.state).outcome.take()
    }
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The state, even if a holder panicked (it holds plain values).
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
