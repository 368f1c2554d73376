//! `io.confluent.connect.jdbc.JdbcSinkConnector`: the plugin (settings,
//! task configs) and its task, which hands each `put` to the [`Writer`].

use async_trait::async_trait;

use super::sink_config::{sink_config_def, SinkSettings};
use super::writer::Writer;
use crate::config::Config;
use crate::config_def::ConfigDef;
use crate::connector::{
    ConnectorKind, ConnectorPlugin, Offsets, PutOutcome, SinkTask, TaskContext, TopicPartition,
};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

/// The JDBC sink connector class.
#[derive(Debug, Default, Clone, Copy)]
pub struct JdbcSinkConnector;

impl ConnectorPlugin for JdbcSinkConnector {
    fn class_name(&self) -> &'static str {
        "io.confluent.connect.jdbc.JdbcSinkConnector"
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sink
    }

    fn config_def(&self) -> ConfigDef {
        sink_config_def()
    }

    /// The checks across keys that Confluent's connector makes (delete
    /// needs record_key, upsert/update need a key), reported on their key.
    fn validate_extra(&self, config: &Config) -> Vec<(String, String)> {
        match SinkSettings::parse(config) {
            Ok(_) => Vec::new(),
            Err(error) => super::extra_error(&self.config_def(), config, error),
        }
    }

    /// Every task takes the same settings: the runtime spreads the topic
    /// partitions over them.
    fn task_configs(&self, config: &Config, max_tasks: usize) -> Result<Vec<Config>> {
        SinkSettings::parse(config)?;
        Ok(vec![config.clone(); max_tasks.max(1)])
    }

    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        Some(Box::new(JdbcSinkTask::default()))
    }
}

/// A JDBC sink task: one connection pool, one writer.
#[derive(Default)]
pub struct JdbcSinkTask {
    writer: Option<Writer>,
    exactly_once: bool,
}

impl JdbcSinkTask {
    fn writer(&mut self) -> Result<&mut Writer> {
        self.writer
            .as_mut()
            .ok_or_else(|| ConnectError::External("the JDBC sink task is not started".into()))
    }
}

#[async_trait]
impl SinkTask for JdbcSinkTask {
    async fn start(&mut self, config: &Config, context: TaskContext) -> Result<()> {
        let settings = SinkSettings::parse(config)?;
        self.exactly_once = settings.exactly_once;
        self.writer = Some(Writer::open(settings, &context.connector).await?);
        Ok(())
    }

    async fn stored_offsets(&mut self, partitions: &[TopicPartition]) -> Result<Offsets> {
        if !self.exactly_once {
            return Ok(Offsets::new());
        }
        self.writer()?.stored_offsets(partitions).await
    }

    async fn set_stored_offsets(
        &mut self,
        offsets: &[(TopicPartition, Option<i64>)],
    ) -> Result<bool> {
        if !self.exactly_once {
            return Ok(false);
        }
        self.writer()?.set_stored_offsets(offsets).await?;
        Ok(true)
    }

    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<PutOutcome> {
        if records.is_empty() {
            return Ok(PutOutcome::default());
        }
        self.writer()?.put(&records).await
    }

    /// Every put commits its own transaction: nothing is left to flush.
    async fn flush(&mut self, _offsets: &Offsets) -> Result<()> {
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.close().await;
        }
    }
}
