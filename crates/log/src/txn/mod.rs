//! Transactions in the partition log: control batches (markers), the last
//! stable offset and the aborted-transaction index.
//!
//! Who does what: the producer state (`crate::producer_state`) tracks each
//! producer's open transaction and checks batches and markers against it;
//! this module writes markers for the broker's transaction coordinator
//! ([`Partition::append_marker`]), keeps the aborted-transaction index
//! (`index`) and answers read_committed reads: data only below the LSO
//! ([`Partition::read_committed`]) and the aborted transactions a reader
//! must drop ([`Partition::aborted_transactions`]).
//!
//! Invariant: the LSO is always a batch boundary (the base offset of a
//! transactional batch, or the log end), so cutting a read there never
//! splits a batch.

mod index;
mod marker;

use bytes::Bytes;

pub use index::AbortedTxn;
pub(crate) use index::{AbortedRanges, TxnIndex};
pub use marker::{decode_marker, encode_marker, ControlMarker, MARKER_ATTRIBUTES};

use crate::batch::BatchHeader;
use crate::error::Result;
use crate::partition::{AppendOutcome, Partition, ReadSlice};
use crate::producer_state::{CompletedTxn, ProducerStates};
use crate::Offset;

/// Adds an aborted transaction to the index (a commit needs no entry).
/// `producers` is the state after the marker, so its oldest open
/// transaction gives the LSO right after the abort.
pub(crate) fn record_completion(
    aborted: &mut TxnIndex,
    producers: &ProducerStates,
    done: Option<CompletedTxn>,
) {
    if let Some(done) = done.filter(|d| !d.commit) {
        aborted.insert(AbortedTxn {
            producer_id: done.producer_id,
            first_offset: done.first_offset,
            last_offset: done.last_offset,
            last_stable_offset: producers.first_unstable().unwrap_or(done.last_offset + 1),
        });
    }
}

impl Partition {
    /// Writes a COMMIT or ABORT marker for `producer_id`'s transaction (the
    /// transaction coordinator's WriteTxnMarkers, for one partition). Ends
    /// the producer's open transaction here, if any; an abort enters the
    /// aborted-transaction index. Does not fsync: call `sync_to` with the
    /// returned offset (markers are part of a commit's guarantee).
    ///
    /// Refused: a producer epoch older than the producer's current one
    /// (`InvalidProducerEpoch`), a coordinator epoch older than the last
    /// marker's (`CoordinatorFenced`).
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        marker: ControlMarker,
        now_ms: i64,
    ) -> Result<AppendOutcome> {
        let mut buf = encode_marker(producer_id, producer_epoch, marker, now_ms);
        let mut h = BatchHeader::parse(&buf)?;
        let config = self.config_arc();
        self.group.check()?;
        let mut log = self.lock_open()?;
        log.producers.check_marker(&h, &marker)?;
        h.base_offset = log.log_end;
        crate::batch::assign_offset(&mut buf, h.base_offset);
        let next = h.last_offset() + 1;
        self.write_tail(
            &mut log,
            &config,
            &buf,
            std::iter::once((&h, 0)),
            next,
            now_ms,
        )?;
        let done = log.producers.apply_marker(&h, &marker);
        let crate::partition::LogState {
            producers, aborted, ..
        } = &mut *log;
        record_completion(aborted, producers, done);
        tracing::debug!(
            dir = %self.dir.display(),
            producer_id,
            commit = marker.commit,
            offset = h.base_offset,
            "wrote transaction marker"
        );
        Ok(AppendOutcome {
            base_offset: h.base_offset,
            last_offset: h.base_offset,
            log_start_offset: log.log_start,
            duplicate: false,
        })
    }

    /// The last stable offset: below it every transaction is decided and
    /// every record durable (it never passes the high watermark).
    pub fn last_stable_offset(&self) -> Offset {
        let log = self.lock();
        log.last_stable_offset().min(self.group.durable_end())
    }

    /// Like [`Partition::read`], for a read_committed reader: whole batches
    /// below the last stable offset only (none when `offset` is at or past
    /// it, which is not an error while `offset` is within the log).
    pub fn read_committed(
        &self,
        offset: Offset,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadSlice> {
        self.read_below(offset, max_bytes, min_one_batch, |s| s.last_stable_offset)
    }

    /// The aborted transactions that may have batches in `[from, to)`,
    /// oldest first: what a read_committed reader of that range must drop.
    pub fn aborted_transactions(&self, from: Offset, to: Offset) -> Vec<AbortedTxn> {
        self.lock().aborted.overlapping(from, to)
    }

    /// (producer id, first offset) of every open transaction, oldest first.
    pub fn open_transactions(&self) -> Vec<(i64, Offset)> {
        self.lock().producers.ongoing()
    }
}

/// The leading whole batches of `bytes` that end below `limit`.
pub(crate) fn cut_at(bytes: &Bytes, limit: Offset) -> Bytes {
    let end = BatchHeader::walk(bytes)
        .into_iter()
        .take_while(|(h, _)| h.last_offset() < limit)
        .last()
        .map_or(0, |(_, span)| span.end);
    bytes.slice(..end)
}
