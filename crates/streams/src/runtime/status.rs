//! What each instance tells the world about its tasks: after every commit
//! it writes one record per task it runs to the compacted topic
//! `<application-id>-status` (key `task-<n>`), so `fjord streams describe`
//! (and the console later) can show an application from anywhere, over the
//! Kafka protocol only.

use serde::{Deserialize, Serialize};

use crate::topology::Task;

/// The status topic of an application.
pub fn status_topic(application_id: &str) -> String {
    format!("{application_id}-status")
}

/// A task's restore from its changelogs on the instance running it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    pub records: u64,
    pub ms: u64,
}

/// One task, as its instance last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task: i32,
    /// The group member running it.
    pub member_id: String,
    /// host:port for pull queries ("" if none).
    pub host: String,
    /// Largest event time seen, epoch ms (None before any windowed record).
    pub stream_time: Option<i64>,
    pub processed: u64,
    pub late: u64,
    pub dead_letters: u64,
    /// (store, entries).
    pub stores: Vec<(String, usize)>,
    /// How this instance got the task's stores: the changelog records it
    /// read and how long that took (0 and 0 for a task without stores).
    #[serde(default)]
    pub restore: Restore,
    /// When this was written, epoch ms.
    pub updated_ms: i64,
}

impl TaskStatus {
    pub fn of(
        task: &Task,
        restore: Restore,
        member_id: &str,
        host: &str,
        now_ms: i64,
    ) -> TaskStatus {
        TaskStatus {
            task: task.partition(),
            member_id: member_id.to_string(),
            host: host.to_string(),
            stream_time: task.stream_time(),
            processed: task.processed(),
            late: task.late_records(),
            dead_letters: task.dead_letters(),
            stores: task.store_sizes(),
            restore,
            updated_ms: now_ms,
        }
    }

    pub fn key(&self) -> String {
        format!("task-{}", self.task)
    }
}
