//! OffsetDelete: removes a group's committed offsets, refused
//! (GROUP_SUBSCRIBED_TO_TOPIC) for topics its members consume.

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::broker::Broker;
use crate::group::code_of;

pub fn handle(
    broker: &Arc<Broker>,
    req: OffsetDeleteRequest,
) -> impl Future<Output = OffsetDeleteResponse> + Send + 'static {
    let mut asked = Vec::new();
    let mut layout = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let topic = broker.topics.get(t.name.as_str());
        let mut slots = Vec::new();
        for p in &t.partitions {
            let i = p.partition_index;
            if topic
                .as_ref()
                .is_some_and(|tp| i >= 0 && (i as usize) < tp.partitions.len())
            {
                slots.push((i, Some(asked.len())));
                asked.push((t.name.to_string(), i));
            } else {
                slots.push((i, None));
            }
        }
        layout.push((t.name.clone(), slots));
    }
    let pending = broker.groups.delete_offsets(req.group_id.as_str(), asked);
    async move {
        let results = match pending.await {
            Ok(r) => r,
            Err(e) => return OffsetDeleteResponse::default().with_error_code(e.wire()),
        };
        let topics = layout
            .into_iter()
            .map(|(name, slots)| {
                let partitions = slots
                    .into_iter()
                    .map(|(index, slot)| {
                        let code = match slot {
                            None => ResponseError::UnknownTopicOrPartition.code(),
                            Some(i) => results.get(i).map_or(0, code_of),
                        };
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(code)
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect();
        OffsetDeleteResponse::default().with_topics(topics)
    }
}
