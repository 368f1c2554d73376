//! What Confluent's registry converters (`AvroConverter`,
//! `JsonSchemaConverter`) share: their settings, with Confluent's names
//! and defaults, the registry client, and the subject rule.
//!
//! Clients are shared per registry URL across every converter in the
//! process, so a worker asks the registry once per schema however many
//! connectors and tasks use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use fjord_registry::client::{RegisteredSchema, RegistryClient};
use fjord_registry::serde::SubjectNameStrategy;

use super::conversion;
use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};

pub const URL: &str = "schema.registry.url";
pub const AUTO_REGISTER: &str = "auto.register.schemas";
pub const USE_LATEST: &str = "use.latest.version";
pub const KEY_STRATEGY: &str = "key.subject.name.strategy";
pub const VALUE_STRATEGY: &str = "value.subject.name.strategy";
const TOPIC_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.TopicNameStrategy";

/// The registry converters' settings (`basic.auth.*` are accepted and not
/// used: Fjord's registry has no authentication yet).
pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            URL,
            ConfigType::List,
            Importance::High,
            "Comma-separated list of URLs for Schema Registry instances that can be used to \
             register or look up schemas.",
        ))
        .define(
            ConfigKey::new(
                AUTO_REGISTER,
                ConfigType::Boolean,
                Importance::Medium,
                "Specify if the Serializer should attempt to register the Schema with Schema \
                 Registry",
            )
            .default("true"),
        )
        .define(
            ConfigKey::new(
                USE_LATEST,
                ConfigType::Boolean,
                Importance::Low,
                "Specify if the Serializer should use the latest subject version for \
                 serialization",
            )
            .default("false"),
        )
        .define(
            ConfigKey::new(
                KEY_STRATEGY,
                ConfigType::Class,
                Importance::Medium,
                "Determines how to construct the subject name under which the key schema is \
                 registered with the schema registry.",
            )
            .default(TOPIC_NAME_STRATEGY)
            .validator(check_strategy),
        )
        .define(
            ConfigKey::new(
                VALUE_STRATEGY,
                ConfigType::Class,
                Importance::Medium,
                "Determines how to construct the subject name under which the value schema is \
                 registered with the schema registry.",
            )
            .default(TOPIC_NAME_STRATEGY)
            .validator(check_strategy),
        )
        .define(
            ConfigKey::new(
                "basic.auth.credentials.source",
                ConfigType::String,
                Importance::Medium,
                "Accepted for compatibility; Fjord's registry does not authenticate.",
            )
            .default("URL"),
        )
        .define(
            ConfigKey::new(
                "basic.auth.user.info",
                ConfigType::Password,
                Importance::Medium,
                "Accepted for compatibility; Fjord's registry does not authenticate.",
            )
            .default(""),
        )
}

fn check_strategy(value: &str) -> Result<(), String> {
    value.trim().parse::<SubjectNameStrategy>().map(|_| ())
}

/// A registry converter's resolved settings.
pub struct RegistrySettings {
    pub client: Arc<RegistryClient>,
    pub auto_register: bool,
    pub use_latest: bool,
    pub strategy: SubjectNameStrategy,
    pub is_key: bool,
    /// `use.latest.version`: each subject's latest version, asked once
    /// (Confluent's `latest.cache.ttl.sec` defaults to never expiring).
    latest: Mutex<HashMap<String, Arc<RegisteredSchema>>>,
}

impl RegistrySettings {
    pub fn new(settings: &Config, is_key: bool) -> Result<RegistrySettings> {
        let urls = settings.list(URL);
        let Some(url) = urls.first() else {
            return Err(ConnectError::config(
                URL,
                "null",
                "Missing required configuration \"schema.registry.url\" which has no default \
                 value.",
            ));
        };
        let strategy_key = if is_key { KEY_STRATEGY } else { VALUE_STRATEGY };
        let strategy_name = settings.string_or(strategy_key, TOPIC_NAME_STRATEGY);
        let strategy = strategy_name
            .parse()
            .map_err(|e: String| ConnectError::config(strategy_key, strategy_name, e))?;
        Ok(RegistrySettings {
            client: shared_client(url),
            auto_register: settings.bool_or(AUTO_REGISTER, true)?,
            use_latest: settings.bool_or(USE_LATEST, false)?,
            strategy,
            is_key,
            latest: Mutex::new(HashMap::new()),
        })
    }

    /// The subject for `topic` and a schema whose record name (if any) is
    /// `record_name`.
    pub fn subject(&self, topic: &str, record_name: Option<&str>) -> Result<String> {
        self.strategy
            .subject(topic, self.is_key, record_name)
            .map_err(|e| conversion(e.to_string()))
    }

    /// The latest version of `subject`, asked once.
    pub fn latest(&self, subject: &str) -> Result<Arc<RegisteredSchema>> {
        if let Some(s) = self.latest.lock().unwrap().get(subject) {
            return Ok(s.clone());
        }
        let s = blocking(|| self.client.latest_version(subject)).map_err(|e| {
            conversion(format!(
                "use.latest.version: cannot get the latest schema of subject {subject}: {e}"
            ))
        })?;
        self.latest
            .lock()
            .unwrap()
            .insert(subject.to_string(), s.clone());
        Ok(s)
    }
}

/// Runs `f`, which may wait on the registry over HTTP, without stalling
/// the async runtime the caller may be on: through `block_in_place` on a
/// multi-thread tokio runtime (its other tasks, an embedded registry's
/// included, keep running), else as it is. Converters call it only when
/// their caches miss, so the hot path never pays for it.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// One client per registry URL for the whole process.
fn shared_client(url: &str) -> Arc<RegistryClient> {
    static CLIENTS: OnceLock<Mutex<HashMap<String, Arc<RegistryClient>>>> = OnceLock::new();
    let url = url.trim_end_matches('/').to_string();
    CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(url.clone())
        .or_insert_with(|| Arc::new(RegistryClient::new(&url)))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_take_confluents_names_and_defaults() {
        let s = RegistrySettings::new(
            &Config::from_pairs([(URL, "http://a:8081/, http://b:8081")]),
            false,
        )
        .unwrap();
        assert_eq!(s.client.url(), "http://a:8081");
        assert!(s.auto_register && !s.use_latest);
        assert_eq!(s.subject("bids", None).unwrap(), "bids-value");
        let s = RegistrySettings::new(
            &Config::from_pairs([
                (URL, "http://a:8081"),
                (
                    KEY_STRATEGY,
                    "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
                ),
            ]),
            true,
        )
        .unwrap();
        assert_eq!(s.subject("bids", Some("x.Bid")).unwrap(), "bids-x.Bid");
        assert!(s.subject("bids", None).is_err());
        assert!(RegistrySettings::new(&Config::default(), false).is_err());
        let bad = Config::from_pairs([(URL, "http://a"), (VALUE_STRATEGY, "Nope")]);
        assert!(RegistrySettings::new(&bad, false).is_err());
        let (_, errors) = config_def().validate(&bad);
        assert_eq!(errors, 1);
    }
}
