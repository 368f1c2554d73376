//! What every task runner is handed, and how it learns what the user wants
//! of it (run, pause, shut down).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::config::Config;
use crate::connector::{ConnectorPlugin, TaskContext};
use crate::runtime::settings::WorkerSettings;
use crate::runtime::status::{State, StatusCell};

/// What a running task is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Run,
    Pause,
    Shutdown,
}

pub struct TaskSpec {
    pub connector: String,
    pub task_id: u32,
    /// The task's config (the connector's settings as the connector split
    /// them).
    pub config: Config,
    pub plugin: Arc<dyn ConnectorPlugin>,
    pub worker: Arc<WorkerSettings>,
    pub status: StatusCell,
    pub control: watch::Receiver<Control>,
    /// Topics the task has read or written (KIP-558's active topics).
    pub topics: Arc<Mutex<BTreeSet<String>>>,
}

impl TaskSpec {
    pub fn context(&self) -> TaskContext {
        TaskContext {
            connector: self.connector.clone(),
            task_id: self.task_id,
            allowed_paths: Arc::new(self.worker.allowed_paths.clone()),
        }
    }

    pub fn control(&self) -> Control {
        *self.control.borrow()
    }

    /// Waits while paused; returns false once told to shut down.
    pub async fn wait_while_paused(&mut self) -> bool {
        loop {
            match self.control() {
                Control::Run => {
                    if self.status.get().0 != State::Running {
                        self.status.set(State::Running, None);
                    }
                    return true;
                }
                Control::Shutdown => return false,
                Control::Pause => {
                    if self.status.get().0 != State::Paused {
                        self.status.set(State::Paused, None);
                    }
                    if self.control.changed().await.is_err() {
                        return false;
                    }
                }
            }
        }
    }

    pub fn note_topic(&self, topic: &str) {
        let mut topics = self.topics.lock().expect("topics lock");
        if !topics.contains(topic) {
            topics.insert(topic.to_string());
        }
    }

    /// `max.poll.records` from the connector's override or the worker.
    pub fn max_poll_records(&self) -> usize {
        let from = |c: &Config, k: &str| c.i64_or(k, 0).ok().filter(|n| *n > 0);
        from(&self.config, "consumer.override.max.poll.records")
            .or_else(|| from(&self.worker.raw, "consumer.max.poll.records"))
            .unwrap_or(500) as usize
    }
}
