//! The instance's input: one librdkafka consumer whose assigned partitions
//! each deliver into a queue of their own (librdkafka's partition queues),
//! so the runtime takes records from the partition a task needs next
//! instead of in the order fetch responses happened to arrive.
//!
//! With a single queue a task waiting for one input had to poll through
//! everything fetched of the others first; they filled their task queues,
//! were paused (which drops librdkafka's read-ahead of them) and fetched
//! again: Nexmark q3 and q8 spent most of their time so. Now each
//! partition's read-ahead waits in librdkafka (bounded by
//! queued.min.messages / queued.max.messages.kbytes) until its task queue
//! has room.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::message::{Headers, Message};
use rdkafka::TopicPartitionList;

use super::buffer::{Buffered, TaskQueues, MAX_BUFFERED};
use super::kafka::{self, kafka};
use super::lag;
use crate::error::Result;
use crate::record::Source;

type PartitionQueue = rdkafka::consumer::base_consumer::PartitionQueue<DefaultConsumerContext>;

/// Records taken from a partition queue in one go.
const BATCH: usize = 500;

/// Set when a partition queue receives records while the runtime waits.
#[derive(Default)]
struct Wakeup {
    ready: Mutex<bool>,
    signal: Condvar,
}

impl Wakeup {
    fn notify(&self) {
        *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.signal.notify_one();
    }

    fn wait(&self, timeout: Duration) {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        if !*ready {
            ready = self
                .signal
                .wait_timeout(ready, timeout)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *ready = false;
    }
}

pub(crate) struct Inputs {
    pub consumer: Arc<BaseConsumer>,
    /// Per assigned (topic, partition), its queue.
    partitions: BTreeMap<(Arc<str>, i32), PartitionQueue>,
    wakeup: Arc<Wakeup>,
    /// The topology's source topics in input groups, shared by every
    /// record fetched from them.
    pub groups: Vec<Vec<Arc<str>>>,
}

impl Inputs {
    pub fn new(consumer: BaseConsumer, groups: Vec<Vec<Arc<str>>>) -> Inputs {
        Inputs {
            consumer: Arc::new(consumer),
            partitions: BTreeMap::new(),
            wakeup: Arc::new(Wakeup::default()),
            groups,
        }
    }

    /// Assigns `list` (with start offsets) and gives each partition its
    /// queue (an assignment ends the queues of the previous one).
    pub fn assign(&mut self, list: &TopicPartitionList) -> Result<()> {
        self.partitions.clear();
        self.consumer.assign(list).map_err(|e| kafka("assign", e))?;
        for e in list.elements() {
            let Some(mut queue) = self
                .consumer
                .split_partition_queue(e.topic(), e.partition())
            else {
                return Err(kafka(
                    "assign",
                    format!("no queue for {}-{}", e.topic(), e.partition()),
                ));
            };
            let wakeup = self.wakeup.clone();
            queue.set_nonempty_callback(move || wakeup.notify());
            let topic = self.shared_name(e.topic());
            self.partitions.insert((topic, e.partition()), queue);
        }
        Ok(())
    }

    /// Serves the consumer's events (errors), and queues the records it
    /// delivers itself: those fetched between an assignment and the
    /// split of their partition's queue (librdkafka keeps them in the
    /// consumer's queue). They come before anything in the partition's own
    /// queue, and are taken before it is read (`fill` runs after this).
    /// Dropping them lost records: the runtime then committed past them.
    pub fn serve_events(&self, queues: &mut BTreeMap<i32, TaskQueues>) -> Result<()> {
        loop {
            match self.consumer.poll(Duration::ZERO) {
                None => return Ok(()),
                Some(Ok(msg)) => {
                    if let Some(task) = queues.get_mut(&msg.partition()) {
                        let topic = self.shared_name(msg.topic());
                        task.push(buffered(&msg, topic));
                    }
                }
                Some(Err(e)) if kafka::is_benign(&e) => {}
                Some(Err(e)) => return Err(kafka("fetch", e)),
            }
        }
    }

    /// Moves fetched records into the task queues that have room (up to
    /// `MAX_BUFFERED` per input); returns how many.
    pub fn fill(&self, queues: &mut BTreeMap<i32, TaskQueues>) -> Result<usize> {
        let mut moved = 0;
        for ((topic, partition), queue) in &self.partitions {
            let Some(task) = queues.get_mut(partition) else {
                continue;
            };
            let room = MAX_BUFFERED.saturating_sub(task.len(topic)).min(BATCH);
            for _ in 0..room {
                match queue.poll(Duration::ZERO) {
                    None => break,
                    Some(Ok(msg)) => {
                        task.push(buffered(&msg, Arc::clone(topic)));
                        moved += 1;
                    }
                    Some(Err(e)) if kafka::is_benign(&e) => {}
                    Some(Err(e)) => return Err(kafka("fetch", e)),
                }
            }
        }
        Ok(moved)
    }

    /// Waits until a partition queue receives records, at most `timeout`.
    pub fn wait(&self, timeout: Duration) {
        self.wakeup.wait(timeout);
    }

    /// Whether the cluster holds records of this partition not fetched
    /// yet (see `lag`).
    pub fn has_unfetched(&self, topic: &str, partition: i32) -> bool {
        lag::has_unfetched(&self.consumer, topic, partition)
    }

    /// The consumer's position in this partition (see `lag::position`).
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        lag::position(&self.consumer, topic, partition)
    }

    fn shared_name(&self, topic: &str) -> Arc<str> {
        self.groups
            .iter()
            .flatten()
            .find(|n| ***n == *topic)
            .cloned()
            .unwrap_or_else(|| Arc::from(topic))
    }
}

/// A fetched record, copied out of librdkafka's buffer to wait its turn.
fn buffered(msg: &rdkafka::message::BorrowedMessage<'_>, topic: Arc<str>) -> Buffered {
    Buffered {
        source: Source {
            topic,
            partition: msg.partition(),
            offset: msg.offset(),
            key: msg.key().map(Bytes::copy_from_slice),
            value: msg.payload().map(Bytes::copy_from_slice),
            headers: msg
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| (h.key.to_string(), h.value.map(Bytes::copy_from_slice)))
                        .collect()
                })
                .unwrap_or_default(),
        },
        timestamp: msg.timestamp().to_millis().unwrap_or(0),
    }
}
