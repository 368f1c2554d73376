//! The JDBC source's settings: Confluent's keys and defaults
//! (<https://docs.confluent.io/kafka-connectors/jdbc/current/source-connector/source_config_options.html>).

use std::time::Duration;

use super::dialect::{to_sqlx_url, Quoting};
use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};

/// How new rows are found (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole table every poll.
    Bulk,
    /// Rows whose strictly increasing column exceeds the last one seen.
    Incrementing,
    /// Rows whose timestamp is newer than the last one seen.
    Timestamp,
    /// Both: a timestamp, ties broken by the incrementing column.
    TimestampIncrementing,
}

impl Mode {
    pub fn uses_incrementing(self) -> bool {
        matches!(self, Mode::Incrementing | Mode::TimestampIncrementing)
    }

    pub fn uses_timestamp(self) -> bool {
        matches!(self, Mode::Timestamp | Mode::TimestampIncrementing)
    }
}

/// The task config key listing a task's tables (Confluent's `tables`).
pub const TABLES_KEY: &str = "tables";

#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub url: String,
    pub connection_attempts: u32,
    pub connection_backoff: Duration,
    pub mode: Mode,
    pub incrementing_column: Option<String>,
    /// Several columns are read as `COALESCE(a, b, ...)`, as Confluent does.
    pub timestamp_columns: Vec<String>,
    pub whitelist: Vec<String>,
    pub blacklist: Vec<String>,
    pub query: Option<String>,
    pub topic_prefix: String,
    pub poll_interval: Duration,
    pub batch_max_rows: usize,
    /// Rows younger than this are left for a later poll (transactions
    /// that commit late with an earlier timestamp).
    pub timestamp_delay: Duration,
    /// Where timestamp mode starts without a stored offset: epoch ms, or
    /// None for the epoch; `-1` in the setting means "now".
    pub timestamp_initial_ms: Option<i64>,
    pub quoting: Quoting,
    pub zone_name: String,
}

impl SourceSettings {
    pub fn parse(config: &Config) -> Result<SourceSettings> {
        let url = to_sqlx_url(
            config.required("connection.url")?,
            config.string("connection.user"),
            config.string("connection.password"),
        )?;
        let mode =
            match config.required("mode")?.to_ascii_lowercase().as_str() {
                "bulk" => Mode::Bulk,
                "incrementing" => Mode::Incrementing,
                "timestamp" => Mode::Timestamp,
                "timestamp+incrementing" => Mode::TimestampIncrementing,
                other => return Err(ConnectError::config(
                    "mode",
                    other,
                    "String must be one of: bulk, timestamp, incrementing, timestamp+incrementing",
                )),
            };
        let incrementing_column = config
            .string("incrementing.column.name")
            .map(str::to_string);
        let timestamp_columns = config.list("timestamp.column.name");
        if mode.uses_incrementing() && incrementing_column.is_none() {
            return Err(ConnectError::config(
                "incrementing.column.name",
                "",
                format!(
                    "mode {} needs incrementing.column.name",
                    config.string_or("mode", "")
                ),
            ));
        }
        if mode.uses_timestamp() && timestamp_columns.is_empty() {
            return Err(ConnectError::config(
                "timestamp.column.name",
                "",
                format!(
                    "mode {} needs timestamp.column.name",
                    config.string_or("mode", "")
                ),
            ));
        }
        let query = config.string("query").map(str::to_string);
        let whitelist = config.list("table.whitelist");
        let blacklist = config.list("table.blacklist");
        if query.is_some() && !(whitelist.is_empty() && blacklist.is_empty()) {
            return Err(ConnectError::config(
                "query",
                query.as_deref().unwrap_or_default(),
                "query cannot be combined with table.whitelist or table.blacklist",
            ));
        }
        if !whitelist.is_empty() && !blacklist.is_empty() {
            return Err(ConnectError::config(
                "table.blacklist",
                &blacklist.join(","),
                "table.whitelist and table.blacklist are exclusive",
            ));
        }
        let batch_max_rows = config.i32_or("batch.max.rows", 100)?;
        if batch_max_rows < 1 {
            return Err(ConnectError::config(
                "batch.max.rows",
                &batch_max_rows.to_string(),
                "Value must be at least 1",
            ));
        }
        let quoting = match config
            .choice_or("quote.sql.identifiers", &["always", "never"], "always")?
            .as_str()
        {
            "never" => Quoting::Never,
            _ => Quoting::Always,
        };
        let timestamp_initial_ms = match config.i64_or("timestamp.initial", i64::MIN)? {
            i64::MIN => None,
            -1 => Some(jiff::Timestamp::now().as_millisecond()),
            ms => Some(ms),
        };
        Ok(SourceSettings {
            url,
            connection_attempts: config.i32_or("connection.attempts", 3)?.max(1) as u32,
            connection_backoff: config.millis_or("connection.backoff.ms", 10_000)?,
            mode,
            incrementing_column,
            timestamp_columns,
            whitelist,
            blacklist,
            query,
            topic_prefix: config.required("topic.prefix")?.to_string(),
            poll_interval: config.millis_or("poll.interval.ms", 5000)?,
            batch_max_rows: batch_max_rows as usize,
            timestamp_delay: config.millis_or("timestamp.delay.interval.ms", 0)?,
            timestamp_initial_ms,
            quoting,
            zone_name: config.string_or("db.timezone", "UTC").to_string(),
        })
    }
}

/// Splits `tables` into at most `groups` contiguous groups of nearly
/// equal size, as Kafka Connect's `ConnectorUtils.groupPartitions` does.
pub fn group_tables(tables: &[String], groups: usize) -> Vec<Vec<String>> {
    let groups = groups.clamp(1, tables.len().max(1));
    let per = tables.len() / groups;
    let extra = tables.len() % groups;
    let mut out = Vec::new();
    let mut start = 0;
    for g in 0..groups {
        let size = per + usize::from(g < extra);
        out.push(tables[start..start + size].to_vec());
        start += size;
    }
    out.retain(|g| !g.is_empty());
    out
}

/// The source's declared settings, for the validate endpoint.
pub fn source_config_def() -> ConfigDef {
    let k = |name: &str, kind: ConfigType, importance: Importance, doc: &str| {
        ConfigKey::new(name, kind, importance, doc)
    };
    use ConfigType as T;
    use Importance as I;
    ConfigDef::new()
        .define(k("connection.url", T::String, I::High, "JDBC connection URL (jdbc:sqlite:, jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://) or a sqlx URL.").group("Database"))
        .define(k("connection.user", T::String, I::High, "JDBC connection user.").default("").group("Database"))
        .define(k("connection.password", T::Password, I::High, "JDBC connection password.").default("").group("Database"))
        .define(k("connection.attempts", T::Int, I::Low, "Maximum number of attempts to retrieve a valid JDBC connection.").default("3").group("Database"))
        .define(k("connection.backoff.ms", T::Long, I::Low, "Backoff time in milliseconds between connection attempts.").default("10000").group("Database"))
        .define(k("table.whitelist", T::List, I::Medium, "List of tables to include in copying. If specified, table.blacklist may not be set.").default("").group("Database"))
        .define(k("table.blacklist", T::List, I::Medium, "List of tables to exclude from copying. If specified, table.whitelist may not be set.").default("").group("Database"))
        .define(k("mode", T::String, I::High, "The mode for updating a table each time it is polled.").one_of(&["bulk", "timestamp", "incrementing", "timestamp+incrementing"]).group("Mode"))
        .define(k("incrementing.column.name", T::String, I::Medium, "The name of the strictly incrementing column to use to detect new rows.").default("").group("Mode"))
        .define(k("timestamp.column.name", T::List, I::Medium, "Comma-separated list of one or more timestamp columns to detect new or modified rows using the COALESCE SQL function.").default("").group("Mode"))
        .define(k("timestamp.initial", T::String, I::Low, "The epoch timestamp (ms) used for initial queries that use timestamp criteria; -1 for the current time.").default("").group("Mode"))
        .define(k("query", T::String, I::Medium, "If specified, the query to perform to select new or updated rows.").default("").group("Mode"))
        .define(k("quote.sql.identifiers", T::String, I::Medium, "When to quote table names, column names, and other identifiers in SQL statements.").default("always").one_of(&["always", "never"]).group("Mode"))
        .define(k("poll.interval.ms", T::Int, I::High, "Frequency in ms to poll for new data in each table.").default("5000").group("Connector"))
        .define(k("batch.max.rows", T::Int, I::Low, "Maximum number of rows to include in a single batch when polling for new data.").default("100").group("Connector"))
        .define(k("topic.prefix", T::String, I::High, "Prefix to prepend to table names to generate the name of the Kafka topic to publish data to, or in the case of a custom query, the full name of the topic.").group("Connector"))
        .define(k("timestamp.delay.interval.ms", T::Long, I::High, "How long to wait after a row with certain timestamp appears before we include it in the result.").default("0").group("Connector"))
        .define(k("db.timezone", T::String, I::Medium, "Name of the JDBC timezone used in the connector when querying with time-based criteria.").default("UTC").group("Connector"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_grouped_contiguously() {
        let t: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            group_tables(&t, 2),
            vec![vec!["a", "b", "c"], vec!["d", "e"]]
        );
        assert_eq!(group_tables(&t, 9).len(), 5);
        assert_eq!(group_tables(&[], 3), Vec::<Vec<String>>::new());
    }
}
