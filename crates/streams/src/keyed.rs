//! Aggregation per key, without windows (KGroupedStream.aggregate): a
//! table of key -> accumulator, updated by every record and emitted on
//! every update (EMIT CHANGES), with its changelog.
//!
//! The input must be partitioned by the key it aggregates on; the
//! topology puts a repartition topic in front when an earlier step may
//! have changed the key.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::record::Record;
use crate::store::{ChangeCapture, StoreChanges};
use crate::value::Value;
use crate::windowed::Extract;

pub struct KeyedAggregate {
    store: String,
    agg: Aggregate,
    extract: Extract,
    key_format: Format,
    /// encoded key -> (key, accumulator).
    table: BTreeMap<Bytes, (Value, Value)>,
    changelog: ChangeCapture,
}

impl KeyedAggregate {
    pub fn new(
        store: impl Into<String>,
        agg: Aggregate,
        extract: Extract,
        key_format: Format,
    ) -> KeyedAggregate {
        KeyedAggregate {
            store: store.into(),
            agg,
            extract,
            key_format,
            table: BTreeMap::new(),
            changelog: ChangeCapture::default(),
        }
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

    /// Folds `r` into its key's accumulator; returns the updated result.
    pub fn process(&mut self, r: &Record) -> Result<Record> {
        self.fold(r, false)
    }

    /// Takes `r` out of its key's accumulator (a table row that changed or
    /// went, see `table`), or folds it in; returns the updated result.
    pub fn fold(&mut self, r: &Record, subtract: bool) -> Result<Record> {
        let key = self.key_format.encode_key(&r.key, "an aggregation")?;
        let v = (self.extract)(r);
        let entry = self
            .table
            .entry(key.clone())
            .or_insert_with(|| (r.key.clone(), self.agg.init()));
        let acc = std::mem::replace(&mut entry.1, Value::Null);
        entry.1 = if subtract {
            match self.agg.subtract(acc.clone(), &v) {
                Some(a) => a,
                None => {
                    entry.1 = acc;
                    return Err(Error::Operator(format!(
                        "{:?} cannot take a value back out",
                        self.agg
                    )));
                }
            }
        } else {
            self.agg.add(acc, &v)
        };
        self.changelog
            .record(key, Some(Bytes::from(entry.1.to_json().to_string())));
        Ok(Record {
            key: r.key.clone(),
            value: self.agg.result(&entry.1),
            timestamp: r.timestamp,
            headers: Vec::new(),
            source: None,
            old: None,
            window: None,
            session: false,
        })
    }

    /// Applies one changelog record (restoring a task elsewhere).
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let k = Bytes::copy_from_slice(key);
        match value {
            None => {
                self.table.remove(&k);
            }
            Some(v) => {
                let acc = Value::from_json(
                    serde_json::from_slice(v)
                        .map_err(|e| Error::Decode(format!("changelog of {}: {e}", self.store)))?,
                );
                let decoded = self.key_format.decode(Some(key))?;
                self.table.insert(k, (decoded, acc));
            }
        }
        Ok(())
    }

    /// The result for `key` now (pull queries later).
    pub fn get(&self, key: &Value) -> Result<Option<Value>> {
        let Some(k) = self.key_format.encode(key)? else {
            return Ok(None);
        };
        Ok(self.table.get(&k).map(|(_, acc)| self.agg.result(acc)))
    }

    pub fn take_changelog(&mut self) -> StoreChanges {
        (self.store.clone(), self.changelog.take())
    }
}
