//! A task: the operators of one partition number of an application's
//! inputs, with their state (stores, join buffers), run record by record.
//! Built by `Topology::task`; the runtime feeds it and writes what it
//! returns.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::fk_join::SubscriptionStore;
use crate::join::{JoinKind, Side, StreamJoin};
use crate::keyed::KeyedAggregate;
use crate::record::{Header, Output, Record, Source};
use crate::store::StoreChanges;
use crate::table::TableStore;
use crate::topology::{EventTime, Joiner, Node, Topology};
use crate::value::Value;
use crate::window::windowed_key;
use crate::windowed::WindowedAggregate;

/// The joined row of a table-table join for (left row, right row), Null
/// when there is none; a missing row is Null.
fn table_join(kind: JoinKind, joiner: &Joiner, (l, r): (Value, Value)) -> Result<Value> {
    let exists = match kind {
        JoinKind::Inner => !l.is_null() && !r.is_null(),
        JoinKind::Left => !l.is_null(),
        JoinKind::Outer => !l.is_null() || !r.is_null(),
    };
    if exists {
        joiner(&l, &r)
    } else {
        Ok(Value::Null)
    }
}

/// The operators of one partition number, with their state.
pub struct Task {
    pub(crate) topology: Topology,
    pub(crate) partition: i32,
    /// Per node: its windowed aggregation's state, if it is one.
    pub(crate) windowed: Vec<Option<WindowedAggregate>>,
    /// Per node: its keyed aggregation's table, if it is one.
    pub(crate) keyed: Vec<Option<KeyedAggregate>>,
    /// Per node: a materialized table's rows, if it is one.
    pub(crate) tables: Vec<Option<TableStore>>,
    /// Per node: a stream-stream join's buffers, at its left side's node.
    pub(crate) joins: Vec<Option<StreamJoin>>,
    /// Per node: a foreign-key join's subscriptions, at its register node.
    pub(crate) subscriptions: Vec<Option<SubscriptionStore>>,
    pub(crate) dead_letters: u64,
    pub(crate) processed: u64,
}

impl Task {
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Records sent to the dead-letter topic so far.
    pub fn dead_letters(&self) -> u64 {
        self.dead_letters
    }

    /// Input records processed so far (dead letters included).
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Entries held by each state store (windows, keys), by store name.
    pub fn store_sizes(&self) -> Vec<(String, usize)> {
        let windows = self
            .windowed
            .iter()
            .flatten()
            .map(|op| (op.store_name().to_string(), op.window_count()));
        let keys = self
            .keyed
            .iter()
            .flatten()
            .map(|op| (op.store_name().to_string(), op.len()));
        let rows = self
            .tables
            .iter()
            .flatten()
            .map(|t| (t.store_name().to_string(), t.len()));
        let subscriptions = self
            .subscriptions
            .iter()
            .flatten()
            .map(|s| (s.store_name().to_string(), s.len()));
        windows
            .chain(keys)
            .chain(rows)
            .chain(subscriptions)
            .collect()
    }

    /// Late records, over every windowed operator.
    pub fn late_records(&self) -> u64 {
        let windows: u64 = self
            .windowed
            .iter()
            .flatten()
            .map(WindowedAggregate::late)
            .sum();
        windows
            + self
                .joins
                .iter()
                .flatten()
                .map(StreamJoin::late)
                .sum::<u64>()
    }

    /// Runs one input record through the topology; returns what to write.
    /// A record that fails anywhere comes back as a dead letter instead of
    /// its outputs (none of them are written). A store it updated before
    /// the failure keeps the update: put stateful operators after the
    /// steps that can fail.
    #[allow(clippy::too_many_arguments)]
    pub fn process(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<Vec<Output>> {
        self.process_source(
            Source {
                topic: Arc::from(topic),
                partition,
                offset,
                key: key.map(Bytes::copy_from_slice),
                value: value.map(Bytes::copy_from_slice),
                headers,
            },
            timestamp,
        )
    }

    /// As `process`, with the record as fetched (the runtime's way: no
    /// copy of its bytes).
    pub(crate) fn process_source(&mut self, source: Source, timestamp: i64) -> Result<Vec<Output>> {
        let source = Arc::new(source);
        let topic = &*source.topic;
        let Some(node) = self
            .topology
            .nodes
            .iter()
            .position(|n| matches!(n, Node::Source { topic: t, .. } if t == topic))
        else {
            return Err(Error::Topology(format!("topic '{topic}' is not an input")));
        };
        self.processed += 1;
        let mut out = Vec::new();
        let result = self
            .decode(node, &source, timestamp)
            .and_then(|record| self.push(node, 0, record, &mut out));
        match result {
            Ok(()) => Ok(out),
            Err(e) => {
                self.dead_letters += 1;
                Ok(vec![self.dead_letter(&source, timestamp, &e)])
            }
        }
    }

    fn decode(&self, node: usize, source: &Arc<Source>, timestamp: i64) -> Result<Record> {
        let Node::Source {
            key, value, time, ..
        } = &self.topology.nodes[node]
        else {
            unreachable!("a source node");
        };
        let key = key.decode(source.key.as_deref())?;
        let value = value.decode(source.value.as_deref())?;
        let timestamp = match time {
            EventTime::RecordTimestamp => timestamp,
            EventTime::Field(f) => value.field(f).and_then(Value::as_i64).ok_or_else(|| {
                Error::Decode(format!(
                    "no event time: field '{f}' missing or not an integer"
                ))
            })?,
        };
        Ok(Record {
            key,
            value,
            timestamp,
            headers: source.headers.clone(),
            source: Some(source.clone()),
            old: None,
            window: None,
            session: false,
        })
    }

    /// Hands `r` to the children of `node` on `port`.
    fn push(&mut self, node: usize, port: usize, r: Record, out: &mut Vec<Output>) -> Result<()> {
        // The Arc, not the whole topology (its names are Strings): this
        // runs for every record at every node.
        let children = Arc::clone(&self.topology.children);
        let mut targets = children[node]
            .iter()
            .filter(|(_, p)| *p == port)
            .map(|(c, _)| *c)
            .peekable();
        while let Some(child) = targets.next() {
            // The last child takes the record itself; the others a copy.
            if targets.peek().is_some() {
                self.apply(child, r.clone(), out)?;
            } else {
                return self.apply(child, r, out);
            }
        }
        Ok(())
    }

    fn apply(&mut self, node: usize, r: Record, out: &mut Vec<Output>) -> Result<()> {
        let nodes = Arc::clone(&self.topology.nodes);
        match &nodes[node] {
            Node::Source { .. } => Err(Error::Topology("a source has no parent".into())),
            Node::Filter(f) => {
                if f(&r)? {
                    self.push(node, 0, r, out)?;
                }
                Ok(())
            }
            Node::Map(f) => {
                let r = f(r)?;
                self.push(node, 0, r, out)
            }
            Node::FlatMap(f) => {
                for r in f(r)? {
                    self.push(node, 0, r, out)?;
                }
                Ok(())
            }
            Node::Peek(f) => {
                f(&r);
                self.push(node, 0, r, out)
            }
            Node::Branch(preds) => {
                for (port, p) in preds.iter().enumerate() {
                    if p(&r)? {
                        return self.push(node, port, r, out);
                    }
                }
                Ok(())
            }
            Node::Merge => self.push(node, 0, r, out),
            Node::Windowed(_) => {
                let mut results = Vec::new();
                let op = self.windowed[node].as_mut().expect("made with the task");
                op.process(&r, &mut results, out)?;
                for res in results {
                    self.push(node, 0, res, out)?;
                }
                Ok(())
            }
            Node::Keyed(_) => {
                let op = self.keyed[node].as_mut().expect("made with the task");
                match op.process(&r)? {
                    Some(result) => self.push(node, 0, result, out),
                    None => Ok(()),
                }
            }
            Node::KeyedTable(_) => {
                let op = self.keyed[node].as_mut().expect("made with the task");
                match op.fold(&r, crate::table::is_subtract(&r))? {
                    Some(result) => self.push(node, 0, result, out),
                    None => Ok(()),
                }
            }
            Node::Table(_) => {
                let table = self.tables[node].as_mut().expect("made with the task");
                let change = table.apply(r)?;
                self.push(node, 0, change, out)
            }
            Node::JoinSide { owner, side, .. } => {
                let mut results = Vec::new();
                let join = self.joins[*owner].as_mut().expect("made with the task");
                join.process(*side, r, &mut results, out)?;
                for res in results {
                    self.push(node, 0, res, out)?;
                }
                Ok(())
            }
            Node::TableJoinSide {
                other,
                side,
                kind,
                joiner,
            } => {
                let row = self.tables[*other]
                    .as_mut()
                    .expect("a join names a table node")
                    .get(&r.key)?
                    .unwrap_or(Value::Null);
                let old = r.old.clone().unwrap_or(Value::Null);
                let pair = |mine: &Value| match side {
                    Side::Left => (mine.clone(), row.clone()),
                    Side::Right => (row.clone(), mine.clone()),
                };
                let before = table_join(*kind, joiner, pair(&old))?;
                let after = table_join(*kind, joiner, pair(&r.value))?;
                if before.is_null() && after.is_null() {
                    return Ok(()); // no joined row, before or after
                }
                let mut joined = r;
                joined.value = after;
                joined.old = Some(before);
                self.push(node, 0, joined, out)
            }
            Node::ForeignKeyJoin { role, spec } => {
                let results = crate::fk_join::process(
                    *role,
                    spec,
                    node,
                    r,
                    &mut self.tables,
                    &mut self.subscriptions,
                )?;
                for (port, res) in results {
                    self.push(node, port, res, out)?;
                }
                Ok(())
            }
            Node::StreamTableJoin {
                table,
                joiner,
                left,
            } => {
                let row = self.tables[*table]
                    .as_mut()
                    .expect("a join names a table node")
                    .get(&r.key)?;
                let Some(row) = row.or_else(|| left.then_some(Value::Null)) else {
                    return Ok(());
                };
                let mut joined = r;
                joined.value = joiner(&joined.value, &row)?;
                self.push(node, 0, joined, out)
            }
            Node::Sink { topic, key, value } => {
                let k = key.encode(&r.key)?;
                let k = match (&r.window, k) {
                    (Some(w), Some(k)) => Some(windowed_key(&k, w, r.session)),
                    (_, k) => k,
                };
                out.push(Output {
                    topic: topic.clone(),
                    partition: None,
                    key: k,
                    value: value.encode(&r.value)?,
                    timestamp: r.timestamp,
                    headers: r.headers,
                });
                Ok(())
            }
        }
    }

    fn dead_letter(&self, source: &Source, timestamp: i64, e: &Error) -> Output {
        let mut headers = source.headers.clone();
        let mut h = |k: &str, v: String| headers.push((k.to_string(), Some(Bytes::from(v))));
        h("fjord.dlq.topic", source.topic.to_string());
        h("fjord.dlq.partition", source.partition.to_string());
        h("fjord.dlq.offset", source.offset.to_string());
        h("fjord.dlq.group", self.topology.app_id.clone());
        h("fjord.dlq.error", e.to_string());
        Output {
            topic: self.topology.dead_letter_topic.clone(),
            partition: None,
            key: source.key.clone(),
            value: source.value.clone(),
            timestamp,
            headers,
        }
    }

    /// Stream time: the largest of the windowed operators' (what the
    /// runtime commits beside the input offsets).
    pub fn stream_time(&self) -> Option<i64> {
        let windows = self
            .windowed
            .iter()
            .flatten()
            .map(WindowedAggregate::stream_time);
        let joins = self.joins.iter().flatten().map(StreamJoin::stream_time);
        windows.chain(joins).filter(|&t| t > i64::MIN).max()
    }

    /// Moves stream time forward to `t` without a record (an idle task,
    /// see `StreamsConfig::idle_timeout`): windows that close now emit
    /// their final results, returned as outputs like a record's.
    pub fn advance_stream_time(&mut self, t: i64) -> Result<Vec<Output>> {
        let mut out = Vec::new();
        for node in 0..self.joins.len() {
            let mut results = Vec::new();
            match self.joins[node].as_mut() {
                Some(join) => join.advance_stream_time(t, &mut results)?,
                None => continue,
            }
            for r in results {
                self.push(node, 0, r, &mut out)?;
            }
        }
        for node in 0..self.windowed.len() {
            let mut results = Vec::new();
            match self.windowed[node].as_mut() {
                Some(op) => op.try_advance_stream_time(t, &mut results)?,
                None => continue,
            }
            for r in results {
                self.push(node, 0, r, &mut out)?;
            }
        }
        Ok(out)
    }

    /// Sets stream time back to what was committed.
    pub fn restore_stream_time(&mut self, t: i64) {
        for op in self.windowed.iter_mut().flatten() {
            op.restore_stream_time(t);
        }
        for join in self.joins.iter_mut().flatten() {
            join.restore_stream_time(t);
        }
    }

    /// Ends a restore, once every changelog record is applied (the stores
    /// count their keys).
    pub fn finish_restore(&mut self) -> Result<()> {
        for op in self.windowed.iter_mut().flatten() {
            op.finish_restore()?;
        }
        for op in self.keyed.iter_mut().flatten() {
            op.finish_restore()?;
        }
        for t in self.tables.iter_mut().flatten() {
            t.finish_restore()?;
        }
        for s in self.subscriptions.iter_mut().flatten() {
            s.finish_restore()?;
        }
        Ok(())
    }

    /// Applies one record read from changelog topic `topic`
    /// (`<application-id>-<store>-changelog`; matched without building
    /// the names: this runs for every record of a restore).
    pub fn restore(&mut self, topic: &str, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let store = topic
            .strip_prefix(self.topology.app_id.as_str())
            .and_then(|t| t.strip_prefix('-'))
            .and_then(|t| t.strip_suffix("-changelog"))
            .unwrap_or_default();
        for op in self.windowed.iter_mut().flatten() {
            if store == op.store_name() {
                return op.restore_window(key, value);
            }
            if store.strip_suffix("-suppress") == Some(op.store_name()) {
                return op.restore_suppress(key, value);
            }
        }
        for op in self.keyed.iter_mut().flatten() {
            if store == op.store_name() {
                return op.restore(key, value);
            }
        }
        for t in self.tables.iter_mut().flatten() {
            if store == t.store_name() {
                return t.restore(key, value);
            }
        }
        for j in self.joins.iter_mut().flatten() {
            if store == j.store_name() {
                return j.restore(key, value);
            }
        }
        for s in self.subscriptions.iter_mut().flatten() {
            if store == s.store_name() {
                return s.restore(key, value);
            }
        }
        Err(Error::Topology(format!(
            "'{topic}' is no changelog of this topology"
        )))
    }

    /// The changelog records of every store since the last commit, by
    /// changelog topic.
    pub fn take_changelogs(&mut self) -> Vec<Output> {
        let app = self.topology.app_id.clone();
        let mut out = Vec::new();
        let mut all: Vec<StoreChanges> = self
            .windowed
            .iter_mut()
            .flatten()
            .flat_map(WindowedAggregate::take_changelog)
            .collect();
        all.extend(
            self.keyed
                .iter_mut()
                .flatten()
                .map(KeyedAggregate::take_changelog),
        );
        all.extend(
            self.tables
                .iter_mut()
                .flatten()
                .map(TableStore::take_changelog),
        );
        all.extend(
            self.joins
                .iter_mut()
                .flatten()
                .map(StreamJoin::take_changelog),
        );
        all.extend(
            self.subscriptions
                .iter_mut()
                .flatten()
                .map(SubscriptionStore::take_changelog),
        );
        for (store, changes) in all {
            let topic = format!("{app}-{store}-changelog");
            out.extend(changes.into_iter().map(|(key, value)| Output {
                topic: topic.clone(),
                partition: Some(self.partition),
                key: Some(key),
                value,
                timestamp: 0,
                headers: Vec::new(),
            }));
        }
        out
    }
}
