//! DeleteTopics, by name (all versions) or by topic id (v6+).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::error::BrokerError;

pub fn handle(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    // v6 names topics in `topics` (by name or id); older versions list names.
    let targets: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let resolved = match &name {
                Some(n) => Ok(n.as_str().to_string()),
                None => broker
                    .topics
                    .get_by_id(id)
                    .map(|t| t.name.clone())
                    .ok_or(BrokerError::UnknownTopicId(id)),
            };
            let result = resolved.and_then(|n| broker.topics.delete(&n).map(|id| (n, id)));
            match result {
                Ok((n, id)) => DeletableTopicResult::default()
                    .with_name(Some(TopicName(StrBytes::from_string(n))))
                    .with_topic_id(id),
                Err(e) => DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(e.code().code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .map(|mut r: DeletableTopicResult| {
            if version < 6 {
                r.topic_id = uuid::Uuid::nil();
            }
            if version < 5 {
                r.error_message = None;
            }
            r
        })
        .collect::<Vec<DeletableTopicResult>>();
    // Committed offsets go with their topic (a topic created later under
    // the same name starts with none).
    if responses.iter().any(|r| r.error_code == 0) {
        broker
            .groups
            .expire_offsets(crate::server::now_ms(), i64::MAX, &|topic| {
                broker.topics.get(topic).is_some()
            });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
