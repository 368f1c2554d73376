//! A task's records in event-time order across its input partitions, as
//! Kafka Streams processes them: fetched records wait in a queue per input
//! topic, and the task takes the head with the smallest timestamp. Without
//! this a task reads one partition thousands of records ahead of another
//! (librdkafka hands them over fetch by fetch) and stream time, the
//! largest event time seen, runs ahead of the slower input: a join then
//! found its partners late and dropped them (Nexmark q8 lost nine rows in
//! ten).
//!
//! While an input's queue is empty the task waits for it, at most
//! `max_idle` (Kafka Streams' max.task.idle.ms), then goes on with what
//! it has until that input has records again. A queue holding
//! `MAX_BUFFERED` records is full: the runtime pauses fetching its
//! partition until it drains to half.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::record::Header;

/// Records a queue holds before its partition is paused.
pub(crate) const MAX_BUFFERED: usize = 1000;

/// A fetched record waiting for its turn.
pub(crate) struct Buffered {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Vec<Header>,
}

/// One task's queues, one per input topic.
pub(crate) struct TaskQueues {
    queues: BTreeMap<Arc<str>, VecDeque<Buffered>>,
    /// Since when an input has been empty while others had records.
    waiting_since: Option<Instant>,
}

impl TaskQueues {
    pub fn new(topics: &[Arc<str>]) -> TaskQueues {
        TaskQueues {
            queues: topics
                .iter()
                .map(|t| (t.clone(), VecDeque::new()))
                .collect(),
            waiting_since: None,
        }
    }

    pub fn push(&mut self, record: Buffered) {
        self.queues
            .entry(record.topic.clone())
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

    /// The record to process next, if one may go now.
    pub fn next(&mut self, max_idle: Duration) -> Option<Buffered> {
        let heads = self.queues.values().filter(|q| !q.is_empty()).count();
        if heads == 0 {
            self.waiting_since = None;
            return None;
        }
        if heads < self.queues.len() {
            let since = *self.waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() < max_idle {
                return None;
            }
        } else {
            self.waiting_since = None;
        }
        let topic = self
            .queues
            .iter()
            .filter_map(|(t, q)| q.front().map(|r| (r.timestamp, t)))
            .min()
            .map(|(_, t)| t.clone())?;
        self.queues.get_mut(&topic)?.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: &str, timestamp: i64) -> Buffered {
        Buffered {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            key: None,
            value: None,
            timestamp,
            headers: Vec::new(),
        }
    }

    #[test]
    fn the_smallest_timestamp_goes_first_once_every_input_has_records() {
        let mut q = TaskQueues::new(&["a".into(), "b".into()]);
        for t in [10, 20, 30] {
            q.push(rec("a", t));
        }
        // b is empty: wait for it.
        assert!(q.next(Duration::from_secs(60)).is_none());
        q.push(rec("b", 15));
        let order: Vec<i64> = std::iter::from_fn(|| q.next(Duration::from_secs(60)))
            .map(|r| r.timestamp)
            .collect();
        // After b's only record, b is empty again: a waits.
        assert_eq!(order, vec![10, 15]);
        assert_eq!(q.len("a"), 2);
    }

    #[test]
    fn an_empty_input_is_waited_for_at_most_max_idle() {
        let mut q = TaskQueues::new(&["a".into(), "b".into()]);
        q.push(rec("a", 1));
        q.push(rec("a", 2));
        assert!(q.next(Duration::from_millis(30)).is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(q.next(Duration::from_millis(30)).unwrap().timestamp, 1);
        // Still idle: no new wait.
        assert_eq!(q.next(Duration::from_millis(30)).unwrap().timestamp, 2);
        assert!(q.next(Duration::from_millis(30)).is_none());
    }
}
