//! Ending transactions: EndTxn, the abort of transactions that outlive
//! their timeout, and the completion of transactions a restart found
//! half-done.
//!
//! Completing a transaction (PrepareX on disk -> markers -> CompleteX) is
//! idempotent and single-flight: whoever sets `pending` on a PrepareX entry
//! writes its markers; if a marker cannot be written the entry stays in
//! PrepareX and the timeout loop tries again, so a decided transaction is
//! never left hanging. Writing a marker twice (a crash between the markers
//! and CompleteX) is harmless: a second marker closes nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::broadcast;

use super::coordinator::{current_producer, run_to_completion, Entry};
use super::state::TxnState;
use super::TxnError;
use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::lock::lock;
use crate::server::now_ms;

/// A single broker is the only coordinator there ever was: the
/// coordinator epoch markers carry never changes.
const COORDINATOR_EPOCH: i32 = 0;

/// EndTxn: commits or aborts the producer's transaction. Answers once the
/// markers are written (Kafka answers once PrepareX is on disk; waiting for
/// the markers as well means a read_committed consumer sees a commit as
/// soon as the producer does). The outcome is decided once PrepareX is on
/// disk: if a marker cannot be written (or the timeout loop happens to be
/// completing the entry already) the answer is still success and the loop
/// finishes the markers.
pub fn end_txn(
    broker: &Arc<Broker>,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
) -> impl Future<Output = Result<(), TxnError>> + Send + 'static {
    let prepared = prepare_end(
        broker,
        transactional_id,
        producer_id,
        producer_epoch,
        commit,
    );
    let broker = broker.clone();
    run_to_completion(async move {
        let Some((entry, next)) = prepared? else {
            return Ok(());
        };
        broker.txn.write_and_install(&entry, next, true).await?;
        complete(&broker, &entry).await;
        Ok(())
    })
}

type Prepared = Option<(Entry, super::state::TxnMetadata)>;

fn prepare_end(
    broker: &Broker,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
) -> Result<Prepared, TxnError> {
    let entry = current_producer(&broker.txn, transactional_id, producer_id, producer_epoch)?;
    let mut m = lock(&entry);
    super::coordinator::check_current(&m, producer_id, producer_epoch)?;
    if m.pending.is_some() {
        return Err(TxnError::ConcurrentTransactions(transactional_id.into()));
    }
    let wrong = |what: &str| {
        Err(TxnError::InvalidTxnState(format!(
            "cannot {what} transaction of '{transactional_id}' in state {}",
            m.state.name()
        )))
    };
    let verb = if commit { "commit" } else { "abort" };
    match (m.state, commit) {
        (TxnState::Ongoing, _) => {}
        // A retry of a request whose answer was lost: already done.
        (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return Ok(None),
        // Still being completed: the client retries.
        (TxnState::PrepareCommit, true)
        | (TxnState::PrepareAbort, false)
        | (TxnState::PrepareEpochFence, _) => {
            return Err(TxnError::ConcurrentTransactions(transactional_id.into()))
        }
        _ => return wrong(verb),
    }
    let target = if commit {
        TxnState::PrepareCommit
    } else {
        TxnState::PrepareAbort
    };
    let next = m.moved(target, now_ms());
    m.pending = Some(target);
    Ok(Some((entry.clone(), next)))
}

/// Writes the markers of a transaction whose PrepareCommit/PrepareAbort is
/// on disk, applies its consumer offsets, and records CompleteX. Does
/// nothing if the entry is not preparing or someone else is at it.
pub(super) async fn complete(broker: &Arc<Broker>, entry: &Entry) {
    let (id, producer_id, epoch, commit, partitions) = {
        let mut m = lock(entry);
        if !m.state.is_preparing() || m.pending.is_some() {
            return;
        }
        let commit = m.state == TxnState::PrepareCommit;
        m.pending = Some(if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        });
        (
            m.transactional_id.clone(),
            m.producer_id,
            m.producer_epoch,
            commit,
            m.partitions.clone(),
        )
    };
    // Every partition's marker at once: each waits for its own fsync.
    let mut tasks = tokio::task::JoinSet::new();
    for (topic, partition) in partitions {
        let broker = broker.clone();
        tasks.spawn(async move {
            let marked = crate::txn_markers::write_txn_marker(
                &broker,
                &topic,
                partition,
                producer_id,
                epoch,
                COORDINATOR_EPOCH,
                commit,
            )
            .await;
            (topic, partition, marked)
        });
    }
    let mut written = None;
    while let Some(joined) = tasks.join_next().await {
        let (topic, partition, marked) = match joined {
            Ok(r) => r,
            Err(e) => {
                written = Some(format!("marker task failed: {e}"));
                continue;
            }
        };
        match marked {
            Ok(_) => {
                if topic == OFFSETS_TOPIC {
                    broker.groups.complete_txn(producer_id, commit);
                }
            }
            // A partition deleted since it joined the transaction has
            // nothing left to mark (Kafka skips it too); a partition that
            // has seen a newer epoch of the producer has nothing of this
            // transaction open.
            Err((
                ResponseError::UnknownTopicOrPartition | ResponseError::InvalidProducerEpoch,
                msg,
            )) => {
                tracing::warn!(%topic, partition, error = %msg, "no marker needed");
            }
            Err((_, msg)) => {
                tracing::error!(%topic, partition, error = %msg, "writing a transaction marker failed");
                written = Some(msg);
            }
        }
    }
    if let Some(reason) = written {
        // Stay in PrepareX; the timeout loop tries again.
        tracing::warn!(transactional_id = %id, %reason, "transaction left to complete later");
        lock(entry).pending = None;
        return;
    }
    let next = {
        let m = lock(entry);
        m.moved(
            if commit {
                TxnState::CompleteCommit
            } else {
                TxnState::CompleteAbort
            },
            now_ms(),
        )
    };
    // Not waited for on disk: if CompleteX is lost, the PrepareX before it
    // is replayed and completed again, and a marker written twice is
    // harmless. Saves the transaction one fsync.
    if broker
        .txn
        .write_and_install(entry, next, false)
        .await
        .is_err()
    {
        // write_and_install cleared `pending`; the entry is still PrepareX
        // in memory and on disk, and is completed again later.
        return;
    }
    tracing::debug!(transactional_id = %id, commit, "transaction completed");
}

/// Aborts a running transaction from the coordinator's side (timeout, or a
/// new producer instance), bumping the epoch first so the old instance is
/// fenced everywhere its markers land.
pub(super) async fn fence_and_abort(broker: &Arc<Broker>, entry: &Entry) {
    let next = {
        let mut m = lock(entry);
        if m.state != TxnState::Ongoing || m.pending.is_some() {
            return;
        }
        let mut next = m.moved(TxnState::PrepareAbort, now_ms());
        if m.producer_epoch < i16::MAX - 1 {
            next.producer_epoch = m.producer_epoch + 1;
        }
        // The fenced epoch must not pass for a retried InitProducerId.
        next.last_producer_epoch = -1;
        // In memory only while PrepareAbort is written: refuses the old
        // producer's produces and requests from now on.
        m.state = TxnState::PrepareEpochFence;
        m.pending = Some(TxnState::PrepareAbort);
        next
    };
    tracing::info!(transactional_id = %next.transactional_id, "aborting transaction (timeout or new producer instance)");
    if broker
        .txn
        .write_and_install(entry, next, true)
        .await
        .is_err()
    {
        let mut m = lock(entry);
        if m.state == TxnState::PrepareEpochFence {
            m.state = TxnState::Ongoing;
        }
        return;
    }
    complete(broker, entry).await;
}

pub(super) fn spawn_fence_and_abort(broker: Arc<Broker>, entry: Entry) {
    tokio::spawn(async move { fence_and_abort(&broker, &entry).await });
}

/// One pass: abort every transaction past its timeout, finish every one
/// left preparing (after a restart, or a failed marker write), forget ids
/// idle past transactional.id.expiration.ms.
pub async fn check_transactions(broker: &Arc<Broker>) {
    finish_or_abort(broker).await;
    broker.txn.expire_ids().await;
}

async fn finish_or_abort(broker: &Arc<Broker>) {
    let now = now_ms();
    for entry in broker.txn.entries() {
        let (expired, preparing) = {
            let m = lock(&entry);
            (
                m.expired(now),
                m.state.is_preparing() && m.pending.is_none(),
            )
        };
        if expired {
            fence_and_abort(broker, &entry).await;
        } else if preparing {
            complete(broker, &entry).await;
        }
    }
}

/// Runs `check_transactions` at start (completing what a restart found
/// half-done) and then every abort-check interval, until shutdown.
pub fn spawn_timeout_loop(
    broker: Arc<Broker>,
    mut shutdown: broadcast::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    let period = Duration::from_millis(broker.txn.config.abort_check_interval_ms.max(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = ticks.tick() => check_transactions(&broker).await,
            }
        }
    })
}
