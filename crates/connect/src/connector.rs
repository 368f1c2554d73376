//! The connector API, shaped like Kafka Connect's: a [`ConnectorPlugin`]
//! is a class users name in `connector.class`; it validates a connector's
//! settings and splits the work into task configs; each task is a
//! [`SourceTask`] (reads an external system, returns records) or a
//! [`SinkTask`] (receives records, writes an external system). The runtime
//! (worker) does everything else: Kafka clients, converters, transforms,
//! offsets, error handling, rebalancing.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::Config;
use crate::config_def::ConfigDef;
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    Source,
    Sink,
}

impl ConnectorKind {
    /// As the REST API prints it ("source", "sink").
    pub fn name(self) -> &'static str {
        match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        }
    }
}

/// A Kafka topic partition.
pub type TopicPartition = (String, i32);

/// A connector class.
pub trait ConnectorPlugin: Send + Sync {
    /// The fully qualified Java class name users put in
    /// `connector.class` (e.g. `io.confluent.connect.jdbc.JdbcSinkConnector`).
    fn class_name(&self) -> &'static str;
    fn kind(&self) -> ConnectorKind;
    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
    /// The connector's own settings (the runtime adds the common ones).
    fn config_def(&self) -> ConfigDef;
    /// Checks beyond each key's type and allowed values (e.g. a setting
    /// that requires another); (key, message) pairs.
    fn validate_extra(&self, _config: &Config) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Splits the connector's work into at most `max_tasks` task configs.
    fn task_configs(&self, config: &Config, max_tasks: usize) -> Result<Vec<Config>>;
    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        None
    }
    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        None
    }
}

/// What the runtime gives a task besides its config.
#[derive(Clone)]
pub struct TaskContext {
    pub connector: String,
    pub task_id: u32,
    /// Directories the file connectors may touch (the worker's
    /// `allowed.paths` / data dir); empty means no restriction.
    pub allowed_paths: Arc<Vec<std::path::PathBuf>>,
}

impl TaskContext {
    /// Refuses a path outside the allowed directories.
    pub fn check_path(&self, path: &std::path::Path) -> Result<std::path::PathBuf> {
        // Both sides relative to the worker's directory when relative (the
        // default allowed directory, fjord serve's data dir, is ./fjord-data).
        let cwd = std::env::current_dir()?;
        let normal = normalize(&cwd.join(path));
        if self.allowed_paths.is_empty()
            || self
                .allowed_paths
                .iter()
                .any(|dir| normal.starts_with(normalize(&cwd.join(dir))))
        {
            return Ok(normal);
        }
        Err(ConnectError::config(
            "file",
            &path.display().to_string(),
            format!(
                "the path is outside the worker's allowed directories ({}); set allowed.paths in the worker config",
                self.allowed_paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        ))
    }
}

/// `a/b/../c` as `a/c`, without touching the filesystem (the file may not
/// exist yet), so `..` cannot climb out of an allowed directory.
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Source offsets stored for this connector: (partition map, offset map)
/// pairs, read once when a task starts.
pub type StoredOffsets = Vec<(
    serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
)>;

/// Reads an external system into records. Each record carries its
/// [`crate::record::SourcePosition`]; the runtime stores the last position
/// per source partition in `connect-offsets` once the records are written.
#[async_trait]
pub trait SourceTask: Send {
    async fn start(
        &mut self,
        config: &Config,
        context: TaskContext,
        offsets: StoredOffsets,
    ) -> Result<()>;
    /// The next records; waits a while (its poll interval) when there are
    /// none, and returns an empty batch rather than block forever.
    async fn poll(&mut self) -> Result<Vec<ConnectRecord>>;
    async fn stop(&mut self) {}
}

/// Offsets per topic partition: the next offset to read.
pub type Offsets = HashMap<TopicPartition, i64>;

/// What a `put` came to. Records the task could not write for a reason of
/// their own (a constraint violation, a value the table cannot hold) are
/// listed, by index, with the error; the others were written. A failure of
/// the whole write (connection lost) is an `Err` instead.
#[derive(Debug, Default)]
pub struct PutOutcome {
    pub failed: Vec<(usize, ConnectError)>,
}

/// Writes records to an external system.
#[async_trait]
pub trait SinkTask: Send {
    async fn start(&mut self, config: &Config, context: TaskContext) -> Result<()>;
    /// Offsets the task keeps in its external system (an exactly-once sink
    /// stores them with its rows); the runtime resumes each listed
    /// partition from there rather than from the group's commit.
    async fn stored_offsets(&mut self, _partitions: &[TopicPartition]) -> Result<Offsets> {
        Ok(Offsets::new())
    }
    /// Overwrites or erases (None) the offsets the task keeps itself; the
    /// offsets REST endpoints call it for an exactly-once sink.
    async fn set_stored_offsets(
        &mut self,
        _offsets: &[(TopicPartition, Option<i64>)],
    ) -> Result<bool> {
        Ok(false)
    }
    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<PutOutcome>;
    /// Makes everything `put` so far durable; the runtime commits these
    /// offsets to the group afterwards.
    async fn flush(&mut self, _offsets: &Offsets) -> Result<()> {
        Ok(())
    }
    async fn stop(&mut self) {}
}

/// The connector classes a worker knows, by full and short name.
#[derive(Clone, Default)]
pub struct PluginRegistry {
    plugins: Vec<Arc<dyn ConnectorPlugin>>,
}

impl PluginRegistry {
    pub fn new() -> PluginRegistry {
        PluginRegistry::default()
    }

    pub fn add(&mut self, plugin: Arc<dyn ConnectorPlugin>) {
        self.plugins.push(plugin);
    }

    pub fn plugins(&self) -> &[Arc<dyn ConnectorPlugin>] {
        &self.plugins
    }

    /// Finds a class by its full name, its simple name
    /// (`JdbcSinkConnector`) or its simple name without `Connector`
    /// (`FileStreamSink`), as Kafka Connect's plugin aliases allow.
    pub fn find(&self, class: &str) -> Option<Arc<dyn ConnectorPlugin>> {
        let class = class.trim();
        self.plugins
            .iter()
            .find(|p| {
                let full = p.class_name();
                let simple = full.rsplit('.').next().unwrap_or(full);
                full == class
                    || simple == class
                    || simple.strip_suffix("Connector").is_some_and(|s| s == class)
            })
            .cloned()
    }

    /// The error for a class that is not built in, listing those that are.
    pub fn unknown(&self, class: &str) -> ConnectError {
        let names: Vec<&str> = self.plugins.iter().map(|p| p.class_name()).collect();
        ConnectError::config(
            "connector.class",
            class,
            format!(
                "Failed to find any class that implements Connector and which name matches {class}; \
                 Fjord's built-in connectors are: {}",
                names.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_allowed_directories_are_refused() {
        let context = TaskContext {
            connector: "c".into(),
            task_id: 0,
            allowed_paths: Arc::new(vec!["/data/connect".into()]),
        };
        assert!(context.check_path("/data/connect/out.txt".as_ref()).is_ok());
        assert!(context
            .check_path("/data/connect/../secret".as_ref())
            .is_err());
        assert!(context.check_path("/etc/passwd".as_ref()).is_err());
    }

    #[test]
    fn a_relative_allowed_directory_is_the_worker_directorys() {
        // `fjord serve`'s default: allowed.paths is its data dir, ./fjord-data.
        let context = TaskContext {
            connector: "c".into(),
            task_id: 0,
            allowed_paths: Arc::new(vec!["./fjord-data".into()]),
        };
        let cwd = std::env::current_dir().unwrap();
        let inside = cwd.join("fjord-data/auction/bids.jsonl");
        assert_eq!(
            context
                .check_path("fjord-data/auction/bids.jsonl".as_ref())
                .unwrap(),
            inside
        );
        assert_eq!(context.check_path(&inside).unwrap(), inside);
        assert!(context.check_path("fjord-data/../x".as_ref()).is_err());
        assert!(context.check_path("/etc/passwd".as_ref()).is_err());
    }
}
