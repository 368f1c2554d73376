//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT individual
//! topic config keys (APPEND/SUBTRACT apply to list values such as
//! cleanup.policy).

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::alter_configs::refuse_resource;
use crate::api::describe_configs::RESOURCE_TOPIC;
use crate::broker::Broker;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub fn handle(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => alter_topic(
                    broker,
                    r.resource_name.as_str(),
                    &r.configs,
                    req.validate_only,
                ),
                other => Err(refuse_resource(other)),
            };
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name);
            match outcome {
                Ok(()) => resp,
                Err((code, msg)) => resp
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(msg))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn alter_topic(
    broker: &Broker,
    name: &str,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let topic = broker.topics.get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("topic '{name}' does not exist"),
        )
    })?;
    let mut overrides: BTreeMap<String, String> = topic.config.overrides().clone();
    for op in ops {
        let key = op.name.as_str().to_string();
        let value = op.value.as_ref().map(|v| v.as_str().to_string());
        match op.config_operation {
            OP_SET => {
                let v = value.ok_or_else(|| {
                    (
                        ResponseError::InvalidConfig,
                        format!("SET of '{key}' needs a value"),
                    )
                })?;
                overrides.insert(key, v);
            }
            OP_DELETE => {
                overrides.remove(&key);
            }
            OP_APPEND | OP_SUBTRACT => {
                let v = value.ok_or_else(|| {
                    (
                        ResponseError::InvalidConfig,
                        format!("APPEND/SUBTRACT of '{key}' needs a value"),
                    )
                })?;
                let current = overrides.get(&key).cloned().unwrap_or_else(|| {
                    topic
                        .config
                        .describe()
                        .into_iter()
                        .find(|e| e.name == key)
                        .map(|e| e.value)
                        .unwrap_or_default()
                });
                let mut items: Vec<String> = current
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if op.config_operation == OP_APPEND {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                overrides.insert(key, items.join(","));
            }
            other => {
                return Err((
                    ResponseError::InvalidRequest,
                    format!("unknown config operation {other}"),
                ))
            }
        }
    }
    broker
        .topics
        .set_configs(name, overrides, validate_only)
        .map_err(|e| (e.code(), e.to_string()))
}
