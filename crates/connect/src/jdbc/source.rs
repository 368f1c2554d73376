//! `io.confluent.connect.jdbc.JdbcSourceConnector`: tables (or one custom
//! query) read into records, each carrying Confluent's source position
//! (partition `{"table": name}` or `{"query": "query"}`; offset
//! `{"incrementing": n}` and/or `{"timestamp": ms, "timestamp_nanos": ns}`),
//! so a restarted task resumes where its last stored record left off.
//!
//! Each table is queried at most once per `poll.interval.ms`, and again at
//! once while its queries come back full (`batch.max.rows`).
//!
//! Limits, from reading through sqlx's `Any` driver: a table's columns are
//! converted in SQL from the catalog's types, but a custom `query`'s
//! columns are read as the driver types them, so it must CAST dates,
//! times, timestamps and decimals itself (to text or numbers; a timestamp
//! column for `mode=timestamp` as epoch milliseconds or
//! `YYYY-MM-DD HH:MM:SS` text). Bulk and timestamp modes read a query's
//! whole result (a timestamp shared by rows must not be split across
//! polls) and hand it out `batch.max.rows` at a time; the incrementing
//! modes use `LIMIT`. "Now" for `timestamp.delay.interval.ms` is this
//! host's clock, not the database's.

use std::collections::VecDeque;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{json, Map, Value as Json};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row as _};

use super::ddl::{describe, text_at};
use super::dialect::{connect, redact, Dialect};
use super::source_config::{group_tables, source_config_def, Mode, SourceSettings, TABLES_KEY};
use super::source_query::{
    mode_clause, query_columns, read_value, record_schema, table_columns, timestamp_micros,
    Position, SourceColumn,
};
use crate::config::Config;
use crate::config_def::ConfigDef;
use crate::connector::{ConnectorKind, ConnectorPlugin, SourceTask, StoredOffsets, TaskContext};
use crate::data::{Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::{ConnectRecord, SourcePosition};

use super::sink_config::DEFAULT_OFFSETS_TABLE;

/// The JDBC source connector class.
#[derive(Debug, Default, Clone, Copy)]
pub struct JdbcSourceConnector;

impl ConnectorPlugin for JdbcSourceConnector {
    fn class_name(&self) -> &'static str {
        "io.confluent.connect.jdbc.JdbcSourceConnector"
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }

    fn config_def(&self) -> ConfigDef {
        source_config_def()
    }

    fn validate_extra(&self, config: &Config) -> Vec<(String, String)> {
        match SourceSettings::parse(config) {
            Ok(_) => Vec::new(),
            Err(error) => super::extra_error(&self.config_def(), config, error),
        }
    }

    /// A query runs in one task; tables are split into contiguous groups,
    /// one per task (listing the database's tables when no whitelist
    /// names them).
    fn task_configs(&self, config: &Config, max_tasks: usize) -> Result<Vec<Config>> {
        let settings = SourceSettings::parse(config)?;
        if settings.query.is_some() {
            return Ok(vec![config.clone()]);
        }
        let tables = if settings.whitelist.is_empty() {
            list_tables_blocking(&settings)?
        } else {
            settings.whitelist.clone()
        };
        Ok(group_tables(&tables, max_tasks)
            .into_iter()
            .map(|group| {
                let mut task = config.clone();
                task.set(TABLES_KEY, group.join(","));
                task
            })
            .collect())
    }

    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        Some(Box::new(JdbcSourceTask::default()))
    }
}

/// Lists the tables from a thread of its own: `task_configs` is not async.
fn list_tables_blocking(settings: &SourceSettings) -> Result<Vec<String>> {
    let settings = settings.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let (pool, dialect) = connect(
                &settings.url,
                settings.connection_attempts,
                settings.connection_backoff,
                &settings.zone_name,
            )
            .await?;
            let tables = list_tables(&pool, dialect, &settings).await;
            pool.close().await;
            tables
        })
    })
    .join()
    .map_err(|_| ConnectError::External("listing the tables panicked".into()))?
}

/// The database's tables, minus the blacklist and Fjord's offsets table.
async fn list_tables(
    pool: &AnyPool,
    dialect: Dialect,
    settings: &SourceSettings,
) -> Result<Vec<String>> {
    let sql = match dialect {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
        Dialect::MySql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    let rows = sqlx::query(sql)
        .fetch_all(pool)
        .await
        .map_err(|e| ConnectError::External(format!("cannot list tables: {e}")))?;
    let mut tables = Vec::new();
    for row in rows {
        let name = text_at(&row, 0).map_err(|e| ConnectError::External(e.to_string()))?;
        if name != DEFAULT_OFFSETS_TABLE && !settings.blacklist.contains(&name) {
            tables.push(name);
        }
    }
    Ok(tables)
}

/// What one task reads: a table or the query.
struct Source {
    /// None for the custom query.
    table: Option<String>,
    topic: String,
    partition: Map<String, Json>,
    position: Position,
    next_due: Instant,
    /// Rows read but not yet handed out.
    buffer: VecDeque<ConnectRecord>,
}

struct Running {
    pool: AnyPool,
    dialect: Dialect,
    settings: SourceSettings,
    sources: Vec<Source>,
}

/// A JDBC source task.
#[derive(Default)]
pub struct JdbcSourceTask {
    running: Option<Running>,
}

#[async_trait]
impl SourceTask for JdbcSourceTask {
    async fn start(
        &mut self,
        config: &Config,
        _context: TaskContext,
        offsets: StoredOffsets,
    ) -> Result<()> {
        let settings = SourceSettings::parse(config)?;
        let (pool, dialect) = connect(
            &settings.url,
            settings.connection_attempts,
            settings.connection_backoff,
            &settings.zone_name,
        )
        .await?;
        let mut sources = Vec::new();
        let now = Instant::now();
        let initial = Position {
            incrementing: None,
            timestamp_micros: settings.timestamp_initial_ms.map(|ms| ms * 1000),
        };
        let stored = |partition: &Map<String, Json>| {
            offsets
                .iter()
                .find(|(p, _)| p == partition)
                .map(|(_, offset)| position_from_offset(offset))
                .unwrap_or(initial)
        };
        if let Some(query) = &settings.query {
            let partition = Map::from_iter([("query".to_string(), json!("query"))]);
            sources.push(Source {
                table: None,
                topic: settings.topic_prefix.clone(),
                position: stored(&partition),
                partition,
                next_due: now,
                buffer: VecDeque::new(),
            });
            tracing::debug!(query = %query, "JDBC source on a query");
        } else {
            let tables = match config.get(TABLES_KEY) {
                Some(list) => crate::config::split_list(list),
                None if !settings.whitelist.is_empty() => settings.whitelist.clone(),
                None => list_tables(&pool, dialect, &settings).await?,
            };
            for table in tables {
                let partition = Map::from_iter([("table".to_string(), json!(table))]);
                sources.push(Source {
                    topic: format!("{}{table}", settings.topic_prefix),
                    position: stored(&partition),
                    table: Some(table),
                    partition,
                    next_due: now,
                    buffer: VecDeque::new(),
                });
            }
        }
        tracing::info!(url = %redact(&settings.url), sources = sources.len(), "JDBC source started");
        self.running = Some(Running {
            pool,
            dialect,
            settings,
            sources,
        });
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<ConnectRecord>> {
        let running = self
            .running
            .as_mut()
            .ok_or_else(|| ConnectError::External("the JDBC source task is not started".into()))?;
        let max = running.settings.batch_max_rows;
        if let Some(source) = running.sources.iter_mut().find(|s| !s.buffer.is_empty()) {
            let n = source.buffer.len().min(max);
            return Ok(source.buffer.drain(..n).collect());
        }
        let Some(index) = (0..running.sources.len()).min_by_key(|&i| running.sources[i].next_due)
        else {
            tokio::time::sleep(running.settings.poll_interval).await;
            return Ok(Vec::new());
        };
        let due = running.sources[index].next_due;
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        let (records, full) = running.read(index).await?;
        let source = &mut running.sources[index];
        source.next_due = if full {
            Instant::now()
        } else {
            Instant::now() + running.settings.poll_interval
        };
        source.buffer.extend(records);
        let n = source.buffer.len().min(max);
        Ok(source.buffer.drain(..n).collect())
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.pool.close().await;
        }
    }
}

impl Running {
    /// Queries source `index` once; returns its records and whether the
    /// query came back full (more rows are waiting).
    async fn read(&mut self, index: usize) -> Result<(Vec<ConnectRecord>, bool)> {
        let d = self.dialect;
        let s = &self.settings;
        let q = |name: &str| d.quote(s.quoting, name);
        let source = &self.sources[index];
        let ts_column = match s.timestamp_columns.as_slice() {
            [one] => q(one),
            many => format!(
                "COALESCE({})",
                many.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
            ),
        };
        let ts = timestamp_micros(d, &ts_column);
        let inc = s.incrementing_column.as_deref().map(q).unwrap_or_default();
        let upper = jiff::Timestamp::now().as_microsecond() - s.timestamp_delay.as_micros() as i64;
        let (clause, binds) = mode_clause(
            d,
            s.mode,
            &ts,
            &inc,
            source.position,
            upper,
            s.batch_max_rows,
        );
        let external =
            |e: sqlx::Error| ConnectError::External(format!("JDBC source query failed: {e}"));
        // The selected columns; for a table, the mode's values are read
        // through extra trailing columns in the units the WHERE compares.
        let (sql, columns, schema_name) = match &source.table {
            Some(table) => {
                let mut conn = self.pool.acquire().await.map_err(external)?;
                let info = describe(&mut conn, d, table)
                    .await
                    .map_err(external)?
                    .ok_or_else(|| {
                        ConnectError::External(format!("table {table:?} does not exist"))
                    })?;
                let columns = table_columns(d, s.quoting, &info);
                let mut list: Vec<String> = columns.iter().map(|c| c.expr.clone()).collect();
                if s.mode.uses_timestamp() {
                    list.push(ts.clone());
                }
                if s.mode.uses_incrementing() {
                    list.push(if d == Dialect::MySql {
                        format!("CAST({inc} AS SIGNED)")
                    } else {
                        inc.clone()
                    });
                }
                let sql = format!(
                    "SELECT {} FROM {}{clause}",
                    list.join(", "),
                    d.quote_table(s.quoting, table)
                );
                (sql, Some(columns), table.clone())
            }
            None => (
                format!("{}{clause}", s.query.as_deref().unwrap_or_default()),
                None,
                source.topic.clone(),
            ),
        };
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(external)?;
        let full = s.mode.uses_incrementing() && rows.len() >= s.batch_max_rows;
        let Some(first) = rows.first() else {
            return Ok((Vec::new(), false));
        };
        let columns = columns.unwrap_or_else(|| query_columns(first));
        let schema = record_schema(&schema_name, &columns);
        let mut records = Vec::with_capacity(rows.len());
        let mut position = source.position;
        for row in &rows {
            let values = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    read_value(row, i, c.field).map_err(|e| {
                        ConnectError::External(format!("{schema_name}: column {:?}: {e}", c.name))
                    })
                })
                .collect::<Result<Vec<Value>>>()?;
            position = row_position(row, &columns, s, source.table.is_some(), position)?;
            let mut record = ConnectRecord::new(
                source.topic.clone(),
                None,
                Value::Null,
                Some(schema.clone()),
                Value::Struct(Struct {
                    schema: schema.clone(),
                    values,
                }),
            );
            record.source = Some(SourcePosition {
                partition: source.partition.clone(),
                offset: offset_map(s.mode, position),
            });
            records.push(record);
        }
        self.sources[index].position = position;
        Ok((records, full))
    }
}

/// The mode's values of a row: from the trailing columns of a table
/// query, or from the named columns of a custom query.
fn row_position(
    row: &AnyRow,
    columns: &[SourceColumn],
    s: &SourceSettings,
    table: bool,
    mut position: Position,
) -> Result<Position> {
    let bad = |what: &str, e: String| {
        ConnectError::External(format!("cannot read the {what} column: {e}"))
    };
    let by_name = |name: &str| {
        columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ConnectError::External(format!("the query's rows have no column {name:?}"))
            })
    };
    let mut next = columns.len();
    if s.mode.uses_timestamp() {
        let micros = if table {
            let v: Option<i64> = row
                .try_get(next)
                .map_err(|e| bad("timestamp", e.to_string()))?;
            next += 1;
            v
        } else {
            let i = by_name(&s.timestamp_columns[0])?;
            query_timestamp_micros(row, i).map_err(|e| bad("timestamp", e))?
        };
        if micros.is_some() {
            position.timestamp_micros = micros;
        }
    }
    if s.mode.uses_incrementing() {
        let i = if table {
            next
        } else {
            by_name(s.incrementing_column.as_deref().unwrap_or_default())?
        };
        let v: Option<i64> = row
            .try_get(i)
            .map_err(|e| bad("incrementing", e.to_string()))?;
        if v.is_some() {
            position.incrementing = v;
        }
    }
    Ok(position)
}

/// A custom query's timestamp: epoch milliseconds, or timestamp text
/// (`2024-05-01 12:34:56.789`, read as UTC).
fn query_timestamp_micros(row: &AnyRow, i: usize) -> std::result::Result<Option<i64>, String> {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return Ok(v.map(|ms| ms * 1000));
    }
    let text = match read_value(row, i, super::source_query::FieldType::String)? {
        Value::String(t) => t,
        _ => return Ok(None),
    };
    let civil: jiff::civil::DateTime = text
        .trim()
        .replace(' ', "T")
        .parse()
        .map_err(|e| format!("{text:?}: {e}"))?;
    let ts = civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| e.to_string())?
        .timestamp();
    Ok(Some(ts.as_microsecond()))
}

/// Confluent's offset map for a position.
fn offset_map(mode: Mode, position: Position) -> Map<String, Json> {
    let mut offset = Map::new();
    if mode.uses_incrementing() {
        offset.insert(
            "incrementing".into(),
            json!(position.incrementing.unwrap_or(-1)),
        );
    }
    if mode.uses_timestamp() {
        let micros = position.timestamp_micros.unwrap_or(0);
        offset.insert("timestamp".into(), json!(micros.div_euclid(1000)));
        offset.insert(
            "timestamp_nanos".into(),
            json!(micros.rem_euclid(1_000_000) * 1000),
        );
    }
    offset
}

/// The position a stored offset map describes (the inverse of [`offset_map`]).
fn position_from_offset(offset: &Map<String, Json>) -> Position {
    let incrementing = offset.get("incrementing").and_then(Json::as_i64);
    let timestamp_micros = offset.get("timestamp").and_then(Json::as_i64).map(|ms| {
        let nanos = offset
            .get("timestamp_nanos")
            .and_then(Json::as_i64)
            .unwrap_or(0);
        ms * 1000 + (nanos / 1000) % 1000
    });
    Position {
        incrementing,
        timestamp_micros,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_in_confluents_shape() {
        let position = Position {
            incrementing: Some(42),
            timestamp_micros: Some(1_714_566_896_789_123),
        };
        let map = offset_map(Mode::TimestampIncrementing, position);
        assert_eq!(
            Json::Object(map.clone()),
            json!({"incrementing": 42, "timestamp": 1_714_566_896_789_i64, "timestamp_nanos": 789_123_000})
        );
        assert_eq!(position_from_offset(&map), position);
    }
}
