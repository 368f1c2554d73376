//! `org.apache.kafka.connect.file.FileStreamSourceConnector`: each line
//! appended to `file` becomes a record (value schema STRING) in `topic`.
//! Its position is the byte offset after the last line delivered, under
//! Kafka's keys (`{"filename": ...}` → `{"position": ...}`), so a
//! restarted task resumes exactly after the last stored line.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::single_task;
use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::connector::{ConnectorKind, ConnectorPlugin, SourceTask, StoredOffsets, TaskContext};
use crate::data::{Schema, SchemaType, Value};
use crate::error::{ConnectError, Result};
use crate::record::{ConnectRecord, SourcePosition};

pub struct FileSourcePlugin;

impl ConnectorPlugin for FileSourcePlugin {
    fn class_name(&self) -> &'static str {
        "org.apache.kafka.connect.file.FileStreamSourceConnector"
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }

    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(ConfigKey::new("file", ConfigType::String, Importance::High, "Source filename.").default(""))
            .define(ConfigKey::new(
                "topic",
                ConfigType::List,
                Importance::High,
                "The topic to publish data to",
            ))
            .define(
                ConfigKey::new(
                    "batch.size",
                    ConfigType::Int,
                    Importance::Low,
                    "The maximum number of records the source task can read from the file each time it is polled",
                )
                .default("2000"),
            )
    }

    fn validate_extra(&self, config: &Config) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if config.list("topic").len() > 1 {
            errors.push(("topic".to_string(), "'topic' in FileStreamSourceConnector configuration requires definition of a single topic".to_string()));
        }
        if config.string("file").is_none() {
            errors.push(("file".to_string(), "Fjord's file source reads a file: set 'file' (reading the worker's stdin is not supported)".to_string()));
        }
        errors
    }

    fn task_configs(&self, config: &Config, _max_tasks: usize) -> Result<Vec<Config>> {
        single_task(config)
    }

    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        Some(Box::new(FileSourceTask::default()))
    }
}

/// How long a poll waits for the file to grow before returning nothing.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// Bytes read from the file at a time.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Default)]
pub struct FileSourceTask {
    /// The file as configured (the offset key), and as opened.
    filename: String,
    path: PathBuf,
    topic: String,
    batch_size: usize,
    file: Option<tokio::fs::File>,
    /// The byte offset just past the last complete line handed out.
    position: u64,
    /// Bytes read past `position` that do not end in a newline yet.
    pending: Vec<u8>,
    value_schema: Option<crate::data::SchemaRef>,
}

impl FileSourceTask {
    async fn open(&mut self) -> Result<bool> {
        if self.file.is_some() {
            return Ok(true);
        }
        match tokio::fs::File::open(&self.path).await {
            Ok(mut file) => {
                file.seek(SeekFrom::Start(self.position)).await?;
                self.file = Some(file);
                Ok(true)
            }
            // As Kafka's task does, wait for the file to appear.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ConnectError::External(format!(
                "cannot open {}: {e}",
                self.path.display()
            ))),
        }
    }

    /// Takes complete lines out of `pending`, at most `batch_size`.
    fn take_lines(&mut self, out: &mut Vec<ConnectRecord>) {
        let mut start = 0;
        while out.len() < self.batch_size {
            let Some(newline) = self.pending[start..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let end = start + newline;
            let mut line = &self.pending[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let text = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            self.position += (newline + 1) as u64;
            let mut record = ConnectRecord::new(
                self.topic.clone(),
                None,
                Value::Null,
                self.value_schema.clone(),
                Value::String(text),
            );
            record.source = Some(SourcePosition {
                partition: json!({ "filename": self.filename })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                offset: json!({ "position": self.position })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            });
            out.push(record);
        }
        self.pending.drain(..start);
    }
}

#[async_trait]
impl SourceTask for FileSourceTask {
    async fn start(
        &mut self,
        config: &Config,
        context: TaskContext,
        offsets: StoredOffsets,
    ) -> Result<()> {
        self.filename = config.required("file")?.to_string();
        self.path = context.check_path(self.filename.as_ref())?;
        let topics = config.list("topic");
        self.topic = match topics.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(ConnectError::config(
                    "topic",
                    config.get("topic").unwrap_or(""),
                    "requires a single topic",
                ))
            }
        };
        self.batch_size = config.i32_or("batch.size", 2000)?.max(1) as usize;
        self.value_schema = Some(Schema::of(SchemaType::String).into_ref());
        self.position = offsets
            .iter()
            .find(|(partition, _)| {
                partition.get("filename").and_then(|f| f.as_str()) == Some(&self.filename)
            })
            .and_then(|(_, offset)| offset.get("position").and_then(|p| p.as_u64()))
            .unwrap_or(0);
        tracing::info!(file = %self.path.display(), position = self.position, "file source starting");
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<ConnectRecord>> {
        let mut out = Vec::new();
        self.take_lines(&mut out);
        if !out.is_empty() {
            return Ok(out);
        }
        if !self.open().await? {
            tokio::time::sleep(IDLE_WAIT).await;
            return Ok(out);
        }
        let file = self.file.as_mut().expect("opened above");
        let mut chunk = vec![0u8; READ_CHUNK];
        let n = file.read(&mut chunk).await?;
        if n == 0 {
            tokio::time::sleep(IDLE_WAIT).await;
            return Ok(out);
        }
        self.pending.extend_from_slice(&chunk[..n]);
        self.take_lines(&mut out);
        Ok(out)
    }

    async fn stop(&mut self) {
        self.file = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn context(dir: &std::path::Path) -> TaskContext {
        TaskContext {
            connector: "src".into(),
            task_id: 0,
            allowed_paths: Arc::new(vec![dir.to_path_buf()]),
        }
    }

    #[tokio::test]
    async fn lines_become_records_and_a_restart_resumes_after_the_stored_position() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.txt");
        std::fs::write(&file, "one\r\ntwo\nthree-partial").unwrap();
        let config = Config::from_pairs([("file", file.to_str().unwrap()), ("topic", "lines")]);
        let mut task = FileSourceTask::default();
        task.start(&config, context(dir.path()), Vec::new())
            .await
            .unwrap();
        let records = task.poll().await.unwrap();
        let values: Vec<_> = records
            .iter()
            .map(|r| r.value.as_str().unwrap().to_string())
            .collect();
        assert_eq!(values, ["one", "two"]);
        let last = records.last().unwrap().source.clone().unwrap();
        assert_eq!(last.offset["position"], 9);
        assert_eq!(last.partition["filename"], file.to_str().unwrap());

        let mut again = FileSourceTask::default();
        again
            .start(
                &config,
                context(dir.path()),
                vec![(last.partition, last.offset)],
            )
            .await
            .unwrap();
        std::fs::write(&file, "one\r\ntwo\nthree-partial\nfour\n").unwrap();
        let values: Vec<_> = again
            .poll()
            .await
            .unwrap()
            .iter()
            .map(|r| r.value.as_str().unwrap().to_string())
            .collect();
        assert_eq!(values, ["three-partial", "four"]);
    }

    #[tokio::test]
    async fn a_file_outside_the_allowed_directories_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_pairs([("file", "/etc/passwd"), ("topic", "t")]);
        let err = FileSourceTask::default()
            .start(&config, context(dir.path()), Vec::new())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("outside the worker's allowed directories"),
            "{err}"
        );
    }
}
