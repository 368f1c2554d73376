//! The coordinator's map of transactional ids and the requests that begin
//! and grow transactions: InitProducerId (with a transactional id),
//! AddPartitionsToTxn, AddOffsetsToTxn; and the admin views
//! (DescribeTransactions, ListTransactions).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};

use super::end;
use super::state::{TxnMetadata, TxnState};
use super::store::TxnLog;
use super::{TxnConfig, TxnError};
use crate::broker::Broker;
use crate::error::Result;
use crate::lock::lock;
use crate::server::now_ms;
use crate::topics::Topics;

type TxnResult<T> = std::result::Result<T, TxnError>;

/// One transactional id's state, locked on its own so one producer's
/// requests (and its transactional produces) do not wait on another's.
pub(super) type Entry = Arc<Mutex<TxnMetadata>>;

pub struct TxnCoordinator {
    pub(super) config: TxnConfig,
    pub(super) log: TxnLog,
    pub(super) txns: Mutex<HashMap<String, Entry>>,
    /// Producer id -> transactional id, so a produce can tell a
    /// transactional producer's id from an idempotent one's.
    pub(super) producers: RwLock<HashMap<i64, String>>,
}

/// InitProducerId's answer: the producer id and epoch to use.
pub type InitOutcome = TxnResult<(i64, i16)>;

/// AddPartitionsToTxn's answer for the whole request.
pub type AddOutcome = TxnResult<()>;

/// DescribeTransactions' view of one transactional id.
#[derive(Debug, Clone)]
pub struct TxnSummary {
    pub transactional_id: String,
    pub state: TxnState,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// (topic, partition), sorted.
    pub partitions: Vec<(String, i32)>,
}

/// ListTransactions' view of one transactional id.
#[derive(Debug, Clone)]
pub struct TxnListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

impl TxnCoordinator {
    /// Rebuilds every transactional id's state from `__transaction_state`,
    /// if it exists. Transactions found preparing or ongoing are finished
    /// by the timeout loop (`end::spawn_timeout_loop`), which needs the
    /// whole broker to write markers.
    pub fn open(topics: &Topics, config: TxnConfig) -> Result<Arc<Self>> {
        let log = TxnLog::open(topics, config.state_partitions);
        let mut txns = HashMap::new();
        let mut producers = HashMap::new();
        for (id, value) in log.replay()? {
            let meta = TxnMetadata::from_value(&id, value);
            if !meta.state.is_idle() {
                tracing::info!(transactional_id = %id, state = meta.state.name(),
                    "restored an unfinished transaction");
            }
            producers.insert(meta.producer_id, id.clone());
            txns.insert(id, Arc::new(Mutex::new(meta)));
        }
        if !txns.is_empty() {
            tracing::info!(transactional_ids = txns.len(), "restored transaction state");
        }
        Ok(Arc::new(TxnCoordinator {
            config,
            log,
            txns: Mutex::new(txns),
            producers: RwLock::new(producers),
        }))
    }

    /// Creates `__transaction_state` if it does not exist yet.
    pub fn ensure_topic(&self, topics: &Topics) -> TxnResult<()> {
        self.log.ensure(topics).map_err(|e| {
            tracing::error!(error = %e, "cannot create __transaction_state");
            TxnError::CoordinatorNotAvailable(e.to_string())
        })
    }

    pub(super) fn entry(&self, transactional_id: &str) -> Option<Entry> {
        lock(&self.txns).get(transactional_id).cloned()
    }

    pub(super) fn entries(&self) -> Vec<Entry> {
        lock(&self.txns).values().cloned().collect()
    }

    /// The transactional id a producer id belongs to, if any.
    pub fn transactional_id_of(&self, producer_id: i64) -> Option<String> {
        self.producers.read().unwrap().get(&producer_id).cloned()
    }

    /// Writes `next` (whose `pending` the caller set on the entry) to
    /// `__transaction_state` and installs it once it is written (and, if
    /// `durable`, on disk). On a failed write the entry goes back to what
    /// it was, minus `pending`.
    pub(super) async fn write_and_install(
        self: &Arc<Self>,
        entry: &Entry,
        next: TxnMetadata,
        durable: bool,
    ) -> TxnResult<TxnMetadata> {
        let me = self.clone();
        let value = next.to_value();
        let id = next.transactional_id.clone();
        let written = tokio::task::spawn_blocking(move || me.log.write(&id, &value, durable))
            .await
            .unwrap_or_else(|e| Err(TxnError::Storage(format!("write task failed: {e}"))));
        let mut meta = lock(entry);
        match written {
            Ok(()) => {
                let old_pid = meta.producer_id;
                *meta = TxnMetadata {
                    pending: None,
                    ..next
                };
                if old_pid != meta.producer_id {
                    let mut producers = self.producers.write().unwrap();
                    producers.remove(&old_pid);
                    producers.insert(meta.producer_id, meta.transactional_id.clone());
                }
                Ok(meta.clone())
            }
            Err(e) => {
                tracing::error!(transactional_id = %meta.transactional_id, error = %e,
                    "transaction state write failed");
                meta.pending = None;
                Err(e)
            }
        }
    }

    /// DescribeTransactions for one id.
    pub fn describe(&self, transactional_id: &str) -> TxnResult<TxnSummary> {
        let entry = self
            .entry(transactional_id)
            .ok_or_else(|| TxnError::TransactionalIdNotFound(transactional_id.to_string()))?;
        let m = lock(&entry);
        Ok(TxnSummary {
            transactional_id: m.transactional_id.clone(),
            state: m.state,
            timeout_ms: m.timeout_ms,
            start_ms: m.start_ms,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            partitions: m.partitions.iter().cloned().collect(),
        })
    }

    /// ListTransactions: ids in one of `states` (all when empty), of one of
    /// `producer_ids` (all when empty), running for at least `min_duration_ms`
    /// (any when negative); sorted by id.
    pub fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Vec<TxnListing> {
        let now = now_ms();
        let mut out: Vec<TxnListing> = self
            .entries()
            .into_iter()
            .filter_map(|e| {
                let m = lock(&e);
                let keep = (states.is_empty() || states.contains(&m.state))
                    && (producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
                    && (min_duration_ms < 0
                        || (m.start_ms >= 0 && now - m.start_ms >= min_duration_ms));
                keep.then(|| TxnListing {
                    transactional_id: m.transactional_id.clone(),
                    producer_id: m.producer_id,
                    state: m.state,
                })
            })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }
}

/// InitProducerId with a transactional id: a new producer id (epoch 0) for
/// a new id, else the same id with the epoch bumped, which fences every
/// older instance of the producer. An ongoing transaction is aborted
/// first (the caller is told CONCURRENT_TRANSACTIONS and retries).
/// `expected`: KIP-360's (producer id, epoch) of a producer that bumps its
/// own epoch; a mismatch means it was fenced.
pub fn init_producer_id(
    broker: &Arc<Broker>,
    transactional_id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
) -> impl Future<Output = InitOutcome> + Send + 'static {
    let prepared = prepare_init(broker, transactional_id, timeout_ms, expected);
    let txn = broker.txn.clone();
    run_to_completion(async move {
        match prepared? {
            Init::Done(pid, epoch) => Ok((pid, epoch)),
            Init::Write(entry, next) => {
                let m = txn.write_and_install(&entry, next, true).await?;
                Ok((m.producer_id, m.producer_epoch))
            }
        }
    })
}

/// Starts a state change that a request's `prepare_*` began (and marked
/// `pending`) on a task of its own, and returns a future of its outcome.
///
/// The connection may drop the response future without polling it to the
/// end: the client closed its socket, or writing an earlier response
/// failed. Were the change driven by that future, `pending` would stay set
/// for good: every later request for the id would answer
/// CONCURRENT_TRANSACTIONS, the timeout sweep would skip it, and the
/// partitions' last stable offset would stay pinned. A spawned task runs to
/// the end whether or not anyone waits for its answer.
pub(super) fn run_to_completion<T: Send + 'static>(
    change: impl Future<Output = TxnResult<T>> + Send + 'static,
) -> impl Future<Output = TxnResult<T>> + Send + 'static {
    let task = tokio::spawn(change);
    async move {
        task.await
            .unwrap_or_else(|e| Err(TxnError::Storage(format!("transaction task failed: {e}"))))
    }
}

enum Init {
    /// Answer with this id and epoch; nothing to write.
    Done(i64, i16),
    Write(Entry, TxnMetadata),
}

fn prepare_init(
    broker: &Arc<Broker>,
    transactional_id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
) -> TxnResult<Init> {
    let txn = &broker.txn;
    let max = txn.config.max_timeout_ms;
    if timeout_ms <= 0 || timeout_ms > max {
        return Err(TxnError::InvalidTransactionTimeout {
            got: timeout_ms,
            max,
        });
    }
    txn.ensure_topic(&broker.topics)?;
    let now = now_ms();
    let entry = {
        let mut txns = lock(&txn.txns);
        match txns.get(transactional_id) {
            Some(e) => e.clone(),
            None => {
                let pid = broker
                    .producer_ids
                    .next()
                    .map_err(|e| TxnError::CoordinatorNotAvailable(e.to_string()))?;
                let meta = TxnMetadata::new(transactional_id, pid, timeout_ms, now);
                txn.producers
                    .write()
                    .unwrap()
                    .insert(pid, transactional_id.to_string());
                let e = Arc::new(Mutex::new(meta));
                txns.insert(transactional_id.to_string(), e.clone());
                e
            }
        }
    };
    let mut m = lock(&entry);
    if m.pending.is_some() {
        return Err(TxnError::ConcurrentTransactions(transactional_id.into()));
    }
    match m.state {
        TxnState::Ongoing => {
            // Kafka: fence the running transaction's producer and abort it;
            // the new instance retries once the abort is complete.
            drop(m);
            end::spawn_fence_and_abort(broker.clone(), entry.clone());
            return Err(TxnError::ConcurrentTransactions(transactional_id.into()));
        }
        TxnState::PrepareCommit
        | TxnState::PrepareAbort
        | TxnState::PrepareEpochFence
        | TxnState::Dead => {
            return Err(TxnError::ConcurrentTransactions(transactional_id.into()));
        }
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {}
    }
    // A brand-new id (epoch -1) has no earlier producer to compare with.
    let known = m.producer_epoch >= 0;
    if let Some((pid, epoch)) = expected.filter(|(pid, _)| *pid >= 0 && known) {
        let current = pid == m.producer_id && epoch == m.producer_epoch;
        // The bump this producer asked for already happened (its response
        // was lost): answer with it again rather than bump twice.
        let retried =
            pid == m.producer_id && m.last_producer_epoch >= 0 && epoch == m.last_producer_epoch;
        if retried {
            return Ok(Init::Done(m.producer_id, m.producer_epoch));
        }
        if !current {
            return Err(TxnError::ProducerFenced {
                producer_id: pid,
                got: epoch,
                current: m.producer_epoch,
            });
        }
    }
    // The epoch is an int16; before it runs out the producer gets a new id.
    let mut next = if m.producer_epoch >= i16::MAX - 1 {
        let pid = broker
            .producer_ids
            .next()
            .map_err(|e| TxnError::CoordinatorNotAvailable(e.to_string()))?;
        m.with_new_producer_id(pid, timeout_ms, now)
    } else {
        m.bumped(timeout_ms, now)
    };
    // Only a producer bumping its own epoch may retry the bump; after a new
    // instance's InitProducerId the old epoch is simply fenced (else a
    // zombie could "retry" its way to the new epoch).
    if expected.is_none() {
        next.last_producer_epoch = -1;
    }
    m.pending = Some(TxnState::Empty);
    Ok(Init::Write(entry.clone(), next))
}

/// AddPartitionsToTxn / AddOffsetsToTxn: adds partitions (which the caller
/// checked exist) to the producer's transaction, starting one if none is
/// running.
pub fn add_partitions(
    broker: &Arc<Broker>,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: Vec<(String, i32)>,
) -> impl Future<Output = AddOutcome> + Send + 'static {
    let txn = broker.txn.clone();
    let prepared = prepare_add(
        &txn,
        transactional_id,
        producer_id,
        producer_epoch,
        partitions,
    );
    run_to_completion(async move {
        match prepared? {
            None => Ok(()),
            // On disk before the producer writes to the partitions: a lost
            // Ongoing would leave their batches open with no one to abort
            // them.
            Some((entry, next)) => txn.write_and_install(&entry, next, true).await.map(|_| ()),
        }
    })
}

fn prepare_add(
    txn: &TxnCoordinator,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: Vec<(String, i32)>,
) -> TxnResult<Option<(Entry, TxnMetadata)>> {
    let entry = current_producer(txn, transactional_id, producer_id, producer_epoch)?;
    let mut m = lock(&entry);
    check_current(&m, producer_id, producer_epoch)?;
    if m.pending.is_some() {
        return Err(TxnError::ConcurrentTransactions(transactional_id.into()));
    }
    match m.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
            return Err(TxnError::ConcurrentTransactions(transactional_id.into()))
        }
        TxnState::Dead => {
            return Err(TxnError::InvalidProducerIdMapping(format!(
                "transactional id '{transactional_id}' has expired"
            )))
        }
        TxnState::Ongoing if partitions.iter().all(|p| m.partitions.contains(p)) => {
            return Ok(None)
        }
        _ => {}
    }
    let next = m.with_partitions(partitions, now_ms());
    m.pending = Some(TxnState::Ongoing);
    Ok(Some((entry.clone(), next)))
}

/// The entry of `transactional_id`, which `producer_id` must own.
pub(super) fn current_producer(
    txn: &TxnCoordinator,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
) -> TxnResult<Entry> {
    if transactional_id.is_empty() {
        return Err(TxnError::InvalidRequest(
            "the transactional id is empty".into(),
        ));
    }
    let entry = txn.entry(transactional_id).ok_or_else(|| {
        TxnError::InvalidProducerIdMapping(format!(
            "transactional id '{transactional_id}' is not known: call InitProducerId first"
        ))
    })?;
    check_current(&lock(&entry), producer_id, producer_epoch)?;
    Ok(entry)
}

/// The producer id must be the id's current one and the epoch its current
/// epoch: an older epoch is a fenced zombie.
pub(super) fn check_current(m: &TxnMetadata, producer_id: i64, epoch: i16) -> TxnResult<()> {
    if producer_id != m.producer_id {
        return Err(TxnError::InvalidProducerIdMapping(format!(
            "producer id {producer_id} does not belong to transactional id '{}'",
            m.transactional_id
        )));
    }
    if epoch != m.producer_epoch {
        return Err(TxnError::ProducerFenced {
            producer_id,
            got: epoch,
            current: m.producer_epoch,
        });
    }
    Ok(())
}

impl TxnCoordinator {
    /// TxnOffsetCommit's check: the producer is the id's current one and
    /// its ongoing transaction holds the group's offsets partition
    /// (AddOffsetsToTxn came first), so the transaction's marker will reach
    /// the offsets.
    pub fn verify_in_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partition: (&str, i32),
    ) -> TxnResult<()> {
        let entry = current_producer(self, transactional_id, producer_id, producer_epoch)?;
        let m = lock(&entry);
        check_current(&m, producer_id, producer_epoch)?;
        let included = m
            .partitions
            .iter()
            .any(|(t, p)| t == partition.0 && *p == partition.1);
        if m.state != TxnState::Ongoing || m.pending.is_some_and(|s| s != TxnState::Ongoing) {
            return Err(TxnError::InvalidTxnState(format!(
                "transactional id '{transactional_id}' has no ongoing transaction (state {})",
                m.state.name()
            )));
        }
        if !included {
            return Err(TxnError::InvalidTxnState(format!(
                "{}-{} is not in the transaction of '{transactional_id}': call AddOffsetsToTxn first",
                partition.0, partition.1
            )));
        }
        Ok(())
    }
}
