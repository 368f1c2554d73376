//! Checking a connector config before it is accepted: the settings every
//! connector has (Kafka's `ConnectorConfig`), the plugin's own, its
//! transforms and converters, and the errors policy. The result is the
//! validate endpoint's report; a create or update with errors is refused
//! with Kafka Connect's 400 message.

use serde_json::{json, Value as Json};

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::connector::{ConnectorKind, ConnectorPlugin};
use crate::runtime::errors::ErrorPolicy;
use crate::runtime::pipeline::Pipeline;
use crate::runtime::settings::WorkerSettings;

/// The settings every connector takes (Kafka's `ConnectorConfig`,
/// `SinkConnectorConfig`).
pub fn common_config_def(kind: ConnectorKind) -> ConfigDef {
    let group = "Common";
    let mut def = ConfigDef::new()
        .define(ConfigKey::new("name", ConfigType::String, Importance::High, "Globally unique name to use for this connector.").group(group))
        .define(ConfigKey::new("connector.class", ConfigType::String, Importance::High, "Name or alias of the class for this connector.").group(group))
        .define(ConfigKey::new("tasks.max", ConfigType::Int, Importance::High, "Maximum number of tasks to use for this connector.").default("1").group(group).validator(at_least_one))
        .define(ConfigKey::new("key.converter", ConfigType::Class, Importance::Low, "Converter class for keys; the worker's when unset.").default("").group(group))
        .define(ConfigKey::new("value.converter", ConfigType::Class, Importance::Low, "Converter class for values; the worker's when unset.").default("").group(group))
        .define(ConfigKey::new("transforms", ConfigType::List, Importance::Low, "Aliases for the transformations to be applied to records.").default("").group("Transforms"))
        .define(ConfigKey::new("predicates", ConfigType::List, Importance::Low, "Aliases for the predicates used by transformations.").default("").group("Predicates"))
        .define(ConfigKey::new("errors.retry.timeout", ConfigType::Long, Importance::Medium, "The maximum duration in milliseconds that a failed operation will be reattempted; -1 for infinite retries.").default("0").group("Error Handling"))
        .define(ConfigKey::new("errors.retry.delay.max.ms", ConfigType::Long, Importance::Medium, "The maximum duration in milliseconds between consecutive retry attempts.").default("60000").group("Error Handling"))
        .define(ConfigKey::new("errors.tolerance", ConfigType::String, Importance::Medium, "Behavior for tolerating errors during connector operation: none or all.").default("none").one_of(&["none", "all"]).group("Error Handling"))
        .define(ConfigKey::new("errors.log.enable", ConfigType::Boolean, Importance::Medium, "Log each failed operation and problematic record.").default("false").group("Error Handling"))
        .define(ConfigKey::new("errors.log.include.messages", ConfigType::Boolean, Importance::Medium, "Include the record in the error log.").default("false").group("Error Handling"));
    match kind {
        ConnectorKind::Sink => {
            def = def
                .define(ConfigKey::new("topics", ConfigType::List, Importance::High, "List of topics to consume, separated by commas").default("").group(group))
                .define(ConfigKey::new("topics.regex", ConfigType::String, Importance::High, "Regular expression giving topics to consume.").default("").group(group))
                .define(ConfigKey::new("errors.deadletterqueue.topic.name", ConfigType::String, Importance::Medium, "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when processed by this sink connector.").default("").group("Error Handling"))
                .define(ConfigKey::new("errors.deadletterqueue.context.headers.enable", ConfigType::Boolean, Importance::Medium, "If true, add headers containing error context to the messages written to the dead letter queue.").default("false").group("Error Handling"));
        }
        ConnectorKind::Source => {
            def = def.define(
                ConfigKey::new(
                    "exactly.once.support",
                    ConfigType::String,
                    Importance::Medium,
                    "Whether exactly-once delivery is required (KIP-618).",
                )
                .default("requested")
                .one_of(&["requested", "required"])
                .group(group),
            );
        }
    }
    def
}

fn at_least_one(v: &str) -> Result<(), String> {
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(()),
        _ => Err("Value must be at least 1".to_string()),
    }
}

/// The validate endpoint's body for `config` against `plugin`.
pub fn report(plugin: &dyn ConnectorPlugin, config: &Config, worker: &WorkerSettings) -> Json {
    // The transforms' and predicates' own keys, as Kafka's
    // EnrichedConnectorConfig adds them.
    let common =
        common_config_def(plugin.kind()).extend(crate::transforms::chain_config_def(config));
    let own = plugin.config_def();
    let (mut configs, mut error_count) = common.validate(config);
    let (own_configs, own_errors) = own.validate(config);
    configs.extend(own_configs);
    error_count += own_errors;
    let mut extra: Vec<(String, String)> = plugin.validate_extra(config);
    if plugin.kind() == ConnectorKind::Sink {
        let has_topics = !config.list("topics").is_empty();
        let has_regex = config.string("topics.regex").is_some();
        if has_topics == has_regex {
            let message = if has_topics {
                "topics and topics.regex are mutually exclusive."
            } else {
                "Must configure one of topics or topics.regex"
            };
            extra.push(("topics".to_string(), message.to_string()));
        }
        if let Some(dlq) = config.string("errors.deadletterqueue.topic.name") {
            if config.list("topics").iter().any(|t| t == dlq) {
                extra.push(("errors.deadletterqueue.topic.name".to_string(), format!("The DLQ topic '{dlq}' may not be included in the list of topics ('topics') to consume")));
            }
        }
    }
    // Transforms, predicates, converters and the error policy: building
    // them reports their settings' errors.
    if let Err(e) = ErrorPolicy::from_config(config).and_then(|_| Pipeline::build(worker, config)) {
        let key = match &e {
            crate::error::ConnectError::Config { key, .. } => key.clone(),
            _ => "transforms".to_string(),
        };
        extra.push((key, e.to_string()));
    }
    for (key, message) in extra {
        error_count += 1;
        match configs.iter_mut().find(|c| c["definition"]["name"] == key.as_str()) {
            // A key already in error (a transform's bad type, found by
            // its declared check and again by building the chain) is
            // reported once.
            Some(c) => {
                let errors = c["value"]["errors"].as_array_mut().expect("errors is an array");
                if errors.is_empty() {
                    errors.push(Json::String(message));
                } else {
                    error_count -= 1;
                }
            }
            None => configs.push(json!({
                "definition": {"name": key, "type": "STRING", "required": false, "default_value": null,
                    "importance": "HIGH", "documentation": "", "group": null, "width": "NONE",
                    "display_name": key, "dependents": [], "order": -1},
                "value": {"name": key, "value": config.get(&key), "recommended_values": [],
                    "errors": [message], "visible": true}
            })),
        }
    }
    let mut groups: Vec<String> = Vec::new();
    for c in &configs {
        if let Some(g) = c["definition"]["group"].as_str() {
            if !groups.iter().any(|x| x == g) {
                groups.push(g.to_string());
            }
        }
    }
    json!({
        "name": plugin.class_name(),
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    })
}

/// Kafka Connect's message for a refused config, from a validate report.
pub fn refusal_message(report: &Json) -> Option<String> {
    let count = report["error_count"].as_u64().unwrap_or(0);
    if count == 0 {
        return None;
    }
    let mut lines = Vec::new();
    for c in report["configs"].as_array().into_iter().flatten() {
        for e in c["value"]["errors"].as_array().into_iter().flatten() {
            lines.push(e.as_str().unwrap_or_default().to_string());
        }
    }
    let class = report["name"].as_str().unwrap_or_default();
    let simple = class.rsplit('.').next().unwrap_or(class);
    Some(format!(
        "Connector configuration is invalid and contains the following {count} error(s):\n{}\n\
         You can also find the above list of errors at the endpoint `/connector-plugins/{simple}/config/validate`",
        lines.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::FileSinkPlugin;

    fn worker() -> WorkerSettings {
        WorkerSettings::from_config(Config::default(), false).unwrap()
    }

    #[test]
    fn a_transform_of_an_unknown_class_is_one_error_on_its_type_key() {
        let config = Config::from_pairs([
            ("name", "s"),
            ("connector.class", "FileStreamSink"),
            ("file", "/tmp/x"),
            ("topics", "t"),
            ("transforms", "x"),
            ("transforms.x.type", "com.example.Nope"),
        ]);
        let report = report(&FileSinkPlugin, &config, &worker());
        assert_eq!(report["error_count"], 1, "{report}");
        let key = report["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["definition"]["name"] == "transforms.x.type")
            .expect("the transform's type key is reported");
        assert_eq!(key["value"]["errors"].as_array().unwrap().len(), 1);
        assert!(refusal_message(&report)
            .unwrap()
            .contains("com.example.Nope"));
    }

    #[test]
    fn a_valid_config_has_no_errors_and_lists_its_groups() {
        let config = Config::from_pairs([
            ("name", "s"),
            ("connector.class", "FileStreamSink"),
            ("file", "/tmp/x"),
            ("topics", "t"),
            ("transforms", "route"),
            (
                "transforms.route.type",
                "org.apache.kafka.connect.transforms.RegexRouter",
            ),
            ("transforms.route.regex", "(.*)"),
            ("transforms.route.replacement", "copy-$1"),
        ]);
        let report = report(&FileSinkPlugin, &config, &worker());
        assert_eq!(report["error_count"], 0, "{report}");
        assert!(refusal_message(&report).is_none());
        let groups: Vec<&str> = report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g.as_str())
            .collect();
        assert!(
            groups.contains(&"Common") && groups.contains(&"Transforms: route"),
            "{groups:?}"
        );
    }
}
