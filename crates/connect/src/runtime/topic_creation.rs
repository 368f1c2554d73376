//! KIP-158: a source connector's topics created by the worker, with the
//! partitions, replication and topic configs the connector asks for
//! (`topic.creation.default.*`, and per group `topic.creation.<group>.*`
//! with `include`/`exclude` regex lists), instead of relying on the
//! cluster's auto-creation — which a production cluster often has off.

use std::collections::BTreeMap;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use regex::Regex;

use crate::config::Config;
use crate::error::{ConnectError, Result};

/// How one group of topics is created.
#[derive(Debug, Clone)]
pub struct CreationGroup {
    pub name: String,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    pub partitions: i32,
    pub replication: i32,
    /// Topic configs (`cleanup.policy`, `retention.ms`, ...).
    pub configs: BTreeMap<String, String>,
}

impl CreationGroup {
    fn matches(&self, topic: &str) -> bool {
        self.include.iter().any(|r| r.is_match(topic))
            && !self.exclude.iter().any(|r| r.is_match(topic))
    }
}

/// A connector's topic-creation rules; None when it asks for none.
#[derive(Debug, Clone)]
pub struct TopicCreation {
    groups: Vec<CreationGroup>,
    default: CreationGroup,
}

const SETTINGS: &[&str] = &["include", "exclude", "partitions", "replication.factor"];

fn whole_match(pattern: &str, key: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| ConnectError::config(key, pattern, format!("not a regular expression: {e}")))
}

fn group(config: &Config, name: &str, defaults: Option<&CreationGroup>) -> Result<CreationGroup> {
    let prefix = format!("topic.creation.{name}.");
    let own = config.subset(&prefix);
    let number = |key: &str, fallback: Option<i32>| -> Result<i32> {
        match (own.string(key), fallback) {
            (Some(_), _) => {
                let v = own.i32_or(key, -1).map_err(|_| {
                    ConnectError::config(
                        &format!("{prefix}{key}"),
                        own.get(key).unwrap_or(""),
                        "Not a number of type INT",
                    )
                })?;
                if v == 0 || v < -1 {
                    return Err(ConnectError::config(
                        &format!("{prefix}{key}"),
                        &v.to_string(),
                        "must be a positive number, or -1 for the broker's default",
                    ));
                }
                Ok(v)
            }
            (None, Some(f)) => Ok(f),
            (None, None) => Err(ConnectError::config(
                &format!("{prefix}{key}"),
                "null",
                "Missing required configuration with no default value",
            )),
        }
    };
    let patterns = |key: &str| -> Result<Vec<Regex>> {
        own.list(key)
            .iter()
            .map(|p| whole_match(p, &format!("{prefix}{key}")))
            .collect()
    };
    let mut configs = defaults.map(|d| d.configs.clone()).unwrap_or_default();
    for (k, v) in own.as_map() {
        if !SETTINGS.contains(&k.as_str()) {
            configs.insert(k.clone(), v.clone());
        }
    }
    Ok(CreationGroup {
        name: name.to_string(),
        include: if defaults.is_none() {
            vec![whole_match(".*", "")?]
        } else {
            patterns("include")?
        },
        exclude: patterns("exclude")?,
        partitions: number("partitions", defaults.map(|d| d.partitions))?,
        replication: number("replication.factor", defaults.map(|d| d.replication))?,
        configs,
    })
}

impl TopicCreation {
    /// The connector's rules, when it sets `topic.creation.default.*`
    /// and the worker has `topic.creation.enable` (true by default).
    pub fn from_config(worker: &Config, connector: &Config) -> Result<Option<TopicCreation>> {
        if !worker.bool_or("topic.creation.enable", true)? {
            return Ok(None);
        }
        if connector
            .subset("topic.creation.default.")
            .as_map()
            .is_empty()
        {
            return Ok(None);
        }
        let default = group(connector, "default", None)?;
        let groups = connector
            .list("topic.creation.groups")
            .iter()
            .map(|g| group(connector, g, Some(&default)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(TopicCreation { groups, default }))
    }

    /// The group a topic is created by: the first listed group that
    /// includes and does not exclude it, else the default.
    pub fn group_for(&self, topic: &str) -> &CreationGroup {
        self.groups
            .iter()
            .find(|g| g.matches(topic))
            .unwrap_or(&self.default)
    }

    /// Creates `topic` as its group says; an existing topic is left alone.
    pub async fn create(&self, client: &ClientConfig, topic: &str) -> Result<()> {
        let group = self.group_for(topic);
        let admin: AdminClient<DefaultClientContext> = client
            .create()
            .map_err(|e| ConnectError::Kafka(format!("admin client: {e}")))?;
        let mut new = NewTopic::new(
            topic,
            group.partitions,
            TopicReplication::Fixed(group.replication),
        );
        for (k, v) in &group.configs {
            new = new.set(k, v);
        }
        let results = admin
            .create_topics(&[new], &AdminOptions::new())
            .await
            .map_err(|e| ConnectError::Kafka(format!("cannot create topic {topic}: {e}")))?;
        for r in results {
            match r {
                Ok(_) => {
                    tracing::info!(%topic, group = %group.name, partitions = group.partitions, "created a source topic")
                }
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(ConnectError::Kafka(format!(
                        "cannot create topic {topic}: {code}"
                    )))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_pick_topics_by_include_and_exclude_and_inherit_the_defaults() {
        // The example of Kafka's documentation (KIP-158, "Topic creation
        // for source connectors").
        let connector = Config::from_pairs([
            ("topic.creation.groups", "compacted,highly_parallel"),
            ("topic.creation.default.replication.factor", "3"),
            ("topic.creation.default.partitions", "5"),
            ("topic.creation.compacted.include", "compacted.*"),
            ("topic.creation.compacted.cleanup.policy", "compact"),
            (
                "topic.creation.highly_parallel.include",
                "hp.*,highly_parallel.*",
            ),
            ("topic.creation.highly_parallel.exclude", "hp_lowpri.*"),
            ("topic.creation.highly_parallel.partitions", "100"),
        ]);
        let rules = TopicCreation::from_config(&Config::default(), &connector)
            .unwrap()
            .unwrap();
        let compacted = rules.group_for("compacted_orders");
        assert_eq!(
            (
                compacted.name.as_str(),
                compacted.partitions,
                compacted.replication
            ),
            ("compacted", 5, 3)
        );
        assert_eq!(
            compacted.configs.get("cleanup.policy").map(String::as_str),
            Some("compact")
        );
        assert_eq!(rules.group_for("hp_clicks").partitions, 100);
        assert_eq!(rules.group_for("hp_lowpri_logs").name, "default");
        assert_eq!(rules.group_for("other").name, "default");
    }

    #[test]
    fn without_default_settings_or_with_creation_off_nothing_is_created() {
        assert!(
            TopicCreation::from_config(&Config::default(), &Config::default())
                .unwrap()
                .is_none()
        );
        let connector = Config::from_pairs([
            ("topic.creation.default.replication.factor", "-1"),
            ("topic.creation.default.partitions", "2"),
        ]);
        let off = Config::from_pairs([("topic.creation.enable", "false")]);
        assert!(TopicCreation::from_config(&off, &connector)
            .unwrap()
            .is_none());
        let missing = Config::from_pairs([("topic.creation.default.partitions", "2")]);
        let err = TopicCreation::from_config(&Config::default(), &missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("topic.creation.default.replication.factor"),
            "{err}"
        );
    }
}
