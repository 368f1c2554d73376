//! DescribeConfigs for topics (every known key, with its source) and for
//! the broker (its static settings, read-only).

use fjord_log::{ConfigEntry, ConfigSource};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

/// Kafka's ConfigResource types.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's ConfigSource codes.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

pub fn source_code(source: ConfigSource) -> i8 {
    match source {
        ConfigSource::DynamicTopic => SOURCE_DYNAMIC_TOPIC,
        ConfigSource::Default => SOURCE_DEFAULT,
    }
}

pub fn handle(
    broker: &Broker,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let entries = match r.resource_type {
                RESOURCE_TOPIC => match broker.topics.get(r.resource_name.as_str()) {
                    Some(t) => Ok(t.config.describe()),
                    None => Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("topic '{}' does not exist", r.resource_name.as_str()),
                    )),
                },
                RESOURCE_BROKER => broker_entries(broker, r.resource_name.as_str()),
                other => Err((
                    ResponseError::InvalidRequest,
                    format!("config resource type {other} is not supported"),
                )),
            };
            match entries {
                Ok(entries) => {
                    let wanted = r.configuration_keys.as_ref();
                    let configs = entries
                        .into_iter()
                        .filter(|e| {
                            wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name))
                        })
                        .map(|e| to_wire(e, req.include_documentation, version))
                        .collect();
                    result.with_configs(configs)
                }
                Err((code, msg)) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(msg))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn to_wire(e: ConfigEntry, with_docs: bool, version: i16) -> DescribeConfigsResourceResult {
    let config_type = if version >= 3 {
        config_type(&e.name)
    } else {
        0
    };
    let with_docs = with_docs && version >= 3;
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(e.name))
        .with_value(Some(StrBytes::from_string(e.value)))
        .with_read_only(e.read_only)
        .with_config_source(if e.read_only {
            SOURCE_STATIC_BROKER
        } else {
            source_code(e.source)
        })
        .with_is_sensitive(e.sensitive)
        .with_config_type(config_type)
        .with_documentation(with_docs.then(|| StrBytes::from_string(e.documentation)))
}

/// Kafka's ConfigType codes, by key naming convention.
fn config_type(name: &str) -> i8 {
    const BOOLEAN: i8 = 1;
    const STRING: i8 = 2;
    const INT: i8 = 3;
    const LONG: i8 = 5;
    const DOUBLE: i8 = 6;
    const LIST: i8 = 7;
    match name {
        "cleanup.policy" => LIST,
        "min.cleanable.dirty.ratio" => DOUBLE,
        "max.message.bytes" | "index.interval.bytes" | "min.insync.replicas" | "num.partitions" => {
            INT
        }
        "auto.create.topics.enable" => BOOLEAN,
        n if n.ends_with(".ms") || n.ends_with(".bytes") || n.ends_with(".messages") => LONG,
        _ => STRING,
    }
}

/// The broker's settings as Kafka names them; static (set in fjord.toml).
fn broker_entries(
    broker: &Broker,
    name: &str,
) -> Result<Vec<ConfigEntry>, (ResponseError, String)> {
    if !name.is_empty() && name != broker.node_id().to_string() {
        return Err((
            ResponseError::InvalidRequest,
            format!("broker '{name}' is not this broker ({})", broker.node_id()),
        ));
    }
    let c = &broker.config;
    let entry = |name: &str, value: String, doc: &str| ConfigEntry {
        name: name.to_string(),
        value,
        source: ConfigSource::Default,
        read_only: true,
        sensitive: false,
        documentation: doc.to_string(),
    };
    let mut entries = vec![
        entry("broker.id", c.node_id.to_string(), "This broker's node id."),
        entry(
            "num.partitions",
            c.num_partitions.to_string(),
            "Partitions of auto-created topics.",
        ),
        entry(
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            "Create unknown topics on metadata requests.",
        ),
        entry(
            "default.replication.factor",
            "1".into(),
            "Always 1: Fjord is a single node.",
        ),
        entry(
            "log.dirs",
            c.data_dir.display().to_string(),
            "The data directory.",
        ),
        entry(
            "socket.request.max.bytes",
            c.max_request_bytes.to_string(),
            "Largest request accepted.",
        ),
        entry(
            "log.flush.interval.ms",
            c.flush_interval_ms.to_string(),
            "Background fsync interval for acks=0/1 data.",
        ),
    ];
    // The topic defaults, under Kafka's broker-level `log.` names.
    for e in c.log_defaults.describe() {
        let broker_name = match e.name.as_str() {
            "retention.ms" => "log.retention.ms",
            "retention.bytes" => "log.retention.bytes",
            "segment.bytes" => "log.segment.bytes",
            "segment.ms" => "log.roll.ms",
            "cleanup.policy" => "log.cleanup.policy",
            "max.message.bytes" => "message.max.bytes",
            _ => continue,
        };
        entries.push(entry(broker_name, e.value, &e.documentation));
    }
    Ok(entries)
}
