//! Single message transforms and their predicates (`transforms.*`,
//! `predicates.*`), as Kafka Connect configures them.
//!
//! A connector config names a chain of transforms (`transforms=a,b`), each
//! with its class (`transforms.a.type`) and its own settings under
//! `transforms.a.`; a transform may run only for records a predicate
//! matches (`transforms.a.predicate=p`, `transforms.a.negate=true` for
//! the others), the predicates declared alike under `predicates.`. Users
//! paste configs written for Kafka Connect, so class names, keys, defaults
//! and error wording are Kafka's (Apache Kafka 3.9,
//! `org.apache.kafka.connect.transforms`).
//!
//! Built in (`org.apache.kafka.connect.transforms.`, each family a file):
//! `Cast`, `ExtractField`, `Flatten`, `HeaderFrom`, `HoistField`, `InsertField`,
//! `MaskField`, `ReplaceField`, `SetSchemaMetadata`, `TimestampConverter`
//! (each as `$Key` and `$Value`), `DropHeaders`, `Filter`, `InsertHeader`,
//! `RegexRouter`, `TimestampRouter`, `ValueToKey`; predicates
//! (`...transforms.predicates.`) `HasHeaderKey`, `RecordIsTombstone`,
//! `TopicNameMatches`. A class may also be named without its package
//! (`InsertField$Value`). Java date patterns go through
//! [`java_time_format`].
//!
//! What the runtime calls: [`TransformChain::from_config`] once per task,
//! then [`TransformChain::apply`] (or [`TransformChain::apply_traced`],
//! which names the failing stage) per record; the validate endpoint uses
//! [`chain_config_def`] for a connector's `transforms.*`/`predicates.*`
//! keys and [`config_def_for`] for one class.
//!
//! Invariants a reader must keep:
//! - Every bad setting is refused when the chain is built
//!   ([`TransformChain::from_config`]), never at the first record, and
//!   the error names the full key (`transforms.a.regex`).
//! - Every transform handles records with a schema (a [`Struct`] and its
//!   schema) and without (a map with string keys); a transform that
//!   changes a schema caches the result per input schema
//!   ([`util::SchemaCache`]).
//! - Errors while applying are [`ConnectError::Transform`] with Kafka's
//!   message, naming the Java class the record's value would have been.
//!
//! [`Struct`]: crate::data::Struct

pub mod cast;
pub mod extract_field;
pub mod filter;
pub mod flatten;
pub mod header_from;
pub mod headers;
pub mod hoist_field;
pub mod insert_field;
pub mod java_time_format;
pub mod mask_field;
pub mod predicates;
pub mod regex_router;
pub mod replace_field;
pub mod set_schema_metadata;
pub mod timestamp_converter;
pub mod timestamp_router;
pub mod util;
pub mod value_to_key;

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

pub use util::Side;

/// `org.apache.kafka.connect.transforms.Transformation`.
pub trait Transform: Send {
    /// The transformed record, or None to drop it.
    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>>;
}

/// `org.apache.kafka.connect.transforms.predicates.Predicate`.
pub trait Predicate: Send {
    fn test(&self, record: &ConnectRecord) -> bool;
}

/// The package of Kafka's built-in transforms.
pub const TRANSFORMS_PACKAGE: &str = "org.apache.kafka.connect.transforms.";
/// The package of Kafka's built-in predicates.
pub const PREDICATES_PACKAGE: &str = "org.apache.kafka.connect.transforms.predicates.";

type BuildTransform = fn(&Config, Side) -> Result<Box<dyn Transform>>;
type BuildPredicate = fn(&Config) -> Result<Box<dyn Predicate>>;

/// A built-in transform class: its simple name (`InsertField$Value`),
/// declared settings, constructor, and the half it works on.
struct TransformClass {
    name: &'static str,
    config_def: fn() -> ConfigDef,
    build: BuildTransform,
    side: Side,
}

struct PredicateClass {
    name: &'static str,
    config_def: fn() -> ConfigDef,
    build: BuildPredicate,
}

macro_rules! keyed {
    ($family:literal, $module:ident) => {
        [
            TransformClass {
                name: concat!($family, "$Key"),
                config_def: $module::config_def,
                build: $module::build,
                side: Side::Key,
            },
            TransformClass {
                name: concat!($family, "$Value"),
                config_def: $module::config_def,
                build: $module::build,
                side: Side::Value,
            },
        ]
    };
}

fn transform_classes() -> Vec<TransformClass> {
    let mut classes = Vec::new();
    classes.extend(keyed!("Cast", cast));
    classes.extend(keyed!("ExtractField", extract_field));
    classes.push(TransformClass {
        name: "Filter",
        config_def: filter::config_def,
        build: filter::build,
        side: Side::Value,
    });
    classes.push(TransformClass {
        name: "DropHeaders",
        config_def: headers::drop_headers_config_def,
        build: headers::build_drop_headers,
        side: Side::Value,
    });
    classes.extend(keyed!("Flatten", flatten));
    classes.extend(keyed!("HeaderFrom", header_from));
    classes.extend(keyed!("HoistField", hoist_field));
    classes.extend(keyed!("InsertField", insert_field));
    classes.push(TransformClass {
        name: "InsertHeader",
        config_def: headers::insert_header_config_def,
        build: headers::build_insert_header,
        side: Side::Value,
    });
    classes.extend(keyed!("MaskField", mask_field));
    classes.push(TransformClass {
        name: "RegexRouter",
        config_def: regex_router::config_def,
        build: regex_router::build,
        side: Side::Value,
    });
    classes.extend(keyed!("ReplaceField", replace_field));
    classes.extend(keyed!("SetSchemaMetadata", set_schema_metadata));
    classes.extend(keyed!("TimestampConverter", timestamp_converter));
    classes.push(TransformClass {
        name: "TimestampRouter",
        config_def: timestamp_router::config_def,
        build: timestamp_router::build,
        side: Side::Value,
    });
    classes.push(TransformClass {
        name: "ValueToKey",
        config_def: value_to_key::config_def,
        build: value_to_key::build,
        side: Side::Value,
    });
    classes
}

fn predicate_classes() -> Vec<PredicateClass> {
    vec![
        PredicateClass {
            name: "HasHeaderKey",
            config_def: predicates::has_header_key_config_def,
            build: predicates::build_has_header_key,
        },
        PredicateClass {
            name: "RecordIsTombstone",
            config_def: ConfigDef::new,
            build: predicates::build_record_is_tombstone,
        },
        PredicateClass {
            name: "TopicNameMatches",
            config_def: predicates::topic_name_matches_config_def,
            build: predicates::build_topic_name_matches,
        },
    ]
}

/// The class's simple name when `class` names a built-in of `package`:
/// the fully qualified name, or the name without the package (Kafka
/// Connect's plugin aliases are the simple class names).
fn simple_name<'a>(class: &'a str, package: &str) -> &'a str {
    let class = class.trim();
    class.strip_prefix(package).unwrap_or(class)
}

fn find_transform(class: &str) -> Option<TransformClass> {
    let name = simple_name(class, TRANSFORMS_PACKAGE);
    transform_classes().into_iter().find(|c| c.name == name)
}

fn find_predicate(class: &str) -> Option<PredicateClass> {
    let name = simple_name(class, PREDICATES_PACKAGE);
    predicate_classes().into_iter().find(|c| c.name == name)
}

/// Every built-in transform's fully qualified class name.
pub fn transform_class_names() -> Vec<String> {
    transform_classes()
        .iter()
        .map(|c| format!("{TRANSFORMS_PACKAGE}{}", c.name))
        .collect()
}

/// Every built-in predicate's fully qualified class name.
pub fn predicate_class_names() -> Vec<String> {
    predicate_classes()
        .iter()
        .map(|c| format!("{PREDICATES_PACKAGE}{}", c.name))
        .collect()
}

/// The settings a transform or predicate class declares (unprefixed, as
/// `GET /connector-plugins/{class}/config` lists them), or None for a
/// class that is not built in.
pub fn config_def_for(class: &str) -> Option<ConfigDef> {
    if let Some(c) = find_transform(class) {
        return Some((c.config_def)());
    }
    find_predicate(class).map(|c| (c.config_def)())
}

/// The keys Kafka Connect adds to a connector's definition for its chain
/// (`EnrichedConnectorConfig`): per alias, `transforms.a.type`,
/// `.predicate`, `.negate` and the class's own keys prefixed; per
/// predicate, `predicates.p.type` and its keys. The validate endpoint
/// reports these beside the connector's own; classes that are not built
/// in contribute only their `type` key (whose check then fails).
pub fn chain_config_def(connector_config: &Config) -> ConfigDef {
    let mut def = ConfigDef::new();
    for alias in connector_config.list("transforms") {
        let prefix = format!("transforms.{alias}.");
        let group = format!("Transforms: {alias}");
        def = def.define(
            ConfigKey::new(
                &format!("{prefix}type"),
                ConfigType::Class,
                Importance::High,
                "Class for the 'transforms' transformation.",
            )
            .group(&group)
            .validator(|v| {
                find_transform(v)
                    .map(|_| ())
                    .ok_or_else(|| unknown_class_message(v, &transform_class_names()))
            }),
        );
        def = def.define(
            ConfigKey::new(
                &format!("{prefix}predicate"),
                ConfigType::String,
                Importance::Medium,
                "The alias of a predicate used to determine whether to apply this transformation.",
            )
            .default("")
            .group(&group),
        );
        def = def.define(
            ConfigKey::new(
                &format!("{prefix}negate"),
                ConfigType::Boolean,
                Importance::Medium,
                "Whether the configured predicate should be negated.",
            )
            .default("false")
            .group(&group),
        );
        let class = connector_config.get(&format!("{prefix}type")).unwrap_or("");
        if let Some(c) = find_transform(class) {
            def = def.extend(prefixed((c.config_def)(), &prefix, &group));
        }
    }
    for alias in connector_config.list("predicates") {
        let prefix = format!("predicates.{alias}.");
        let group = format!("Predicates: {alias}");
        def = def.define(
            ConfigKey::new(
                &format!("{prefix}type"),
                ConfigType::Class,
                Importance::High,
                "Class for the 'predicates' predicate.",
            )
            .group(&group)
            .validator(|v| {
                find_predicate(v)
                    .map(|_| ())
                    .ok_or_else(|| unknown_class_message(v, &predicate_class_names()))
            }),
        );
        let class = connector_config.get(&format!("{prefix}type")).unwrap_or("");
        if let Some(c) = find_predicate(class) {
            def = def.extend(prefixed((c.config_def)(), &prefix, &group));
        }
    }
    def
}

fn prefixed(def: ConfigDef, prefix: &str, group: &str) -> ConfigDef {
    ConfigDef {
        keys: def
            .keys
            .into_iter()
            .map(|mut k| {
                k.name = format!("{prefix}{}", k.name);
                k.group = Some(group.to_string());
                k
            })
            .collect(),
    }
}

fn unknown_class_message(class: &str, known: &[String]) -> String {
    format!(
        "Class {class} could not be found. Fjord's built-in classes are: {}",
        known.join(", ")
    )
}

/// Gives a config error from a transform's own settings its full key
/// (`regex` becomes `transforms.route.regex`).
fn with_prefix(err: ConnectError, prefix: &str) -> ConnectError {
    match err {
        ConnectError::Config {
            key,
            value,
            message,
        } => ConnectError::Config {
            key: format!("{prefix}{key}"),
            value,
            message,
        },
        other => other,
    }
}

/// One link of the chain: a transform and the predicate gating it
/// (Kafka's `TransformationStage`).
struct Stage {
    alias: String,
    /// The fully qualified class, for error reports.
    class: String,
    transform: Box<dyn Transform>,
    predicate: Option<Box<dyn Predicate>>,
    negate: bool,
}

/// A transform that failed on a record: its alias in `transforms`, its
/// fully qualified class, and the error.
#[derive(Debug)]
pub struct StageFailure {
    pub alias: String,
    pub class: String,
    pub error: ConnectError,
}

/// A connector's transforms, in order, built from its config.
pub struct TransformChain {
    stages: Vec<Stage>,
}

impl std::fmt::Debug for TransformChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let aliases: Vec<&str> = self.stages.iter().map(|s| s.alias.as_str()).collect();
        f.debug_struct("TransformChain")
            .field("stages", &aliases)
            .finish()
    }
}

impl TransformChain {
    /// Builds the chain a connector config declares; every setting of
    /// every transform and predicate is checked here.
    pub fn from_config(connector_config: &Config) -> Result<TransformChain> {
        let aliases = connector_config.list("transforms");
        check_unique(&aliases, "transforms")?;
        let predicate_aliases = connector_config.list("predicates");
        check_unique(&predicate_aliases, "predicates")?;
        // Build every declared predicate once, so a bad one is reported
        // even when no transform uses it (as Kafka Connect does).
        for alias in &predicate_aliases {
            build_predicate(connector_config, alias)?;
        }
        let mut stages = Vec::with_capacity(aliases.len());
        for alias in aliases {
            let prefix = format!("transforms.{alias}.");
            let type_key = format!("{prefix}type");
            let class_name = connector_config.required(&type_key)?;
            let class = find_transform(class_name).ok_or_else(|| {
                ConnectError::config(
                    &type_key,
                    class_name,
                    unknown_class_message(class_name, &transform_class_names()),
                )
            })?;
            let own = connector_config.subset(&prefix);
            let transform = (class.build)(&own, class.side).map_err(|e| with_prefix(e, &prefix))?;
            let predicate_key = format!("{prefix}predicate");
            let predicate = match connector_config.string(&predicate_key) {
                None => None,
                Some(p) if predicate_aliases.iter().any(|a| a == p) => {
                    Some(build_predicate(connector_config, p)?)
                }
                Some(p) => {
                    return Err(ConnectError::config(
                        &predicate_key,
                        p,
                        format!(
                            "Predicate '{p}' is not declared in 'predicates' (declared: [{}])",
                            predicate_aliases.join(", ")
                        ),
                    ))
                }
            };
            let negate = connector_config.bool_or(&format!("{prefix}negate"), false)?;
            stages.push(Stage {
                alias,
                class: format!("{TRANSFORMS_PACKAGE}{}", class.name),
                transform,
                predicate,
                negate,
            });
        }
        Ok(TransformChain { stages })
    }

    /// A chain that passes records through unchanged.
    pub fn empty() -> TransformChain {
        TransformChain { stages: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the record through every stage; None when one drops it.
    pub fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        self.apply_traced(record).map_err(|failure| failure.error)
    }

    /// As [`TransformChain::apply`], saying which stage failed: what the
    /// dead-letter headers report (`__connect.errors.class.name`).
    pub fn apply_traced(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, StageFailure> {
        for stage in &mut self.stages {
            let run = match &stage.predicate {
                None => true,
                Some(p) => p.test(&record) ^ stage.negate,
            };
            if !run {
                continue;
            }
            match stage.transform.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(error) => {
                    return Err(StageFailure {
                        alias: stage.alias.clone(),
                        class: stage.class.clone(),
                        error,
                    })
                }
            }
        }
        Ok(Some(record))
    }
}

fn check_unique(aliases: &[String], key: &str) -> Result<()> {
    for (i, a) in aliases.iter().enumerate() {
        if aliases[..i].contains(a) {
            return Err(ConnectError::config(
                key,
                &aliases.join(","),
                format!("Duplicate alias provided: {a}"),
            ));
        }
    }
    Ok(())
}

fn build_predicate(connector_config: &Config, alias: &str) -> Result<Box<dyn Predicate>> {
    let prefix = format!("predicates.{alias}.");
    let type_key = format!("{prefix}type");
    let class_name = connector_config.required(&type_key)?;
    let class = find_predicate(class_name).ok_or_else(|| {
        ConnectError::config(
            &type_key,
            class_name,
            unknown_class_message(class_name, &predicate_class_names()),
        )
    })?;
    (class.build)(&connector_config.subset(&prefix)).map_err(|e| with_prefix(e, &prefix))
}

#[cfg(test)]
mod tests;
