//! Aggregation per key, without windows (KGroupedStream.aggregate): a
//! table of key -> accumulator, updated by every record and emitted on
//! every update (EMIT CHANGES), with its changelog.
//!
//! The input must be partitioned by the key it aggregates on; the
//! topology puts a repartition topic in front when an earlier step may
//! have changed the key.

use bytes::Bytes;

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::kv::{KvStore, StateLimits};
use crate::record::Record;
use crate::store::{ChangeCapture, StoreChanges};
use crate::value::Value;
use crate::windowed::Extract;

pub struct KeyedAggregate {
    store: String,
    agg: Aggregate,
    extract: Extract,
    key_format: Format,
    /// encoded key -> accumulator.
    table: KvStore,
    changelog: ChangeCapture,
}

impl KeyedAggregate {
    pub fn new(
        store: impl Into<String>,
        agg: Aggregate,
        extract: Extract,
        key_format: Format,
        limits: &StateLimits,
    ) -> Result<KeyedAggregate> {
        let store = store.into();
        Ok(KeyedAggregate {
            table: KvStore::open(&store, limits)?,
            store,
            agg,
            extract,
            key_format,
            changelog: ChangeCapture::default(),
        })
    }

    pub fn store_name(&self) -> &str {
        &self.store
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Folds `r` into its key's accumulator; returns the updated result,
    /// None when it did not change (see `fold`).
    pub fn process(&mut self, r: &Record) -> Result<Option<Record>> {
        self.fold(r, false)
    }

    /// Takes `r` out of its key's accumulator (a table row that changed or
    /// went, see `table`), or folds it in; returns the updated result.
    ///
    /// Emit on change (Kafka Streams' KIP-557): an update that leaves the
    /// result as it was (a MAX under a smaller value, a LATEST_BY_OFFSET
    /// of the same value) is neither written to the changelog nor passed
    /// on: None.
    pub fn fold(&mut self, r: &Record, subtract: bool) -> Result<Option<Record>> {
        let key = self.key_format.encode_key(&r.key, "an aggregation")?;
        let v = (self.extract)(r);
        let agg = &self.agg;
        let mut before = None;
        let acc = self.table.update(key.clone(), |slot| {
            before = slot.clone();
            let acc = slot.take().unwrap_or_else(|| agg.init());
            let next = if subtract {
                agg.subtract(acc.clone(), &v).ok_or(acc)
            } else {
                Ok(agg.add(acc, &v))
            };
            match next {
                Ok(a) => {
                    *slot = Some(a.clone());
                    Ok(a)
                }
                Err(unchanged) => {
                    *slot = Some(unchanged);
                    Err(Error::Operator(format!(
                        "{agg:?} cannot take a value back out"
                    )))
                }
            }
        })??;
        if before.as_ref() == Some(&acc) {
            return Ok(None);
        }
        self.changelog
            .record(key, Some(Bytes::from(crate::format::json_bytes(&acc))));
        Ok(Some(Record {
            key: r.key.clone(),
            value: self.agg.result(&acc),
            timestamp: r.timestamp,
            headers: Vec::new(),
            source: None,
            old: None,
            window: None,
            session: false,
        }))
    }

    /// Applies one changelog record (restoring a task elsewhere).
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.table.restore(key, value)
    }

    /// After the last changelog record (see `KvStore::finish_restore`).
    pub fn finish_restore(&mut self) -> Result<()> {
        self.table.finish_restore()
    }

    /// The result for `key` now (pull queries later).
    pub fn get(&mut self, key: &Value) -> Result<Option<Value>> {
        let Some(k) = self.key_format.encode(key)? else {
            return Ok(None);
        };
        Ok(self.table.get(&k)?.map(|acc| self.agg.result(&acc)))
    }

    pub fn take_changelog(&mut self) -> StoreChanges {
        (self.store.clone(), self.changelog.take())
    }
}
