//! The sink task runner (Kafka's `WorkerSinkTask`): a consumer in the
//! group `connect-<connector>` reads the connector's topics; each record
//! is converted and transformed under the error policy, batches go to the
//! task's `put`, and offsets are committed to the group after the task's
//! `flush`, every `offset.flush.interval.ms` and when the task stops.
//!
//! Records that fail for good are skipped (`errors.tolerance=all`) and
//! sent to the dead-letter topic with the record's original bytes, or fail
//! the task (`none`); that includes records the task itself reports as
//! failed from `put` (a constraint violation), while the rest of their
//! batch is written.
//!
//! A task that keeps offsets in its own system (an exactly-once JDBC sink)
//! is asked for them the first time a partition shows up after an
//! assignment; records below that offset are skipped, so a replay after a
//! crash or a rebalance writes nothing twice.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::connector::{Offsets, SinkTask, TopicPartition};
use crate::error::{ConnectError, Result};
use crate::record::{ConnectRecord, Header, KafkaOrigin};
use crate::runtime::errors::{Failure, Stage};
use crate::runtime::pipeline::Pipeline;
use crate::runtime::settings::{set_default, ClientRole};
use crate::runtime::task::{Control, TaskSpec};

/// How long one poll for a batch waits for the first record.
const POLL_WAIT: Duration = Duration::from_millis(500);

/// Runs a sink task until it is shut down or fails (its status says which).
pub async fn run_sink_task(mut spec: TaskSpec) {
    if let Err(e) = sink_loop(&mut spec).await {
        spec.status.fail(e);
    }
}

/// Remembers partitions taken away by a rebalance, for the loop to forget
/// their uncommitted offsets and stored-offset checks.
#[derive(Default)]
struct SinkContext {
    revoked: Mutex<Vec<TopicPartition>>,
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn pre_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut revoked = self.revoked.lock().expect("revoked lock");
            revoked.extend(
                list.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition())),
            );
        }
    }
}

/// A record's bytes as read, kept until its batch is written, for the
/// dead-letter topic.
struct Raw {
    origin: KafkaOrigin,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
}

impl Raw {
    fn read(message: &BorrowedMessage<'_>) -> Raw {
        Raw {
            origin: KafkaOrigin {
                topic: message.topic().to_string(),
                partition: message.partition(),
                offset: message.offset(),
            },
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default(),
            timestamp: message.timestamp().to_millis(),
        }
    }
}

struct SinkRun<'a> {
    spec: &'a TaskSpec,
    pipeline: Pipeline,
    task: Box<dyn SinkTask>,
    task_class: String,
    consumer: StreamConsumer<SinkContext>,
    dead_letters: Option<FutureProducer>,
    /// The next offset to commit per partition (past every record handled).
    consumed: Offsets,
    /// Partitions whose stored offsets were read since their assignment.
    checked: HashSet<TopicPartition>,
    /// Per partition, the first offset not yet written according to the
    /// task's own store.
    resume_from: HashMap<TopicPartition, i64>,
}

async fn sink_loop(spec: &mut TaskSpec) -> Result<()> {
    let config = spec.config.clone();
    let pipeline = Pipeline::build(&spec.worker, &config)?;
    let mut task = spec.plugin.create_sink_task().ok_or_else(|| {
        ConnectError::External(format!(
            "{} is not a sink connector",
            spec.plugin.class_name()
        ))
    })?;
    task.start(&config, spec.context()).await?;

    let group = config
        .string("consumer.override.group.id")
        .map(str::to_string)
        .unwrap_or_else(|| format!("connect-{}", spec.connector));
    let mut client = spec.worker.client_config(ClientRole::Consumer, &config);
    client
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set(
            "client.id",
            format!("connector-consumer-{}-{}", spec.connector, spec.task_id),
        );
    set_default(&mut client, "auto.offset.reset", "earliest");
    // Fjord's pipelines write transactionally (streams, exactly-once
    // sources): a sink sees committed records only.
    set_default(&mut client, "isolation.level", "read_committed");
    let consumer: StreamConsumer<SinkContext> = client
        .create_with_context(SinkContext::default())
        .map_err(|e| ConnectError::Kafka(format!("cannot create the consumer: {e}")))?;
    subscribe(&consumer, &config)?;
    let dead_letters = match &pipeline.errors.dead_letter_topic {
        Some(_) => Some(
            spec.worker
                .client_config(ClientRole::Producer, &config)
                .set("enable.idempotence", "true")
                .create::<FutureProducer>()
                .map_err(|e| {
                    ConnectError::Kafka(format!("cannot create the dead-letter producer: {e}"))
                })?,
        ),
        None => None,
    };
    let task_class = spec.plugin.class_name().replace("Connector", "Task");
    let mut run = SinkRun {
        spec,
        pipeline,
        task,
        task_class,
        consumer,
        dead_letters,
        consumed: Offsets::new(),
        checked: HashSet::new(),
        resume_from: HashMap::new(),
    };
    let result = run.run().await;
    // Commit what was written, even when failing: those rows are there.
    if result.is_ok() {
        let _ = run.commit(true).await;
    }
    run.task.stop().await;
    result
}

fn subscribe(consumer: &StreamConsumer<SinkContext>, config: &crate::config::Config) -> Result<()> {
    let topics = config.list("topics");
    let pattern = config.string("topics.regex");
    let subscription: Vec<String> = match (topics.is_empty(), pattern) {
        (false, None) => topics,
        // librdkafka takes a leading ^ as "this is a regex".
        (true, Some(p)) => vec![format!("^{}", p.trim_start_matches('^'))],
        (false, Some(_)) => {
            return Err(ConnectError::config(
                "topics.regex",
                "",
                "topics and topics.regex are mutually exclusive",
            ))
        }
        (true, None) => {
            return Err(ConnectError::config(
                "topics",
                "",
                "Must configure one of topics or topics.regex",
            ))
        }
    };
    let refs: Vec<&str> = subscription.iter().map(String::as_str).collect();
    consumer
        .subscribe(&refs)
        .map_err(|e| ConnectError::Kafka(format!("cannot subscribe: {e}")))
}

impl SinkRun<'_> {
    async fn run(&mut self) -> Result<()> {
        let mut last_commit = Instant::now();
        let max_records = self.spec.max_poll_records();
        loop {
            match self.spec.control() {
                Control::Shutdown => return Ok(()),
                Control::Pause => {
                    self.pause(true)?;
                    // Keep polling (heartbeats, rebalances) without records.
                    let _ = tokio::time::timeout(POLL_WAIT, self.consumer.recv()).await;
                    self.spec
                        .status
                        .set(crate::runtime::status::State::Paused, None);
                    continue;
                }
                Control::Run => {
                    self.pause(false)?;
                    if self.spec.status.get().0 != crate::runtime::status::State::Running {
                        self.spec
                            .status
                            .set(crate::runtime::status::State::Running, None);
                    }
                }
            }
            self.poll_batch(max_records).await?;
            if last_commit.elapsed() >= self.spec.worker.offset_flush_interval {
                self.commit(false).await?;
                last_commit = Instant::now();
            }
        }
    }

    fn pause(&self, paused: bool) -> Result<()> {
        let assignment = self
            .consumer
            .assignment()
            .map_err(|e| ConnectError::Kafka(e.to_string()))?;
        if assignment.count() == 0 {
            return Ok(());
        }
        let r = if paused {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        r.map_err(|e| ConnectError::Kafka(e.to_string()))
    }

    /// Reads up to `max` records (waiting for the first), then converts,
    /// transforms and writes them.
    async fn poll_batch(&mut self, max: usize) -> Result<()> {
        let mut raws = Vec::new();
        let mut records = Vec::new();
        // Each message is copied out at once: it borrows the consumer.
        let first = tokio::time::timeout(POLL_WAIT, self.consumer.recv())
            .await
            .ok()
            .map(|m| m.map(|m| Raw::read(&m)));
        self.forget_revoked();
        let mut next = first;
        while let Some(message) = next.take() {
            let raw = match message {
                Ok(raw) => raw,
                // librdkafka reports a subscribed topic that does not exist
                // yet, and passing broker trouble, as consume errors; the
                // consumer carries on (as Kafka's does) and so does the task.
                Err(e) => {
                    tracing::warn!(connector = %self.spec.connector, task = self.spec.task_id, error = %e, "consume error");
                    tokio::time::sleep(POLL_WAIT).await;
                    break;
                }
            };
            self.accept(raw, &mut raws, &mut records).await?;
            if raws.len() >= max {
                break;
            }
            next = tokio::time::timeout(Duration::ZERO, self.consumer.recv())
                .await
                .ok()
                .map(|m| m.map(|m| Raw::read(&m)));
        }
        self.write(raws, records).await
    }

    fn forget_revoked(&mut self) {
        let revoked: Vec<TopicPartition> =
            std::mem::take(&mut *self.consumer.context().revoked.lock().expect("lock"));
        for tp in revoked {
            self.consumed.remove(&tp);
            self.checked.remove(&tp);
            self.resume_from.remove(&tp);
        }
    }

    /// Converts and transforms one message; what fails is handled by the
    /// error policy; what passes joins the batch.
    async fn accept(
        &mut self,
        raw: Raw,
        raws: &mut Vec<Raw>,
        records: &mut Vec<ConnectRecord>,
    ) -> Result<()> {
        let tp = (raw.origin.topic.clone(), raw.origin.partition);
        let offset = raw.origin.offset;
        if !self.checked.contains(&tp) {
            self.check_stored_offset(&tp).await?;
        }
        if self.resume_from.get(&tp).is_some_and(|&from| offset < from) {
            self.consumed.insert(tp, offset + 1);
            return Ok(());
        }
        self.spec.note_topic(&tp.0);
        self.consumed.insert(tp, offset + 1);
        match self.convert(&raw).await {
            Ok(Some(record)) => {
                raws.push(raw);
                records.push(record);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err((stage, class, error)) => self.tolerate(&raw, stage, &class, &error).await,
        }
    }

    async fn check_stored_offset(&mut self, tp: &TopicPartition) -> Result<()> {
        let stored = self.task.stored_offsets(std::slice::from_ref(tp)).await?;
        self.checked.insert(tp.clone());
        if let Some(&from) = stored.get(tp) {
            self.resume_from.insert(tp.clone(), from);
            // Skip ahead rather than read and drop; if the seek cannot be
            // done yet, the check in `accept` drops what is below.
            let _ = self
                .consumer
                .seek(&tp.0, tp.1, Offset::Offset(from), Duration::ZERO);
        }
        Ok(())
    }

    /// The record as the task sees it, None when a transform dropped it.
    async fn convert(
        &mut self,
        raw: &Raw,
    ) -> std::result::Result<Option<ConnectRecord>, (Stage, String, ConnectError)> {
        let p = &mut self.pipeline;
        let topic = &raw.origin.topic;
        // A retriable failure (the registry out of reach) is tried again
        // for errors.retry.timeout; a value that cannot convert is not.
        let (key_converter, value_converter) = (&p.key_converter, &p.value_converter);
        let (key_schema, key) = p
            .errors
            .retry(|| std::future::ready(key_converter.to_connect(topic, raw.key.as_deref())))
            .await
            .map_err(|e| (Stage::KeyConverter, p.key_converter_class.clone(), e))?;
        let (value_schema, value) = p
            .errors
            .retry(|| std::future::ready(value_converter.to_connect(topic, raw.value.as_deref())))
            .await
            .map_err(|e| (Stage::ValueConverter, p.value_converter_class.clone(), e))?;
        let record = ConnectRecord {
            topic: topic.clone(),
            partition: Some(raw.origin.partition),
            key_schema,
            key,
            value_schema,
            value,
            timestamp: raw.timestamp,
            headers: raw
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            origin: Some(raw.origin.clone()),
            source: None,
        };
        // The failing transform's own class names the dead letter's
        // `__connect.errors.class.name`, as in Kafka.
        p.transforms
            .apply_traced(record)
            .map_err(|f| (Stage::Transformation, f.class, f.error))
    }

    /// Applies the error policy to a record that failed for good.
    async fn tolerate(
        &mut self,
        raw: &Raw,
        stage: Stage,
        class: &str,
        error: &ConnectError,
    ) -> Result<()> {
        let errors = &self.pipeline.errors;
        if !errors.tolerate_all {
            return Err(ConnectError::External(format!(
                "Tolerance exceeded in error handler: {} failed on {}-{}@{}: {error}",
                stage.name(),
                raw.origin.topic,
                raw.origin.partition,
                raw.origin.offset
            )));
        }
        if errors.log {
            tracing::error!(
                connector = %self.spec.connector, task = self.spec.task_id, stage = stage.name(),
                topic = %raw.origin.topic, partition = raw.origin.partition, offset = raw.origin.offset,
                error = %error, "error handling a record (errors.tolerance=all: skipped)"
            );
        }
        let (Some(topic), Some(producer)) =
            (errors.dead_letter_topic.clone(), self.dead_letters.as_ref())
        else {
            return Ok(());
        };
        let mut headers = OwnedHeaders::new();
        for (k, v) in &raw.headers {
            headers = headers.insert(rdkafka::message::Header {
                key: k,
                value: v.as_deref(),
            });
        }
        if errors.context_headers {
            let failure = Failure {
                stage,
                class_name: class,
                error,
            };
            for (k, v) in
                failure.context_headers(Some(&raw.origin), &self.spec.connector, self.spec.task_id)
            {
                headers = headers.insert(rdkafka::message::Header {
                    key: &k,
                    value: Some(v.as_bytes()),
                });
            }
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic).headers(headers);
        if let Some(k) = &raw.key {
            record = record.key(k);
        }
        if let Some(v) = &raw.value {
            record = record.payload(v);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| {
                ConnectError::Kafka(format!(
                    "cannot write to the dead-letter topic {topic}: {e}"
                ))
            })?;
        Ok(())
    }

    /// Hands a batch to the task; records it reports as failed go through
    /// the error policy, alone.
    async fn write(&mut self, raws: Vec<Raw>, records: Vec<ConnectRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let outcome = self.task.put(records).await?;
        let class = self.task_class.clone();
        for (index, error) in outcome.failed {
            let raw = raws.get(index).ok_or_else(|| {
                ConnectError::External(format!(
                    "the task reported record {index} of a batch of {}",
                    raws.len()
                ))
            })?;
            self.tolerate(raw, Stage::TaskPut, &class, &error).await?;
        }
        Ok(())
    }

    /// Flushes the task, then commits what it has made durable.
    async fn commit(&mut self, final_commit: bool) -> Result<()> {
        if self.consumed.is_empty() {
            return Ok(());
        }
        self.task.flush(&self.consumed).await?;
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &self.consumed {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| ConnectError::Kafka(e.to_string()))?;
        }
        // Asynchronous: a blocking commit would hold one of the runtime's
        // threads, which `fjord serve` shares with the broker itself. The
        // final commit (the task stopping) waits, off the async threads.
        let mode = if final_commit {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        let committed = if final_commit {
            tokio::task::block_in_place(|| self.consumer.commit(&list, mode))
        } else {
            self.consumer.commit(&list, mode)
        };
        if let Err(e) = committed {
            // A rebalance took the partitions: their next owner re-reads
            // from the last commit (at least once).
            tracing::warn!(connector = %self.spec.connector, error = %e, "offset commit failed");
        }
        Ok(())
    }
}
