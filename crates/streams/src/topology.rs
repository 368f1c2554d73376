//! A topology: the graph of operators an application runs, from source
//! topics to sink topics (built with `builder`), and what the runtime asks
//! of it: its topics, its stores' changelogs, and a task per partition
//! number ([`Topology::task`], see `task`).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::aggregate::Aggregate;
use crate::error::Result;
use crate::fk_join::{FkJoinSpec, FkRole, SubscriptionStore};
use crate::format::Format;
use crate::join::{JoinKind, Side, StreamJoin, ValueJoiner};
use crate::keyed::KeyedAggregate;
use crate::kv::StateLimits;
use crate::record::Record;
use crate::table::TableStore;
pub use crate::task::Task;
use crate::value::Value;
use crate::windowed::{Emit, WindowKind, WindowedAggregate};

pub(crate) type Predicate = Arc<dyn Fn(&Record) -> Result<bool> + Send + Sync>;
pub(crate) type Mapper = Arc<dyn Fn(Record) -> Result<Record> + Send + Sync>;
pub(crate) type FlatMapper = Arc<dyn Fn(Record) -> Result<Vec<Record>> + Send + Sync>;
pub(crate) type Peeker = Arc<dyn Fn(&Record) + Send + Sync>;
/// A key computed from a record.
pub(crate) type KeyOf = dyn Fn(&Record) -> Result<Value> + Send + Sync;
/// Two joined values (the right one Null for an unmatched left record).
pub(crate) type Joiner = Arc<dyn Fn(&Value, &Value) -> Result<Value> + Send + Sync>;

/// Where a source record's event time comes from.
#[derive(Clone)]
pub enum EventTime {
    /// The record's timestamp.
    RecordTimestamp,
    /// A field of the value holding epoch milliseconds (records without
    /// it go to the dead-letter topic).
    Field(String),
}

#[derive(Clone)]
pub(crate) enum Node {
    Source {
        topic: String,
        key: Format,
        value: Format,
        time: EventTime,
        /// A repartition topic the runtime creates (not a user's input).
        internal: bool,
    },
    Filter(Predicate),
    Map(Mapper),
    FlatMap(FlatMapper),
    Peek(Peeker),
    /// Child port i takes the records whose first true predicate is i.
    Branch(Vec<Predicate>),
    /// Passes everything on (several parents).
    Merge,
    Windowed(WindowedSpec),
    Keyed(KeyedSpec),
    /// A table aggregation: records marked "subtract" are taken out.
    KeyedTable(KeyedSpec),
    /// A table materialized from its input (upserts and deletes).
    Table(String),
    /// One side of a stream-stream join whose state the task keeps at node
    /// `owner` (the left side's node).
    JoinSide {
        owner: usize,
        side: Side,
        spec: Arc<JoinSpec>,
    },
    /// One side of a table-table join on the key: a change of this side's
    /// table joins the other table's row now.
    TableJoinSide {
        other: usize,
        side: Side,
        kind: JoinKind,
        joiner: Joiner,
    },
    /// A node of a foreign-key table-table join (see `fk_join`).
    ForeignKeyJoin {
        role: FkRole,
        spec: Arc<FkJoinSpec>,
    },
    /// A stream joined with the table materialized at node `table`.
    StreamTableJoin {
        table: usize,
        joiner: Joiner,
        left: bool,
    },
    Sink {
        topic: String,
        key: Format,
        value: Format,
    },
}

#[derive(Clone)]
pub(crate) struct WindowedSpec {
    pub(crate) store: String,
    pub(crate) kind: WindowKind,
    pub(crate) agg: Aggregate,
    pub(crate) extract: crate::windowed::Extract,
    pub(crate) emit: Emit,
    pub(crate) late_topic: Option<String>,
}

/// A stream-stream join's settings.
pub(crate) struct JoinSpec {
    pub(crate) name: String,
    pub(crate) kind: JoinKind,
    pub(crate) within_ms: i64,
    pub(crate) grace_ms: i64,
    pub(crate) joiner: ValueJoiner,
    pub(crate) late_topic: Option<String>,
}

#[derive(Clone)]
pub(crate) struct KeyedSpec {
    pub(crate) store: String,
    pub(crate) agg: Aggregate,
    pub(crate) extract: crate::windowed::Extract,
}

#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) app_id: String,
    pub(crate) dead_letter_topic: Option<String>,
    pub(crate) nodes: Vec<Node>,
    /// Per node: (child, port) edges.
    pub(crate) children: Vec<Vec<(usize, usize)>>,
}

impl Graph {
    pub(crate) fn add(&mut self, node: Node, parents: &[(usize, usize)]) -> usize {
        let id = self.nodes.len();
        self.nodes.push(node);
        self.children.push(Vec::new());
        for &(parent, port) in parents {
            self.children[parent].push((id, port));
        }
        id
    }
}

/// A built topology: shareable between tasks and threads.
#[derive(Clone)]
pub struct Topology {
    pub(crate) app_id: String,
    pub(crate) dead_letter_topic: String,
    pub(crate) nodes: Arc<Vec<Node>>,
    pub(crate) children: Arc<Vec<Vec<(usize, usize)>>>,
}

impl Topology {
    pub fn application_id(&self) -> &str {
        &self.app_id
    }

    /// The topics the topology reads, its repartition topics included.
    pub fn source_topics(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Source { topic, .. } => Some(topic.clone()),
                _ => None,
            })
            .collect()
    }

    /// The source topics in groups whose records a task takes in
    /// timestamp order together: the inputs of one sub-topology in Kafka
    /// Streams' sense, connected through operators, joins or a table's
    /// store. A repartition topic starts a sub-topology of its own (its
    /// sink and source are not connected), so a task does not hold its
    /// inputs back waiting for the topic it feeds.
    pub(crate) fn input_groups(&self) -> Vec<Vec<String>> {
        let n = self.nodes.len();
        let mut root: Vec<usize> = (0..n).collect();
        fn find(root: &mut [usize], mut i: usize) -> usize {
            while root[i] != i {
                root[i] = root[root[i]];
                i = root[i];
            }
            i
        }
        let mut union = |a: usize, b: usize| {
            let (ra, rb) = (find(&mut root, a), find(&mut root, b));
            root[ra] = rb;
        };
        let mut first_of_topic: std::collections::BTreeMap<&str, usize> = Default::default();
        for (i, node) in self.nodes.iter().enumerate() {
            for &(child, _) in &self.children[i] {
                union(i, child);
            }
            match node {
                Node::JoinSide { owner, .. } => union(i, *owner),
                Node::TableJoinSide { other, .. } => union(i, *other),
                Node::StreamTableJoin { table, .. } => union(i, *table),
                Node::Source { topic, .. } => union(i, *first_of_topic.entry(topic).or_insert(i)),
                _ => {}
            }
        }
        let mut groups: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Node::Source { topic, .. } = node {
                let group = groups.entry(find(&mut root, i)).or_default();
                if !group.contains(topic) {
                    group.push(topic.clone());
                }
            }
        }
        groups.into_values().collect()
    }

    /// The user's input topics (the repartition topics apart): they must
    /// be co-partitioned, and give the task count.
    pub fn input_topics(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Source {
                    topic,
                    internal: false,
                    ..
                } => Some(topic.clone()),
                _ => None,
            })
            .collect()
    }

    /// The topics the topology writes (sinks, late-data topics and the
    /// dead-letter topic), changelogs apart.
    pub fn output_topics(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for n in self.nodes.iter() {
            match n {
                Node::Sink { topic, .. } => {
                    out.insert(topic.clone());
                }
                Node::Windowed(w) => {
                    if let Some(t) = &w.late_topic {
                        out.insert(t.clone());
                    }
                }
                Node::JoinSide { spec, .. } => {
                    if let Some(t) = &spec.late_topic {
                        out.insert(t.clone());
                    }
                }
                _ => {}
            }
        }
        out.insert(self.dead_letter_topic.clone());
        out.into_iter().collect()
    }

    /// Every state store's changelog topic (Kafka Streams' naming).
    pub fn changelog_topics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in self.nodes.iter() {
            match n {
                Node::Windowed(w) => {
                    out.push(format!("{}-{}-changelog", self.app_id, w.store));
                    if w.emit == Emit::Final {
                        out.push(format!("{}-{}-suppress-changelog", self.app_id, w.store));
                    }
                }
                Node::Keyed(k) | Node::KeyedTable(k) => {
                    out.push(format!("{}-{}-changelog", self.app_id, k.store))
                }
                Node::Table(store) => out.push(format!("{}-{store}-changelog", self.app_id)),
                // One changelog per join, named at its left side.
                Node::JoinSide {
                    side: Side::Left,
                    spec,
                    ..
                } => out.push(format!("{}-{}-join-changelog", self.app_id, spec.name)),
                Node::ForeignKeyJoin {
                    role: FkRole::Register,
                    spec,
                } => out.push(format!("{}-{}-changelog", self.app_id, spec.store)),
                _ => {}
            }
        }
        out
    }

    /// A fresh task for partition number `partition` of the inputs, its
    /// stores in memory.
    pub fn task(&self, partition: i32) -> Task {
        self.task_with_state(partition, &StateLimits::in_memory())
            .expect("in-memory stores open")
    }

    /// Key-value stores (aggregations, time and session window stores,
    /// tables) a task has: the ones that share its memory budget.
    pub fn key_value_stores(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| match n {
                // Sliding windows keep their records in memory.
                Node::Windowed(w) => !matches!(w.kind, WindowKind::Sliding(_)),
                _ => matches!(
                    n,
                    Node::Keyed(_)
                        | Node::KeyedTable(_)
                        | Node::Table(_)
                        | Node::ForeignKeyJoin {
                            role: FkRole::Register,
                            ..
                        }
                ),
            })
            .count()
    }

    /// A fresh task whose key-value stores spill under `limits` (each
    /// store gets its share of the budget).
    pub fn task_with_state(&self, partition: i32, limits: &StateLimits) -> Result<Task> {
        let limits = &StateLimits {
            dir: limits.dir.clone(),
            cache_bytes: limits.cache_bytes / self.key_value_stores().max(1),
        };
        let windowed = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Windowed(w) => {
                    let mut op = WindowedAggregate::new(
                        w.store.clone(),
                        w.kind,
                        w.agg.clone(),
                        w.extract.clone(),
                        w.emit,
                        Format::String,
                    );
                    if let Some(t) = &w.late_topic {
                        op = op.late_to(t.clone());
                    }
                    Some(op.with_state(limits))
                }
                _ => None,
            })
            .map(Option::transpose)
            .collect::<Result<_>>()?;
        let keyed = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Keyed(k) | Node::KeyedTable(k) => Some(KeyedAggregate::new(
                    k.store.clone(),
                    k.agg.clone(),
                    k.extract.clone(),
                    Format::String,
                    limits,
                )),
                _ => None,
            })
            .map(Option::transpose)
            .collect::<Result<_>>()?;
        let joins = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| match n {
                Node::JoinSide { owner, spec, .. } if *owner == i => Some(StreamJoin::new(
                    &spec.name,
                    spec.kind,
                    spec.within_ms,
                    spec.grace_ms,
                    spec.joiner.clone(),
                    spec.late_topic.clone(),
                )),
                _ => None,
            })
            .collect();
        let tables = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Table(store) => Some(TableStore::new(store.clone(), Format::String, limits)),
                _ => None,
            })
            .map(Option::transpose)
            .collect::<Result<_>>()?;
        let subscriptions = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::ForeignKeyJoin {
                    role: FkRole::Register,
                    spec,
                } => Some(SubscriptionStore::new(spec.store.clone(), limits)),
                _ => None,
            })
            .map(Option::transpose)
            .collect::<Result<_>>()?;
        Ok(Task {
            topology: self.clone(),
            partition,
            windowed,
            keyed,
            tables,
            joins,
            subscriptions,
            dead_letters: 0,
            processed: 0,
        })
    }
}
