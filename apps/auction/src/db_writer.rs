//! A DB writer: one member of the group `bid-db-writers`. Run two (in one
//! process or in two) and the group shares the 4 partitions between them.
//!
//! Per batch: decode the records, store them in one transaction (the auction
//! rule is applied there, see [`crate::store`]), and only then commit the
//! offsets. A crash between the two redelivers the batch, and the unique bid
//! id makes the second insert a no-op: every bid is stored exactly once.
//! A record that is not a bid is dead-lettered (acknowledged) before the
//! offsets past it are committed, or, under `--on-bad-record stop`, ends
//! the batch: the bids before it are stored and committed, it is not, and
//! the writer exits (see [`crate::dead_letter`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::bid::Bid;
use crate::codec::{BidCodec, TOPIC};
use crate::dead_letter::{BadRecord, DeadLetters, OnBadRecord, NO_VALUE};
use crate::error::{kafka, Result};
use crate::kafka::{KafkaSettings, DB_GROUP};
use crate::store::BidStore;

/// Most records stored in one transaction.
pub const MAX_BATCH: usize = 500;
/// How long a batch waits for more records once it has one: short, so a
/// lone bid reaches the table (and the dashboard) quickly.
const BATCH_WAIT: Duration = Duration::from_millis(20);

/// Records read together, with what to commit once they are stored.
pub struct Batch {
    pub bids: Vec<Bid>,
    /// Next offset to commit per partition.
    pub next: BTreeMap<i32, i64>,
    /// Records that are not bids, in the order read. Under dead-letter,
    /// `next` already points past them (they must be dead-lettered before
    /// it is committed); under stop, the batch ends at the first one and
    /// `next` points at it, so committing `next` leaves it unread.
    pub bad: Vec<BadRecord>,
}

impl Batch {
    fn records(&self) -> usize {
        self.bids.len() + self.bad.len()
    }
}

/// Collects one batch: waits for a first record (or shutdown: `None`), then
/// takes what else arrives within [`BATCH_WAIT`], up to [`MAX_BATCH`] (and
/// under [`OnBadRecord::Stop`] not past a record that is not a bid).
pub async fn next_batch(
    consumer: &StreamConsumer,
    codec: &dyn BidCodec,
    on_bad_record: OnBadRecord,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<Option<Batch>> {
    let mut batch = Batch {
        bids: Vec::new(),
        next: BTreeMap::new(),
        bad: Vec::new(),
    };
    let stop_at_bad = on_bad_record == OnBadRecord::Stop;
    loop {
        let first = tokio::select! {
            m = consumer.recv() => m,
            () = &mut *shutdown => return Ok(None),
        };
        match first {
            Ok(m) => {
                take(&m, codec, stop_at_bad, &mut batch);
                break;
            }
            Err(e) => transient(e).await,
        }
    }
    let deadline = tokio::time::Instant::now() + BATCH_WAIT;
    let ended_at_bad = |b: &Batch| stop_at_bad && !b.bad.is_empty();
    while batch.records() < MAX_BATCH && !ended_at_bad(&batch) {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => take(&m, codec, stop_at_bad, &mut batch),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "consume error within a batch");
                break;
            }
            Err(_) => break,
        }
    }
    Ok(Some(batch))
}

/// A consume error (all brokers down while the broker restarts, a
/// partition moving): librdkafka keeps reconnecting by itself, so the
/// member waits a moment and goes on rather than exit.
pub async fn transient(e: rdkafka::error::KafkaError) {
    tracing::warn!(error = %e, "consume error; retrying");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn take(m: &BorrowedMessage<'_>, codec: &dyn BidCodec, stop_at_bad: bool, batch: &mut Batch) {
    let error = match m.payload().map(|p| codec.decode(p)) {
        Some(Ok(bid)) => {
            batch.bids.push(bid);
            batch.next.insert(m.partition(), m.offset() + 1);
            return;
        }
        Some(Err(e)) => e.to_string(),
        None => NO_VALUE.to_string(),
    };
    // Under stop the offset to commit is the bad record's own: it stays
    // unconsumed for the group.
    let next = if stop_at_bad {
        m.offset()
    } else {
        m.offset() + 1
    };
    batch.next.insert(m.partition(), next);
    batch.bad.push(BadRecord::new(m, error));
}

/// Commits the batch's offsets and waits for the broker's answer, on a
/// blocking thread: a synchronous commit on a runtime worker would stall
/// every task on it (with an embedded broker, the broker that must answer).
/// A failure (the partitions moved to another member in a rebalance) is
/// logged, not fatal: the new owner re-reads the records and the stored bid
/// ids make that harmless.
pub async fn commit(consumer: &Arc<StreamConsumer>, next: BTreeMap<i32, i64>) {
    let consumer = consumer.clone();
    let _ = tokio::task::spawn_blocking(move || commit_now(&consumer, &next)).await;
}

fn commit_now(consumer: &StreamConsumer, next: &BTreeMap<i32, i64>) {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in next {
        if let Err(e) = tpl.add_partition_offset(TOPIC, *p, Offset::Offset(*o)) {
            tracing::warn!(error = %e, "cannot build the offset list");
            return;
        }
    }
    if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
        tracing::warn!(error = %e, "offset commit failed; the records will be read again and skipped");
    }
}

/// Runs one DB writer until `shutdown` completes.
pub async fn run(
    settings: &KafkaSettings,
    store: BidStore,
    codec: Arc<dyn BidCodec>,
    client_id: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let dead_letters = DeadLetters::start(settings, DB_GROUP).await?;
    let on_bad_record = dead_letters.policy().on_bad_record;
    let consumer = Arc::new(settings.group_consumer(DB_GROUP, client_id)?);
    consumer
        .subscribe(&[TOPIC])
        .map_err(kafka(format!("cannot subscribe to `{TOPIC}`")))?;
    let mut shutdown = Box::pin(shutdown);
    tracing::info!(client_id, group = DB_GROUP, "DB writer started");
    while let Some(batch) =
        next_batch(&consumer, codec.as_ref(), on_bad_record, &mut shutdown).await?
    {
        // Dead letters are acknowledged before any offset past them is
        // committed; under stop, the batch's one bad record is its last.
        let stop_at = match on_bad_record {
            OnBadRecord::Stop => batch.bad.first(),
            OnBadRecord::DeadLetter => {
                for bad in &batch.bad {
                    dead_letters.route(bad).await?;
                }
                None
            }
        };
        // The rows must be committed before the offsets: retry the same
        // batch while the database is unavailable.
        let mut delay = Duration::from_millis(100);
        loop {
            match store.store_batch(&batch.bids).await {
                Ok(outcome) => {
                    tracing::debug!(client_id, ?outcome, "batch stored");
                    break;
                }
                Err(e) => {
                    tracing::warn!(client_id, error = %e, "cannot store a batch; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = &mut shutdown => return Ok(()),
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        commit(&consumer, batch.next).await;
        if let Some(bad) = stop_at {
            // The bids before it are stored and committed; it is not.
            return Err(bad.stop_error(DB_GROUP));
        }
    }
    tracing::info!(client_id, "DB writer stopped");
    Ok(())
}
