//! A task's records in event-time order across its input partitions, as
//! Kafka Streams processes them: fetched records wait in a queue per input
//! topic, and the task takes the head with the smallest timestamp. Without
//! this a task reads one partition thousands of records ahead of another
//! (librdkafka hands them over fetch by fetch) and stream time, the
//! largest event time seen, runs ahead of the slower input: a join then
//! found its partners late and dropped them (Nexmark q8 lost nine rows in
//! ten).
//!
//! Ordering matters only between inputs that meet (a join, a table
//! lookup): the inputs are in groups, one per sub-topology
//! (`Topology::input_groups`), and each group goes on its own.
//!
//! While an input's queue is empty, its group waits for it (KIP-695's
//! rules): as long as the cluster has records of it that were not fetched
//! yet (they are on their way; limit `Waits::lagging`), otherwise at most
//! `Waits::idle` (Kafka Streams' max.task.idle.ms); then it goes on with
//! what it has. A queue holding `MAX_BUFFERED` records is full: the
//! runtime takes no more of its partition's records from librdkafka (see
//! `input`) until it has room again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::record::Source;

/// Records a queue holds at most (the rest wait in librdkafka).
pub(crate) const MAX_BUFFERED: usize = 1000;

/// A fetched record waiting for its turn: what the task is handed, and
/// its record timestamp.
pub(crate) struct Buffered {
    pub source: Source,
    pub timestamp: i64,
}

/// How long a task holds an input group back for an empty input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waits {
    /// For an input that is caught up (nothing more on the cluster):
    /// max.task.idle.ms.
    pub idle: Duration,
    /// For an input the cluster has more records of, not fetched yet:
    /// they are on their way, so the task waits for them (Kafka Streams
    /// waits without limit, KIP-695); past this limit it goes on, and
    /// says so.
    pub lagging: Duration,
}

/// Inputs read in timestamp order together (one sub-topology's).
struct Group {
    topics: Vec<Arc<str>>,
    /// Since when an input has been empty while others had records.
    waiting_since: Option<Instant>,
    /// The lagging limit was hit in this wait (warned once).
    gave_up: bool,
}

/// One task's queues, one per input topic, in input groups.
pub(crate) struct TaskQueues {
    queues: BTreeMap<Arc<str>, VecDeque<Buffered>>,
    groups: Vec<Group>,
}

impl TaskQueues {
    /// `groups`: the topology's input groups (`Topology::input_groups`).
    pub fn new(groups: &[Vec<Arc<str>>]) -> TaskQueues {
        TaskQueues {
            queues: groups
                .iter()
                .flatten()
                .map(|t| (t.clone(), VecDeque::new()))
                .collect(),
            groups: groups
                .iter()
                .map(|topics| Group {
                    topics: topics.clone(),
                    waiting_since: None,
                    gave_up: false,
                })
                .collect(),
        }
    }

    pub fn push(&mut self, record: Buffered) {
        self.queues
            .entry(record.source.topic.clone())
            .or_default()
            .push_back(record);
    }

    /// Records waiting in `topic`'s queue.
    pub fn len(&self, topic: &str) -> usize {
        self.queues.get(topic).map_or(0, VecDeque::len)
    }

    pub fn is_empty(&self) -> bool {
        self.queues.values().all(VecDeque::is_empty)
    }

    /// The record to process next, if one may go now. `lagging(topic)`
    /// says whether the cluster holds records of `topic` (this task's
    /// partition of it) not fetched yet.
    pub fn next(
        &mut self,
        waits: Waits,
        lagging: &mut dyn FnMut(&str) -> bool,
    ) -> Option<Buffered> {
        let queues = &mut self.queues;
        for group in &mut self.groups {
            let empty: Vec<&Arc<str>> = group
                .topics
                .iter()
                .filter(|t| queues.get(*t).is_none_or(VecDeque::is_empty))
                .collect();
            if empty.len() == group.topics.len() {
                group.waiting_since = None;
                continue;
            }
            if empty.is_empty() {
                group.waiting_since = None;
                group.gave_up = false;
            } else {
                let waited = group
                    .waiting_since
                    .get_or_insert_with(Instant::now)
                    .elapsed();
                if waited < waits.idle {
                    continue;
                }
                if !group.gave_up && empty.iter().any(|t| lagging(t)) {
                    if waited < waits.lagging {
                        continue;
                    }
                    group.gave_up = true;
                    tracing::warn!(inputs = ?empty, waited_ms = waited.as_millis() as u64,
                        "an input has records on the cluster that did not arrive: going on without them (their records may be late)");
                }
            }
            let topic = group
                .topics
                .iter()
                .filter_map(|t| queues.get(t)?.front().map(|r| (r.timestamp, t)))
                .min()
                .map(|(_, t)| t.clone())?;
            return queues.get_mut(&topic)?.pop_front();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: &str, timestamp: i64) -> Buffered {
        Buffered {
            source: Source {
                topic: topic.into(),
                partition: 0,
                offset: 0,
                key: None,
                value: None,
                headers: Vec::new(),
            },
            timestamp,
        }
    }

    fn one_group(topics: &[&str]) -> TaskQueues {
        TaskQueues::new(&[topics.iter().map(|t| Arc::from(*t)).collect()])
    }

    const LONG: Waits = Waits {
        idle: Duration::from_secs(60),
        lagging: Duration::from_secs(60),
    };

    fn caught_up(_: &str) -> bool {
        false
    }

    #[test]
    fn the_smallest_timestamp_goes_first_once_every_input_has_records() {
        let mut q = one_group(&["a", "b"]);
        for t in [10, 20, 30] {
            q.push(rec("a", t));
        }
        // b is empty: wait for it.
        assert!(q.next(LONG, &mut caught_up).is_none());
        q.push(rec("b", 15));
        let order: Vec<i64> = std::iter::from_fn(|| q.next(LONG, &mut caught_up))
            .map(|r| r.timestamp)
            .collect();
        // After b's only record, b is empty again: a waits.
        assert_eq!(order, vec![10, 15]);
        assert_eq!(q.len("a"), 2);
    }

    #[test]
    fn a_caught_up_input_is_waited_for_at_most_the_idle_time() {
        let mut q = one_group(&["a", "b"]);
        q.push(rec("a", 1));
        q.push(rec("a", 2));
        let waits = Waits {
            idle: Duration::from_millis(30),
            lagging: Duration::from_secs(60),
        };
        assert!(q.next(waits, &mut caught_up).is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(q.next(waits, &mut caught_up).unwrap().timestamp, 1);
        // Still idle: no new wait.
        assert_eq!(q.next(waits, &mut caught_up).unwrap().timestamp, 2);
        assert!(q.next(waits, &mut caught_up).is_none());
    }

    #[test]
    fn a_lagging_input_is_waited_for_past_the_idle_time_up_to_its_limit() {
        let mut q = one_group(&["a", "b"]);
        q.push(rec("a", 1));
        let waits = Waits {
            idle: Duration::from_millis(10),
            lagging: Duration::from_millis(80),
        };
        let mut asked = Vec::new();
        let mut b_lags = |t: &str| {
            asked.push(t.to_string());
            t == "b"
        };
        assert!(q.next(waits, &mut b_lags).is_none());
        std::thread::sleep(Duration::from_millis(30));
        // Past idle, but b has records on their way: still waiting.
        assert!(q.next(waits, &mut b_lags).is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(q.next(waits, &mut b_lags).unwrap().timestamp, 1);
        assert!(
            asked.iter().all(|t| t == "b"),
            "only the empty input is asked"
        );
    }

    #[test]
    fn groups_do_not_wait_for_each_other() {
        let mut q = TaskQueues::new(&[
            vec![Arc::from("a"), Arc::from("b")],
            vec![Arc::from("repartition")],
        ]);
        q.push(rec("a", 5));
        q.push(rec("repartition", 9));
        // a waits for b; the repartition topic's group goes on.
        assert_eq!(
            q.next(LONG, &mut caught_up).unwrap().source.topic.as_ref(),
            "repartition"
        );
        assert!(q.next(LONG, &mut caught_up).is_none());
    }
}
