//! Kafka Connect's `ConfigDef`: the settings a connector, transform or
//! converter declares (type, default, importance, documentation), from
//! which `PUT /connector-plugins/{plugin}/config/validate` builds its
//! per-field report and `GET /connector-plugins/{plugin}/config` its list.

use serde_json::{json, Value as Json};

use crate::config::Config;

/// `ConfigDef.Type`, named as the REST API prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }

    /// Checks that `value` parses as this type; the message is Kafka's.
    fn check(self, value: &str) -> Result<(), String> {
        let v = value.trim();
        let ok = match self {
            ConfigType::Boolean => {
                v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
            }
            ConfigType::Int => v.parse::<i32>().is_ok(),
            ConfigType::Short => v.parse::<i16>().is_ok(),
            ConfigType::Long => v.parse::<i64>().is_ok(),
            ConfigType::Double => v.parse::<f64>().is_ok(),
            ConfigType::String | ConfigType::List | ConfigType::Class | ConfigType::Password => {
                true
            }
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            ConfigType::Boolean => "Expected value to be either true or false".to_string(),
            other => format!("Not a number of type {}", other.name()),
        })
    }
}

/// `ConfigDef.Importance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    High,
    Medium,
    Low,
}

impl Importance {
    pub fn name(self) -> &'static str {
        match self {
            Importance::High => "HIGH",
            Importance::Medium => "MEDIUM",
            Importance::Low => "LOW",
        }
    }
}

/// A check beyond the type: returns Kafka's message for a bad value.
pub type Validator = fn(&str) -> Result<(), String>;

/// One declared setting.
#[derive(Debug, Clone)]
pub struct ConfigKey {
    pub name: String,
    pub kind: ConfigType,
    /// None: required (no default).
    pub default: Option<String>,
    pub importance: Importance,
    pub documentation: String,
    pub group: Option<String>,
    pub display_name: String,
    /// Allowed values (shown as recommended values and enforced).
    pub allowed: Vec<String>,
    pub validator: Option<Validator>,
}

impl ConfigKey {
    pub fn new(
        name: &str,
        kind: ConfigType,
        importance: Importance,
        documentation: &str,
    ) -> ConfigKey {
        ConfigKey {
            name: name.to_string(),
            kind,
            default: None,
            importance,
            documentation: documentation.to_string(),
            group: None,
            display_name: name.to_string(),
            allowed: Vec::new(),
            validator: None,
        }
    }

    pub fn default(mut self, value: &str) -> ConfigKey {
        self.default = Some(value.to_string());
        self
    }

    pub fn group(mut self, group: &str) -> ConfigKey {
        self.group = Some(group.to_string());
        self
    }

    pub fn display(mut self, name: &str) -> ConfigKey {
        self.display_name = name.to_string();
        self
    }

    /// Restricts the value to one of these (case-insensitive).
    pub fn one_of(mut self, values: &[&str]) -> ConfigKey {
        self.allowed = values.iter().map(|v| v.to_string()).collect();
        self
    }

    pub fn validator(mut self, check: Validator) -> ConfigKey {
        self.validator = Some(check);
        self
    }

    /// The errors for this key's value in `config` (empty when fine).
    pub fn errors(&self, config: &Config) -> Vec<String> {
        let value = config.get(&self.name);
        let Some(value) = value.or(self.default.as_deref()) else {
            return vec![format!(
                "Missing required configuration \"{}\" which has no default value.",
                self.name
            )];
        };
        if value.trim().is_empty() && self.default.is_none() && self.kind != ConfigType::String {
            return vec![format!(
                "Missing required configuration \"{}\" which has no default value.",
                self.name
            )];
        }
        let mut errors = Vec::new();
        if let Err(message) = self.kind.check(value) {
            errors.push(format!(
                "Invalid value {value} for configuration {}: {message}",
                self.name
            ));
        } else if !self.allowed.is_empty()
            && !value.trim().is_empty()
            && !self
                .allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(value.trim()))
        {
            errors.push(format!(
                "Invalid value {value} for configuration {}: String must be one of: {}",
                self.name,
                self.allowed.join(", ")
            ));
        } else if let Some(check) = self.validator {
            if let Err(message) = check(value) {
                errors.push(format!(
                    "Invalid value {value} for configuration {}: {message}",
                    self.name
                ));
            }
        }
        errors
    }

    /// The `definition` object of the validate report.
    pub fn definition_json(&self, order: usize) -> Json {
        json!({
            "name": self.name,
            "type": self.kind.name(),
            "required": self.default.is_none(),
            "default_value": self.default,
            "importance": self.importance.name(),
            "documentation": self.documentation,
            "group": self.group,
            "width": "NONE",
            "display_name": self.display_name,
            "dependents": [],
            "order": order,
        })
    }
}

/// A plugin's declared settings, in display order.
#[derive(Debug, Clone, Default)]
pub struct ConfigDef {
    pub keys: Vec<ConfigKey>,
}

impl ConfigDef {
    pub fn new() -> ConfigDef {
        ConfigDef::default()
    }

    pub fn define(mut self, key: ConfigKey) -> ConfigDef {
        self.keys.push(key);
        self
    }

    /// Adds every key of `other` (a converter's or transform's keys).
    pub fn extend(mut self, other: ConfigDef) -> ConfigDef {
        self.keys.extend(other.keys);
        self
    }

    pub fn key(&self, name: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// Every key's report: `{"definition": ..., "value": ...}` as Kafka
    /// Connect's validate endpoint lists them, and the number of errors.
    pub fn validate(&self, config: &Config) -> (Vec<Json>, usize) {
        let mut error_count = 0;
        let configs = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let errors = key.errors(config);
                error_count += errors.len();
                let value = config
                    .get(&key.name)
                    .map(str::to_string)
                    .or(key.default.clone());
                let shown = if key.kind == ConfigType::Password && value.is_some() {
                    Some("[hidden]".to_string())
                } else {
                    value
                };
                json!({
                    "definition": key.definition_json(i + 1),
                    "value": {
                        "name": key.name,
                        "value": shown,
                        "recommended_values": key.allowed,
                        "errors": errors,
                        "visible": true,
                    }
                })
            })
            .collect();
        (configs, error_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_reports_missing_mistyped_and_disallowed_values() {
        let def = ConfigDef::new()
            .define(ConfigKey::new(
                "file",
                ConfigType::String,
                Importance::High,
                "the file",
            ))
            .define(
                ConfigKey::new("batch.size", ConfigType::Int, Importance::Low, "rows")
                    .default("3000"),
            )
            .define(
                ConfigKey::new("insert.mode", ConfigType::String, Importance::High, "mode")
                    .default("insert")
                    .one_of(&["insert", "upsert", "update"]),
            );
        let config = Config::from_pairs([("batch.size", "x"), ("insert.mode", "merge")]);
        let (report, errors) = def.validate(&config);
        assert_eq!(errors, 3);
        assert_eq!(
            report[0]["value"]["errors"][0],
            "Missing required configuration \"file\" which has no default value."
        );
        assert_eq!(
            report[1]["value"]["errors"][0],
            "Invalid value x for configuration batch.size: Not a number of type INT"
        );
        assert_eq!(report[2]["definition"]["default_value"], "insert");
        let ok = Config::from_pairs([("file", "/tmp/a"), ("insert.mode", "UPSERT")]);
        assert_eq!(def.validate(&ok).1, 0);
    }
}
