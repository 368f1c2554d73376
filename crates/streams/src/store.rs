//! State stores: a task's keyed state, with every change captured for the
//! store's changelog topic (`<application-id>-<store>-changelog`, compacted,
//! Kafka Streams' naming), so another instance can rebuild the store by
//! reading it.
//!
//! Changes are captured per key and handed over at each commit
//! ([`ChangeCapture::take`]), so a key updated many times between commits
//! writes one changelog record (Kafka Streams' record cache does the
//! same). Restoring applies changelog records without capturing them.
//!
//! This is the in-memory store; the disk-backed one with a bounded cache
//! comes with the runtime.

use std::collections::BTreeMap;

use bytes::Bytes;

/// One changelog record: key, and value or None for a tombstone.
pub type Change = (Bytes, Option<Bytes>);

/// A store's changes since the last commit, with the store's name.
pub type StoreChanges = (String, Vec<Change>);

/// Changelog records not yet handed to the producer, by key (the last
/// write wins; None is a tombstone).
#[derive(Debug, Default)]
pub struct ChangeCapture {
    pending: BTreeMap<Bytes, Option<Bytes>>,
}

impl ChangeCapture {
    pub fn record(&mut self, key: Bytes, value: Option<Bytes>) {
        self.pending.insert(key, value);
    }

    /// The changes since the last call, in key order.
    pub fn take(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
