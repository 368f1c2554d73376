//! Settings as Kafka Connect takes them: string keys and string values,
//! from `.properties` files (standalone mode) or JSON objects (the REST
//! API), read through typed getters that report a bad value the way
//! Kafka Connect does ("Invalid value x for configuration y: ...").

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{ConnectError, Result};

/// A connector's, task's, transform's or worker's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    values: BTreeMap<String, String>,
}

impl Config {
    pub fn new(values: BTreeMap<String, String>) -> Config {
        Config { values }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Config {
        Config {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Parses Java `.properties` text (see [`parse_properties`]).
    pub fn from_properties(text: &str) -> Config {
        Config {
            values: parse_properties(text),
        }
    }

    /// A JSON object of settings as the REST API receives them; numbers
    /// and booleans are accepted and kept as their text, as Kafka Connect
    /// does.
    pub fn from_json(object: &serde_json::Map<String, serde_json::Value>) -> Result<Config> {
        let mut values = BTreeMap::new();
        for (k, v) in object {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(ConnectError::config(
                        k,
                        &other.to_string(),
                        "a setting must be a string, number or boolean",
                    ))
                }
            };
            values.insert(k.clone(), text);
        }
        Ok(Config { values })
    }

    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.values.insert(key.into(), value.into());
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.values.remove(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The raw value, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value trimmed, None when unset or blank.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|s| !s.is_empty())
    }

    pub fn required(&self, key: &str) -> Result<&str> {
        self.string(key).ok_or_else(|| {
            ConnectError::config(
                key,
                "null",
                "Missing required configuration with no default value",
            )
        })
    }

    pub fn string_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.string(key).unwrap_or(default)
    }

    /// A comma-separated list, entries trimmed, empties dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key).map(split_list).unwrap_or_default()
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.string(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ConnectError::config(
                key,
                v,
                "Expected value to be either true or false",
            )),
        }
    }

    pub fn i64_or(&self, key: &str, default: i64) -> Result<i64> {
        match self.string(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ConnectError::config(key, v, "Not a number of type LONG")),
        }
    }

    pub fn i32_or(&self, key: &str, default: i32) -> Result<i32> {
        match self.string(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ConnectError::config(key, v, "Not a number of type INT")),
        }
    }

    /// A non-negative millisecond setting as a duration.
    pub fn millis_or(&self, key: &str, default_ms: u64) -> Result<Duration> {
        let ms = self.i64_or(key, default_ms as i64)?;
        if ms < 0 {
            return Err(ConnectError::config(
                key,
                &ms.to_string(),
                "Value must be at least 0",
            ));
        }
        Ok(Duration::from_millis(ms as u64))
    }

    /// One of `allowed` (case-insensitive), returned in lower case.
    pub fn choice_or(&self, key: &str, allowed: &[&str], default: &str) -> Result<String> {
        let v = self.string_or(key, default);
        let lower = v.to_ascii_lowercase();
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(&lower)) {
            Ok(lower)
        } else {
            Err(ConnectError::config(
                key,
                v,
                format!("String must be one of: {}", allowed.join(", ")),
            ))
        }
    }

    /// The settings under `prefix`, with the prefix removed
    /// (`transforms.route.` gives a transform its own settings).
    pub fn subset(&self, prefix: &str) -> Config {
        Config {
            values: self
                .values
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(prefix)
                        .map(|rest| (rest.to_string(), v.clone()))
                })
                .collect(),
        }
    }
}

/// Splits a comma-separated list, trimming entries and dropping empties.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses Java `.properties` text: `key=value`, `key: value` or
/// `key value`; `#` and `!` comment lines; a trailing backslash continues
/// a line; `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\<char>` escapes.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let mut logical = first.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        out.insert(unescape(key), unescape(value));
    }
    out
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace; whitespace around
/// the separator is skipped.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_as_java_reads_them() {
        let text = "# comment\n! also a comment\nname=local-file-source\nconnector.class : FileStreamSource\n\
                    tasks.max 1\nfile=/tmp/a\\\n    b.txt\nunicode=caf\\u00e9\nescaped\\=key=v\nempty=\n";
        let p = parse_properties(text);
        assert_eq!(p["name"], "local-file-source");
        assert_eq!(p["connector.class"], "FileStreamSource");
        assert_eq!(p["tasks.max"], "1");
        assert_eq!(p["file"], "/tmp/ab.txt");
        assert_eq!(p["unicode"], "café");
        assert_eq!(p["escaped=key"], "v");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 7);
    }

    #[test]
    fn typed_getters_report_bad_values_in_kafka_connects_words() {
        let c = Config::from_pairs([
            ("batch.size", "lots"),
            ("delete.enabled", "TRUE"),
            ("t.a", "1"),
        ]);
        let err = c.i32_or("batch.size", 3000).unwrap_err().to_string();
        assert_eq!(
            err,
            "Invalid value \"lots\" for configuration batch.size: Not a number of type INT"
        );
        assert!(c.bool_or("delete.enabled", false).unwrap());
        assert_eq!(c.i32_or("missing", 5).unwrap(), 5);
        assert_eq!(c.subset("t.").get("a"), Some("1"));
        assert!(c.required("nope").is_err());
    }
}
