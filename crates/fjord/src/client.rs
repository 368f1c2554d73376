//! Options shared by every client-side subcommand, and the helpers that turn
//! them into librdkafka clients.
//!
//! Every client subcommand reaches the broker only through the Kafka protocol
//! (DESIGN.md, "One rule for scale-out"), so the same command works against
//! the embedded broker and against any Kafka cluster. The precedence of
//! settings is: librdkafka's own defaults, then the defaults a subcommand
//! chooses for its purpose (see [`ClientArgs::config_with`]), then the user's
//! `-X key=value` settings, which always win.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::util::Timeout;

/// How long admin requests (CreateTopics, ListOffsets, ...) may take before
/// the command gives up: long enough for a busy cluster electing leaders.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the first metadata request may take. It is the first contact
/// with the cluster, so this bounds how long a mistyped
/// `--bootstrap-servers` or a stopped broker takes to report.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options every client subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Kafka bootstrap servers, comma-separated HOST:PORT list (the embedded
    /// broker, or any Kafka cluster).
    #[arg(
        long,
        short = 'b',
        env = "FJORD_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT,..."
    )]
    pub bootstrap_servers: String,

    /// librdkafka client setting, e.g. `-X security.protocol=SASL_SSL
    /// -X sasl.mechanism=PLAIN`. Repeatable; overrides Fjord's own defaults.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub client_config: Vec<(String, String)>,
}

impl ClientArgs {
    /// A librdkafka configuration with the bootstrap servers, the given
    /// subcommand defaults, and the user's `-X` settings applied last so they
    /// override both.
    pub fn config_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.client_config {
            config.set(key, value);
        }
        config
    }

    /// An admin client (CreateTopics, DeleteTopics, DescribeConfigs, ...).
    ///
    /// librdkafka makes admin clients of the producer type, whose metadata
    /// requests would auto-create the topic they ask about; looking a topic
    /// up must never create it.
    pub fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        self.config_with(&[("allow.auto.create.topics", "false")])
            .create()
            .context("cannot create Kafka admin client (check the -X settings)")
    }
}

/// Parses `KEY=VALUE` (the value may itself contain `=`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// Runs an rdkafka future (admin calls) to completion on a small runtime.
/// The CLI is otherwise synchronous: one command, one request at a time.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Metadata for one existing topic, or a clear error when it does not exist.
///
/// librdkafka asks for a single topic with `allow_auto_topic_creation` taken
/// from `allow.auto.create.topics` (false by default), so looking a topic up
/// never creates it.
pub fn topic_metadata<C>(client: &rdkafka::client::Client<C>, topic: &str) -> Result<Metadata>
where
    C: rdkafka::client::ClientContext,
{
    let metadata = client
        .fetch_metadata(Some(topic), Timeout::After(METADATA_TIMEOUT))
        .with_context(|| format!("cannot fetch metadata for topic `{topic}`"))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!("topic `{topic}` not found");
    };
    match found.error() {
        None => {}
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
            bail!("topic `{topic}` does not exist")
        }
        Some(err) => {
            let code = rdkafka::error::RDKafkaErrorCode::from(err);
            return Err(anyhow!("metadata for topic `{topic}` failed: {code}"));
        }
    }
    if found.partitions().is_empty() {
        bail!("topic `{topic}` has no partitions (it may still be being created)");
    }
    Ok(metadata)
}

/// The partitions a command works on: all of `existing` when none were
/// requested, else the requested ones, each checked to exist.
pub fn select_partitions(
    topic: &str,
    existing: std::collections::BTreeSet<i32>,
    requested: &[i32],
) -> Result<std::collections::BTreeSet<i32>> {
    if requested.is_empty() {
        return Ok(existing);
    }
    for p in requested {
        if !existing.contains(p) {
            bail!(
                "topic `{topic}` has {} partition(s); partition {p} does not exist",
                existing.len()
            );
        }
    }
    Ok(requested.iter().copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_first_equals() {
        assert_eq!(
            parse_key_value("sasl.password=a=b").unwrap(),
            ("sasl.password".to_string(), "a=b".to_string())
        );
        assert_eq!(
            parse_key_value("k=").unwrap(),
            ("k".to_string(), String::new())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }

    #[test]
    fn user_settings_override_defaults() {
        let args = ClientArgs {
            bootstrap_servers: "h:1".into(),
            client_config: vec![("linger.ms".into(), "7".into())],
        };
        let config = args.config_with(&[("linger.ms", "0"), ("acks", "all")]);
        assert_eq!(config.get("linger.ms"), Some("7"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("bootstrap.servers"), Some("h:1"));
    }
}
