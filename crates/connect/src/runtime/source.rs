//! The source task runner (Kafka's `WorkerSourceTask` and, with
//! `exactly.once.source.support=enabled`, `ExactlyOnceWorkerSourceTask`):
//! it polls the task, transforms and converts each record under the error
//! policy, and produces it.
//!
//! At least once: a source partition's offset is stored only once every
//! record up to it is acknowledged, every `offset.flush.interval.ms` and
//! when the task stops; a crash replays at most what was not stored.
//! Exactly once (KIP-618): each poll's records and their offsets go into
//! `connect-offsets` in one transaction of a producer whose transactional
//! id (`<group.id>-<connector>-<task>`) fences any zombie of the task.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde_json::Value as Json;

use crate::connector::SourceTask;
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;
use crate::runtime::errors::Stage;
use crate::runtime::offsets::{record_key, OffsetEntry, OffsetStore};
use crate::runtime::pipeline::Pipeline;
use crate::runtime::settings::{set_default, ClientRole};
use crate::runtime::task::TaskSpec;

const SEND_TIMEOUT: Duration = Duration::from_secs(60);
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run_source_task(mut spec: TaskSpec, offsets: Arc<dyn OffsetStore>) {
    if let Err(e) = source_loop(&mut spec, offsets).await {
        spec.status.fail(e);
    }
}

/// A converted record, ready to produce.
struct Outgoing {
    topic: String,
    partition: Option<i32>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: Option<i64>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

struct SourceRun<'a> {
    spec: &'a TaskSpec,
    pipeline: Pipeline,
    producer: FutureProducer,
    transactional: bool,
    offsets: Arc<dyn OffsetStore>,
    /// Offsets acknowledged but not stored yet, by partition (as JSON text).
    unstored: BTreeMap<String, OffsetEntry>,
    /// At least once: batches sent and not yet known to be acknowledged,
    /// oldest first. Their offsets join `unstored` once every record of
    /// the batch (and of every batch before it) is acknowledged.
    in_flight: VecDeque<InFlight>,
}

/// A batch's deliveries and the source positions they complete.
struct InFlight {
    deliveries: Vec<rdkafka::producer::DeliveryFuture>,
    latest: BTreeMap<String, OffsetEntry>,
}

/// Batches a source task may have in flight before the next poll waits
/// for the oldest: polling goes on while the broker acknowledges (as Kafka
/// Connect's WorkerSourceTask does), instead of a round trip per batch.
const MAX_IN_FLIGHT_BATCHES: usize = 8;

async fn source_loop(spec: &mut TaskSpec, offsets: Arc<dyn OffsetStore>) -> Result<()> {
    let config = spec.config.clone();
    let pipeline = Pipeline::build(&spec.worker, &config)?;
    let mut task = spec.plugin.create_source_task().ok_or_else(|| {
        ConnectError::External(format!(
            "{} is not a source connector",
            spec.plugin.class_name()
        ))
    })?;
    let stored = offsets.read(&spec.connector).await?;
    task.start(&config, spec.context(), stored).await?;

    let transactional = spec.worker.exactly_once_source && offsets.topic().is_some();
    let mut client = spec.worker.client_config(ClientRole::Producer, &config);
    client.set("enable.idempotence", "true").set(
        "client.id",
        format!("connector-producer-{}-{}", spec.connector, spec.task_id),
    );
    set_default(&mut client, "acks", "all");
    if transactional {
        client.set(
            "transactional.id",
            format!(
                "{}-{}-{}",
                spec.worker.group_id, spec.connector, spec.task_id
            ),
        );
    }
    let producer: FutureProducer = client
        .create()
        .map_err(|e| ConnectError::Kafka(format!("cannot create the producer: {e}")))?;
    if transactional {
        blocking(
            || producer.init_transactions(TXN_TIMEOUT),
            "init transactions",
        )?;
    }
    let mut run = SourceRun {
        spec,
        pipeline,
        producer,
        transactional,
        offsets,
        unstored: BTreeMap::new(),
        in_flight: VecDeque::new(),
    };
    let result = run.run(task.as_mut()).await;
    task.stop().await;
    if result.is_ok() {
        run.store_offsets().await?;
    }
    result
}

/// Runs a blocking librdkafka call (transactions) off the async threads.
fn blocking<T>(op: impl FnOnce() -> rdkafka::error::KafkaResult<T>, what: &str) -> Result<T> {
    tokio::task::block_in_place(op).map_err(|e| ConnectError::Kafka(format!("{what}: {e}")))
}

impl SourceRun<'_> {
    async fn run(&mut self, task: &mut dyn SourceTask) -> Result<()> {
        let mut last_store = Instant::now();
        // A clone of the control channel: waiting while paused needs it
        // mutably while `self` holds the spec.
        let mut control = self.spec.control.clone();
        loop {
            loop {
                match *control.borrow_and_update() {
                    crate::runtime::task::Control::Run => break,
                    crate::runtime::task::Control::Shutdown => return Ok(()),
                    crate::runtime::task::Control::Pause => {}
                }
                self.spec
                    .status
                    .set(crate::runtime::status::State::Paused, None);
                if control.changed().await.is_err() {
                    return Ok(());
                }
            }
            if self.spec.status.get().0 != crate::runtime::status::State::Running {
                self.spec
                    .status
                    .set(crate::runtime::status::State::Running, None);
            }
            let records = task.poll().await?;
            if records.is_empty() {
                // Idle: settle what is in flight (errors surface now).
                self.settle_all().await?;
            } else {
                self.send_batch(records).await?;
            }
            if !self.transactional && last_store.elapsed() >= self.spec.worker.offset_flush_interval
            {
                self.store_offsets().await?;
                last_store = Instant::now();
            }
        }
    }

    /// Produces a poll's records and notes their positions once all are
    /// acknowledged (or, exactly once, commits them with their offsets).
    async fn send_batch(&mut self, records: Vec<ConnectRecord>) -> Result<()> {
        let mut positions: Vec<OffsetEntry> = Vec::new();
        let mut outgoing = Vec::with_capacity(records.len());
        for record in records {
            if let Some(source) = &record.source {
                match positions.last_mut() {
                    // The same source partition as the record before.
                    Some(last) if last.0 == source.partition => {
                        last.1 = Some(source.offset.clone())
                    }
                    _ => positions.push((source.partition.clone(), Some(source.offset.clone()))),
                }
            }
            if let Some(out) = self.convert(record)? {
                outgoing.push(out);
            }
        }
        if self.transactional {
            blocking(|| self.producer.begin_transaction(), "begin transaction")?;
        }
        let mut deliveries = Vec::with_capacity(outgoing.len());
        for out in &outgoing {
            self.spec.note_topic(&out.topic);
            let mut headers = OwnedHeaders::new();
            for (k, v) in &out.headers {
                headers = headers.insert(rdkafka::message::Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&out.topic).headers(headers);
            if let Some(p) = out.partition {
                record = record.partition(p);
            }
            if let Some(k) = &out.key {
                record = record.key(k);
            }
            if let Some(v) = &out.value {
                record = record.payload(v);
            }
            if let Some(ts) = out.timestamp {
                record = record.timestamp(ts);
            }
            let delivery = self.producer.send_result(record).map_err(|(e, _)| {
                ConnectError::Kafka(format!("cannot send to {}: {e}", out.topic))
            })?;
            deliveries.push(delivery);
        }
        let latest = latest_positions(positions);
        if self.transactional {
            let topic = self
                .offsets
                .topic()
                .expect("transactional sources store offsets in a topic")
                .to_string();
            for (partition, offset) in latest.values() {
                let key = record_key(&self.spec.connector, partition);
                let value = offset
                    .as_ref()
                    .map(|o| serde_json::to_vec(o).expect("JSON values serialize"));
                let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic).key(&key);
                if let Some(v) = &value {
                    record = record.payload(v);
                }
                let delivery = self.producer.send_result(record).map_err(|(e, _)| {
                    ConnectError::Kafka(format!("cannot send to {topic}: {e}"))
                })?;
                deliveries.push(delivery);
            }
        }
        if self.transactional {
            settle(deliveries).await?;
            blocking(
                || self.producer.commit_transaction(TXN_TIMEOUT),
                "commit transaction",
            )?;
        } else {
            self.in_flight.push_back(InFlight { deliveries, latest });
            while self.in_flight.len() > MAX_IN_FLIGHT_BATCHES {
                self.settle_oldest().await?;
            }
        }
        Ok(())
    }

    /// Waits for the oldest in-flight batch; its positions become storable.
    async fn settle_oldest(&mut self) -> Result<()> {
        if let Some(batch) = self.in_flight.pop_front() {
            settle(batch.deliveries).await?;
            self.unstored.extend(batch.latest);
        }
        Ok(())
    }

    async fn settle_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(())
    }

    /// Transforms and converts one record; None when it was dropped by a
    /// transform or skipped under `errors.tolerance=all` (sources have no
    /// dead-letter topic, as in Kafka Connect).
    fn convert(&mut self, record: ConnectRecord) -> Result<Option<Outgoing>> {
        let p = &mut self.pipeline;
        let attempt = (|| {
            let Some(record) = p
                .transforms
                .apply(record)
                .map_err(|e| (Stage::Transformation, e))?
            else {
                return Ok(None);
            };
            let key = p
                .key_converter
                .from_connect(&record.topic, record.key_schema.as_ref(), &record.key)
                .map_err(|e| (Stage::KeyConverter, e))?;
            let value = p
                .value_converter
                .from_connect(&record.topic, record.value_schema.as_ref(), &record.value)
                .map_err(|e| (Stage::ValueConverter, e))?;
            Ok(Some(Outgoing {
                topic: record.topic,
                partition: record.partition,
                key,
                value,
                timestamp: record.timestamp,
                headers: record
                    .headers
                    .into_iter()
                    .map(|h| (h.key, h.value))
                    .collect(),
            }))
        })();
        match attempt {
            Ok(out) => Ok(out),
            Err((stage, error)) if p.errors.tolerate_all => {
                if p.errors.log {
                    tracing::error!(connector = %self.spec.connector, task = self.spec.task_id,
                        stage = stage.name(), error = %error, "error handling a source record (skipped)");
                }
                Ok(None)
            }
            Err((stage, error)) => Err(ConnectError::External(format!(
                "Tolerance exceeded in error handler: {} failed: {error}",
                stage.name()
            ))),
        }
    }

    async fn store_offsets(&mut self) -> Result<()> {
        self.settle_all().await?;
        if self.unstored.is_empty() {
            return Ok(());
        }
        let entries: Vec<OffsetEntry> = std::mem::take(&mut self.unstored).into_values().collect();
        self.offsets.write(&self.spec.connector, &entries).await
    }
}

/// Waits until every record of a batch is acknowledged; one that was not
/// written fails the task (its offset is never stored).
async fn settle(deliveries: Vec<rdkafka::producer::DeliveryFuture>) -> Result<()> {
    for delivery in deliveries {
        match tokio::time::timeout(SEND_TIMEOUT, delivery).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err((e, _)))) => {
                return Err(ConnectError::Kafka(format!(
                    "a record was not written: {e}"
                )))
            }
            Ok(Err(_)) | Err(_) => {
                return Err(ConnectError::Kafka("a record's delivery was lost".into()))
            }
        }
    }
    Ok(())
}

/// Each source partition's last position in a batch, keyed by the
/// partition's JSON text. Consecutive records of one partition (the usual
/// case) are compared, not serialized, one by one.
fn latest_positions(positions: Vec<OffsetEntry>) -> BTreeMap<String, OffsetEntry> {
    let mut runs: Vec<OffsetEntry> = Vec::new();
    for entry in positions {
        match runs.last_mut() {
            Some(last) if last.0 == entry.0 => last.1 = entry.1,
            _ => runs.push(entry),
        }
    }
    let mut latest = BTreeMap::new();
    for entry in runs {
        latest.insert(Json::Object(entry.0.clone()).to_string(), entry);
    }
    latest
}
