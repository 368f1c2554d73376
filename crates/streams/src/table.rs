//! Tables (KTable): a topic read as the latest value per key, where a
//! record replaces its key's value and a tombstone (null value) deletes
//! it. The table is materialized in a store with a changelog; downstream
//! it is a stream of changes, each record carrying the key's value before
//! (`Record::old`) and after (`Record::value`, null when deleted).
//!
//! Aggregating a table over a new key (`Table::group_by_aggregate`,
//! KGroupedTable.aggregate) takes a changed row's old value out of its old
//! group and adds the new value to its new group: every change becomes a
//! "subtract" record and an "add" record, re-keyed and sent through a
//! repartition topic (the header `fjord.change` says which), so each group
//! is aggregated in one task whatever partitions its rows came from.

use bytes::Bytes;

use crate::error::Result;
use crate::format::Format;
use crate::kv::{KvStore, StateLimits};
use crate::record::Record;
use crate::store::{ChangeCapture, StoreChanges};
use crate::value::Value;

/// The header that marks the two halves of a table change on their way to
/// a table aggregation.
pub const CHANGE_HEADER: &str = "fjord.change";
pub const SUBTRACT: &[u8] = b"subtract";
pub const ADD: &[u8] = b"add";

/// A table's rows in a task.
pub struct TableStore {
    store: String,
    key_format: Format,
    /// encoded key -> row.
    rows: KvStore,
    changelog: ChangeCapture,
}

impl TableStore {
    pub fn new(
        store: impl Into<String>,
        key_format: Format,
        limits: &StateLimits,
    ) -> Result<TableStore> {
        let store = store.into();
        Ok(TableStore {
            rows: KvStore::open(&store, limits)?,
            store,
            key_format,
            changelog: ChangeCapture::default(),
        })
    }

    pub fn store_name(&self) -> &str {
        &self.store
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Upserts (or, for a null value, deletes) `r`'s key; returns the
    /// change: `r` with its old value set.
    pub fn apply(&mut self, mut r: Record) -> Result<Record> {
        let key = self.key_format.encode_key(&r.key, "a table row")?;
        let old = if r.value.is_null() {
            self.changelog.record(key.clone(), None);
            self.rows.put(key, None)?
        } else {
            self.changelog.record(
                key.clone(),
                Some(Bytes::from(crate::format::json_bytes(&r.value))),
            );
            self.rows.put(key, Some(r.value.clone()))?
        };
        r.old = Some(old.unwrap_or(Value::Null));
        Ok(r)
    }

    /// The value of `key` now (pull queries later).
    pub fn get(&mut self, key: &Value) -> Result<Option<Value>> {
        let Some(k) = self.key_format.encode(key)? else {
            return Ok(None);
        };
        self.rows.get(&k)
    }

    /// Applies one changelog record (restoring a task elsewhere).
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.rows.restore(key, value)
    }

    /// After the last changelog record (see `KvStore::finish_restore`).
    pub fn finish_restore(&mut self) -> Result<()> {
        self.rows.finish_restore()
    }

    pub fn take_changelog(&mut self) -> StoreChanges {
        (self.store.clone(), self.changelog.take())
    }
}

/// The two halves of a table change for an aggregation over `new_key`:
/// subtract the old row from its group, add the new row to its group.
pub fn split_change(
    r: Record,
    new_key: &(dyn Fn(&Record) -> Result<Value> + Send + Sync),
) -> Result<Vec<Record>> {
    let mut out = Vec::with_capacity(2);
    if let Some(old) = r.old.clone().filter(|o| !o.is_null()) {
        let mut before = r.clone();
        before.value = old;
        before.old = None;
        before.key = new_key(&before)?;
        before
            .headers
            .push((CHANGE_HEADER.into(), Some(Bytes::from_static(SUBTRACT))));
        out.push(before);
    }
    if !r.value.is_null() {
        let mut after = r;
        after.old = None;
        after.key = new_key(&after)?;
        after
            .headers
            .push((CHANGE_HEADER.into(), Some(Bytes::from_static(ADD))));
        out.push(after);
    }
    Ok(out)
}

/// Whether a record is the "subtract" half of a table change.
pub fn is_subtract(r: &Record) -> bool {
    r.headers
        .iter()
        .rev()
        .find(|(k, _)| k == CHANGE_HEADER)
        .is_some_and(|(_, v)| v.as_deref() == Some(SUBTRACT))
}
