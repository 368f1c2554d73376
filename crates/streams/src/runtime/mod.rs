//! Running a topology against a Kafka cluster.
//!
//! An application is a consumer group named by its application id. Each
//! instance ([`run`]) joins it with the streams assignor (`assignor`),
//! runs the tasks it is given, and, every commit interval, writes its
//! changelog records and commits its input offsets with its generation:
//!
//! - at-least-once (the default): it waits until everything it produced
//!   is acknowledged, then commits the offsets (Kafka Streams' order: a
//!   crash repeats outputs, never loses them);
//! - exactly-once ([`ProcessingGuarantee::ExactlyOnce`], Kafka Streams'
//!   exactly_once_v2): outputs, changelog records and the input offsets go
//!   in one transaction of the instance's transactional producer, the
//!   offsets sent with the group generation so a zombie instance is fenced
//!   (KIP-447). A crash aborts the open transaction (when the instance
//!   comes back with the same transactional id, or after the transaction
//!   timeout); whoever takes the tasks over restores their stores from
//!   the committed changelog and re-reads from the committed offsets, so a
//!   `read_committed` reader sees every output once. A commit that fails
//!   aborts, drops the instance's tasks (their in-memory state is ahead of
//!   what was committed) and rejoins.
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
mod buffer;
mod commit;
mod heartbeat;
mod input;
mod kafka;
mod lag;
mod restore;
pub mod status;
mod txn;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_kafka_client::group::{codes, GroupMember, JoinOutcome};
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseRecord, Producer as _};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Error, Result};
use crate::record::Output;
use crate::topology::{Task, Topology};
use assignor::{AssignmentInfo, SubscriptionInfo};
use buffer::{Buffered, TaskQueues, Waits};
use heartbeat::{Beat, Heartbeats};
use input::Inputs;
use kafka::{kafka, Deliveries, DeliveryContext, Producer};

/// How long a task waits for an input the cluster has unfetched records
/// of before it goes on without them (see `buffer`).
const LAGGING_INPUT_WAIT: Duration = Duration::from_secs(30);

/// What a crash may do to an application's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingGuarantee {
    /// A crash may repeat the outputs since the last commit, never lose
    /// them.
    #[default]
    AtLeastOnce,
    /// Every output, as a `read_committed` reader sees it, exactly once
    /// (Kafka Streams' exactly_once_v2; transactions on the cluster).
    ExactlyOnce,
}

impl ProcessingGuarantee {
    /// Kafka Streams' names (`at_least_once`, `exactly_once_v2`) and
    /// Fjord's (`at-least-once`, `exactly-once`).
    pub fn parse(s: &str) -> Option<ProcessingGuarantee> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "at_least_once" => Some(ProcessingGuarantee::AtLeastOnce),
            "exactly_once" | "exactly_once_v2" | "exactly_once_beta" => {
                Some(ProcessingGuarantee::ExactlyOnce)
            }
            _ => None,
        }
    }
}

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
    /// At-least-once unless set otherwise; see [`StreamsConfig::with_guarantee`].
    pub guarantee: ProcessingGuarantee,
    /// Exactly-once: how long the cluster lets a transaction stay open
    /// before aborting it (Kafka Streams' 10 s). A crashed instance's
    /// transaction blocks `read_committed` readers of its outputs and the
    /// tasks' new owners until then.
    pub transaction_timeout: Duration,
    /// Exactly-once: the producer's transactional id. An instance that
    /// comes back with the id it had aborts its own open transaction at
    /// once instead of waiting for the timeout; two live instances must
    /// never share one. Default: `<application-id>-<random>`.
    pub transactional_id: Option<String>,
    /// Where tasks' stores spill to disk (Kafka Streams' state.dir): under
    /// `<state_dir>/<application-id>/<task>/`. Default: the system's
    /// temporary directory, `fjord-streams`. The files are emptied when a
    /// task starts (its changelog is its state) and removed when it goes.
    pub state_dir: PathBuf,
    /// The memory the instance's key-value stores may use together before
    /// they spill to disk (estimated; default 128 MiB). Split evenly over
    /// every task of the application and every store of a task, so it
    /// holds whichever tasks this instance runs.
    pub state_memory_bytes: usize,
    /// How long a task with several inputs waits for an empty input that
    /// is caught up (nothing more on the cluster) before it goes on
    /// without it (Kafka Streams' max.task.idle.ms). An input the cluster
    /// has unfetched records of is waited for until they come (30 s at
    /// most). A task takes the inputs of each sub-topology in timestamp
    /// order; see `buffer`.
    pub max_task_idle: Duration,
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
            guarantee: ProcessingGuarantee::AtLeastOnce,
            transaction_timeout: Duration::from_secs(10),
            transactional_id: None,
            state_dir: std::env::temp_dir().join("fjord-streams"),
            state_memory_bytes: 128 << 20,
            max_task_idle: Duration::from_millis(100),
        }
    }

    /// Sets the guarantee and the commit interval Kafka Streams pairs with
    /// it (30 s at-least-once, 100 ms exactly-once: each commit ends a
    /// transaction, and `read_committed` readers see outputs only then).
    pub fn with_guarantee(mut self, guarantee: ProcessingGuarantee) -> StreamsConfig {
        self.guarantee = guarantee;
        self.commit_interval = match guarantee {
            ProcessingGuarantee::AtLeastOnce => Duration::from_secs(30),
            ProcessingGuarantee::ExactlyOnce => Duration::from_millis(100),
        };
        self
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
    input: Inputs,
    producer: Producer,
    deliveries: Arc<Deliveries>,
    /// Exactly-once: a transaction is open (begun at the first output
    /// after a commit).
    in_transaction: Cell<bool>,
    member: Member,
    heartbeats: Heartbeats,
    tasks: BTreeMap<i32, Task>,
    /// Fetched records waiting for their turn, per task.
    queues: BTreeMap<i32, TaskQueues>,
    /// Next offset to commit per (source topic, partition).
    positions: BTreeMap<(Arc<str>, i32), i64>,
    dirty: bool,
    /// Per task: when it last read a record, and when its stream time last
    /// moved with the wall clock (idle_timeout).
    idle: BTreeMap<i32, (Instant, Instant)>,
    /// Per task: its restore on this instance (reported in its status).
    restores: BTreeMap<i32, status::Restore>,
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
        let consumer: BaseConsumer = kafka::client_config_with_defaults(
            &config.bootstrap_servers,
            kafka::CONSUMER_DEFAULTS,
            settings,
            &[
                ("group.id", app),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
                // Outputs of aborted transactions (ours or an upstream
                // application's) are never input.
                ("isolation.level", "read_committed"),
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
        let mut producer_config = kafka::client_config_with_defaults(
            &config.bootstrap_servers,
            kafka::PRODUCER_DEFAULTS,
            settings,
            &[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
                // The Java client's partitioner, so keys land where a Java
                // producer (or Kafka Streams) would put them.
                ("partitioner", "murmur2_random"),
            ],
        );
        let transactional = config.guarantee == ProcessingGuarantee::ExactlyOnce;
        if transactional {
            let id = config
                .transactional_id
                .clone()
                .unwrap_or_else(|| format!("{app}-{}", random_suffix()));
            producer_config.set("transactional.id", &id);
            producer_config.set(
                "transaction.timeout.ms",
                config.transaction_timeout.as_millis().to_string(),
            );
            tracing::info!(application = %app, transactional_id = %id, "exactly-once");
        }
        let producer: Producer = producer_config
            .create_with_context(DeliveryContext(deliveries.clone()))
            .map_err(|e| kafka("producer", e))?;
        if transactional {
            // Fences an earlier producer with this id and aborts its open
            // transaction.
            producer
                .init_transactions(Duration::from_secs(60))
                .map_err(|e| kafka("initialising transactions", e))?;
        }
        let timeout = Duration::from_millis(config.rebalance_timeout_ms.max(10_000) as u64 + 5_000);
        // The member's requests and its heartbeats each on a connection.
        let member = || -> Result<GroupMember> {
            Ok(GroupMember {
                conn: fjord_kafka_client::group::connect_coordinator(
                    &config.bootstrap_servers,
                    settings,
                    app,
                    timeout,
                )
                .map_err(|e| kafka("group coordinator", e))?,
                group: app.to_string(),
                protocol_type: "consumer".into(),
            })
        };
        let group = member()?;
        let heartbeats = Heartbeats::start(member()?, config.heartbeat_interval);
        Ok(Instance {
            topology,
            config,
            sources,
            task_count,
            input: Inputs::new(
                consumer,
                topology
                    .input_groups()
                    .iter()
                    .map(|g| g.iter().map(|t| Arc::from(t.as_str())).collect())
                    .collect(),
            ),
            producer,
            deliveries,
            in_transaction: Cell::new(false),
            member: Member {
                group,
                member_id: String::new(),
                generation: -1,
            },
            heartbeats,
            tasks: BTreeMap::new(),
            queues: BTreeMap::new(),
            positions: BTreeMap::new(),
            dirty: false,
            idle: BTreeMap::new(),
            restores: BTreeMap::new(),
        })
    }

    fn run_until(&mut self, stop: &AtomicBool) -> Result<()> {
        self.rebalance()?;
        let mut last_commit = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            self.poll_once()?;
            self.advance_idle_tasks()?;
            if last_commit.elapsed() >= self.config.commit_interval {
                if !self.commit()? {
                    self.rebalance()?;
                }
                last_commit = Instant::now();
            }
            match self.heartbeats.outcome() {
                None => {}
                Some(Beat::Refused(codes::REBALANCE_IN_PROGRESS)) => {
                    // Hand over cleanly: what was processed is committed.
                    self.commit()?;
                    self.rebalance()?;
                }
                Some(Beat::Refused(code)) => {
                    tracing::warn!(code = %fjord_kafka_client::error_name(code),
                        "heartbeat refused: rejoining (uncommitted work is redone)");
                    self.lose_tasks()?;
                    if code == codes::UNKNOWN_MEMBER_ID {
                        self.member.member_id.clear();
                    }
                    self.rebalance()?;
                }
                Some(Beat::Failed(e)) => return Err(kafka("Heartbeat", e)),
            }
        }
        Ok(())
    }

    /// Moves fetched records into the task queues and runs what may go
    /// now through its tasks, in timestamp order; when nothing could,
    /// waits for records (up to 100 ms, 5 ms while a task waits for an
    /// input).
    fn poll_once(&mut self) -> Result<()> {
        for &t in self.tasks.keys() {
            self.queues
                .entry(t)
                .or_insert_with(|| TaskQueues::new(&self.input.groups));
        }
        self.input.serve_events(&mut self.queues)?;
        let fetched = self.input.fill(&mut self.queues)?;
        let processed = self.process_queued()?;
        if fetched == 0 && processed == 0 {
            let queued = self.queues.values().any(|q| !q.is_empty());
            self.input
                .wait(Duration::from_millis(if queued { 5 } else { 100 }));
        }
        Ok(())
    }

    /// Runs every queued record that may go now; returns how many ran.
    fn process_queued(&mut self) -> Result<usize> {
        let waits = Waits {
            idle: self.config.max_task_idle,
            lagging: LAGGING_INPUT_WAIT,
        };
        let mut processed = 0;
        let partitions: Vec<i32> = self.queues.keys().copied().collect();
        for p in partitions {
            loop {
                let input = &self.input;
                let mut lagging = |topic: &str| input.has_unfetched(topic, p);
                let Some(record) = self
                    .queues
                    .get_mut(&p)
                    .and_then(|q| q.next(waits, &mut lagging))
                else {
                    break;
                };
                self.process(record)?;
                processed += 1;
            }
        }
        Ok(processed)
    }

    /// Runs one record through its task and sends what it makes.
    fn process(&mut self, r: Buffered) -> Result<()> {
        let (topic, partition, offset) =
            (r.source.topic.clone(), r.source.partition, r.source.offset);
        let Some(task) = self.tasks.get_mut(&partition) else {
            return Ok(());
        };
        let outputs = task.process_source(r.source, r.timestamp)?;
        tracing::trace!(%topic, partition, offset, outputs = outputs.len(), "processed");
        for o in &outputs {
            self.send(o)?;
        }
        self.positions.insert((topic, partition), offset + 1);
        self.dirty = true;
        if self.config.idle_timeout.is_some() {
            let now = Instant::now();
            self.idle.insert(partition, (now, now));
        }
        Ok(())
    }

    /// Drops every queued record (they are fetched again from the
    /// positions after a rebalance).
    fn clear_queues(&mut self) {
        self.queues.clear();
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
        self.begin_transaction()?;
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

    /// The group moved on without us: our tasks' uncommitted work is lost
    /// (their new owners reprocess it), so is their state, and so is an
    /// open transaction (exactly-once: aborted).
    fn lose_tasks(&mut self) -> Result<()> {
        self.abort_transaction()?;
        self.clear_queues();
        self.tasks.clear();
        self.restores.clear();
        self.positions.clear();
        self.dirty = false;
        Ok(())
    }

    /// Joins (or rejoins) the group and takes up the tasks assigned.
    fn rebalance(&mut self) -> Result<()> {
        // Queued records are fetched again from the positions kept.
        self.clear_queues();
        let assignment = self.join()?;
        let wanted: BTreeSet<i32> = assignment.tasks.iter().copied().collect();
        self.tasks.retain(|t, _| wanted.contains(t));
        self.restores.retain(|t, _| wanted.contains(t));
        self.positions.retain(|(_, p), _| wanted.contains(p));
        let committed = kafka::fetch_offsets(
            &mut self.member.group.conn,
            self.topology.application_id(),
            Some(&self.sources),
            &assignment.tasks,
            self.config.transaction_timeout + Duration::from_secs(30),
        )?;
        for &t in &assignment.tasks {
            if !self.tasks.contains_key(&t) {
                let limits = crate::kv::StateLimits {
                    dir: Some(
                        self.config
                            .state_dir
                            .join(self.topology.application_id())
                            .join(t.to_string()),
                    ),
                    cache_bytes: self.config.state_memory_bytes / self.task_count.max(1) as usize,
                };
                let mut task = self.topology.task_with_state(t, &limits)?;
                let restored = self.restore(&mut task)?;
                self.restores.insert(t, restored);
                // Its status (with the restore) goes out at the next commit.
                self.dirty = true;
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
            let start = match self
                .positions
                .get(&(Arc::from(c.topic.as_str()), c.partition))
            {
                Some(&o) => Offset::Offset(o),
                None if c.offset >= 0 => Offset::Offset(c.offset),
                None => Offset::Beginning,
            };
            list.add_partition_offset(&c.topic, c.partition, start)
                .map_err(|e| kafka("assign", e))?;
        }
        self.input.assign(&list)?;
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
        self.heartbeats.pause();
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
                Ok(bytes) => {
                    self.heartbeats.member(&joined.member_id, joined.generation);
                    return assignor::decode_assignment(&bytes);
                }
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

/// A suffix that makes a transactional id this process's own: the time
/// and process id, hashed by the standard library's randomly keyed hasher.
fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}
