//! Connector and task states as Kafka Connect reports them, and the cells
//! the worker and its tasks share to report them.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

/// `AbstractStatus.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unassigned,
    Running,
    Paused,
    Stopped,
    Failed,
    Restarting,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Stopped => "STOPPED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
        }
    }

    pub fn from_name(name: &str) -> Option<State> {
        Some(match name {
            "UNASSIGNED" => State::Unassigned,
            "RUNNING" => State::Running,
            "PAUSED" => State::Paused,
            "STOPPED" => State::Stopped,
            "FAILED" => State::Failed,
            "RESTARTING" => State::Restarting,
            _ => return None,
        })
    }
}

/// What the user asked a connector to be (`target-state-<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Started,
    Paused,
    Stopped,
}

impl TargetState {
    pub fn name(self) -> &'static str {
        match self {
            TargetState::Started => "STARTED",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        }
    }

    pub fn from_name(name: &str) -> Option<TargetState> {
        Some(match name {
            "STARTED" => TargetState::Started,
            "PAUSED" => TargetState::Paused,
            "STOPPED" => TargetState::Stopped,
            _ => return None,
        })
    }
}

/// Which status a change is about: the connector (None) or a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusKey {
    pub connector: String,
    pub task: Option<u32>,
}

/// A status change, for the status topic.
#[derive(Debug, Clone)]
pub struct StatusEvent {
    pub key: StatusKey,
    pub state: State,
    pub trace: Option<String>,
}

/// One connector's or task's current state and failure trace.
#[derive(Clone)]
pub struct StatusCell {
    key: StatusKey,
    current: Arc<Mutex<(State, Option<String>)>>,
    events: Option<UnboundedSender<StatusEvent>>,
}

impl StatusCell {
    pub fn new(key: StatusKey, events: Option<UnboundedSender<StatusEvent>>) -> StatusCell {
        StatusCell {
            key,
            current: Arc::new(Mutex::new((State::Unassigned, None))),
            events,
        }
    }

    pub fn get(&self) -> (State, Option<String>) {
        self.current.lock().expect("status lock").clone()
    }

    pub fn set(&self, state: State, trace: Option<String>) {
        {
            let mut current = self.current.lock().expect("status lock");
            if current.0 == state && current.1 == trace {
                return;
            }
            *current = (state, trace.clone());
        }
        if let Some(events) = &self.events {
            let _ = events.send(StatusEvent {
                key: self.key.clone(),
                state,
                trace,
            });
        }
    }

    pub fn fail(&self, error: impl std::fmt::Display) {
        let trace = format!("org.apache.kafka.connect.errors.ConnectException: {error}");
        let who = match self.key.task {
            Some(t) => format!("{}-{t}", self.key.connector),
            None => self.key.connector.clone(),
        };
        tracing::error!(%who, error = %error, "failed");
        self.set(State::Failed, Some(trace));
    }
}
