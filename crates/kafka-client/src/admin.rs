//! Admin calls the rdkafka crate lacks.

use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::protocol::StrBytes;

use crate::connection::KafkaConnection;
use crate::error::{Error, Result};

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set the key on the resource (Kafka op SET, 0).
    Set(String, String),
    /// Remove the resource's own value so the default applies (op DELETE, 1).
    Delete(String),
}

/// Kafka's ConfigResource type for topics.
const RESOURCE_TOPIC: i8 = 2;

/// Applies `changes` to one topic's configs with IncrementalAlterConfigs
/// (Kafka 2.3+), which touches only the named keys. Any broker accepts it:
/// Kafka forwards it to the controller.
pub fn incremental_alter_topic_configs(
    conn: &mut KafkaConnection,
    topic: &str,
    changes: &[ConfigChange],
) -> Result<()> {
    let configs = changes
        .iter()
        .map(|change| match change {
            ConfigChange::Set(key, value) => AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.clone()))),
            ConfigChange::Delete(key) => AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(1)
                .with_value(None),
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(configs),
    ]);
    let version = conn
        .version::<IncrementalAlterConfigsRequest>(1)
        .map_err(|e| {
            Error::Unsupported(format!(
                "the cluster does not support IncrementalAlterConfigs (Kafka 2.3+): {e}"
            ))
        })?;
    let response = conn.call(version, &request)?;
    let Some(result) = response.responses.first() else {
        return Err(Error::Protocol(format!(
            "IncrementalAlterConfigs returned no result for topic `{topic}`"
        )));
    };
    if result.error_code != 0 {
        return Err(Error::broker(
            result.error_code,
            result.error_message.as_deref(),
        ));
    }
    Ok(())
}
