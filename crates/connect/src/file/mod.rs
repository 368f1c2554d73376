//! Apache Kafka's file connectors (`FileStreamSourceConnector`,
//! `FileStreamSinkConnector`): lines of a file into a topic, and records
//! of topics as lines of a file. Both take the same settings as Kafka's
//! and refuse paths outside the worker's allowed directories.

mod sink;
mod source;

pub use sink::{FileSinkPlugin, FileSinkTask};
pub use source::{FileSourcePlugin, FileSourceTask};

use crate::config::Config;
use crate::error::Result;

/// Both connectors run one task: a file has one reader and one writer.
fn single_task(config: &Config) -> Result<Vec<Config>> {
    Ok(vec![config.clone()])
}
