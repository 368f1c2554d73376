//! AlterConfigs (the legacy, replace-everything form): a topic's overrides
//! become exactly the given set. Broker settings are static (fjord.toml).

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => {
                    let overrides: BTreeMap<String, String> = r
                        .configs
                        .iter()
                        .filter_map(|c| {
                            c.value
                                .as_ref()
                                .map(|v| (c.name.as_str().to_string(), v.as_str().to_string()))
                        })
                        .collect();
                    broker
                        .topics
                        .set_configs(r.resource_name.as_str(), overrides, req.validate_only)
                        .map_err(|e| (e.code(), e.to_string()))
                }
                other => Err(refuse_resource(other)),
            };
            resource_response(r.resource_type, r.resource_name, outcome)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

pub fn refuse_resource(resource_type: i8) -> (ResponseError, String) {
    if resource_type == RESOURCE_BROKER {
        (
            ResponseError::InvalidRequest,
            "broker settings are static: change them in fjord.toml and restart".into(),
        )
    } else {
        (
            ResponseError::InvalidRequest,
            format!("config resource type {resource_type} is not supported"),
        )
    }
}

pub fn resource_response(
    resource_type: i8,
    name: StrBytes,
    outcome: Result<(), (ResponseError, String)>,
) -> AlterConfigsResourceResponse {
    let resp = AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(name);
    match outcome {
        Ok(()) => resp,
        Err((code, msg)) => resp
            .with_error_code(code.code())
            .with_error_message(Some(StrBytes::from_string(msg))),
    }
}
