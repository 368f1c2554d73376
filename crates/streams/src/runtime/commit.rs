//! Commits: at-least-once (wait for every output, then commit the
//! offsets) and exactly-once (outputs, changelogs, status and offsets in
//! one transaction), and the status records written with each.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::{self, kafka, PartitionOffset};
use super::{codes, status, txn, Instance, ProcessingGuarantee};
use crate::error::{Error, Result};
use crate::record::Output;
use crate::task::Task;

impl Instance<'_> {
    fn transactional(&self) -> bool {
        self.config.guarantee == ProcessingGuarantee::ExactlyOnce
    }

    /// Exactly-once: opens a transaction unless one is open.
    pub(super) fn begin_transaction(&self) -> Result<()> {
        if self.transactional() && !self.in_transaction.get() {
            self.producer
                .begin_transaction()
                .map_err(|e| kafka("beginning a transaction", e))?;
            self.in_transaction.set(true);
        }
        Ok(())
    }

    /// Writes changelogs and the tasks' status, then makes outputs and
    /// input offsets (with stream time) durable together: at-least-once
    /// waits for every delivery and commits the offsets; exactly-once
    /// commits its transaction. Returns false if the group moved on or
    /// the transaction was aborted (the instance has dropped its tasks
    /// and must rejoin).
    pub(super) fn commit(&mut self) -> Result<bool> {
        self.move_past_markers();
        if !self.dirty {
            return Ok(true);
        }
        let changes: Vec<Output> = self
            .tasks
            .values_mut()
            .flat_map(Task::take_changelogs)
            .collect();
        for o in &changes {
            self.send(o)?;
        }
        self.publish_status()?;
        let offsets: Vec<PartitionOffset> = self
            .positions
            .iter()
            .map(|((t, p), o)| PartitionOffset {
                topic: t.to_string(),
                partition: *p,
                offset: *o,
                metadata: self
                    .tasks
                    .get(p)
                    .and_then(Task::stream_time)
                    .map(|st| format!("{{\"stream_time\":{st}}}")),
            })
            .collect();
        let started = Instant::now();
        let refused = if self.transactional() {
            self.commit_transaction(&offsets)?
        } else {
            self.commit_offsets(&offsets)?
        };
        tracing::debug!(
            partitions = offsets.len(),
            changes = changes.len(),
            ms = started.elapsed().as_millis() as u64,
            committed = refused.is_none(),
            "commit"
        );
        match refused {
            None => {
                self.dirty = false;
                Ok(true)
            }
            Some(code) => {
                self.lose_tasks()?;
                if code == codes::UNKNOWN_MEMBER_ID {
                    self.member.member_id.clear();
                }
                Ok(false)
            }
        }
    }

    /// Moves the positions of inputs whose records are all processed to
    /// the consumer's position, past the transaction markers that follow
    /// their last record (an exactly-once upstream writes one per
    /// transaction): committing the last record's offset + 1 would leave
    /// a lag of 1 forever, and a tool waiting for the group to commit the
    /// end of its inputs would wait for ever (Kafka Streams commits the
    /// position for the same reason).
    fn move_past_markers(&mut self) {
        for ((topic, p), next) in self.positions.iter_mut() {
            if self.queues.get(p).is_some_and(|q| q.len(topic) > 0) {
                continue; // fetched records still wait: the position is ahead
            }
            if let Some(at) = self.input.position(topic, *p) {
                if at > *next {
                    *next = at;
                    self.dirty = true;
                }
            }
        }
    }

    /// At-least-once: waits for every output, then commits. Some(code):
    /// the group refused the commit.
    fn commit_offsets(&mut self, offsets: &[PartitionOffset]) -> Result<Option<i16>> {
        kafka::wait_delivered(&self.producer, Duration::from_secs(60))?;
        if let Some(e) = self.deliveries.failure() {
            return Err(Error::Kafka(format!(
                "an output was not written ({e}); stopping before committing past it"
            )));
        }
        let outcome = kafka::commit_offsets(
            &mut self.member.group.conn,
            self.topology.application_id(),
            self.member.generation,
            &self.member.member_id,
            offsets,
        )?;
        Ok(match outcome {
            Ok(()) => None,
            Err(code) => {
                tracing::warn!(code = %fjord_kafka_client::error_name(code),
                    "commit refused: the group rebalanced; outputs since the last commit may repeat");
                Some(code)
            }
        })
    }

    /// Exactly-once: the offsets join the open transaction, which commits.
    /// Some(code): it was aborted instead (refused by the group, or a
    /// delivery failed); a fatal producer error (fenced by a newer
    /// instance with our transactional id) stops the instance.
    fn commit_transaction(&mut self, offsets: &[PartitionOffset]) -> Result<Option<i16>> {
        let timeout = Duration::from_secs(60);
        let mut list = TopicPartitionList::new();
        for o in offsets {
            let mut entry = list.add_partition(&o.topic, o.partition);
            entry
                .set_offset(Offset::Offset(o.offset))
                .map_err(|e| kafka("offsets to commit", e))?;
            if let Some(m) = &o.metadata {
                entry.set_metadata(m);
            }
        }
        self.begin_transaction()?;
        let sent = txn::send_offsets(
            &self.producer,
            &list,
            self.topology.application_id(),
            self.member.generation,
            &self.member.member_id,
            timeout,
        );
        let refused = match sent {
            Ok(()) => {
                kafka::wait_delivered(&self.producer, timeout)?;
                match self.producer.commit_transaction(timeout) {
                    Ok(()) => {
                        self.in_transaction.set(false);
                        return Ok(None);
                    }
                    Err(KafkaError::Transaction(e)) if e.txn_requires_abort() => {
                        tracing::warn!(error = %e, "transaction could not commit: aborting it");
                        -1
                    }
                    Err(e) => return Err(kafka("committing a transaction", e)),
                }
            }
            Err(e) if e.requires_abort && !e.fatal => {
                tracing::warn!(error = %e,
                    "the group refused the transaction's offsets (it rebalanced): aborting it");
                i16::try_from(e.code).unwrap_or(-1)
            }
            Err(e) => {
                return Err(Error::Kafka(format!(
                    "sending offsets to a transaction: {e}"
                )))
            }
        };
        self.abort_transaction()?;
        Ok(Some(refused))
    }

    /// Exactly-once: aborts the open transaction, if any.
    pub(super) fn abort_transaction(&self) -> Result<()> {
        if self.in_transaction.get() {
            self.producer
                .abort_transaction(Duration::from_secs(60))
                .map_err(|e| kafka("aborting a transaction", e))?;
            self.in_transaction.set(false);
        }
        Ok(())
    }

    /// One status record per task to `<application-id>-status` (see
    /// `status`), committed with the offsets.
    fn publish_status(&self) -> Result<()> {
        let topic = status::status_topic(self.topology.application_id());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for task in self.tasks.values() {
            let s = status::TaskStatus::of(
                task,
                self.restores
                    .get(&task.partition())
                    .copied()
                    .unwrap_or_default(),
                &self.member.member_id,
                &self.config.application_server,
                now,
            );
            let value = serde_json::to_vec(&s).map_err(|e| kafka("status", e))?;
            self.send(&Output {
                topic: topic.clone(),
                partition: Some(0),
                key: Some(Bytes::from(s.key())),
                value: Some(Bytes::from(value)),
                timestamp: now,
                headers: Vec::new(),
            })?;
        }
        Ok(())
    }
}
