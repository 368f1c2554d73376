//! Consumers see only durable records: the high watermark is the fsynced
//! end of a partition, so no consumer reads, and no group commits, past
//! data that a power loss could cut from the log (after which acks=all
//! producers would be given those offsets again and the group would skip
//! their records).
//!
//! acks=all records are fsynced before they are acknowledged, so they are
//! visible at once. acks=0/1 records would otherwise wait for the
//! background flusher (flush_interval_ms): instead, a read that would come
//! back short because of them (Fetch, ListOffsets for the latest offset)
//! asks for the fsync itself and waits for it. Concurrent readers and
//! producers share the fsync (the log's group commit).

use std::sync::Arc;

use fjord_log::Partition;

/// Fsyncs the appended tail of each partition, off the async workers, and
/// returns once all are durable (or their fsync failed: a poisoned
/// partition's tail stays invisible, which is right, since it may not be
/// on disk).
pub async fn make_durable(partitions: Vec<Arc<Partition>>) {
    let syncs: Vec<_> = partitions
        .into_iter()
        .map(|part| tokio::task::spawn_blocking(move || part.flush()))
        .collect();
    for sync in syncs {
        match sync.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "fsync for readers failed"),
            Err(e) => tracing::error!(error = %e, "fsync task for readers failed"),
        }
    }
}
