//! The foreign-key table-table join (Kafka Streams' `KTable.join(other,
//! foreignKeyExtractor, joiner)`, KIP-213), inner and left: each row of
//! the left table names a row of the right table by a foreign key taken
//! from its value, and the result is a table keyed by the LEFT key whose
//! row is `joiner(left row, right row of its foreign key)` (left join:
//! the right row Null when there is none; inner join: no row then).
//!
//! The two tables are partitioned by different keys, so a left row and the
//! right row it names are in general in two tasks. As in Kafka Streams the
//! two sides talk through two internal topics (`<application-id>-<name>-`
//! prefixed, created by the runtime like repartition topics):
//!
//! 1. A left change (key k, old row, new row) becomes a *subscription* on
//!    `<app>-<name>-subscription-registration-topic`, keyed by the new
//!    foreign key, so it reaches the task of the right row: "k wants fk,
//!    for the row whose hash is h". If the foreign key changed, an
//!    *unsubscription* goes to the old foreign key as well.
//! 2. The right side keeps the subscriptions in a store
//!    (`<name>-subscription-store`, changelog
//!    `<app>-<name>-subscription-store-changelog`) and answers a
//!    subscription with a *response* on
//!    `<app>-<name>-subscription-response-topic`, keyed by the left key
//!    (so it reaches the left row's task): (h, the right row now).
//! 3. A right change sends a response with its new row to every
//!    subscription of its key.
//! 4. The left side takes a response only if h is still the hash of its
//!    row for k (read from the left table's store): a response to an
//!    older value of the row is stale (the row changed since, and the
//!    response to the new value is on its way) and is dropped. Results are
//!    therefore never emitted out of order with the left updates. A
//!    matching response emits `joiner(left row now, right row)`, or a
//!    tombstone (inner join without a right row, or the left row gone).
//!
//! A left change that no right row can answer (the row deleted, or its
//! foreign key Null) is answered by the left side itself, through the
//! response topic (port 1 of the subscribing node) rather than emitted
//! directly: it is then checked against the row like any response, and
//! the response topic stays an input of its own (a direct emission would
//! put the left input and the response topic in one input group, and the
//! runtime holds a group back while one of its inputs is empty: the
//! response topic is empty whenever nothing is in flight).
//!
//! Tombstones of the result: an inner join answers a brand-new left row
//! only if its right row exists; any later change of the row is answered
//! either way, so a row whose new foreign key has no match has its old
//! result retracted (and a change of a row that had no result emits a
//! redundant tombstone, harmless for a table). A deleted left row emits a
//! tombstone, as Kafka Streams does, whether or not it had a result.
//!
//! Encodings (internal; only this module reads them):
//! - registration topic: key = the foreign key in the right table's key
//!   format (so it lands in the partition of the right row's key under the
//!   producer's partitioner); value = JSON
//!   `{"op": "subscribe"|"subscribe-if-found"|"unsubscribe", "key": hex
//!   of the left key's bytes in the left table's key format, "hash": hex
//!   of the left row's hash}` (no hash for "unsubscribe").
//! - response topic: key = the left key's bytes in the left table's key
//!   format (the left row's partition); value = JSON `{"hash": hex or
//!   null (the row deleted), "value": the right row or null}`.
//! - subscription store and its changelog: key = the foreign key as the
//!   tables' stores key rows (`Format::String`); value = JSON object of
//!   left key (hex) -> hash (hex); a tombstone when no subscription is
//!   left. Kafka Streams keys its store by (foreign key, left key) and
//!   scans a prefix; our `KvStore` has no ordered scan, so a foreign key's
//!   subscriptions are one entry (a foreign key referenced by very many
//!   rows makes a large entry, rewritten on each change).
//!
//! The hash is 128-bit FNV-1a over the row's JSON (Kafka Streams: murmur3
//! 128 over its serialized bytes): stable across processes and versions,
//! since it is written to topics and changelogs.
//!
//! Differences from Kafka Streams: the response goes to the left key's
//! partition by the default partitioner (Kafka Streams carries the left
//! partition in the subscription, for custom partitioners); a result's
//! timestamp is the one of the change that caused it (the left change's,
//! or the right change's); a right change that leaves the row as it was
//! sends nothing; outer joins are not offered (neither are they in Kafka
//! Streams). The result is a stream of the result table's updates, as
//! `Table::join`'s: keyed by the left key, `Record::old` unknown (None).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::{json_bytes, Format};
use crate::join::JoinKind;
use crate::kv::{KvStore, StateLimits};
use crate::record::Record;
use crate::store::{ChangeCapture, StoreChanges};
use crate::table::TableStore;
use crate::topology::{EventTime, Graph, Joiner, Node};
use crate::value::Value;

/// A foreign key taken from a left row (Null: the row names no right row).
pub(crate) type ForeignKeyOf = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// One foreign-key join's settings, shared by its four nodes.
pub(crate) struct FkJoinSpec {
    pub(crate) name: String,
    pub(crate) kind: JoinKind,
    /// The left and right tables' nodes (`Node::Table`).
    pub(crate) left_table: usize,
    pub(crate) right_table: usize,
    /// The key formats of the tables' topics: the internal topics' keys
    /// are written in them so they land where the tables' rows are.
    pub(crate) left_key: Format,
    pub(crate) right_key: Format,
    pub(crate) foreign_key: ForeignKeyOf,
    pub(crate) joiner: Joiner,
    /// The subscription store's name (`<name>-subscription-store`).
    pub(crate) store: String,
}

/// What one node of a foreign-key join does (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FkRole {
    /// Left side, after the left table: a change becomes subscriptions
    /// (port 0, to the registration topic) or an answer to itself (port
    /// 1, to the response topic).
    Subscribe,
    /// Right side, after the registration topic: registers or removes a
    /// subscription in the store kept at this node, and answers it.
    Register,
    /// Right side, after the right table: answers every subscription of
    /// the changed row's key, from the store at node `store`.
    RightChanged { store: usize },
    /// Left side, after the response topic: the joined result, unless the
    /// response is stale.
    Respond,
}

/// Adds the nodes of a foreign-key join of the tables at nodes `left` and
/// `right` to the graph; returns the node whose port 0 is the result.
pub(crate) fn build(
    graph: &Rc<RefCell<Graph>>,
    left: usize,
    right: usize,
    name: &str,
    kind: JoinKind,
    foreign_key: ForeignKeyOf,
    joiner: Joiner,
) -> usize {
    let mut g = graph.borrow_mut();
    let app = g.app_id.clone();
    let registration = format!("{app}-{name}-subscription-registration-topic");
    let response = format!("{app}-{name}-subscription-response-topic");
    let spec = Arc::new(FkJoinSpec {
        name: name.to_string(),
        kind,
        left_table: left,
        right_table: right,
        left_key: table_key_format(&g, left),
        right_key: table_key_format(&g, right),
        foreign_key,
        joiner,
        store: format!("{name}-subscription-store"),
    });
    let node = |role| Node::ForeignKeyJoin {
        role,
        spec: spec.clone(),
    };
    // The response topic's records carry the left key's bytes as they are.
    let response_sink = || Node::Sink {
        topic: response.clone(),
        key: Format::Bytes,
        value: Format::Json,
    };
    let source = |topic: &str, key| Node::Source {
        topic: topic.to_string(),
        key,
        value: Format::Json,
        time: EventTime::RecordTimestamp,
        internal: true,
    };
    let subscribe = g.add(node(FkRole::Subscribe), &[(left, 0)]);
    g.add(
        Node::Sink {
            topic: registration.clone(),
            key: spec.right_key,
            value: Format::Json,
        },
        &[(subscribe, 0)],
    );
    g.add(response_sink(), &[(subscribe, 1)]);
    let subscriptions = g.add(source(&registration, spec.right_key), &[]);
    let register = g.add(node(FkRole::Register), &[(subscriptions, 0)]);
    g.add(response_sink(), &[(register, 0)]);
    let changed = g.add(
        node(FkRole::RightChanged { store: register }),
        &[(right, 0)],
    );
    g.add(response_sink(), &[(changed, 0)]);
    let responses = g.add(source(&response, spec.left_key), &[]);
    g.add(node(FkRole::Respond), &[(responses, 0)])
}

/// The key format of the topic a table node reads (its parent source's).
fn table_key_format(g: &Graph, table: usize) -> Format {
    g.nodes
        .iter()
        .enumerate()
        .find_map(|(i, n)| match n {
            Node::Source { key, .. } if g.children[i].iter().any(|&(c, _)| c == table) => {
                Some(*key)
            }
            _ => None,
        })
        .expect("a table is read from a source")
}

/// The subscriptions a right-side task holds: foreign key -> (left key ->
/// hash of the left row that subscribed), with a changelog.
pub struct SubscriptionStore {
    store: String,
    /// Foreign key (as tables key rows) -> Struct of left key (hex) ->
    /// hash (hex).
    subscriptions: KvStore,
    changelog: ChangeCapture,
}

impl SubscriptionStore {
    pub fn new(store: impl Into<String>, limits: &StateLimits) -> Result<SubscriptionStore> {
        let store = store.into();
        Ok(SubscriptionStore {
            subscriptions: KvStore::open(&store, limits)?,
            store,
            changelog: ChangeCapture::default(),
        })
    }

    pub fn store_name(&self) -> &str {
        &self.store
    }

    /// Foreign keys with a subscription.
    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// Sets (Some) or removes (None) left key `left`'s subscription to
    /// foreign key `fk`.
    fn set(&mut self, fk: Bytes, left: String, hash: Option<String>) -> Result<()> {
        let now = self.subscriptions.update(fk.clone(), |entry| {
            let mut subs = match entry.take() {
                Some(Value::Struct(subs)) => subs,
                _ => BTreeMap::new(),
            };
            match hash {
                Some(h) => subs.insert(left, Value::String(h)),
                None => subs.remove(&left),
            };
            *entry = (!subs.is_empty()).then_some(Value::Struct(subs));
            entry.clone()
        })?;
        self.changelog
            .record(fk, now.map(|v| Bytes::from(json_bytes(&v))));
        Ok(())
    }

    /// The subscriptions to `fk`: (left key hex, hash hex).
    fn subscribers(&mut self, fk: &[u8]) -> Result<Vec<(String, String)>> {
        Ok(match self.subscriptions.get(fk)? {
            Some(Value::Struct(subs)) => subs
                .into_iter()
                .filter_map(|(k, h)| Some((k, h.as_str()?.to_string())))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Applies one changelog record (restoring a task elsewhere).
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.subscriptions.restore(key, value)
    }

    /// After the last changelog record (see `KvStore::finish_restore`).
    pub fn finish_restore(&mut self) -> Result<()> {
        self.subscriptions.finish_restore()
    }

    pub fn take_changelog(&mut self) -> StoreChanges {
        (self.store.clone(), self.changelog.take())
    }
}

/// Runs `r` through a foreign-key join node; returns (port, record) pairs
/// for the task to pass on. `node` is this node; `tables` and
/// `subscriptions` the task's stores by node.
pub(crate) fn process(
    role: FkRole,
    spec: &FkJoinSpec,
    node: usize,
    r: Record,
    tables: &mut [Option<TableStore>],
    subscriptions: &mut [Option<SubscriptionStore>],
) -> Result<Vec<(usize, Record)>> {
    match role {
        FkRole::Subscribe => subscribe(spec, r),
        FkRole::Register => {
            let store = subscriptions[node].as_mut().expect("made with the task");
            register(store, table(tables, spec.right_table), r)
        }
        FkRole::RightChanged { store } => {
            let store = subscriptions[store].as_mut().expect("made with the task");
            right_changed(store, r)
        }
        FkRole::Respond => respond(spec, table(tables, spec.left_table), r),
    }
}

fn table(tables: &mut [Option<TableStore>], node: usize) -> &mut TableStore {
    tables[node]
        .as_mut()
        .expect("a foreign-key join names table nodes")
}

/// What a subscription asks of the right side.
const SUBSCRIBE: &str = "subscribe";
/// Subscribe, but answer only if the right row exists (an inner join's new
/// left row: without a match there is no result to retract).
const SUBSCRIBE_IF_FOUND: &str = "subscribe-if-found";
const UNSUBSCRIBE: &str = "unsubscribe";

/// A record made by the join from the one that caused it (its time and
/// headers kept).
fn derived(r: &Record, key: Value, value: Value) -> Record {
    Record {
        key,
        value,
        timestamp: r.timestamp,
        headers: r.headers.clone(),
        source: r.source.clone(),
        old: None,
        window: None,
        session: false,
    }
}

fn response(r: &Record, left_key: Bytes, hash: Option<String>, right: Value) -> Record {
    let hash = hash.map_or(Value::Null, Value::String);
    derived(
        r,
        Value::Bytes(left_key),
        Value::record([("hash", hash), ("value", right)]),
    )
}

/// Left side: a left table change.
fn subscribe(spec: &FkJoinSpec, r: Record) -> Result<Vec<(usize, Record)>> {
    let left_key = spec
        .left_key
        .encode_key(&r.key, "a foreign-key join's left row")?;
    let old = r.old.clone().unwrap_or(Value::Null);
    let foreign_key = |row: &Value| -> Result<(Value, Option<Bytes>)> {
        let fk = if row.is_null() {
            Value::Null
        } else {
            (spec.foreign_key)(row)
        };
        let bytes = spec.right_key.encode(&fk)?;
        Ok((fk, bytes))
    };
    let (old_fk, old_bytes) = foreign_key(&old)?;
    let (new_fk, new_bytes) = foreign_key(&r.value)?;
    let hash = (!r.value.is_null()).then(|| value_hash(&r.value));
    let key_hex = Value::String(hex(&left_key));
    let mut out = Vec::new();
    if old_bytes.is_some() && old_bytes != new_bytes {
        let msg = Value::record([("op", UNSUBSCRIBE.into()), ("key", key_hex.clone())]);
        out.push((0, derived(&r, old_fk, msg)));
    }
    if new_bytes.is_some() {
        let op = if spec.kind == JoinKind::Inner && old.is_null() {
            SUBSCRIBE_IF_FOUND
        } else {
            SUBSCRIBE
        };
        let msg = Value::record([
            ("op", op.into()),
            ("key", key_hex),
            (
                "hash",
                Value::String(hash.expect("a row with a foreign key")),
            ),
        ]);
        out.push((0, derived(&r, new_fk, msg)));
    } else {
        // No right row can answer: the left side does, through the
        // response topic. Needed if a result may exist (to retract it) or
        // a left join has one (with Null).
        let had = !old.is_null();
        let has = !r.value.is_null() && spec.kind == JoinKind::Left;
        if had || has {
            out.push((1, response(&r, left_key, hash, Value::Null)));
        }
    }
    Ok(out)
}

/// Right side: a subscription (or unsubscription) from the left side.
fn register(
    store: &mut SubscriptionStore,
    right: &mut TableStore,
    r: Record,
) -> Result<Vec<(usize, Record)>> {
    let fk = Format::String.encode_key(&r.key, "a foreign-key subscription")?;
    let field = |name: &str| {
        r.value
            .field(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::Decode(format!("a subscription without '{name}'")))
    };
    let (op, key_hex) = (field("op")?, field("key")?);
    let left_key = unhex(&key_hex)?;
    if op == UNSUBSCRIBE {
        store.set(fk, key_hex, None)?;
        return Ok(Vec::new());
    }
    let hash = field("hash")?;
    store.set(fk, key_hex, Some(hash.clone()))?;
    let row = right.get(&r.key)?;
    if row.is_none() && op == SUBSCRIBE_IF_FOUND {
        return Ok(Vec::new());
    }
    let answer = response(&r, left_key, Some(hash), row.unwrap_or(Value::Null));
    Ok(vec![(0, answer)])
}

/// Right side: a right row changed; every subscription to it is answered.
fn right_changed(store: &mut SubscriptionStore, r: Record) -> Result<Vec<(usize, Record)>> {
    if r.old.as_ref().unwrap_or(&Value::Null) == &r.value {
        return Ok(Vec::new()); // the row is as it was: results too
    }
    let fk = Format::String.encode_key(&r.key, "a foreign-key join's right row")?;
    store
        .subscribers(&fk)?
        .into_iter()
        .map(|(key_hex, hash)| {
            let left_key = unhex(&key_hex)?;
            Ok((0, response(&r, left_key, Some(hash), r.value.clone())))
        })
        .collect()
}

/// Left side: a response; joined with the left row if it answers the row
/// as it is now.
fn respond(spec: &FkJoinSpec, left: &mut TableStore, r: Record) -> Result<Vec<(usize, Record)>> {
    let hash = r
        .value
        .field("hash")
        .and_then(Value::as_str)
        .map(str::to_string);
    let right = r.value.field("value").cloned().unwrap_or(Value::Null);
    let row = left.get(&r.key)?;
    if row.as_ref().map(value_hash) != hash {
        return Ok(Vec::new()); // stale: the row changed since
    }
    let result = match row {
        None => Value::Null,
        Some(_) if right.is_null() && spec.kind == JoinKind::Inner => Value::Null,
        Some(l) => (spec.joiner)(&l, &right)?,
    };
    Ok(vec![(0, derived(&r, r.key.clone(), result))])
}

/// A left row's hash (hex of 128-bit FNV-1a over its JSON).
fn value_hash(v: &Value) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let h = json_bytes(v)
        .iter()
        .fold(OFFSET, |h, &b| (h ^ b as u128).wrapping_mul(PRIME));
    format!("{h:032x}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Bytes> {
    let bad = || Error::Decode(format!("not hex: '{s}'"));
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<u8>>>()
        .map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_internal_topics_are_input_groups_of_their_own() {
        // A group waits for its empty inputs: the response topic (empty
        // while nothing is in flight) must not hold the left input back.
        let b = crate::StreamsBuilder::new("shop");
        let orders = b.table("orders", "orders", Format::String, Format::Json);
        let customers = b.table("customers", "customers", Format::String, Format::Json);
        orders
            .join_foreign_key(
                &customers,
                "oc",
                JoinKind::Left,
                |o| o.field("customer").cloned().unwrap_or(Value::Null),
                |o, _| Ok(o.clone()),
            )
            .to("out", Format::String, Format::Json);
        let mut groups = b.build().unwrap().input_groups();
        groups.sort();
        assert_eq!(
            groups,
            vec![
                vec!["customers".to_string()],
                vec!["orders".to_string()],
                vec!["shop-oc-subscription-registration-topic".to_string()],
                vec!["shop-oc-subscription-response-topic".to_string()],
            ]
        );
    }

    #[test]
    fn hex_round_trips() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&b), "0001abff");
        assert_eq!(unhex("0001abff").unwrap().as_ref(), &b);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
    }

    #[test]
    fn hashes_are_stable_and_tell_rows_apart() {
        let a = Value::record([("customer", Value::from("c1")), ("amount", Value::Int(1))]);
        let b = Value::record([("customer", Value::from("c1")), ("amount", Value::Int(2))]);
        assert_eq!(value_hash(&a), value_hash(&a.clone()));
        assert_ne!(value_hash(&a), value_hash(&b));
        assert_eq!(value_hash(&a).len(), 32);
        // Pinned (FNV-1a 128 of "1", Int(1)'s JSON, computed apart): the
        // hash is written to topics and changelogs, so it must not change
        // between versions.
        assert_eq!(
            value_hash(&Value::Int(1)),
            "d228cb693f1a8caf78912b704e4a4e54"
        );
    }
}
