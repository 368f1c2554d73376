//! The JDBC sink's settings: Confluent's keys and defaults
//! (<https://docs.confluent.io/kafka-connectors/jdbc/current/sink-connector/sink_config_options.html>),
//! plus Fjord's `exactly.once` and `offsets.table.name`.

use std::time::Duration;

use super::dialect::{to_sqlx_url, Quoting};
use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::error::{ConnectError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    Insert,
    Upsert,
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    None,
    Kafka,
    RecordKey,
    RecordValue,
}

/// The column names `pk.mode=kafka` uses when `pk.fields` is empty.
pub const KAFKA_PK_FIELDS: [&str; 3] =
    ["__connect_topic", "__connect_partition", "__connect_offset"];

/// The column name of a primitive key under `pk.mode=record_key` when
/// `pk.fields` is empty (Confluent requires one name; we default it).
pub const PRIMITIVE_KEY_FIELD: &str = "__connect_key";

pub const DEFAULT_OFFSETS_TABLE: &str = "__fjord_connect_offsets";

#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// The sqlx URL, credentials folded in.
    pub url: String,
    pub connection_attempts: u32,
    pub connection_backoff: Duration,
    /// `table.name.format`, `${topic}` replaced per record.
    pub table_format: String,
    pub insert_mode: InsertMode,
    pub pk_mode: PkMode,
    pub pk_fields: Vec<String>,
    pub delete_enabled: bool,
    pub auto_create: bool,
    pub auto_evolve: bool,
    /// Records per statement at most (the bind-parameter limit may cut
    /// statements shorter).
    pub batch_size: usize,
    pub max_retries: u32,
    pub retry_backoff: Duration,
    /// Value fields written; empty means all.
    pub fields_whitelist: Vec<String>,
    pub quoting: Quoting,
    pub zone_name: String,
    pub zone: jiff::tz::TimeZone,
    /// Fjord: rows and each partition's next offset in one transaction.
    pub exactly_once: bool,
    pub offsets_table: String,
}

impl SinkSettings {
    pub fn parse(config: &Config) -> Result<SinkSettings> {
        let url = to_sqlx_url(
            config.required("connection.url")?,
            config.string("connection.user"),
            config.string("connection.password"),
        )?;
        let insert_mode = match config
            .choice_or("insert.mode", &["insert", "upsert", "update"], "insert")?
            .as_str()
        {
            "upsert" => InsertMode::Upsert,
            "update" => InsertMode::Update,
            _ => InsertMode::Insert,
        };
        let pk_mode = match config
            .choice_or(
                "pk.mode",
                &["none", "kafka", "record_key", "record_value"],
                "none",
            )?
            .as_str()
        {
            "kafka" => PkMode::Kafka,
            "record_key" => PkMode::RecordKey,
            "record_value" => PkMode::RecordValue,
            _ => PkMode::None,
        };
        let mut pk_fields = config.list("pk.fields");
        if pk_mode == PkMode::Kafka && pk_fields.is_empty() {
            pk_fields = KAFKA_PK_FIELDS.iter().map(|s| s.to_string()).collect();
        }
        if pk_mode == PkMode::Kafka && pk_fields.len() != 3 {
            return Err(ConnectError::config(
                "pk.fields",
                &pk_fields.join(","),
                "pk.mode=kafka needs exactly 3 names (topic, partition, offset columns)",
            ));
        }
        let delete_enabled = config.bool_or("delete.enabled", false)?;
        if delete_enabled && pk_mode != PkMode::RecordKey {
            return Err(ConnectError::config(
                "delete.enabled",
                "true",
                "Primary key mode must be 'record_key' when delete support is enabled",
            ));
        }
        if insert_mode != InsertMode::Insert && pk_mode == PkMode::None {
            return Err(ConnectError::config(
                "pk.mode",
                "none",
                "insert.mode upsert and update need a primary key: set pk.mode",
            ));
        }
        let batch_size = config.i32_or("batch.size", 3000)?;
        if batch_size < 1 {
            return Err(ConnectError::config(
                "batch.size",
                &batch_size.to_string(),
                "Value must be at least 1",
            ));
        }
        let zone_name = config.string_or("db.timezone", "UTC").to_string();
        let zone = jiff::tz::TimeZone::get(&zone_name)
            .map_err(|e| ConnectError::config("db.timezone", &zone_name, e.to_string()))?;
        let quoting = match config
            .choice_or("quote.sql.identifiers", &["always", "never"], "always")?
            .as_str()
        {
            "never" => Quoting::Never,
            _ => Quoting::Always,
        };
        Ok(SinkSettings {
            url,
            connection_attempts: config.i32_or("connection.attempts", 3)?.max(1) as u32,
            connection_backoff: config.millis_or("connection.backoff.ms", 10_000)?,
            table_format: config
                .string_or("table.name.format", "${topic}")
                .to_string(),
            insert_mode,
            pk_mode,
            pk_fields,
            delete_enabled,
            auto_create: config.bool_or("auto.create", false)?,
            auto_evolve: config.bool_or("auto.evolve", false)?,
            batch_size: batch_size as usize,
            max_retries: config.i32_or("max.retries", 10)?.max(0) as u32,
            retry_backoff: config.millis_or("retry.backoff.ms", 3000)?,
            fields_whitelist: config.list("fields.whitelist"),
            quoting,
            zone_name,
            zone,
            exactly_once: config.bool_or("exactly.once", false)?,
            offsets_table: config
                .string_or("offsets.table.name", DEFAULT_OFFSETS_TABLE)
                .to_string(),
        })
    }

    /// The table a record of `topic` goes to.
    pub fn table_for(&self, topic: &str) -> String {
        self.table_format.replace("${topic}", topic)
    }
}

/// The sink's declared settings, for the validate endpoint.
pub fn sink_config_def() -> ConfigDef {
    let k = |name: &str, kind: ConfigType, importance: Importance, doc: &str| {
        ConfigKey::new(name, kind, importance, doc)
    };
    use ConfigType as T;
    use Importance as I;
    ConfigDef::new()
        .define(k("connection.url", T::String, I::High, "JDBC connection URL (jdbc:sqlite:, jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://) or a sqlx URL.").group("Connection"))
        .define(k("connection.user", T::String, I::High, "JDBC connection user.").default("").group("Connection"))
        .define(k("connection.password", T::Password, I::High, "JDBC connection password.").default("").group("Connection"))
        .define(k("connection.attempts", T::Int, I::Low, "Maximum number of attempts to retrieve a valid JDBC connection.").default("3").group("Connection"))
        .define(k("connection.backoff.ms", T::Long, I::Low, "Backoff time in milliseconds between connection attempts.").default("10000").group("Connection"))
        .define(k("table.name.format", T::String, I::Medium, "A format string for the destination table name, which may contain '${topic}'.").default("${topic}").group("Writes"))
        .define(k("insert.mode", T::String, I::High, "The insertion mode to use.").default("insert").one_of(&["insert", "upsert", "update"]).group("Writes"))
        .define(k("batch.size", T::Int, I::Medium, "Specifies how many records to attempt to batch together for insertion into the destination table.").default("3000").group("Writes"))
        .define(k("delete.enabled", T::Boolean, I::Medium, "Whether to treat null record values as deletes. Requires pk.mode to be record_key.").default("false").group("Writes"))
        .define(k("pk.mode", T::String, I::High, "The primary key mode.").default("none").one_of(&["none", "kafka", "record_key", "record_value"]).group("Data Mapping"))
        .define(k("pk.fields", T::List, I::Medium, "List of comma-separated primary key field names.").default("").group("Data Mapping"))
        .define(k("fields.whitelist", T::List, I::Medium, "List of comma-separated record value field names; if empty, all fields are used.").default("").group("Data Mapping"))
        .define(k("db.timezone", T::String, I::Medium, "Name of the JDBC timezone used in the connector when inserting time-based values.").default("UTC").group("Data Mapping"))
        .define(k("auto.create", T::Boolean, I::Medium, "Whether to automatically create the destination table based on record schema.").default("false").group("DDL Support"))
        .define(k("auto.evolve", T::Boolean, I::Medium, "Whether to automatically add columns in the table schema when found to be missing relative to the record schema.").default("false").group("DDL Support"))
        .define(k("quote.sql.identifiers", T::String, I::Medium, "When to quote table names, column names, and other identifiers in SQL statements.").default("always").one_of(&["always", "never"]).group("DDL Support"))
        .define(k("max.retries", T::Int, I::Medium, "The maximum number of times to retry on errors before failing the task.").default("10").group("Retries"))
        .define(k("retry.backoff.ms", T::Int, I::Medium, "The time in milliseconds to wait following an error before a retry attempt is made.").default("3000").group("Retries"))
        .define(k("exactly.once", T::Boolean, I::Medium, "Fjord: write each partition's next offset in the same transaction as the rows and resume from it, so no row is lost or written twice.").default("false").group("Exactly once"))
        .define(k("offsets.table.name", T::String, I::Low, "Fjord: the table holding the exactly-once offsets.").default(DEFAULT_OFFSETS_TABLE).group("Exactly once"))
}
