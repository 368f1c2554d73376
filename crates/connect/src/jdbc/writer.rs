//! The sink's writer: one `put` is one database transaction.
//!
//! Invariants a reader must keep:
//! - Every row of a put, and (in exactly-once mode) each partition's next
//!   offset, commit together or not at all. A transient failure (see
//!   [`super::dialect::classify`]) rolls the whole transaction back and
//!   the put is tried again, up to `max.retries` times `retry.backoff.ms`
//!   apart; so a retry never duplicates a row.
//! - Each statement runs under a SAVEPOINT. When it fails for one record's
//!   reason (a constraint, a bad value), it is rolled back to the
//!   savepoint and its records are written one at a time, each under its
//!   own savepoint: exactly the records that fail alone are reported (by
//!   index, for the dead-letter queue); the others are written once.
//! - In exactly-once mode the transaction first reads the stored offsets
//!   and leaves out records below them: a put replayed after a crash (or
//!   after a commit whose acknowledgement was lost) writes nothing twice.
//!   The transaction locks its partitions' offset rows first, so a zombie
//!   task writing the same partition waits and then skips what this one
//!   wrote.
//! - A record that fails alone counts as processed: its offset is
//!   committed with the others, and the runtime sends it to the
//!   dead-letter queue (or fails the task). A crash between this commit
//!   and that send loses the dead letter, never a row.
//! - DDL (auto.create, auto.evolve) runs before the transaction, on its
//!   own: MySQL commits implicitly around DDL.

use std::collections::{HashMap, HashSet};

use sqlx::{AnyConnection, AnyPool, Executor as _, Row as _};

use super::ddl::{add_columns_sql, create_table_sql, describe, plan_evolution, TableInfo};
use super::dialect::{classify, connect, ColumnKind, Dialect, ErrorClass, IntWidth, Quoting};
use super::dml::Shape;
use super::rows::{merged_columns, prepare, ColumnSpec, Prepared, Row};
use super::sink_config::{InsertMode, SinkSettings};
use super::values::{to_sql, SqlValue};
use crate::connector::{Offsets, PutOutcome, TopicPartition};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

/// Why one attempt at a put failed.
enum Failure {
    /// Worth another attempt (the connection, a deadlock).
    Transient(sqlx::Error),
    /// Not worth one (a missing table, a refused evolution).
    Fatal(ConnectError),
}

fn failure(context: &str, error: sqlx::Error) -> Failure {
    match classify(&error) {
        ErrorClass::Transient => Failure::Transient(error),
        _ => Failure::Fatal(ConnectError::External(format!("{context}: {error}"))),
    }
}

/// A record's values bound for one statement shape.
type BoundRow = (usize, Vec<SqlValue>);

pub struct Writer {
    pool: AnyPool,
    dialect: Dialect,
    settings: SinkSettings,
    /// The connector's name: the exactly-once offsets are kept under it.
    connector: String,
    /// Tables as last read from the catalog (or created).
    tables: HashMap<String, TableInfo>,
}

impl Writer {
    pub async fn open(settings: SinkSettings, connector: &str) -> Result<Writer> {
        let (pool, dialect) = connect(
            &settings.url,
            settings.connection_attempts,
            settings.connection_backoff,
            &settings.zone_name,
        )
        .await?;
        let writer = Writer {
            pool,
            dialect,
            settings,
            connector: connector.to_string(),
            tables: HashMap::new(),
        };
        if writer.settings.exactly_once {
            writer.create_offsets_table().await?;
        }
        Ok(writer)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes `records`; see the module doc for what is promised.
    pub async fn put(&mut self, records: &[ConnectRecord]) -> Result<PutOutcome> {
        let mut failed = Vec::new();
        let mut rows = Vec::new();
        for (i, record) in records.iter().enumerate() {
            match prepare(i, record, &self.settings) {
                Ok(Prepared::Write(row)) => rows.push(row),
                Ok(Prepared::Skip) => {}
                Err(message) => failed.push((i, ConnectError::External(message))),
            }
        }
        let runs = split_runs(rows);
        let mut next_offsets: Offsets = HashMap::new();
        for origin in records.iter().filter_map(|r| r.origin.as_ref()) {
            let next = next_offsets
                .entry((origin.topic.clone(), origin.partition))
                .or_insert(0);
            *next = (*next).max(origin.offset + 1);
        }
        let mut attempt = 0;
        loop {
            let result = match self.ensure_tables(&runs).await {
                Ok(()) => self.write_once(&runs, records, &next_offsets).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(mut record_failures) => {
                    failed.append(&mut record_failures);
                    failed.sort_by_key(|(i, _)| *i);
                    return Ok(PutOutcome { failed });
                }
                Err(Failure::Transient(e)) if attempt < self.settings.max_retries => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e, "JDBC sink write failed; retrying the whole batch");
                    tokio::time::sleep(self.settings.retry_backoff).await;
                }
                Err(Failure::Transient(e)) => {
                    return Err(ConnectError::External(format!(
                        "JDBC sink write failed after {attempt} retries: {e}"
                    )))
                }
                Err(Failure::Fatal(e)) => {
                    // The table may have changed under us: read it afresh.
                    self.tables.clear();
                    return Err(e);
                }
            }
        }
    }

    /// The table's name as the catalog spells it: PostgreSQL folds an
    /// unquoted name to lower case (`quote.sql.identifiers=never`).
    fn catalog_name(&self, table: &str) -> String {
        if self.dialect == Dialect::Postgres && self.settings.quoting == Quoting::Never {
            table.to_lowercase()
        } else {
            table.to_string()
        }
    }

    /// Creates or evolves the tables the runs write to.
    async fn ensure_tables(&mut self, runs: &[Vec<Row>]) -> Result<(), Failure> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| failure("connect", e))?;
        for run in runs {
            let table = run[0].table.clone();
            let columns = merged_columns(run);
            if !self.tables.contains_key(&table) {
                let info = match describe(&mut conn, self.dialect, &self.catalog_name(&table))
                    .await
                    .map_err(|e| failure("read table", e))?
                {
                    Some(info) => info,
                    None if self.settings.auto_create => {
                        let sql =
                            create_table_sql(self.dialect, self.settings.quoting, &table, &columns);
                        tracing::info!(%table, %sql, "auto.create");
                        if let Err(e) = (&mut *conn).execute(sqlx::raw_sql(&sql)).await {
                            // Another task may have created it meanwhile.
                            if describe(&mut conn, self.dialect, &self.catalog_name(&table))
                                .await
                                .ok()
                                .flatten()
                                .is_none()
                            {
                                return Err(failure(&format!("cannot create table {table:?}"), e));
                            }
                        }
                        describe(&mut conn, self.dialect, &self.catalog_name(&table))
                            .await
                            .map_err(|e| failure("read table", e))?
                            .unwrap_or_default()
                    }
                    None => {
                        return Err(Failure::Fatal(ConnectError::External(format!(
                            "table {table:?} is missing and auto.create is disabled"
                        ))))
                    }
                };
                self.tables.insert(table.clone(), info);
            }
            let info = &self.tables[&table];
            let add = plan_evolution(&table, info, &columns, self.settings.auto_evolve)
                .map_err(Failure::Fatal)?;
            if add.is_empty() {
                continue;
            }
            for sql in add_columns_sql(self.dialect, self.settings.quoting, &table, &add) {
                tracing::info!(%table, %sql, "auto.evolve");
                (&mut *conn)
                    .execute(sqlx::raw_sql(&sql))
                    .await
                    .map_err(|e| failure(&format!("cannot evolve table {table:?}"), e))?;
            }
            let info = describe(&mut conn, self.dialect, &self.catalog_name(&table))
                .await
                .map_err(|e| failure("read table", e))?
                .unwrap_or_default();
            self.tables.insert(table, info);
        }
        Ok(())
    }

    /// One attempt: the whole put in one transaction. Returns the records
    /// that failed alone.
    async fn write_once(
        &self,
        runs: &[Vec<Row>],
        records: &[ConnectRecord],
        next_offsets: &Offsets,
    ) -> Result<Vec<(usize, ConnectError)>, Failure> {
        let mut tx = self
            .pool
            .begin_with(self.dialect.begin())
            .await
            .map_err(|e| failure("begin", e))?;
        let stored = if self.settings.exactly_once {
            self.lock_offsets(&mut tx, next_offsets)
                .await
                .map_err(|e| failure("lock offsets", e))?;
            self.read_offsets(&mut tx, true)
                .await
                .map_err(|e| failure("read offsets", e))?
        } else {
            Offsets::new()
        };
        let written_before = |index: usize| {
            records[index].origin.as_ref().is_some_and(|o| {
                stored
                    .get(&(o.topic.clone(), o.partition))
                    .is_some_and(|&next| o.offset < next)
            })
        };
        let mut failures = Vec::new();
        for run in runs {
            let rows: Vec<&Row> = run.iter().filter(|r| !written_before(r.index)).collect();
            if rows.is_empty() {
                continue;
            }
            let table = &run[0].table;
            let columns = merged_columns(run);
            let info = self.tables.get(table).cloned().unwrap_or_default();
            let shape = self.shape(table, &columns, &info, run[0].key_count);
            let mut bound: Vec<BoundRow> = Vec::with_capacity(rows.len());
            for row in rows {
                match self.bind_row(row, &shape) {
                    Ok(values) => bound.push((row.index, values)),
                    Err(message) => failures.push((row.index, ConnectError::External(message))),
                }
            }
            let mode = if run[0].delete {
                Mode::Delete
            } else {
                Mode::from(self.settings.insert_mode)
            };
            for chunk in self.chunks(&shape, mode, bound) {
                let mut chunk_failures = self.write_chunk(&mut tx, &shape, mode, &chunk).await?;
                failures.append(&mut chunk_failures);
            }
        }
        if self.settings.exactly_once {
            let mut merged: Vec<(TopicPartition, Option<i64>)> = Vec::new();
            for (tp, next) in next_offsets {
                let next = stored.get(tp).map_or(*next, |s| (*s).max(*next));
                merged.push((tp.clone(), Some(next)));
            }
            self.write_offsets(&mut tx, &merged)
                .await
                .map_err(|e| failure("write offsets", e))?;
        }
        tx.commit().await.map_err(|e| failure("commit", e))?;
        Ok(failures)
    }

    /// The statement shape for a run: the table's own column names (its
    /// case) and each value's bind family (the column's when known).
    fn shape<'a>(
        &self,
        table: &'a str,
        columns: &[ColumnSpec],
        info: &TableInfo,
        key_count: usize,
    ) -> Shape<'a> {
        let columns = columns
            .iter()
            .map(|c| match info.column(&c.name) {
                Some(existing) if existing.kind != ColumnKind::Other => {
                    (existing.name.clone(), existing.kind)
                }
                Some(existing) => (existing.name.clone(), c.kind),
                None => (c.name.clone(), c.kind),
            })
            .collect();
        Shape {
            dialect: self.dialect,
            quoting: self.settings.quoting,
            table,
            columns,
            key_count,
        }
    }

    fn bind_row(&self, row: &Row, shape: &Shape) -> Result<Vec<SqlValue>, String> {
        row.values
            .iter()
            .zip(&row.columns)
            .zip(&shape.columns)
            .map(|((value, spec), (name, kind))| {
                to_sql(value, spec.schema.as_deref(), *kind, &self.settings.zone)
                    .map_err(|e| format!("column {name:?}: {e}"))
            })
            .collect()
    }

    /// Splits rows into statements: at most `batch.size` rows and the
    /// dialect's bind-parameter limit; an upsert also starts a new
    /// statement when a key repeats (PostgreSQL refuses to touch one row
    /// twice in one statement).
    fn chunks(&self, shape: &Shape, mode: Mode, rows: Vec<BoundRow>) -> Vec<Vec<BoundRow>> {
        let per_row = match mode {
            Mode::Delete => shape.key_count.max(1),
            Mode::Update => 1,
            Mode::Insert | Mode::Upsert => shape.params_per_row().max(1),
        };
        let limit = (self.dialect.max_params() / per_row).clamp(1, self.settings.batch_size);
        let mut out: Vec<Vec<BoundRow>> = Vec::new();
        let mut current: Vec<BoundRow> = Vec::new();
        let mut keys: HashSet<String> = HashSet::new();
        for row in rows {
            let key = if mode == Mode::Upsert {
                format!("{:?}", &row.1[..shape.key_count])
            } else {
                String::new()
            };
            if current.len() >= limit || (mode == Mode::Upsert && keys.contains(&key)) {
                out.push(std::mem::take(&mut current));
                keys.clear();
            }
            keys.insert(key);
            current.push(row);
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// Writes one chunk under a savepoint; on a record-level error, record
    /// by record (see the module doc).
    async fn write_chunk(
        &self,
        conn: &mut AnyConnection,
        shape: &Shape<'_>,
        mode: Mode,
        chunk: &[BoundRow],
    ) -> Result<Vec<(usize, ConnectError)>, Failure> {
        (&mut *conn)
            .execute(sqlx::raw_sql("SAVEPOINT fjord_chunk"))
            .await
            .map_err(|e| failure("savepoint", e))?;
        let first = match execute(conn, shape, mode, chunk).await {
            Ok(()) => {
                (&mut *conn)
                    .execute(sqlx::raw_sql("RELEASE SAVEPOINT fjord_chunk"))
                    .await
                    .map_err(|e| failure("release", e))?;
                return Ok(Vec::new());
            }
            Err(e) => e,
        };
        if classify(&first) != ErrorClass::Record {
            return Err(failure(&format!("write to {:?}", shape.table), first));
        }
        (&mut *conn)
            .execute(sqlx::raw_sql("ROLLBACK TO SAVEPOINT fjord_chunk"))
            .await
            .map_err(|e| failure("rollback", e))?;
        let mut failures = Vec::new();
        if chunk.len() == 1 {
            failures.push((chunk[0].0, ConnectError::External(first.to_string())));
        } else {
            for row in chunk {
                (&mut *conn)
                    .execute(sqlx::raw_sql("SAVEPOINT fjord_row"))
                    .await
                    .map_err(|e| failure("savepoint", e))?;
                match execute(conn, shape, mode, std::slice::from_ref(row)).await {
                    Ok(()) => {
                        (&mut *conn)
                            .execute(sqlx::raw_sql("RELEASE SAVEPOINT fjord_row"))
                            .await
                            .map_err(|e| failure("release", e))?;
                    }
                    Err(e) if classify(&e) == ErrorClass::Record => {
                        (&mut *conn)
                            .execute(sqlx::raw_sql("ROLLBACK TO SAVEPOINT fjord_row"))
                            .await
                            .map_err(|e| failure("rollback", e))?;
                        (&mut *conn)
                            .execute(sqlx::raw_sql("RELEASE SAVEPOINT fjord_row"))
                            .await
                            .map_err(|e| failure("release", e))?;
                        failures.push((row.0, ConnectError::External(e.to_string())));
                    }
                    Err(e) => return Err(failure(&format!("write to {:?}", shape.table), e)),
                }
            }
        }
        (&mut *conn)
            .execute(sqlx::raw_sql("RELEASE SAVEPOINT fjord_chunk"))
            .await
            .map_err(|e| failure("release", e))?;
        Ok(failures)
    }

    fn offsets_shape(&self) -> Shape<'_> {
        Shape {
            dialect: self.dialect,
            quoting: Quoting::Always,
            table: &self.settings.offsets_table,
            columns: vec![
                ("connector".into(), ColumnKind::Text),
                ("topic".into(), ColumnKind::Text),
                ("partition".into(), ColumnKind::Int),
                ("next_offset".into(), ColumnKind::Int),
            ],
            key_count: 3,
        }
    }

    async fn create_offsets_table(&self) -> Result<()> {
        let d = self.dialect;
        let q = |name: &str| d.quote(Quoting::Always, name);
        let text = d.column_type(ColumnKind::Text, IntWidth::W64, 0, true);
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} ({} {text} NOT NULL, {} {text} NOT NULL, {} INT NOT NULL, \
             {} BIGINT NOT NULL, PRIMARY KEY ({}, {}, {}))",
            d.quote_table(Quoting::Always, &self.settings.offsets_table),
            q("connector"),
            q("topic"),
            q("partition"),
            q("next_offset"),
            q("connector"),
            q("topic"),
            q("partition"),
        );
        self.pool
            .execute(sqlx::raw_sql(&sql))
            .await
            .map_err(|e| ConnectError::External(format!("cannot create the offsets table: {e}")))?;
        Ok(())
    }

    /// Locks this put's partitions' offset rows (creating missing ones
    /// at 0) until the transaction ends, in a fixed order. Another task
    /// writing the same partition (a zombie left by a rebalance) then
    /// waits, and reads the offsets this one commits: it skips what was
    /// written instead of writing it twice. SQLite's `BEGIN IMMEDIATE`
    /// already serializes writers.
    async fn lock_offsets(
        &self,
        conn: &mut AnyConnection,
        partitions: &Offsets,
    ) -> Result<(), sqlx::Error> {
        if self.dialect == Dialect::Sqlite {
            return Ok(());
        }
        let d = self.dialect;
        let q = |name: &str| d.quote(Quoting::Always, name);
        let (insert, suffix) = match d {
            Dialect::MySql => ("INSERT IGNORE INTO", String::new()),
            _ => (
                "INSERT INTO",
                format!(
                    " ON CONFLICT ({}, {}, {}) DO NOTHING",
                    q("connector"),
                    q("topic"),
                    q("partition")
                ),
            ),
        };
        let sql = format!(
            "{insert} {} ({}, {}, {}, {}) VALUES ({}, {}, {}, 0){suffix}",
            d.quote_table(Quoting::Always, &self.settings.offsets_table),
            q("connector"),
            q("topic"),
            q("partition"),
            q("next_offset"),
            d.param(1),
            d.param(2),
            d.param(3),
        );
        let mut sorted: Vec<&TopicPartition> = partitions.keys().collect();
        sorted.sort();
        for (topic, partition) in sorted {
            sqlx::query(&sql)
                .bind(self.connector.clone())
                .bind(topic.clone())
                .bind(*partition)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// The connector's stored offsets; `lock` reads them FOR UPDATE.
    async fn read_offsets(
        &self,
        conn: &mut AnyConnection,
        lock: bool,
    ) -> Result<Offsets, sqlx::Error> {
        let d = self.dialect;
        let q = |name: &str| d.quote(Quoting::Always, name);
        let lock = if lock && d != Dialect::Sqlite {
            " ORDER BY 1, 2 FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {}, {}, {} FROM {} WHERE {} = {}{lock}",
            q("topic"),
            q("partition"),
            q("next_offset"),
            d.quote_table(Quoting::Always, &self.settings.offsets_table),
            q("connector"),
            d.param(1)
        );
        let rows = sqlx::query(&sql)
            .bind(self.connector.clone())
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Offsets::new();
        for row in rows {
            let topic: String = row.try_get(0)?;
            let partition: i32 = row.try_get(1)?;
            out.insert((topic, partition), row.try_get(2)?);
        }
        Ok(out)
    }

    /// Upserts (Some) or erases (None) offsets on `conn`.
    async fn write_offsets(
        &self,
        conn: &mut AnyConnection,
        offsets: &[(TopicPartition, Option<i64>)],
    ) -> Result<(), sqlx::Error> {
        let shape = self.offsets_shape();
        for ((topic, partition), next) in offsets {
            let mut values = vec![
                SqlValue::Text(self.connector.clone()),
                SqlValue::Text(topic.clone()),
                SqlValue::Int(i64::from(*partition)),
            ];
            match next {
                Some(next) => {
                    values.push(SqlValue::Int(*next));
                    execute(conn, &shape, Mode::Upsert, &[(0, values)]).await?;
                }
                None => execute(conn, &shape, Mode::Delete, &[(0, values)]).await?,
            }
        }
        Ok(())
    }

    /// The offsets stored for `partitions` (exactly-once mode).
    pub async fn stored_offsets(&self, partitions: &[TopicPartition]) -> Result<Offsets> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| ConnectError::External(e.to_string()))?;
        let all = self
            .read_offsets(&mut conn, false)
            .await
            .map_err(|e| ConnectError::External(format!("cannot read the offsets table: {e}")))?;
        Ok(all
            .into_iter()
            .filter(|(tp, _)| partitions.contains(tp))
            .collect())
    }

    /// Overwrites or erases stored offsets, in one transaction.
    pub async fn set_stored_offsets(
        &self,
        offsets: &[(TopicPartition, Option<i64>)],
    ) -> Result<()> {
        let external =
            |e: sqlx::Error| ConnectError::External(format!("cannot write the offsets table: {e}"));
        let mut tx = self
            .pool
            .begin_with(self.dialect.begin())
            .await
            .map_err(external)?;
        self.write_offsets(&mut tx, offsets)
            .await
            .map_err(external)?;
        tx.commit().await.map_err(external)
    }
}

/// What a statement does with its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Insert,
    Upsert,
    Update,
    Delete,
}

impl From<InsertMode> for Mode {
    fn from(mode: InsertMode) -> Mode {
        match mode {
            InsertMode::Insert => Mode::Insert,
            InsertMode::Upsert => Mode::Upsert,
            InsertMode::Update => Mode::Update,
        }
    }
}

/// Runs `rows` as one statement (one per row for UPDATE).
async fn execute(
    conn: &mut AnyConnection,
    shape: &Shape<'_>,
    mode: Mode,
    rows: &[BoundRow],
) -> Result<(), sqlx::Error> {
    match mode {
        Mode::Update => {
            if shape.columns.len() == shape.key_count {
                return Ok(());
            }
            let sql = shape.update();
            let order = shape.update_order();
            for (_, values) in rows {
                let mut query = sqlx::query(&sql);
                for &i in &order {
                    query = values[i].clone().bind(query);
                }
                query.execute(&mut *conn).await?;
            }
            Ok(())
        }
        Mode::Delete => {
            let sql = shape.delete(rows.len());
            let mut query = sqlx::query(&sql);
            for (_, values) in rows {
                for v in &values[..shape.key_count] {
                    query = v.clone().bind(query);
                }
            }
            query.execute(&mut *conn).await.map(|_| ())
        }
        Mode::Insert | Mode::Upsert => {
            let sql = shape.insert(rows.len(), mode == Mode::Upsert);
            let mut query = sqlx::query(&sql);
            for (_, values) in rows {
                for v in values {
                    query = v.clone().bind(query);
                }
            }
            query.execute(&mut *conn).await.map(|_| ())
        }
    }
}

/// Groups rows by table (keeping each table's order) and cuts each
/// table's rows into runs of one shape, in order: an insert, a delete and
/// an insert of one key stay in that order.
fn split_runs(rows: Vec<Row>) -> Vec<Vec<Row>> {
    let mut tables: Vec<(String, Vec<Row>)> = Vec::new();
    for row in rows {
        match tables.iter_mut().find(|(t, _)| *t == row.table) {
            Some((_, list)) => list.push(row),
            None => tables.push((row.table.clone(), vec![row])),
        }
    }
    let mut runs: Vec<Vec<Row>> = Vec::new();
    for (_, list) in tables {
        let mut current: Vec<Row> = Vec::new();
        for row in list {
            if current.last().is_some_and(|last| !last.same_shape(&row)) {
                runs.push(std::mem::take(&mut current));
            }
            current.push(row);
        }
        if !current.is_empty() {
            runs.push(current);
        }
    }
    runs
}
