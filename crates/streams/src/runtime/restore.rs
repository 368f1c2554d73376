//! Restoring a task's stores from their changelog topics, read
//! `read_committed` up to their end.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::{self, kafka};
use super::{status, Instance};
use crate::error::{Error, Result};
use crate::task::Task;

/// The restore consumer's context: the end-of-partition events it asks
/// for are how a restore ends, not errors; librdkafka also reports them as
/// client errors, which the default context logs at ERROR (a line per
/// restored store).
struct RestoreContext;

impl ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_)
                | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for RestoreContext {}

impl Instance<'_> {
    /// A consumer that reads one changelog partition. One per partition:
    /// a consumer given a new assignment took a second to fetch again
    /// (each store after a task's first took 1 s to restore, however
    /// small), where a new one starts at once.
    fn restorer(&self) -> Result<BaseConsumer<RestoreContext>> {
        kafka::client_config_with_defaults(
            &self.config.bootstrap_servers,
            kafka::CONSUMER_DEFAULTS,
            &self.config.client_settings,
            &[
                ("enable.auto.commit", "false"),
                ("group.id", "fjord-streams-restore"),
                // Exactly-once: only what committed transactions wrote,
                // up to the last stable offset, where EOF is reported
                // (a commit marker is never delivered, so the last
                // offset read may stay below the end).
                ("isolation.level", "read_committed"),
                ("enable.partition.eof", "true"),
                // At the end, answer at once rather than wait for more.
                ("fetch.wait.max.ms", "10"),
            ],
        )
        .create_with_context(RestoreContext)
        .map_err(|e| kafka("restore consumer", e))
    }

    /// Rebuilds `task`'s stores from their changelog partitions; returns
    /// what it read and how long it took.
    pub(super) fn restore(&mut self, task: &mut Task) -> Result<status::Restore> {
        let p = task.partition();
        let all = Instant::now();
        let mut total = 0u64;
        for topic in self.topology.changelog_topics() {
            let (low, high) = self
                .input
                .consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(10))
                .map_err(|e| kafka(&format!("watermarks of {topic}-{p}"), e))?;
            if high <= low {
                continue;
            }
            let restorer = self.restorer()?;
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&topic, p, Offset::Offset(low))
                .map_err(|e| kafka("restore", e))?;
            restorer.assign(&list).map_err(|e| kafka("restore", e))?;
            let started = Instant::now();
            // When `next` last moved, looked at only when a poll comes back
            // empty (not a clock read per record).
            let mut progressed = (started, low);
            let mut restored = 0u64;
            let mut next = low;
            while next < high {
                // Short polls: librdkafka may hand the end-of-partition
                // event over only on the poll after the one that saw it.
                // The consumer is this partition's alone: every record is
                // of it.
                match restorer.poll(Duration::from_millis(50)) {
                    Some(Ok(m)) => {
                        next = m.offset() + 1;
                        if let Some(k) = m.key() {
                            task.restore(&topic, k, m.payload())?;
                            restored += 1;
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(eof))) if eof == p => break,
                    Some(Err(e)) if kafka::is_benign(&e) => {}
                    Some(Err(e)) => return Err(kafka(&format!("restoring {topic}-{p}"), e)),
                    None if progressed.1 != next => progressed = (Instant::now(), next),
                    None if progressed.0.elapsed() > Duration::from_secs(120) => {
                        return Err(Error::Kafka(format!(
                            "restoring {topic}-{p}: nothing read for 120 s at offset {next} of {high}"
                        )))
                    }
                    None => {}
                }
            }
            tracing::info!(%topic, partition = p, records = restored,
                ms = started.elapsed().as_millis() as u64, "restored a store from its changelog");
            total += restored;
        }
        task.finish_restore()?;
        Ok(status::Restore {
            records: total,
            ms: all.elapsed().as_millis() as u64,
        })
    }
}
