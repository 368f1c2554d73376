//! The TCP server: accepts connections (capped by a semaphore), runs one
//! connection loop per client, and runs the broker's background work (the
//! acks=0/1 flusher, retention and producer-id expiry) until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::broadcast;

use crate::admission::Admission;

use crate::broker::Broker;
use crate::connection::Connection;

/// Serves Kafka clients on `listener` until `shutdown` completes, then stops
/// accepting, lets connections finish their current request, and closes
/// every partition cleanly.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, shutdown: impl Future) {
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    let admission = broker.admission.clone();
    let background = spawn_background(broker.clone(), notify_shutdown.subscribe());

    tokio::select! {
        _ = accept_loop(&listener, &broker, &admission, &notify_shutdown) => {}
        _ = shutdown => tracing::info!("shutting down"),
    }
    // Tell connections, waiting fetches and background tasks to stop, then
    // wait for every connection to give back its place.
    broker.begin_shutdown();
    drop(notify_shutdown);
    admission.wait_all_closed(Duration::from_secs(10)).await;
    let _ = background.await;
    let b = broker.clone();
    let _ = tokio::task::spawn_blocking(move || b.topics.close_all()).await;
    tracing::info!("shut down cleanly");
}

async fn accept_loop(
    listener: &TcpListener,
    broker: &Arc<Broker>,
    admission: &Arc<Admission>,
    notify_shutdown: &broadcast::Sender<()>,
) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over a limit: closed at once (dropping the socket), and counted.
        let Some(ticket) = admission.admit(peer.ip()) else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let conn = Connection::new(socket, peer, broker.clone(), notify_shutdown.subscribe());
        tokio::spawn(async move {
            conn.run().await;
            drop(ticket);
        });
    }
}

/// Milliseconds since the Unix epoch, the clock Kafka timestamps use.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Starts the periodic background work. The flusher and the log
/// maintenance (retention, segment.ms rolls, compaction) run as separate
/// loops, so a long compaction pass never delays the acks=0/1 fsync.
fn spawn_background(
    broker: Arc<Broker>,
    shutdown: broadcast::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    let flush_every = Duration::from_millis(broker.config.flush_interval_ms.max(1));
    let maintain_every = Duration::from_millis(broker.config.retention_check_interval_ms.max(1));
    let expire_every = Duration::from_millis(
        broker
            .config
            .producer_id_expiration_check_interval_ms
            .max(1),
    );
    let flusher = every(
        flush_every,
        broker.clone(),
        shutdown.resubscribe(),
        flush_all,
    );
    let transactions = crate::txn::spawn_timeout_loop(broker.clone(), shutdown.resubscribe());
    let producers = every(
        expire_every,
        broker.clone(),
        shutdown.resubscribe(),
        expire_producers_all,
    );
    let maintainer = every(maintain_every, broker, shutdown, maintain_all);
    tokio::spawn(async move {
        let _ = tokio::join!(flusher, maintainer, transactions, producers);
    })
}

/// Runs `work` on the blocking pool every `period` until shutdown; a run
/// that takes longer than the period delays the next one (no overlap).
fn every(
    period: Duration,
    broker: Arc<Broker>,
    mut shutdown: broadcast::Receiver<()>,
    work: fn(&Broker),
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = ticks.tick() => {
                    let b = broker.clone();
                    let _ = tokio::task::spawn_blocking(move || work(&b)).await;
                }
            }
        }
    })
}

/// Background fsync of acks=0/1 data (acks=all data is synced before its
/// acknowledgement and needs none of this).
fn flush_all(broker: &Broker) {
    for topic in broker.topics.list() {
        for (i, p) in topic.partitions.iter().enumerate() {
            if let Err(e) = p.flush() {
                tracing::error!(topic = %topic.name, partition = i, error = %e, "background flush failed");
            }
        }
    }
}

fn maintain_all(broker: &Broker) {
    let now = now_ms();
    let retention_ms = (broker.config.offsets_retention_minutes as i64).saturating_mul(60_000);
    broker.groups.expire_offsets(now, retention_ms, &|topic| {
        broker.topics.get(topic).is_some()
    });
    for topic in broker.topics.list() {
        for (i, p) in topic.partitions.iter().enumerate() {
            match p.maintain(now) {
                Ok(r) if r.segments_deleted > 0 => tracing::info!(
                    topic = %topic.name, partition = i, deleted = r.segments_deleted,
                    "retention deleted segments"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(topic = %topic.name, partition = i, error = %e, "retention failed")
                }
            }
            // Compacted topics only; logs what it did itself.
            if let Err(e) = p.compact(now) {
                tracing::error!(topic = %topic.name, partition = i, error = %e, "compaction failed");
            }
        }
    }
}

/// Forgets, partition by partition, the idempotence state of producers idle
/// past producer_id_expiration_ms with no open transaction (Kafka's
/// removeExpiredProducers), so one that comes back may start at any
/// sequence instead of being refused for ever.
fn expire_producers_all(broker: &Broker) {
    let now = now_ms();
    for topic in broker.topics.list() {
        for (i, p) in topic.partitions.iter().enumerate() {
            let expired = p.expire_producers(now);
            if expired > 0 {
                tracing::debug!(topic = %topic.name, partition = i, expired, "expired producer ids");
            }
        }
    }
}
