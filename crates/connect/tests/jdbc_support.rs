//! What the JDBC connector tests share: a database per test (a SQLite file
//! always; private PostgreSQL and MariaDB servers from the auction tests'
//! harness, skipped when not installed unless FJORD_TEST_STRICT=1), rows
//! read back as text, and record builders. Included by `jdbc_sink.rs` and
//! `jdbc_source.rs` as `mod jdbc_support;`.
#![allow(dead_code)]

#[path = "../../fjord/tests/auction_db/mod.rs"]
mod auction_db;

use std::sync::Arc;

use fjord_connect::config::Config;
use fjord_connect::connector::{ConnectorPlugin, SinkTask, TaskContext};
use fjord_connect::data::{Schema, SchemaRef, SchemaType, Struct, Value};
use fjord_connect::jdbc::JdbcSinkConnector;
use fjord_connect::record::{ConnectRecord, KafkaOrigin};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    MariaDb,
}

/// One test's database: its JDBC URL (as users write it) and a pool for
/// the test's own checks.
pub struct Db {
    pub kind: Kind,
    pub jdbc_url: String,
    pub pool: AnyPool,
    _server: Option<auction_db::DbServer>,
    _dir: Option<tempfile::TempDir>,
    /// MariaDB's private TMPDIR.
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Db {
    /// As root, the auction harness runs mariadbd under `runuser`, and
    /// killing `runuser` (its Drop) leaves the server running: ask the
    /// server itself to shut down first.
    fn drop(&mut self) {
        if self.kind != Kind::MariaDb {
            return;
        }
        let port = self
            .jdbc_url
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split('/').next());
        if let Some(port) = port {
            let _ = std::process::Command::new("mariadb")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-P",
                    port,
                    "-u",
                    "root",
                    "-e",
                    "SHUTDOWN",
                ])
                .output();
        }
    }
}

impl Db {
    pub async fn open(kind: Kind) -> Option<Db> {
        sqlx::any::install_default_drivers();
        let mut keep_tmp = None;
        let (jdbc_url, sqlx_url, server, dir) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("test.db");
                (
                    format!("jdbc:sqlite:{}", path.display()),
                    format!("sqlite:{}?mode=rwc", path.display()),
                    None,
                    Some(dir),
                )
            }
            Kind::Postgres => {
                let server = auction_db::postgres()?;
                // postgres://auction@127.0.0.1:PORT/postgres in JDBC's form.
                let rest = server
                    .url
                    .strip_prefix("postgres://auction@")
                    .unwrap()
                    .to_string();
                (
                    format!("jdbc:postgresql://{rest}?user=auction"),
                    server.url.clone(),
                    Some(server),
                    None,
                )
            }
            Kind::MariaDb => {
                // A private TMPDIR: bootstraps running side by side (one
                // per test process) otherwise collide on their temporary
                // table files in /tmp.
                // World-writable, since as root the server runs as `mysql`.
                let tmp = tempfile::tempdir().unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777))
                    .unwrap();
                std::env::set_var("TMPDIR", tmp.path());
                let server = auction_db::mariadb()?;
                keep_tmp = Some(tmp);
                let rest = server
                    .url
                    .strip_prefix("mysql://root@")
                    .unwrap()
                    .to_string();
                (
                    format!("jdbc:mariadb://{rest}?user=root"),
                    server.url.clone(),
                    Some(server),
                    None,
                )
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&sqlx_url)
            .await
            .expect("test pool");
        Some(Db {
            kind,
            jdbc_url,
            pool,
            _server: server,
            _dir: dir,
            _tmp: keep_tmp,
        })
    }

    /// Runs statements (setup), in order.
    pub async fn exec(&self, statements: &[&str]) {
        for sql in statements {
            sqlx::raw_sql(sql)
                .execute(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// `expr` as text in this database's SQL.
    pub fn text(&self, expr: &str) -> String {
        match self.kind {
            Kind::MariaDb => format!("CAST({expr} AS CHAR)"),
            _ => format!("CAST({expr} AS TEXT)"),
        }
    }

    /// A quoted identifier.
    pub fn q(&self, name: &str) -> String {
        match self.kind {
            Kind::MariaDb => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }

    /// Every row of `sql`, each value rendered as text (`NULL` for null).
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| {
                        if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                            return v.map_or("NULL".into(), |v| v.to_string());
                        }
                        if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                            return v.map_or("NULL".into(), |v| v.to_string());
                        }
                        if let Ok(v) = row.try_get::<Option<f32>, _>(i) {
                            return v.map_or("NULL".into(), |v| v.to_string());
                        }
                        if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
                            return v.map_or("NULL".into(), |v| v.to_string());
                        }
                        if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                            return v.unwrap_or_else(|| "NULL".into());
                        }
                        match row.try_get::<Option<Vec<u8>>, _>(i) {
                            Ok(v) => v.map_or("NULL".into(), |v| {
                                String::from_utf8_lossy(&v).into_owned()
                            }),
                            Err(e) => panic!("column {i} of {sql}: {e}"),
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The rows of `sql` as one string per row, fields joined by `|`.
    pub async fn lines(&self, sql: &str) -> Vec<String> {
        self.rows(sql)
            .await
            .into_iter()
            .map(|r| r.join("|"))
            .collect()
    }
}

pub fn context(connector: &str) -> TaskContext {
    TaskContext {
        connector: connector.to_string(),
        task_id: 0,
        allowed_paths: Arc::new(Vec::new()),
    }
}

pub fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

pub fn schema(kind: SchemaType) -> SchemaRef {
    Schema::of(kind).into_ref()
}

pub fn optional(kind: SchemaType) -> SchemaRef {
    Schema::optional_of(kind).into_ref()
}

pub fn struct_schema(name: &str, fields: &[(&str, SchemaRef)]) -> SchemaRef {
    Schema::structure(
        Some(name),
        fields
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect(),
    )
    .into_ref()
}

/// A struct of `schema` with these field values, in field order.
pub fn structure(schema: &SchemaRef, values: Vec<Value>) -> Value {
    assert_eq!(schema.fields.len(), values.len());
    Value::Struct(Struct {
        schema: schema.clone(),
        values,
    })
}

/// A sink record read from `topic`-`partition` at `offset`.
pub fn sink_record(
    topic: &str,
    partition: i32,
    offset: i64,
    key: Option<(SchemaRef, Value)>,
    value: Option<(SchemaRef, Value)>,
) -> ConnectRecord {
    let (key_schema, key) = key.map_or((None, Value::Null), |(s, v)| (Some(s), v));
    let (value_schema, value) = value.map_or((None, Value::Null), |(s, v)| (Some(s), v));
    let mut record = ConnectRecord::new(topic, key_schema, key, value_schema, value);
    record.partition = Some(partition);
    record.origin = Some(KafkaOrigin {
        topic: topic.to_string(),
        partition,
        offset,
    });
    record
}

/// A schemaless map value (as JsonConverter gives with schemas.enable=false).
pub fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

/// Starts a JDBC sink task on `db` with these settings (validated
/// first, as the REST API would).
pub async fn start_sink(db: &Db, connector: &str, extra: &[(&str, &str)]) -> Box<dyn SinkTask> {
    let mut pairs = vec![("connection.url", db.jdbc_url.as_str())];
    pairs.extend_from_slice(extra);
    let plugin = JdbcSinkConnector;
    let config = config(&pairs);
    let (_, errors) = plugin.config_def().validate(&config);
    assert_eq!(errors, 0, "config should validate");
    assert!(plugin.validate_extra(&config).is_empty());
    let mut task = plugin.create_sink_task().unwrap();
    task.start(
        &plugin.task_configs(&config, 1).unwrap()[0],
        context(connector),
    )
    .await
    .expect("start");
    task
}

/// Puts and expects every record written.
pub async fn put_all(task: &mut Box<dyn SinkTask>, records: Vec<ConnectRecord>) {
    let outcome = task.put(records).await.expect("put");
    assert!(outcome.failed.is_empty(), "failed: {:?}", outcome.failed);
}

pub fn item_schema() -> SchemaRef {
    struct_schema(
        "item",
        &[
            ("id", schema(SchemaType::Int64)),
            ("name", schema(SchemaType::String)),
            ("qty", optional(SchemaType::Int32)),
        ],
    )
}

pub fn item(offset: i64, id: i64, name: &str, qty: Option<i32>) -> ConnectRecord {
    let s = item_schema();
    let v = structure(
        &s,
        vec![
            Value::Int64(id),
            name.into(),
            qty.map_or(Value::Null, Value::Int32),
        ],
    );
    sink_record("items", 0, offset, None, Some((s, v)))
}

pub async fn items(db: &Db) -> Vec<String> {
    db.lines(&format!(
        "SELECT id, name, qty FROM {} ORDER BY id",
        db.q("items")
    ))
    .await
}

/// Declares `#[tokio::test]`s running each scenario `async fn(Db)` once
/// per database, in modules `jdbc_sqlite`, `jdbc_postgres`, `jdbc_mariadb`.
#[macro_export]
macro_rules! per_database {
    ($($scenario:ident),* $(,)?) => {
        mod jdbc_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let db = $crate::jdbc_support::Db::open($crate::jdbc_support::Kind::Sqlite).await.unwrap();
                super::$scenario(db).await;
            })*
        }
        mod jdbc_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(db) = $crate::jdbc_support::Db::open($crate::jdbc_support::Kind::Postgres).await {
                    super::$scenario(db).await;
                }
            })*
        }
        mod jdbc_mariadb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(db) = $crate::jdbc_support::Db::open($crate::jdbc_support::Kind::MariaDb).await {
                    super::$scenario(db).await;
                }
            })*
        }
    };
}
