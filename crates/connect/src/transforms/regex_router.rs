//! `RegexRouter`: renames the topic when the whole name matches `regex`
//! (Java's `Matcher.matches()`), to `replacement` with `$1`-style group
//! references (Java's `Matcher.replaceFirst` syntax, translated once to
//! the regex crate's).
//!
//! Patterns are the regex crate's, which reads Java's common syntax alike
//! (classes, groups, `(?<name>...)`, `(?i)`); what it cannot express
//! (look-around, back-references, possessive quantifiers) is refused when
//! the connector is configured, with the parser's message, never at the
//! first record. `TopicNameMatches` shares [`full_match`].

use regex::Regex;

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::util::Side;
use super::Transform;

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "regex",
                ConfigType::String,
                Importance::High,
                "Regular expression to use for matching.",
            )
            .validator(|v| full_match(v).map(|_| ())),
        )
        .define(ConfigKey::new(
            "replacement",
            ConfigType::String,
            Importance::High,
            "Replacement string.",
        ))
}

/// `pattern` anchored at both ends, as Java's `matches()` applies it.
pub fn full_match(pattern: &str) -> Result<Regex, String> {
    refuse_possessive(pattern)?;
    Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(|e| format!("Invalid regex: {e}"))
}

/// Refuses Java's possessive quantifiers (`a++`, `a*+`, `a?+`, `a{2}+`):
/// the regex crate reads `a++` as `(a+)+`, which matches where the
/// possessive form (no backtracking) would not, so accepting it would
/// change the pattern's meaning silently.
fn refuse_possessive(pattern: &str) -> Result<(), String> {
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => in_class = true,
            ']' => in_class = false,
            '+' | '*' | '?' | '}' if !in_class && chars.peek() == Some(&'+') => {
                return Err(format!(
                    "Invalid regex: possessive quantifier {c}+ in {pattern} is not supported"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Translates a Java replacement string (`$1`, `${name}`, `\$` for a
/// literal dollar) to the regex crate's (`${1}`, `${name}`, `$$`).
/// `groups` is the pattern's number of capture groups: Java reads `$12`
/// as group 12 only when there are that many, else as group 1 then `2`.
pub fn translate_replacement(java: &str, groups: usize) -> Result<String, String> {
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err("character to be escaped is missing".to_string()),
            },
            '$' => {
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) if ch.is_ascii_alphanumeric() => name.push(ch),
                            _ => {
                                return Err(
                                    "named capturing group is missing trailing '}'".to_string()
                                )
                            }
                        }
                    }
                    if !name.starts_with(|ch: char| ch.is_ascii_alphabetic()) {
                        return Err("capturing group name {".to_string()
                            + &name
                            + "} starts with digit character");
                    }
                    out.push_str(&format!("${{{name}}}"));
                    continue;
                }
                let Some(first) = chars.peek().and_then(|ch| ch.to_digit(10)) else {
                    return Err("Illegal group reference".to_string());
                };
                chars.next();
                let mut number = first as usize;
                while let Some(d) = chars.peek().and_then(|ch| ch.to_digit(10)) {
                    let next = number * 10 + d as usize;
                    if next > groups {
                        break;
                    }
                    number = next;
                    chars.next();
                }
                if number > groups {
                    return Err(format!("No group {number}"));
                }
                out.push_str(&format!("${{{number}}}"));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

pub struct RegexRouter {
    regex: Regex,
    replacement: String,
}

pub fn build(config: &Config, _side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(RegexRouter::new(config)?))
}

impl RegexRouter {
    pub fn new(config: &Config) -> Result<RegexRouter> {
        let pattern = config.required("regex")?;
        let regex = full_match(pattern).map_err(|m| ConnectError::config("regex", pattern, m))?;
        let java = config.get("replacement").ok_or_else(|| {
            ConnectError::config(
                "replacement",
                "null",
                "Missing required configuration \"replacement\" which has no default value.",
            )
        })?;
        let replacement = translate_replacement(java, regex.captures_len() - 1)
            .map_err(|m| ConnectError::config("replacement", java, m))?;
        Ok(RegexRouter { regex, replacement })
    }
}

impl Transform for RegexRouter {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.regex.is_match(&record.topic) {
            record.topic = self
                .regex
                .replace(&record.topic, self.replacement.as_str())
                .into_owned();
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;

    fn route(regex: &str, replacement: &str, topic: &str) -> String {
        let cfg = Config::from_pairs([("regex", regex), ("replacement", replacement)]);
        let mut t = RegexRouter::new(&cfg).unwrap();
        let r = ConnectRecord::new(topic, None, Value::Null, None, Value::Null);
        t.apply(r).unwrap().unwrap().topic
    }

    #[test]
    fn documented_examples_route() {
        // Confluent's RegexRouter page (docs.confluent.io): "dropPrefix",
        // regex=soe-(.*), replacement=$1: soe-Order becomes Order; and
        // "AddPrefix", regex=.*, replacement=acme_$0: Order becomes acme_Order.
        assert_eq!(route("soe-(.*)", "$1", "soe-Order"), "Order");
        assert_eq!(route(".*", "acme_$0", "Order"), "acme_Order");
        assert_eq!(route("(.*)-(.*)", "$2", "orders-eu"), "eu");
        assert_eq!(
            route(
                "dbserver1\\.inventory\\.(.*)",
                "$1",
                "dbserver1.inventory.orders"
            ),
            "orders"
        );
        assert_eq!(route("(.*)", "$1_copy", "bids"), "bids_copy");
    }

    #[test]
    fn only_a_full_match_renames() {
        assert_eq!(route("ord", "x", "orders"), "orders");
        assert_eq!(route("ord.*", "x", "orders"), "x");
    }

    #[test]
    fn java_replacements_translate() {
        assert_eq!(translate_replacement("$1a", 1).unwrap(), "${1}a");
        assert_eq!(translate_replacement("$12", 1).unwrap(), "${1}2");
        assert_eq!(translate_replacement("$12", 12).unwrap(), "${12}");
        assert_eq!(translate_replacement("${name}-x", 1).unwrap(), "${name}-x");
        assert_eq!(translate_replacement("cost\\$5", 0).unwrap(), "cost$$5");
        assert_eq!(translate_replacement("a\\\\b", 0).unwrap(), "a\\b");
        assert!(translate_replacement("$x", 1).is_err());
        assert!(translate_replacement("$2", 1).is_err());
        assert_eq!(
            route("(?<region>[a-z]+)-(\\d+)", "${region}_$2", "eu-1"),
            "eu_1"
        );
    }

    #[test]
    fn java_syntax_the_regex_crate_shares_works_and_the_rest_is_refused() {
        assert_eq!(route("(?i)ORDERS-(.*)", "o-$1", "orders-1"), "o-1");
        assert_eq!(route("[a-z]+\\.(\\w+)", "$1", "db.users"), "users");
        for java_only in ["(?=a)a", "(a)\\1", "a++"] {
            let cfg = Config::from_pairs([("regex", java_only), ("replacement", "x")]);
            assert!(RegexRouter::new(&cfg).is_err(), "{java_only}");
        }
    }

    #[test]
    fn bad_settings_are_refused_when_built() {
        let bad = Config::from_pairs([("regex", "(unclosed"), ("replacement", "x")]);
        let err = RegexRouter::new(&bad).err().unwrap();
        assert!(matches!(err, ConnectError::Config { ref key, .. } if key == "regex"));
        let bad = Config::from_pairs([("regex", "(a)"), ("replacement", "$3")]);
        assert!(RegexRouter::new(&bad).is_err());
        assert!(RegexRouter::new(&Config::from_pairs([("regex", "a")])).is_err());
    }
}
