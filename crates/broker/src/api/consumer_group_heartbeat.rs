//! ConsumerGroupHeartbeat (KIP-848): join, stay in, and leave a
//! consumer-protocol group, and learn the assignment the broker computed.
//! Topics travel by id on the wire and by name inside the coordinator.
//! What a heartbeat changed is answered once it is durable.

use std::future::Future;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::dispatch::ClientInfo;
use crate::group::consumer_protocol::{self, HeartbeatAnswer, HeartbeatRequest};
use crate::group::GroupError;

pub fn handle(
    broker: &Broker,
    req: ConsumerGroupHeartbeatRequest,
    client: &ClientInfo,
) -> impl Future<Output = ConsumerGroupHeartbeatResponse> + Send + 'static {
    let owned = req.topic_partitions.map(|tps| {
        let mut a = consumer_protocol::Assignment::new();
        for tp in tps {
            // A topic deleted meanwhile is owned no more.
            if let Some(t) = broker.topics.get_by_id(tp.topic_id) {
                a.entry(t.name.clone()).or_default().extend(tp.partitions);
            }
        }
        a
    });
    let group_id = req.group_id.to_string();
    let hb = HeartbeatRequest {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|s| s.to_string()),
        rack_id: req.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topics: req
            .subscribed_topic_names
            .map(|v| v.into_iter().map(|t| t.to_string()).collect()),
        subscribed_regex: req.subscribed_topic_regex.map(|s| s.to_string()),
        assignor: req.server_assignor.map(|s| s.to_string()),
        owned,
        client_id: client.client_id.clone(),
        client_host: client.host.clone(),
    };
    let result = broker
        .groups
        .ensure_offsets_topic(&broker.topics)
        .and_then(|()| {
            broker.groups.consumer_heartbeat(hb, &|name| {
                broker.topics.get(name).map(|t| t.partitions.len() as i32)
            })
        });
    let (answer, pending) = match result {
        Ok((answer, pending)) => (Ok(answer), pending),
        Err(e) => (Err(e), None),
    };
    let response = respond(broker, answer);
    let groups = broker.groups.clone();
    let member_id = response
        .member_id
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    // On a task of its own: the member's session is held open while its
    // write is pending, and `consumer_answered` must release it even if
    // the client goes and this answer is dropped.
    let stored = pending.map(|p| {
        tokio::spawn(async move {
            let stored = p.durable().await;
            groups.consumer_answered(&group_id, &member_id, stored.is_ok());
            stored
        })
    });
    async move {
        match stored {
            None => response,
            Some(task) => match task.await {
                Ok(Ok(())) => response,
                Ok(Err(e)) => error(e),
                Err(e) => error(GroupError::Storage(format!(
                    "storing the change failed: {e}"
                ))),
            },
        }
    }
}

fn error(e: GroupError) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(e.wire())
        .with_error_message(Some(StrBytes::from_string(e.to_string())))
        .with_member_epoch(-1)
}

fn respond(
    broker: &Broker,
    answer: Result<HeartbeatAnswer, GroupError>,
) -> ConsumerGroupHeartbeatResponse {
    match answer {
        Err(e) => error(e),
        Ok(a) => {
            let assignment = a.assignment.map(|parts| {
                let topic_partitions = parts
                    .into_iter()
                    .filter(|(_, p)| !p.is_empty())
                    .filter_map(|(name, p)| {
                        let t = broker.topics.get(&name)?;
                        Some(
                            TopicPartitions::default()
                                .with_topic_id(t.id)
                                .with_partitions(p.into_iter().collect()),
                        )
                    })
                    .collect();
                Assignment::default().with_topic_partitions(topic_partitions)
            });
            ConsumerGroupHeartbeatResponse::default()
                .with_member_id(Some(StrBytes::from_string(a.member_id)))
                .with_member_epoch(a.member_epoch)
                .with_heartbeat_interval_ms(a.heartbeat_interval_ms)
                .with_assignment(assignment)
        }
    }
}
