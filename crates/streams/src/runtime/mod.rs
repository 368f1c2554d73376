//! Running a topology against a Kafka cluster (at-least-once).
//!
//! An application is a consumer group named by its application id. Each
//! instance ([`run`]) joins it with the streams assignor (`assignor`),
//! runs the tasks it is given, and, every commit interval, writes its
//! changelog records, waits until everything it produced is acknowledged,
//! then commits its input offsets with its generation (Kafka Streams'
//! at-least-once order: a crash repeats outputs, never loses them).
//!
//! A task new to an instance restores its stores first, by reading their
//! changelog partitions from the beginning (progress logged). Stream time
//! is committed beside each offset (the commit metadata, as Kafka Streams
//! keeps partition time there), so windows close after a restart exactly
//! as they would have without one.
//!
//! Rebalances are eager: on REBALANCE_IN_PROGRESS the instance commits and
//! rejoins; tasks it keeps keep their state, tasks it loses are dropped;
//! tasks that moved here are restored. Everything speaks the Kafka
//! protocol only, so an application runs unchanged against Apache Kafka.

pub mod admin;
pub mod assignor;
mod kafka;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjord_kafka_client::group::{codes, GroupMember, JoinOutcome};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Error, Result};
use crate::record::Output;
use crate::topology::{Task, Topology};
use assignor::{AssignmentInfo, SubscriptionInfo};
use kafka::{kafka, Deliveries, DeliveryContext, PartitionOffset, Producer};

/// How an instance runs.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    pub bootstrap_servers: String,
    /// librdkafka settings (`-X`: security, ...), also used for the group
    /// coordinator's connection.
    pub client_settings: Vec<(String, String)>,
    /// How often outputs are flushed and offsets committed (Kafka
    /// Streams' commit.interval.ms, 30 s for at-least-once).
    pub commit_interval: Duration,
    pub session_timeout_ms: i32,
    pub heartbeat_interval: Duration,
    /// How long a rebalance may wait for every instance to rejoin.
    pub rebalance_timeout_ms: i32,
    /// host:port where this instance answers pull queries (Kafka Streams'
    /// application.server), told to every instance; empty for none.
    pub application_server: String,
    /// Off by default. When set, a task that has read nothing for this
    /// long moves its stream time forward with the wall clock (by the wall
    /// time passed since its last record, then as it passes), so its
    /// windows close and
    /// EMIT FINAL results come out although its input went quiet. A record
    /// that arrives afterwards is processed as usual, and is late if its
    /// window closed meanwhile.
    pub idle_timeout: Option<Duration>,
}

impl StreamsConfig {
    pub fn new(bootstrap_servers: impl Into<String>) -> StreamsConfig {
        StreamsConfig {
            bootstrap_servers: bootstrap_servers.into(),
            client_settings: Vec::new(),
            commit_interval: Duration::from_secs(30),
            session_timeout_ms: 45_000,
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout_ms: 60_000,
            application_server: String::new(),
            idle_timeout: None,
        }
    }
}

/// The group membership of this instance, in its current generation.
struct Member {
    group: GroupMember,
    member_id: String,
    generation: i32,
}

/// One instance's state while it runs.
struct Instance<'a> {
    topology: &'a Topology,
    config: &'a StreamsConfig,
    sources: Vec<String>,
    task_count: i32,
    consumer: BaseConsumer,
    producer: Producer,
    deliveries: Arc<Deliveries>,
    member: Member,
    tasks: BTreeMap<i32, Task>,
    /// Next offset to commit per (source topic, partition).
    positions: BTreeMap<(String, i32), i64>,
    dirty: bool,
    /// Per task: when it last read a record, and when its stream time last
    /// moved with the wall clock (idle_timeout).
    idle: BTreeMap<i32, (Instant, Instant)>,
    /// Reads changelogs when a task is restored (made on first use).
    restorer: Option<BaseConsumer>,
}

/// Runs `topology` until `stop` is set (then commits and leaves the group)
/// or an error it cannot go on from (a delivery that failed: the caller
/// restarts the instance, which resumes from the last commit).
pub fn run(topology: &Topology, config: &StreamsConfig, stop: &AtomicBool) -> Result<()> {
    let mut instance = Instance::start(topology, config)?;
    let result = instance.run_until(stop);
    if result.is_ok() {
        instance.commit()?;
    }
    let _ = instance.member.group.leave(&instance.member.member_id);
    result
}

impl<'a> Instance<'a> {
    fn start(topology: &'a Topology, config: &'a StreamsConfig) -> Result<Instance<'a>> {
        let app = topology.application_id();
        let settings = &config.client_settings;
        let consumer: BaseConsumer = kafka::client_config(
            &config.bootstrap_servers,
            settings,
            &[
                ("group.id", app),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
                ("auto.offset.reset", "earliest"),
                ("allow.auto.create.topics", "false"),
            ],
        )
        .create()
        .map_err(|e| kafka("consumer", e))?;
        let sources = topology.source_topics();
        let task_count = co_partitioned(&consumer, &topology.input_topics())?;
        let mut wanted: Vec<(String, i32, bool)> = topology
            .changelog_topics()
            .into_iter()
            .map(|t| (t, task_count, true))
            .collect();
        wanted.push((status::status_topic(app), 1, true));
        let outputs = topology.output_topics();
        for (t, n) in outputs
            .iter()
            .zip(kafka::partition_counts(&consumer, &outputs)?)
        {
            if n.is_none() {
                wanted.push((t.clone(), task_count, false));
            }
        }
        kafka::create_topics(
            &kafka::client_config(&config.bootstrap_servers, settings, &[]),
            &wanted,
        )?;
        let deliveries = Arc::new(Deliveries::default());
        let producer: Producer = kafka::client_config(
            &config.bootstrap_servers,
            settings,
            &[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
                // The Java client's partitioner, so keys land where a Java
                // producer (or Kafka Streams) would put them.
                ("partitioner", "murmur2_random"),
            ],
        )
        .create_with_context(DeliveryContext(deliveries.clone()))
        .map_err(|e| kafka("producer", e))?;
        let timeout = Duration::from_millis(config.rebalance_timeout_ms.max(10_000) as u64 + 5_000);
        let conn = fjord_kafka_client::group::connect_coordinator(
            &config.bootstrap_servers,
            settings,
            app,
            timeout,
        )
        .map_err(|e| kafka("group coordinator", e))?;
        Ok(Instance {
            topology,
            config,
            sources,
            task_count,
            consumer,
            producer,
            deliveries,
            member: Member {
                group: GroupMember {
                    conn,
                    group: app.to_string(),
                    protocol_type: "consumer".into(),
                },
                member_id: String::new(),
                generation: -1,
            },
            tasks: BTreeMap::new(),
            positions: BTreeMap::new(),
            dirty: false,
            idle: BTreeMap::new(),
            restorer: None,
        })
    }

    fn run_until(&mut self, stop: &AtomicBool) -> Result<()> {
        self.rebalance()?;
        let mut last_commit = Instant::now();
        let mut last_heartbeat = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            self.poll_once()?;
            self.advance_idle_tasks()?;
            if last_commit.elapsed() >= self.config.commit_interval {
                if !self.commit()? {
                    self.rebalance()?;
                }
                last_commit = Instant::now();
            }
            if last_heartbeat.elapsed() >= self.config.heartbeat_interval {
                last_heartbeat = Instant::now();
                let beat = self
                    .member
                    .group
                    .heartbeat(self.member.generation, &self.member.member_id)
                    .map_err(|e| kafka("Heartbeat", e))?;
                match beat {
                    Ok(()) => {}
                    Err(codes::REBALANCE_IN_PROGRESS) => {
                        // Hand over cleanly: what was processed is committed.
                        self.commit()?;
                        self.rebalance()?;
                    }
                    Err(code) => {
                        tracing::warn!(code = %fjord_kafka_client::error_name(code),
                            "heartbeat refused: rejoining (uncommitted outputs may repeat)");
                        self.lose_tasks();
                        if code == codes::UNKNOWN_MEMBER_ID {
                            self.member.member_id.clear();
                        }
                        self.rebalance()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Fetches what is there (up to 100 ms) and runs it through its tasks.
    fn poll_once(&mut self) -> Result<()> {
        let Some(polled) = self.consumer.poll(Duration::from_millis(100)) else {
            return Ok(());
        };
        let msg = match polled {
            Ok(m) => m,
            Err(e) if kafka::is_benign(&e) => return Ok(()),
            Err(e) => return Err(kafka("fetch", e)),
        };
        let (topic, partition, offset) = (msg.topic().to_string(), msg.partition(), msg.offset());
        let headers = msg
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(Bytes::copy_from_slice)))
                    .collect()
            })
            .unwrap_or_default();
        let timestamp = msg.timestamp().to_millis().unwrap_or(0);
        let Some(task) = self.tasks.get_mut(&partition) else {
            return Ok(()); // fetched just before a rebalance took the task
        };
        let outputs = task.process(
            &topic,
            partition,
            offset,
            msg.key(),
            msg.payload(),
            timestamp,
            headers,
        )?;
        drop(msg);
        tracing::trace!(%topic, partition, offset, outputs = outputs.len(), "processed");
        for o in &outputs {
            self.send(o)?;
        }
        self.positions.insert((topic, partition), offset + 1);
        self.dirty = true;
        let now = Instant::now();
        self.idle.insert(partition, (now, now));
        Ok(())
    }

    /// idle_timeout: tasks that read nothing for that long move their
    /// stream time on by the wall time passed since they last moved.
    fn advance_idle_tasks(&mut self) -> Result<()> {
        let Some(timeout) = self.config.idle_timeout else {
            return Ok(());
        };
        let now = Instant::now();
        let mut outputs = Vec::new();
        for (&t, task) in self.tasks.iter_mut() {
            let (last_read, last_moved) = self.idle.entry(t).or_insert((now, now));
            if now.duration_since(*last_read) < timeout {
                continue;
            }
            let Some(st) = task.stream_time() else {
                continue; // nothing windowed seen yet: no time to move
            };
            let step = now.duration_since(*last_moved).as_millis() as i64;
            if step == 0 {
                continue;
            }
            *last_moved = now;
            outputs.extend(task.advance_stream_time(st.saturating_add(step))?);
        }
        if !outputs.is_empty() {
            for o in &outputs {
                self.send(o)?;
            }
            self.dirty = true;
        }
        Ok(())
    }

    fn send(&self, o: &Output) -> Result<()> {
        let mut record: BaseRecord<'_, [u8], [u8], ()> =
            BaseRecord::to(&o.topic).timestamp(o.timestamp);
        if let Some(k) = &o.key {
            record = record.key(k.as_ref());
        }
        if let Some(v) = &o.value {
            record = record.payload(v.as_ref());
        }
        if let Some(p) = o.partition {
            record = record.partition(p);
        }
        if !o.headers.is_empty() {
            let mut hs = rdkafka::message::OwnedHeaders::new();
            for (k, v) in &o.headers {
                hs = hs.insert(rdkafka::message::Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            record = record.headers(hs);
        }
        let mut record = record;
        // A full local queue: wait for deliveries to make room.
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(kafka(&format!("producing to '{}'", o.topic), e)),
            }
        }
    }

    /// Writes changelogs, waits for every delivery, commits offsets and
    /// stream time. Returns false if the group moved on (rejoin).
    fn commit(&mut self) -> Result<bool> {
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
        rdkafka::producer::Producer::flush(&self.producer, Duration::from_secs(60))
            .map_err(|e| kafka("flushing outputs", e))?;
        if let Some(e) = self.deliveries.failure() {
            return Err(Error::Kafka(format!(
                "an output was not written ({e}); stopping before committing past it"
            )));
        }
        let offsets: Vec<PartitionOffset> = self
            .positions
            .iter()
            .map(|((t, p), o)| PartitionOffset {
                topic: t.clone(),
                partition: *p,
                offset: *o,
                metadata: self
                    .tasks
                    .get(p)
                    .and_then(Task::stream_time)
                    .map(|st| format!("{{\"stream_time\":{st}}}")),
            })
            .collect();
        let outcome = kafka::commit_offsets(
            &mut self.member.group.conn,
            self.topology.application_id(),
            self.member.generation,
            &self.member.member_id,
            &offsets,
        )?;
        match outcome {
            Ok(()) => {
                self.dirty = false;
                self.publish_status()?;
                Ok(true)
            }
            Err(code) => {
                tracing::warn!(code = %fjord_kafka_client::error_name(code),
                    "commit refused: the group rebalanced; outputs since the last commit may repeat");
                self.lose_tasks();
                if code == codes::UNKNOWN_MEMBER_ID {
                    self.member.member_id.clear();
                }
                Ok(false)
            }
        }
    }

    /// One status record per task to `<application-id>-status` (see
    /// `status`); delivered with the next flush.
    fn publish_status(&self) -> Result<()> {
        let topic = status::status_topic(self.topology.application_id());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for task in self.tasks.values() {
            let s = status::TaskStatus::of(
                task,
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

    /// The group moved on without us: our tasks' uncommitted work is lost
    /// (their new owners reprocess it), so is their state.
    fn lose_tasks(&mut self) {
        self.tasks.clear();
        self.positions.clear();
        self.dirty = false;
    }

    /// Joins (or rejoins) the group and takes up the tasks assigned.
    fn rebalance(&mut self) -> Result<()> {
        let assignment = self.join()?;
        let wanted: BTreeSet<i32> = assignment.tasks.iter().copied().collect();
        self.tasks.retain(|t, _| wanted.contains(t));
        self.positions.retain(|(_, p), _| wanted.contains(p));
        let committed = kafka::fetch_offsets(
            &mut self.member.group.conn,
            self.topology.application_id(),
            Some(&self.sources),
            &assignment.tasks,
        )?;
        for &t in &assignment.tasks {
            if !self.tasks.contains_key(&t) {
                let mut task = self.topology.task(t);
                self.restore(&mut task)?;
                let st = committed
                    .iter()
                    .filter(|c| c.partition == t)
                    .filter_map(|c| stream_time_of(c.metadata.as_deref()))
                    .max();
                if let Some(st) = st {
                    task.restore_stream_time(st);
                }
                self.tasks.insert(t, task);
            }
        }
        let mut list = TopicPartitionList::new();
        for c in &committed {
            let start = match self.positions.get(&(c.topic.clone(), c.partition)) {
                Some(&o) => Offset::Offset(o),
                None if c.offset >= 0 => Offset::Offset(c.offset),
                None => Offset::Beginning,
            };
            list.add_partition_offset(&c.topic, c.partition, start)
                .map_err(|e| kafka("assign", e))?;
        }
        self.consumer
            .assign(&list)
            .map_err(|e| kafka("assign", e))?;
        tracing::info!(application = %self.topology.application_id(), generation = self.member.generation,
            tasks = ?assignment.tasks, "running tasks");
        Ok(())
    }

    fn join(&mut self) -> Result<AssignmentInfo> {
        let sub = assignor::encode_subscription(
            &self.sources,
            &SubscriptionInfo {
                host: self.config.application_server.clone(),
                owned: self.tasks.keys().copied().collect(),
            },
        );
        let deadline = Instant::now()
            + Duration::from_millis(self.config.rebalance_timeout_ms.max(0) as u64 * 2);
        loop {
            if Instant::now() > deadline {
                return Err(Error::Kafka(
                    "could not join the application's group in time".into(),
                ));
            }
            let m = &mut self.member;
            let outcome = m
                .group
                .join(
                    &m.member_id,
                    self.config.session_timeout_ms,
                    self.config.rebalance_timeout_ms,
                    assignor::PROTOCOL,
                    sub.clone(),
                )
                .map_err(|e| kafka("JoinGroup", e))?;
            let joined = match outcome {
                JoinOutcome::MemberIdRequired(id) => {
                    m.member_id = id;
                    continue;
                }
                JoinOutcome::Error(codes::UNKNOWN_MEMBER_ID) => {
                    m.member_id.clear();
                    continue;
                }
                JoinOutcome::Error(
                    codes::REBALANCE_IN_PROGRESS
                    | codes::COORDINATOR_LOAD_IN_PROGRESS
                    | codes::COORDINATOR_NOT_AVAILABLE,
                ) => {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                JoinOutcome::Error(code) => {
                    return Err(Error::Kafka(format!(
                        "JoinGroup: {}",
                        fjord_kafka_client::error_name(code)
                    )))
                }
                JoinOutcome::Joined(j) => j,
            };
            m.member_id = joined.member_id.clone();
            m.generation = joined.generation;
            let assignments = if joined.leader == joined.member_id {
                let mut subs = BTreeMap::new();
                for (id, meta) in &joined.members {
                    subs.insert(
                        id.clone(),
                        assignor::decode_subscription(meta).unwrap_or_default(),
                    );
                }
                assignor::assign(&subs, self.task_count)
                    .into_iter()
                    .map(|(id, info)| (id, assignor::encode_assignment(&self.sources, &info)))
                    .collect()
            } else {
                Vec::new()
            };
            match m
                .group
                .sync(joined.generation, &joined.member_id, assignments)
                .map_err(|e| kafka("SyncGroup", e))?
            {
                Ok(bytes) => return assignor::decode_assignment(&bytes),
                Err(codes::REBALANCE_IN_PROGRESS) => continue,
                Err(codes::UNKNOWN_MEMBER_ID) => {
                    m.member_id.clear();
                    continue;
                }
                Err(code) => {
                    return Err(Error::Kafka(format!(
                        "SyncGroup: {}",
                        fjord_kafka_client::error_name(code)
                    )))
                }
            }
        }
    }

    /// The consumer that reads changelogs, made on first use and kept
    /// (a stateless application never makes one).
    fn restorer(&mut self) -> Result<&BaseConsumer> {
        if self.restorer.is_none() {
            let consumer: BaseConsumer = kafka::client_config(
                &self.config.bootstrap_servers,
                &self.config.client_settings,
                &[
                    ("enable.auto.commit", "false"),
                    ("group.id", "fjord-streams-restore"),
                ],
            )
            .create()
            .map_err(|e| kafka("restore consumer", e))?;
            self.restorer = Some(consumer);
        }
        Ok(self.restorer.as_ref().expect("made above"))
    }

    /// Rebuilds `task`'s stores from their changelog partitions.
    fn restore(&mut self, task: &mut Task) -> Result<()> {
        let p = task.partition();
        for topic in self.topology.changelog_topics() {
            let (low, high) = self
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
            let mut restored = 0u64;
            let mut next = low;
            while next < high {
                match restorer.poll(Duration::from_secs(1)) {
                    // A message fetched for an earlier assignment: not ours.
                    Some(Ok(m)) if m.topic() != topic || m.partition() != p => {}
                    Some(Ok(m)) => {
                        next = m.offset() + 1;
                        if let Some(k) = m.key() {
                            task.restore(&topic, k, m.payload())?;
                            restored += 1;
                        }
                    }
                    Some(Err(e)) if kafka::is_benign(&e) => {}
                    Some(Err(e)) => return Err(kafka(&format!("restoring {topic}-{p}"), e)),
                    None if started.elapsed() > Duration::from_secs(300) => {
                        return Err(Error::Kafka(format!(
                            "restoring {topic}-{p} made no progress"
                        )))
                    }
                    None => {}
                }
            }
            tracing::info!(%topic, partition = p, records = restored,
                ms = started.elapsed().as_millis() as u64, "restored a store from its changelog");
        }
        Ok(())
    }
}

/// Every source topic has the same number of partitions (the task count);
/// otherwise a clear error says which to repartition.
fn co_partitioned(consumer: &BaseConsumer, sources: &[String]) -> Result<i32> {
    let counts = kafka::partition_counts(consumer, sources)?;
    let mut seen = BTreeMap::new();
    for (t, n) in sources.iter().zip(counts) {
        let n = n.ok_or_else(|| Error::Topology(format!("input topic '{t}' does not exist")))?;
        seen.insert(t.clone(), n);
    }
    let distinct: BTreeSet<i32> = seen.values().copied().collect();
    if distinct.len() > 1 {
        return Err(Error::Topology(format!(
            "input topics are not co-partitioned ({}): repartition them to one partition count",
            seen.iter()
                .map(|(t, n)| format!("'{t}' has {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    distinct
        .into_iter()
        .next()
        .ok_or_else(|| Error::Topology("no input topic".into()))
}

/// The stream time in a commit's metadata.
fn stream_time_of(meta: Option<&str>) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(meta?).ok()?;
    v.get("stream_time")?.as_i64()
}
