//! FindCoordinator: this broker coordinates every group and every
//! transactional id. v4+ asks for several keys at once
//! (`coordinator_keys`). As in Kafka, the first lookup of a group
//! coordinator creates `__consumer_offsets`, and of a transaction
//! coordinator `__transaction_state`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

/// Kafka's key types.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (error, msg, node, host, port) = lookup(broker, req.key_type);
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(node)
                    .with_host(host)
                    .with_port(port)
                    .with_error_code(error)
                    .with_error_message(msg)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (error, msg, node, host, port) = lookup(broker, req.key_type);
    let resp = FindCoordinatorResponse::default()
        .with_error_code(error)
        .with_node_id(node)
        .with_host(host)
        .with_port(port);
    if version >= 1 {
        resp.with_error_message(msg)
    } else {
        resp
    }
}

fn lookup(broker: &Broker, key_type: i8) -> (i16, Option<StrBytes>, BrokerId, StrBytes, i32) {
    let refuse = |e: ResponseError, msg: &str| {
        (
            e.code(),
            Some(StrBytes::from_string(msg.to_string())),
            BrokerId(-1),
            StrBytes::default(),
            -1,
        )
    };
    let this_broker = || {
        (
            0,
            None,
            BrokerId(broker.node_id()),
            StrBytes::from_string(broker.advertised.0.clone()),
            broker.advertised.1 as i32,
        )
    };
    match key_type {
        GROUP => match broker.groups.ensure_offsets_topic(&broker.topics) {
            Err(e) => refuse(e.code(), &e.to_string()),
            Ok(()) => this_broker(),
        },
        TRANSACTION => match broker.txn.ensure_topic(&broker.topics) {
            Err(e) => refuse(e.code(), &e.to_string()),
            Ok(()) => this_broker(),
        },
        _ => refuse(
            ResponseError::InvalidRequest,
            "unknown coordinator key type",
        ),
    }
}
