//! Building a topology: [`StreamsBuilder`], [`Stream`] and [`Table`].
//!
//! A topology is a graph of operators from source topics to sink topics,
//! built with [`StreamsBuilder`] and [`Stream`]'s methods, Kafka Streams'
//! DSL in Rust:
//!
//! ```
//! use fjord_streams::{Aggregate, Emit, Format, StreamsBuilder, TimeWindows, Value, WindowKind};
//!
//! let b = StreamsBuilder::new("auction-stats");
//! b.stream("bids", Format::String, Format::Json)
//!     .filter(|r| Ok(r.value.field("price").and_then(Value::as_f64).unwrap_or(0.0) > 0.0))
//!     .window_aggregate(
//!         "max-bid-per-minute",
//!         WindowKind::Time(TimeWindows::tumbling(60_000)),
//!         Aggregate::Max,
//!         |r| r.value.field("price").cloned().unwrap_or(Value::Null),
//!         Emit::Final,
//!         Some("bids-late"),
//!     )
//!     .to("bid-stats", Format::String, Format::Json);
//! let topology = b.build().unwrap();
//!
//! // One task per partition number of the inputs; the runtime feeds it
//! // records and writes what it returns.
//! let mut task = topology.task(0);
//! let out = task
//!     .process("bids", 0, 0, Some(b"bike"), Some(br#"{"price": 12}"#), 1_000, vec![])
//!     .unwrap();
//! assert!(out.is_empty()); // EMIT FINAL: nothing until the minute closes
//! let out = task
//!     .process("bids", 0, 1, Some(b"bike"), Some(br#"{"price": 5}"#), 61_000, vec![])
//!     .unwrap();
//! assert_eq!(out[0].topic, "bid-stats");
//! assert_eq!(out[0].value.as_deref(), Some(&b"12"[..]));
//! ```
//!
//! Per-record errors (an input that does not decode, a user function that
//! fails, an output that does not encode) never stop the task and are
//! never dropped silently: the input record goes to the dead-letter topic
//! (`<application-id>-dlq` unless set) unchanged, with the `fjord.dlq.*`
//! headers the auction's `bids-dlq` uses (topic, partition, offset, group
//! — the application id — and error).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::join::{JoinKind, Side};
use crate::record::Record;
use crate::topology::{
    EventTime, Graph, JoinSpec, Joiner, KeyOf, KeyedSpec, Node, Predicate, Topology, WindowedSpec,
};
use crate::value::Value;
use crate::windowed::{Emit, WindowKind};

/// Builds a topology for one application id.
#[derive(Clone)]
pub struct StreamsBuilder {
    graph: Rc<RefCell<Graph>>,
}

/// A stream of records inside a topology being built. Cheap to clone; each
/// method adds an operator and returns the stream after it.
#[derive(Clone)]
pub struct Stream {
    graph: Rc<RefCell<Graph>>,
    node: usize,
    port: usize,
    /// An operator since the source may have changed the key: a stateful
    /// operator then reads through a repartition topic.
    key_changed: bool,
}

impl StreamsBuilder {
    pub fn new(application_id: impl Into<String>) -> StreamsBuilder {
        StreamsBuilder {
            graph: Rc::new(RefCell::new(Graph {
                app_id: application_id.into(),
                ..Graph::default()
            })),
        }
    }

    /// Where records that fail go (default `<application-id>-dlq`).
    pub fn dead_letter_topic(&self, topic: impl Into<String>) -> &StreamsBuilder {
        self.graph.borrow_mut().dead_letter_topic = Some(topic.into());
        self
    }

    /// The records of `topic`, decoded with these formats, event time from
    /// their timestamps.
    pub fn stream(&self, topic: impl Into<String>, key: Format, value: Format) -> Stream {
        self.stream_with_time(topic, key, value, EventTime::RecordTimestamp)
    }

    /// As [`StreamsBuilder::stream`], event time taken as it says.
    pub fn stream_with_time(
        &self,
        topic: impl Into<String>,
        key: Format,
        value: Format,
        time: EventTime,
    ) -> Stream {
        add_source(
            &self.graph,
            Node::Source {
                topic: topic.into(),
                key,
                value,
                time,
                internal: false,
            },
        )
    }

    /// The topic `topic` read as a table (see `table`): a record replaces
    /// its key's row, a tombstone deletes it; the rows live in `store`.
    pub fn table(
        &self,
        topic: impl Into<String>,
        store: impl Into<String>,
        key: Format,
        value: Format,
    ) -> Table {
        let source = self.stream(topic, key, value);
        Table {
            changes: source.then(Node::Table(store.into())),
        }
    }

    /// The finished topology, checked: every stream ends in a sink or a
    /// store, and source topics are read once.
    pub fn build(&self) -> Result<Topology> {
        let g = self.graph.borrow();
        let mut topics = BTreeSet::new();
        for n in &g.nodes {
            if let Node::Source { topic, .. } = n {
                if !topics.insert(topic.clone()) {
                    return Err(Error::Topology(format!(
                        "topic '{topic}' is read by two sources: read it once and branch"
                    )));
                }
            }
        }
        if topics.is_empty() {
            return Err(Error::Topology("no source topic".into()));
        }
        let mut stores = BTreeSet::new();
        for n in &g.nodes {
            if let Node::KeyedTable(k) = n {
                if !k.agg.can_subtract() {
                    return Err(Error::Topology(format!(
                        "store '{}': {:?} cannot aggregate a table (a changed row must be taken \
                         back out): use count, sum, avg or collect_list, or aggregate the \
                         table's stream of changes",
                        k.store, k.agg
                    )));
                }
            }
            let store = match n {
                Node::Windowed(w) => &w.store,
                Node::Keyed(k) | Node::KeyedTable(k) => &k.store,
                Node::Table(store) => store,
                Node::ForeignKeyJoin {
                    role: crate::fk_join::FkRole::Register,
                    spec,
                } => {
                    if spec.kind == JoinKind::Outer {
                        return Err(Error::Topology(format!(
                            "foreign-key join '{}': only inner and left joins (a right row \
                             without left rows has no key in the result)",
                            spec.name
                        )));
                    }
                    &spec.store
                }
                _ => continue,
            };
            if !stores.insert(store.clone()) {
                return Err(Error::Topology(format!("two stores named '{store}'")));
            }
        }
        Ok(Topology {
            app_id: g.app_id.clone(),
            dead_letter_topic: g
                .dead_letter_topic
                .clone()
                .unwrap_or_else(|| format!("{}-dlq", g.app_id)),
            nodes: Arc::new(g.nodes.clone()),
            children: Arc::new(g.children.clone()),
        })
    }
}

/// Adds a source node (no parent) and returns the stream it starts.
fn add_source(graph: &Rc<RefCell<Graph>>, source: Node) -> Stream {
    let node = graph.borrow_mut().add(source, &[]);
    Stream {
        graph: graph.clone(),
        node,
        port: 0,
        key_changed: false,
    }
}

impl Stream {
    fn then(&self, node: Node) -> Stream {
        let id = self.graph.borrow_mut().add(node, &[(self.node, self.port)]);
        Stream {
            graph: self.graph.clone(),
            node: id,
            port: 0,
            key_changed: self.key_changed,
        }
    }

    /// As `then`, for an operator that may change the key.
    fn then_rekeyed(&self, node: Node) -> Stream {
        Stream {
            key_changed: true,
            ..self.then(node)
        }
    }

    /// Writes the stream to the internal topic `<application-id>-<name>-
    /// repartition` (partitioned by the current key: string keys as they
    /// are, so they meet the same keys of a topic keyed by strings, other
    /// keys as JSON, see `Format::RepartitionKey`; values as JSON) and
    /// reads it back: what comes after sees every record of a
    /// key in one task. Stateful operators do this by themselves after a
    /// key change.
    pub fn repartition(&self, name: &str) -> Stream {
        let topic = {
            let g = self.graph.borrow();
            format!("{}-{name}-repartition", g.app_id)
        };
        self.then(Node::Sink {
            topic: topic.clone(),
            key: Format::RepartitionKey,
            value: Format::Json,
        });
        add_source(
            &self.graph,
            Node::Source {
                topic,
                key: Format::RepartitionKey,
                value: Format::Json,
                time: EventTime::RecordTimestamp,
                internal: true,
            },
        )
    }

    /// This stream, repartitioned first if its key may have changed.
    fn partitioned_by_key(&self, store: &str) -> Stream {
        if self.key_changed {
            self.repartition(store)
        } else {
            self.clone()
        }
    }

    /// Sets each record's event time (a field of a value decoded in an
    /// earlier step, say); the key stays.
    pub fn set_timestamp(
        &self,
        f: impl Fn(&Record) -> Result<i64> + Send + Sync + 'static,
    ) -> Stream {
        self.update(move |r| {
            r.timestamp = f(r)?;
            Ok(())
        })
    }

    /// A step that changes records in place, but not their keys.
    fn update(&self, f: impl Fn(&mut Record) -> Result<()> + Send + Sync + 'static) -> Stream {
        self.then(Node::Map(Arc::new(move |mut r: Record| {
            f(&mut r)?;
            Ok(r)
        })))
    }

    /// Aggregates the records of each key, without windows: a table of
    /// key -> result, every update emitted (see `keyed`).
    pub fn aggregate(
        &self,
        store: impl Into<String>,
        agg: Aggregate,
        extract: impl Fn(&Record) -> Value + Send + Sync + 'static,
    ) -> Stream {
        let store = store.into();
        self.partitioned_by_key(&store).then(Node::Keyed(KeyedSpec {
            store,
            agg,
            extract: Arc::new(extract),
        }))
    }

    /// Joins each record with `table`'s row for its key now (KStream-KTable
    /// join): `joiner(record value, row)` is the result's value. Inner
    /// (`left` false): a record without a row is dropped; left join: it is
    /// joined with Null. Table updates join nothing (the stream side
    /// drives). The stream is repartitioned first if its key may have
    /// changed, so both sides of a key meet in one task; the table's topic
    /// must have as many partitions as the stream's.
    pub fn join_table(
        &self,
        table: &Table,
        joiner: impl Fn(&Value, &Value) -> Result<Value> + Send + Sync + 'static,
        left: bool,
    ) -> Stream {
        let name = format!("join-{}", table.changes.node);
        self.partitioned_by_key(&name).then(Node::StreamTableJoin {
            table: table.changes.node,
            joiner: Arc::new(joiner),
            left,
        })
    }

    /// Joins this stream with `other` within a time window (KStream.join
    /// with JoinWindows, see `join`): records of the same key at most
    /// `within_ms` apart meet, records may arrive `grace_ms` late; `joiner`
    /// gets (left value, right value), Null for no match (left and outer
    /// joins, emitted when the window closes). Late records go to
    /// `late_topic`. Both streams are repartitioned first if their key may
    /// have changed.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &self,
        other: &Stream,
        name: &str,
        kind: JoinKind,
        within_ms: i64,
        grace_ms: i64,
        joiner: impl Fn(&Value, &Value) -> Result<Value> + Send + Sync + 'static,
        late_topic: Option<&str>,
    ) -> Stream {
        let spec = Arc::new(JoinSpec {
            name: name.to_string(),
            kind,
            within_ms,
            grace_ms,
            joiner: Arc::new(joiner),
            late_topic: late_topic.map(str::to_string),
        });
        let left = self.partitioned_by_key(&format!("{name}-left"));
        let right = other.partitioned_by_key(&format!("{name}-right"));
        let owner = self.graph.borrow().nodes.len();
        let l = left.then(Node::JoinSide {
            owner,
            side: Side::Left,
            spec: spec.clone(),
        });
        debug_assert_eq!(l.node, owner);
        let r = right.then(Node::JoinSide {
            owner,
            side: Side::Right,
            spec,
        });
        l.merge(&[r])
    }

    /// Keeps the records for which `f` is true.
    pub fn filter(&self, f: impl Fn(&Record) -> Result<bool> + Send + Sync + 'static) -> Stream {
        self.then(Node::Filter(Arc::new(f)))
    }

    /// Replaces each record (key, value, timestamp or headers).
    pub fn map(&self, f: impl Fn(Record) -> Result<Record> + Send + Sync + 'static) -> Stream {
        self.then_rekeyed(Node::Map(Arc::new(f)))
    }

    /// Replaces each value, keeping the rest.
    pub fn map_values(
        &self,
        f: impl Fn(&Record) -> Result<Value> + Send + Sync + 'static,
    ) -> Stream {
        self.update(move |r| {
            r.value = f(r)?;
            Ok(())
        })
    }

    /// Gives each record a new key (the next stateful operator then needs
    /// its input repartitioned by it, which the runtime does).
    pub fn select_key(
        &self,
        f: impl Fn(&Record) -> Result<Value> + Send + Sync + 'static,
    ) -> Stream {
        self.map(move |mut r| {
            r.key = f(&r)?;
            // A windowed result given a key of its own is no longer keyed
            // by its window (as Kafka Streams' Windowed<K> mapped away):
            // sinks write the new key alone.
            r.window = None;
            r.session = false;
            Ok(r)
        })
    }

    /// Zero or more records per record.
    pub fn flat_map(
        &self,
        f: impl Fn(Record) -> Result<Vec<Record>> + Send + Sync + 'static,
    ) -> Stream {
        self.then_rekeyed(Node::FlatMap(Arc::new(f)))
    }

    /// Sees each record (logging, metrics) and passes it on unchanged.
    pub fn peek(&self, f: impl Fn(&Record) + Send + Sync + 'static) -> Stream {
        self.then(Node::Peek(Arc::new(f)))
    }

    /// One stream per predicate: a record goes to the first whose
    /// predicate is true, and nowhere if none is (add a last `|_| Ok(true)`
    /// to keep the rest).
    pub fn branch(&self, predicates: Vec<Predicate>) -> Vec<Stream> {
        let n = predicates.len();
        let id = self
            .graph
            .borrow_mut()
            .add(Node::Branch(predicates), &[(self.node, self.port)]);
        (0..n)
            .map(|port| Stream {
                graph: self.graph.clone(),
                node: id,
                port,
                key_changed: self.key_changed,
            })
            .collect()
    }

    /// This stream and `others` as one.
    pub fn merge(&self, others: &[Stream]) -> Stream {
        let mut parents = vec![(self.node, self.port)];
        parents.extend(others.iter().map(|s| (s.node, s.port)));
        let id = self.graph.borrow_mut().add(Node::Merge, &parents);
        Stream {
            graph: self.graph.clone(),
            node: id,
            port: 0,
            key_changed: self.key_changed || others.iter().any(|s| s.key_changed),
        }
    }

    /// Aggregates the records of each key per window (see `windowed`),
    /// `extract` choosing the value aggregated. The result stream's
    /// records carry their window; a sink writes windowed keys as Kafka
    /// Streams does. Late records go to `late_topic` (with None they are
    /// counted and dropped).
    pub fn window_aggregate(
        &self,
        store: impl Into<String>,
        kind: WindowKind,
        agg: Aggregate,
        extract: impl Fn(&Record) -> Value + Send + Sync + 'static,
        emit: Emit,
        late_topic: Option<&str>,
    ) -> Stream {
        let store = store.into();
        self.partitioned_by_key(&store)
            .then(Node::Windowed(WindowedSpec {
                store,
                kind,
                agg,
                extract: Arc::new(extract),
                emit,
                late_topic: late_topic.map(str::to_string),
            }))
    }

    /// Writes the stream to `topic`.
    pub fn to(&self, topic: impl Into<String>, key: Format, value: Format) {
        self.then(Node::Sink {
            topic: topic.into(),
            key,
            value,
        });
    }
}

/// A table inside a topology being built (see `table`).
#[derive(Clone)]
pub struct Table {
    /// The stream of its changes (each record with its old value).
    changes: Stream,
}

impl Table {
    /// The table's changes as a stream: a record per update, a tombstone
    /// (null value) per delete.
    pub fn to_stream(&self) -> Stream {
        self.changes.clone()
    }

    /// Joins this table with `other` on the key (KTable-KTable join):
    /// every change of either side emits the joined row for its key as it
    /// is now, `joiner(left row, right row)` with Null for a missing row
    /// (left join: only rows of this table; outer: rows of either), and a
    /// tombstone when a joined row goes. Both tables' topics must have as
    /// many partitions (they meet in one task).
    pub fn join(
        &self,
        other: &Table,
        kind: JoinKind,
        joiner: impl Fn(&Value, &Value) -> Result<Value> + Send + Sync + 'static,
    ) -> Stream {
        let joiner: Joiner = Arc::new(joiner);
        let (l, r) = (self.changes.node, other.changes.node);
        let left = self.changes.then(Node::TableJoinSide {
            other: r,
            side: Side::Left,
            kind,
            joiner: joiner.clone(),
        });
        let right = other.changes.then(Node::TableJoinSide {
            other: l,
            side: Side::Right,
            kind,
            joiner,
        });
        left.merge(&[right])
    }

    /// Joins this table with `other` on a foreign key (KTable.join with a
    /// foreign-key extractor, KIP-213; see `fk_join`): each row of this
    /// table names a row of `other` by `foreign_key(row)` (Null: none),
    /// and the result, keyed by this table's key, is `joiner(row, other's
    /// row)`, emitted again whenever either row changes; inner join: a
    /// tombstone when there is no row of `other`; left join: joined with
    /// Null. The tables may be partitioned differently: the sides talk
    /// through the internal topics `<application-id>-<name>-subscription-
    /// registration-topic` and `...-subscription-response-topic`, and the
    /// subscriptions live in the store `<name>-subscription-store`.
    /// `JoinKind::Outer` is refused when the topology is built.
    pub fn join_foreign_key(
        &self,
        other: &Table,
        name: &str,
        kind: JoinKind,
        foreign_key: impl Fn(&Value) -> Value + Send + Sync + 'static,
        joiner: impl Fn(&Value, &Value) -> Result<Value> + Send + Sync + 'static,
    ) -> Stream {
        let node = crate::fk_join::build(
            &self.changes.graph,
            self.changes.node,
            other.changes.node,
            name,
            kind,
            Arc::new(foreign_key),
            Arc::new(joiner),
        );
        Stream {
            graph: self.changes.graph.clone(),
            node,
            port: 0,
            // Answers come to the left key's partition.
            key_changed: false,
        }
    }

    /// Aggregates the table's rows by `new_key` (KGroupedTable.aggregate):
    /// a changed row leaves its old group (subtracted) and joins its new
    /// one, through a repartition topic; every group's update is emitted.
    /// Only functions that can take a value back out (count, sum, avg,
    /// collect_list) are accepted, checked when the topology is built.
    pub fn group_by_aggregate(
        &self,
        store: impl Into<String>,
        new_key: impl Fn(&Record) -> Result<Value> + Send + Sync + 'static,
        agg: Aggregate,
        extract: impl Fn(&Record) -> Value + Send + Sync + 'static,
    ) -> Stream {
        let store = store.into();
        let new_key: Arc<KeyOf> = Arc::new(new_key);
        self.changes
            .then_rekeyed(Node::FlatMap(Arc::new(move |r| {
                crate::table::split_change(r, &*new_key)
            })))
            .repartition(&store)
            .then(Node::KeyedTable(KeyedSpec {
                store,
                agg,
                extract: Arc::new(extract),
            }))
    }
}
