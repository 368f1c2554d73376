//! The backup writer: the one member of group `bid-backup`.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;

use super::{BackupFormat, BackupLine, BackupSink};
use crate::codec::{BidCodec, TOPIC};
use crate::db_writer::commit;
use crate::error::{kafka, Result};
use crate::kafka::{KafkaSettings, BACKUP_GROUP};

/// Test hook: when this environment variable is set, the writer exits the
/// process right after flushing a batch and before committing its offsets,
/// which is the crash the recovery exists for.
pub const CRASH_AFTER_FLUSH_ENV: &str = "FJORD_AUCTION_CRASH_AFTER_FLUSH";

/// Runs the backup writer on `path`, written in `format`, until `shutdown`
/// completes.
pub async fn run(
    settings: &KafkaSettings,
    path: &Path,
    format: BackupFormat,
    codec: Arc<dyn BidCodec>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // Refuses a file of the other format, cuts a torn tail.
    let (mut sink, contents) = BackupSink::open(path, format)?;
    let mut written = contents.written();
    tracing::info!(path = %path.display(), %format, records = contents.lines.len(), "backup writer started");
    drop(contents);

    let dead_letters = crate::dead_letter::DeadLetters::start(settings, BACKUP_GROUP).await?;
    let consumer: Arc<StreamConsumer> =
        Arc::new(settings.group_consumer(BACKUP_GROUP, "backup-writer")?);
    consumer
        .subscribe(&[TOPIC])
        .map_err(kafka(format!("cannot subscribe to `{TOPIC}`")))?;
    let crash_after_flush = std::env::var_os(CRASH_AFTER_FLUSH_ENV).is_some();
    let mut shutdown = Box::pin(shutdown);
    let mut batch = Vec::with_capacity(crate::db_writer::MAX_BATCH);
    loop {
        // The raw records are needed (partition, offset), so this loop reads
        // them itself rather than through db_writer::next_batch.
        let first = tokio::select! {
            m = consumer.recv() => m,
            () = &mut shutdown => break,
        };
        let first = match first {
            Ok(m) => m.detach(),
            Err(e) => {
                crate::db_writer::transient(e).await;
                continue;
            }
        };
        let mut records = vec![first];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
        while records.len() < crate::db_writer::MAX_BATCH {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => records.push(m.detach()),
                _ => break,
            }
        }
        let mut next = std::collections::BTreeMap::new();
        batch.clear();
        for m in &records {
            next.insert(m.partition(), m.offset() + 1);
            if written
                .get(&m.partition())
                .is_some_and(|w| m.offset() <= *w)
            {
                continue; // already in the file (redelivered after a crash)
            }
            // Not a bid: in the dead-letter topic (acknowledged) before this
            // batch's offsets are committed, or under --on-bad-record stop an
            // error, with nothing of this batch written or committed.
            let Some(bid) = dead_letters.decode(codec.as_ref(), m).await? else {
                continue;
            };
            batch.push(BackupLine {
                partition: m.partition(),
                offset: m.offset(),
                bid,
            });
            written.insert(m.partition(), m.offset());
        }
        if !batch.is_empty() {
            // One write per batch (one Avro block), then fsync: the records
            // are durable before the offsets that say they are done.
            sink.append(&batch)?;
            if crash_after_flush {
                tracing::warn!("{CRASH_AFTER_FLUSH_ENV} is set: exiting between flush and commit");
                std::process::exit(3);
            }
        }
        commit(&consumer, next).await;
    }
    tracing::info!("backup writer stopped");
    Ok(())
}
