//! The JDBC source task driven directly (no Kafka): each scenario runs on
//! SQLite, PostgreSQL and MariaDB and checks the records and their source
//! positions exactly.

mod jdbc_support;

use std::time::{Duration, Instant};

use fjord_connect::connector::{ConnectorPlugin, SourceTask, StoredOffsets};
use fjord_connect::data::{logical, SchemaType as T, Value};
use fjord_connect::jdbc::JdbcSourceConnector;
use fjord_connect::record::ConnectRecord;
use jdbc_support::{config, context, Db, Kind};
use serde_json::json;

per_database!(
    confluent_quickstart_incrementing_reads_new_rows_and_resumes,
    column_types_become_connect_types,
    timestamp_mode_reads_new_and_updated_rows,
    timestamp_incrementing_breaks_ties_by_the_incrementing_column,
    bulk_mode_reads_the_whole_table_each_poll,
    a_custom_query_gets_the_modes_where_appended,
    tables_are_spread_over_tasks,
);

async fn start(db: &Db, extra: &[(&str, &str)], offsets: StoredOffsets) -> Box<dyn SourceTask> {
    let mut pairs = vec![
        ("connection.url", db.jdbc_url.as_str()),
        ("poll.interval.ms", "50"),
    ];
    pairs.extend_from_slice(extra);
    let plugin = JdbcSourceConnector;
    let config = config(&pairs);
    let (_, errors) = plugin.config_def().validate(&config);
    assert_eq!(errors, 0, "config should validate");
    assert!(plugin.validate_extra(&config).is_empty());
    let mut task = plugin.create_source_task().unwrap();
    task.start(&config, context("source"), offsets)
        .await
        .expect("start");
    task
}

/// Polls until `n` records came (failing after 10 s), then once more to
/// check nothing else is waiting.
async fn poll_exactly(task: &mut Box<dyn SourceTask>, n: usize) -> Vec<ConnectRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records came",
            out.len()
        );
        out.extend(task.poll().await.expect("poll"));
    }
    assert_eq!(out.len(), n, "more records than expected: {out:?}");
    let more = task.poll().await.expect("poll");
    assert!(more.is_empty(), "unexpected records: {more:?}");
    out
}

fn field<'a>(record: &'a ConnectRecord, name: &str) -> &'a Value {
    record
        .value
        .field(name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

fn int(record: &ConnectRecord, name: &str) -> i64 {
    field(record, name).as_i64().unwrap()
}

fn offset(record: &ConnectRecord) -> serde_json::Value {
    serde_json::Value::Object(record.source.as_ref().unwrap().offset.clone())
}

fn partition(record: &ConnectRecord) -> serde_json::Value {
    serde_json::Value::Object(record.source.as_ref().unwrap().partition.clone())
}

/// The stored offsets a runtime would pass after `record` was written.
fn stored_after(record: &ConnectRecord) -> StoredOffsets {
    let position = record.source.clone().unwrap();
    vec![(position.partition, position.offset)]
}

async fn accounts(db: &Db) {
    let id = match db.kind {
        Kind::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
        Kind::Postgres => "id SERIAL PRIMARY KEY",
        Kind::MariaDb => "id INT AUTO_INCREMENT PRIMARY KEY",
    };
    db.exec(&[
        &format!("CREATE TABLE accounts ({id}, name VARCHAR(255))"),
        "INSERT INTO accounts (name) VALUES ('alice')",
        "INSERT INTO accounts (name) VALUES ('bob')",
        "INSERT INTO accounts (name) VALUES ('carol')",
    ])
    .await;
}

async fn confluent_quickstart_incrementing_reads_new_rows_and_resumes(db: Db) {
    accounts(&db).await;
    // Confluent's JDBC source quick start (docs.confluent.io, "JDBC Source
    // Connector", Quick Start; source-quickstart-sqlite.properties):
    // name=test-source-sqlite-jdbc-autoincrement, tasks.max=1,
    // connection.url=jdbc:sqlite:test.db (here each database's URL),
    // mode=incrementing, incrementing.column.name=id,
    // topic.prefix=test-sqlite-jdbc-; its table is accounts(id, name).
    let settings = [
        ("name", "test-source-sqlite-jdbc-autoincrement"),
        (
            "connector.class",
            "io.confluent.connect.jdbc.JdbcSourceConnector",
        ),
        ("tasks.max", "1"),
        ("mode", "incrementing"),
        ("incrementing.column.name", "id"),
        ("topic.prefix", "test-sqlite-jdbc-"),
        ("batch.max.rows", "2"),
    ];
    let mut task = start(&db, &settings, Vec::new()).await;
    let records = poll_exactly(&mut task, 3).await;
    let names: Vec<&str> = records
        .iter()
        .map(|r| field(r, "name").as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(records
        .iter()
        .all(|r| r.topic == "test-sqlite-jdbc-accounts"));
    assert_eq!(partition(&records[0]), json!({"table": "accounts"}));
    let offsets: Vec<_> = records.iter().map(offset).collect();
    assert_eq!(
        offsets,
        [
            json!({"incrementing": 1}),
            json!({"incrementing": 2}),
            json!({"incrementing": 3})
        ]
    );
    let schema = records[0].value_schema.as_ref().unwrap();
    assert_eq!(schema.name.as_deref(), Some("accounts"));
    assert_eq!(schema.field("name").unwrap().schema.kind, T::String);
    assert!(schema.field("name").unwrap().schema.optional);
    task.stop().await;

    // A new task resumes after the last stored record (bob): carol again,
    // then rows inserted since.
    db.exec(&["INSERT INTO accounts (name) VALUES ('dave')"])
        .await;
    let mut task = start(&db, &settings, stored_after(&records[1])).await;
    let records = poll_exactly(&mut task, 2).await;
    let names: Vec<&str> = records
        .iter()
        .map(|r| field(r, "name").as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "dave"]);
}

async fn column_types_become_connect_types(db: Db) {
    let (create, insert) = match db.kind {
        Kind::Sqlite => (
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, small SMALLINT, flag BOOLEAN, score REAL, \
             price DECIMAL(10,2), day DATE, at_time TIME, at TIMESTAMP, name TEXT, raw BLOB, missing TEXT)",
            "INSERT INTO typed VALUES (1, 7, 1, 1.5, '12.50', '2024-05-01', '12:34:56.789', \
             '2024-05-01 12:34:56.789', 'x', X'6162', NULL)",
        ),
        Kind::Postgres => (
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, small SMALLINT, flag BOOLEAN, score REAL, \
             price NUMERIC(10,2), day DATE, at_time TIME(3), at TIMESTAMP(3), name VARCHAR(20), raw BYTEA, missing TEXT)",
            "INSERT INTO typed VALUES (1, 7, TRUE, 1.5, 12.50, '2024-05-01', '12:34:56.789', \
             '2024-05-01 12:34:56.789', 'x', decode('6162', 'hex'), NULL)",
        ),
        Kind::MariaDb => (
            "CREATE TABLE typed (id INT PRIMARY KEY, small SMALLINT, flag BOOLEAN, score FLOAT, \
             price DECIMAL(10,2), day DATE, at_time TIME(3), at DATETIME(3), name VARCHAR(20), raw BLOB, missing TEXT)",
            "INSERT INTO typed VALUES (1, 7, TRUE, 1.5, 12.50, '2024-05-01', '12:34:56.789', \
             '2024-05-01 12:34:56.789', 'x', X'6162', NULL)",
        ),
    };
    db.exec(&[create, insert]).await;
    let mut task = start(
        &db,
        &[
            ("mode", "bulk"),
            ("topic.prefix", "db-"),
            ("table.whitelist", "typed"),
        ],
        Vec::new(),
    )
    .await;
    // Bulk mode reads the table again every poll: take the first read.
    let mut records = Vec::new();
    while records.is_empty() {
        records = task.poll().await.expect("poll");
    }
    assert_eq!(records.len(), 1);
    let r = &records[0];
    let schema = r.value_schema.as_ref().unwrap();
    let kinds: Vec<(String, T, Option<&str>)> = schema
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.schema.kind, f.schema.name.as_deref()))
        .collect();
    // SQLite's INTEGER and REAL are 64-bit, as Confluent maps them.
    let (int, small, float) = match db.kind {
        Kind::Sqlite => (T::Int64, T::Int64, T::Float64),
        _ => (T::Int32, T::Int16, T::Float32),
    };
    let expected = vec![
        ("id".to_string(), int, None),
        ("small".into(), small, None),
        ("flag".into(), T::Boolean, None),
        ("score".into(), float, None),
        ("price".into(), T::Bytes, Some(logical::DECIMAL)),
        ("day".into(), T::Int32, Some(logical::DATE)),
        ("at_time".into(), T::Int32, Some(logical::TIME)),
        ("at".into(), T::Int64, Some(logical::TIMESTAMP)),
        ("name".into(), T::String, None),
        ("raw".into(), T::Bytes, None),
        ("missing".into(), T::String, None),
    ];
    assert_eq!(kinds, expected);
    assert_eq!(
        schema
            .field("price")
            .unwrap()
            .schema
            .parameters
            .get(logical::DECIMAL_SCALE)
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(int_of(field(r, "id")), 1);
    assert_eq!(int_of(field(r, "small")), 7);
    assert_eq!(field(r, "flag"), &Value::Boolean(true));
    assert!(
        matches!(field(r, "score"), Value::Float32(f) if *f == 1.5)
            || field(r, "score") == &Value::Float64(1.5)
    );
    assert_eq!(field(r, "price"), &Value::Bytes(vec![0x04, 0xe2]));
    assert_eq!(field(r, "day"), &Value::Int32(19_844));
    assert_eq!(field(r, "at_time"), &Value::Int32(45_296_789));
    assert_eq!(field(r, "at"), &Value::Int64(1_714_566_896_789));
    assert_eq!(field(r, "name"), &Value::from("x"));
    assert_eq!(field(r, "raw"), &Value::Bytes(b"ab".to_vec()));
    assert_eq!(field(r, "missing"), &Value::Null);
    // Bulk mode keeps no offset.
    assert_eq!(offset(r), json!({}));
}

fn int_of(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("not an integer: {v:?}"))
}

async fn events(db: &Db) {
    let ts = match db.kind {
        Kind::Sqlite => "TIMESTAMP",
        Kind::Postgres => "TIMESTAMP(3)",
        Kind::MariaDb => "DATETIME(3)",
    };
    db.exec(&[
        &format!(
            "CREATE TABLE events (id INT PRIMARY KEY, updated_at {ts} NOT NULL, what VARCHAR(20))"
        ),
        "INSERT INTO events VALUES (1, '2024-01-01 00:00:01.000', 'a')",
        "INSERT INTO events VALUES (2, '2024-01-01 00:00:02.500', 'b')",
        "INSERT INTO events VALUES (3, '2024-01-01 00:00:02.500', 'c')",
        // In the future: left for later (the query's upper bound is now).
        "INSERT INTO events VALUES (4, '2999-01-01 00:00:00.000', 'later')",
    ])
    .await;
}

const T1: i64 = 1_704_067_201_000; // 2024-01-01 00:00:01 UTC, in ms

async fn timestamp_mode_reads_new_and_updated_rows(db: Db) {
    events(&db).await;
    let settings = [
        ("mode", "timestamp"),
        ("timestamp.column.name", "updated_at"),
        ("topic.prefix", "t-"),
        ("table.whitelist", "events"),
    ];
    let mut task = start(&db, &settings, Vec::new()).await;
    let records = poll_exactly(&mut task, 3).await;
    let ids: Vec<i64> = records.iter().map(|r| int(r, "id")).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(
        offset(&records[0]),
        json!({"timestamp": T1, "timestamp_nanos": 0})
    );
    assert_eq!(
        offset(&records[2]),
        json!({"timestamp": T1 + 1500, "timestamp_nanos": 500_000_000})
    );
    assert_eq!(field(&records[0], "updated_at"), &Value::Int64(T1));
    // An update moves row 1's timestamp forward: it is read again.
    db.exec(&[
        "UPDATE events SET updated_at = '2024-01-01 00:00:05.000', what = 'a2' WHERE id = 1",
    ])
    .await;
    let records = poll_exactly(&mut task, 1).await;
    assert_eq!(field(&records[0], "what"), &Value::from("a2"));
    task.stop().await;
    // Resuming from the first record's offset reads what came after it.
    let first_offset = vec![(
        serde_json::Map::from_iter([("table".to_string(), json!("events"))]),
        serde_json::Map::from_iter([
            ("timestamp".to_string(), json!(T1)),
            ("timestamp_nanos".to_string(), json!(0)),
        ]),
    )];
    let mut task = start(&db, &settings, first_offset).await;
    let ids: Vec<i64> = poll_exactly(&mut task, 3)
        .await
        .iter()
        .map(|r| int(r, "id"))
        .collect();
    assert_eq!(ids, [2, 3, 1]);
}

async fn timestamp_incrementing_breaks_ties_by_the_incrementing_column(db: Db) {
    events(&db).await;
    let settings = [
        ("mode", "timestamp+incrementing"),
        ("timestamp.column.name", "updated_at"),
        ("incrementing.column.name", "id"),
        ("topic.prefix", "t-"),
        ("table.whitelist", "events"),
        ("batch.max.rows", "2"),
    ];
    let mut task = start(&db, &settings, Vec::new()).await;
    let records = poll_exactly(&mut task, 3).await;
    assert_eq!(
        records.iter().map(|r| int(r, "id")).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        offset(&records[1]),
        json!({"incrementing": 2, "timestamp": T1 + 1500, "timestamp_nanos": 500_000_000})
    );
    task.stop().await;
    // Stopped after row 2 was stored: row 3 shares its timestamp and is
    // still read, by its greater id.
    let mut task = start(&db, &settings, stored_after(&records[1])).await;
    let again = poll_exactly(&mut task, 1).await;
    assert_eq!(int(&again[0], "id"), 3);
}

async fn bulk_mode_reads_the_whole_table_each_poll(db: Db) {
    accounts(&db).await;
    let mut task = start(
        &db,
        &[("mode", "bulk"), ("topic.prefix", "bulk-")],
        Vec::new(),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < 6 {
        assert!(Instant::now() < deadline);
        for r in task.poll().await.unwrap() {
            assert_eq!(r.topic, "bulk-accounts");
            seen.push(field(&r, "name").as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        seen[..6],
        ["alice", "bob", "carol", "alice", "bob", "carol"]
    );
}

async fn a_custom_query_gets_the_modes_where_appended(db: Db) {
    accounts(&db).await;
    // From Confluent's JDBC source docs: a query with incrementing mode,
    // the WHERE clause appended by the connector; the topic is the prefix.
    let settings = [
        ("mode", "incrementing"),
        ("incrementing.column.name", "id"),
        ("query", "SELECT id, name FROM accounts"),
        ("topic.prefix", "accounts-query"),
    ];
    let mut task = start(&db, &settings, Vec::new()).await;
    let records = poll_exactly(&mut task, 3).await;
    assert!(records.iter().all(|r| r.topic == "accounts-query"));
    assert_eq!(partition(&records[0]), json!({"query": "query"}));
    assert_eq!(offset(&records[2]), json!({"incrementing": 3}));
    task.stop().await;
    let mut task = start(&db, &settings, stored_after(&records[2])).await;
    db.exec(&["INSERT INTO accounts (name) VALUES ('erin')"])
        .await;
    let records = poll_exactly(&mut task, 1).await;
    assert_eq!(field(&records[0], "name"), &Value::from("erin"));
}

async fn tables_are_spread_over_tasks(db: Db) {
    db.exec(&[
        "CREATE TABLE a1 (id INT)",
        "CREATE TABLE a2 (id INT)",
        "CREATE TABLE a3 (id INT)",
    ])
    .await;
    let plugin = JdbcSourceConnector;
    let base = [
        ("connection.url", db.jdbc_url.as_str()),
        ("mode", "bulk"),
        ("topic.prefix", "p-"),
    ];
    let tables = |configs: Vec<fjord_connect::config::Config>| -> Vec<String> {
        configs
            .iter()
            .map(|c| c.get("tables").unwrap().to_string())
            .collect()
    };
    // Off the async runtime's threads: listing tables blocks.
    let all = tokio::task::spawn_blocking({
        let c = config(&base);
        move || JdbcSourceConnector.task_configs(&c, 2).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(tables(all), ["a1,a2", "a3"]);
    let mut pairs = base.to_vec();
    pairs.push(("table.blacklist", "a2"));
    let c = config(&pairs);
    let some =
        tokio::task::spawn_blocking(move || JdbcSourceConnector.task_configs(&c, 5).unwrap())
            .await
            .unwrap();
    assert_eq!(tables(some), ["a1", "a3"]);
    let mut pairs = base.to_vec();
    pairs.push(("table.whitelist", "a3, a1"));
    assert_eq!(
        tables(plugin.task_configs(&config(&pairs), 1).unwrap()),
        ["a3,a1"]
    );
}
