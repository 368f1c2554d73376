//! What OffsetCommit and TxnOffsetCommit share: each requested partition is
//! either refused at once or becomes one entry of the commit, and the
//! answer gives every partition its code in request order.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::{code_of, GroupError};

/// One requested partition, as both requests carry it.
pub struct Requested<'a> {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<&'a StrBytes>,
}

/// A commit's offsets: (topic, partition, offset, leader epoch, metadata),
/// as `CommitRequest::offsets` takes them.
pub type Offsets = Vec<(String, i32, i64, i32, String)>;

/// Where each requested partition's answer comes from, per topic in
/// request order.
pub struct Slots(Vec<(TopicName, Vec<(i32, Slot)>)>);

enum Slot {
    /// An immediate error code.
    Refused(i16),
    /// The n-th entry of the commit's results.
    Committed(usize),
}

/// Sorts the requested partitions: with `refusal` (the whole request's
/// error) every one is refused with it; otherwise a partition the broker
/// does not have is refused with UNKNOWN_TOPIC_OR_PARTITION and the rest
/// become the commit's offsets.
pub fn sort<'a, P>(
    broker: &Broker,
    topics: impl IntoIterator<Item = (&'a TopicName, P)>,
    refusal: Option<i16>,
) -> (Offsets, Slots)
where
    P: IntoIterator<Item = Requested<'a>>,
{
    let mut offsets = Vec::new();
    let mut layout = Vec::new();
    for (name, partitions) in topics {
        let topic = broker.topics.get(name.as_str());
        let mut slots = Vec::new();
        for p in partitions {
            let exists = topic
                .as_ref()
                .is_some_and(|tp| p.partition >= 0 && (p.partition as usize) < tp.partitions.len());
            let slot = match (refusal, exists) {
                (Some(code), _) => Slot::Refused(code),
                (None, false) => Slot::Refused(ResponseError::UnknownTopicOrPartition.code()),
                (None, true) => {
                    offsets.push((
                        name.to_string(),
                        p.partition,
                        p.offset,
                        p.leader_epoch,
                        p.metadata.map(|m| m.to_string()).unwrap_or_default(),
                    ));
                    Slot::Committed(offsets.len() - 1)
                }
            };
            slots.push((p.partition, slot));
        }
        layout.push((name.clone(), slots));
    }
    (offsets, Slots(layout))
}

impl Slots {
    /// The response's topics: each partition's code from its refusal or
    /// its entry in `results` (success when the commit gave no entry),
    /// built by the caller's `partition` and `topic`.
    pub fn answer<P, T>(
        self,
        results: &[Result<(), GroupError>],
        partition: impl Fn(i32, i16) -> P,
        topic: impl Fn(TopicName, Vec<P>) -> T,
    ) -> Vec<T> {
        self.0
            .into_iter()
            .map(|(name, slots)| {
                let partitions = slots
                    .into_iter()
                    .map(|(index, slot)| {
                        let code = match slot {
                            Slot::Refused(code) => code,
                            Slot::Committed(i) => results.get(i).map_or(0, code_of),
                        };
                        partition(index, code)
                    })
                    .collect();
                topic(name, partitions)
            })
            .collect()
    }
}
