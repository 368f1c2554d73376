//! `org.apache.kafka.connect.file.FileStreamSinkConnector`: each record's
//! value as one line of `file`, in the form Java's `toString` gives it (a
//! string as itself, a struct as `Struct{a=1,b=x}`), as Kafka's sink
//! writes. With the `StringConverter` a topic of JSON text is copied line
//! for line. `flush` fsyncs, so offsets are committed only for lines on
//! disk.

use std::io::Write;

use async_trait::async_trait;

use super::single_task;
use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::connector::{
    ConnectorKind, ConnectorPlugin, Offsets, PutOutcome, SinkTask, TaskContext,
};
use crate::data::Value;
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

pub struct FileSinkPlugin;

impl ConnectorPlugin for FileSinkPlugin {
    fn class_name(&self) -> &'static str {
        "org.apache.kafka.connect.file.FileStreamSinkConnector"
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sink
    }

    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            ConfigKey::new(
                "file",
                ConfigType::String,
                Importance::High,
                "Destination filename.",
            )
            .default(""),
        )
    }

    fn validate_extra(&self, config: &Config) -> Vec<(String, String)> {
        if config.string("file").is_none() {
            return vec![(
                "file".to_string(),
                "Fjord's file sink writes a file: set 'file' (writing the worker's stdout is not supported)"
                    .to_string(),
            )];
        }
        Vec::new()
    }

    fn task_configs(&self, config: &Config, _max_tasks: usize) -> Result<Vec<Config>> {
        single_task(config)
    }

    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        Some(Box::new(FileSinkTask::default()))
    }
}

#[derive(Default)]
pub struct FileSinkTask {
    out: Option<std::io::BufWriter<std::fs::File>>,
    path: std::path::PathBuf,
}

#[async_trait]
impl SinkTask for FileSinkTask {
    async fn start(&mut self, config: &Config, context: TaskContext) -> Result<()> {
        let file = config.required("file")?;
        self.path = context.check_path(file.as_ref())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let handle = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| {
                ConnectError::External(format!("cannot open {}: {e}", self.path.display()))
            })?;
        self.out = Some(std::io::BufWriter::with_capacity(1 << 20, handle));
        Ok(())
    }

    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<PutOutcome> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| ConnectError::External("file sink not started".into()))?;
        let mut line = String::new();
        for record in &records {
            line.clear();
            java_text(&record.value, &mut line);
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(|e| {
                ConnectError::External(format!("cannot write {}: {e}", self.path.display()))
            })?;
        }
        Ok(PutOutcome::default())
    }

    async fn flush(&mut self, _offsets: &Offsets) -> Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
            out.get_ref().sync_data()?;
        }
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(mut out) = self.out.take() {
            let _ = out.flush();
        }
    }
}

/// A value as Java's `String.valueOf` prints it for Connect's types.
pub fn java_text(value: &Value, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int8(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Int16(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Int32(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Int64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Float32(v) => java_float(f64::from(*v), out),
        Value::Float64(v) => java_float(*v, out),
        Value::String(s) => out.push_str(s),
        // Java prints an array's identity; the bytes as text are more use.
        Value::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_text(item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_text(k, out);
                out.push('=');
                java_text(v, out);
            }
            out.push('}');
        }
        Value::Struct(s) => {
            out.push_str("Struct{");
            let mut first = true;
            for (field, v) in s.iter() {
                // Struct.toString skips null fields.
                if v.is_null() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&field.name);
                out.push('=');
                java_text(v, out);
            }
            out.push('}');
        }
    }
}

/// Java's `Double.toString` for ordinary magnitudes: always a decimal point.
fn java_float(v: f64, out: &mut String) {
    use std::fmt::Write as _;
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e7 {
        let _ = write!(out, "{v:.1}");
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::data::{Schema, SchemaType, Struct};

    #[tokio::test]
    async fn values_are_written_one_per_line_as_java_prints_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out/sink.txt");
        let config = Config::from_pairs([("file", file.to_str().unwrap())]);
        let context = TaskContext {
            connector: "s".into(),
            task_id: 0,
            allowed_paths: Arc::new(vec![dir.path().into()]),
        };
        let mut task = FileSinkTask::default();
        task.start(&config, context).await.unwrap();
        let schema = Schema::structure(
            Some("bid"),
            vec![
                ("item".into(), Schema::of(SchemaType::String).into_ref()),
                ("price".into(), Schema::of(SchemaType::Float64).into_ref()),
                (
                    "note".into(),
                    Schema::optional_of(SchemaType::String).into_ref(),
                ),
            ],
        )
        .into_ref();
        let mut bid = Struct::new(schema.clone());
        bid.put("item", "lamp".into());
        bid.put("price", Value::Float64(12.0));
        let records = vec![
            ConnectRecord::new("t", None, Value::Null, None, Value::from(r#"{"a":1}"#)),
            ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(bid)),
            ConnectRecord::new(
                "t",
                None,
                Value::Null,
                None,
                Value::Map(vec![
                    ("a".into(), Value::Int64(1)),
                    ("b".into(), Value::Array(vec![true.into()])),
                ]),
            ),
        ];
        assert!(task.put(records).await.unwrap().failed.is_empty());
        task.flush(&Offsets::new()).await.unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "{\"a\":1}\nStruct{item=lamp,price=12.0}\n{a=1, b=[true]}\n"
        );
    }
}
