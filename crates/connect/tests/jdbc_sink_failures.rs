//! How the JDBC sink fails: a record that cannot be written fails alone
//! (its index reported for the dead-letter queue) while the rest of its
//! batch is written once; a transient failure (a lock held elsewhere) is
//! retried with the whole batch, and becomes a task error only when
//! `max.retries` runs out. Each scenario runs on SQLite, PostgreSQL and
//! MariaDB.

mod jdbc_support;

use std::time::Duration;

use fjord_connect::data::Value;
use jdbc_support::{item, items, put_all, start_sink as start, Db, Kind};

per_database!(
    a_bad_record_mid_batch_fails_alone,
    a_value_too_long_for_its_column_fails_alone,
    a_locked_table_is_retried_and_written_once,
    retries_that_run_out_fail_the_put_and_write_nothing,
);

async fn a_bad_record_mid_batch_fails_alone(db: Db) {
    let mut task = start(
        &db,
        "dlq",
        &[
            ("auto.create", "true"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    put_all(&mut task, vec![item(0, 100, "existing", None)]).await;
    // Index 2 repeats an existing key; index 4 is not a struct at all.
    let mut bad_value = item(5, 5, "x", None);
    bad_value.value = Value::String("not a row".into());
    let batch = vec![
        item(1, 1, "a", None),
        item(2, 2, "b", None),
        item(3, 100, "dup", None),
        item(4, 3, "c", None),
        bad_value,
        item(6, 4, "d", None),
    ];
    let outcome = task.put(batch).await.expect("put");
    let failed: Vec<usize> = outcome.failed.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, [2, 4], "{:?}", outcome.failed);
    assert_eq!(
        items(&db).await,
        [
            "1|a|NULL",
            "2|b|NULL",
            "3|c|NULL",
            "4|d|NULL",
            "100|existing|NULL"
        ]
    );
}

async fn a_value_too_long_for_its_column_fails_alone(db: Db) {
    // VARCHAR(5) where the database enforces it; SQLite does not, so a
    // CHECK constraint stands in.
    let name = match db.kind {
        Kind::Sqlite => "name TEXT NOT NULL CHECK (length(name) <= 5)",
        _ => "name VARCHAR(5) NOT NULL",
    };
    db.exec(&[&format!(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, {name}, qty INT NULL)"
    )])
    .await;
    let mut task = start(
        &db,
        "too-long",
        &[("pk.mode", "record_value"), ("pk.fields", "id")],
    )
    .await;
    let batch = vec![
        item(0, 1, "short", None),
        item(1, 2, "much too long", Some(2)),
        item(2, 3, "ok", Some(3)),
    ];
    let outcome = task.put(batch).await.expect("put");
    let failed: Vec<usize> = outcome.failed.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, [1], "{:?}", outcome.failed);
    assert_eq!(items(&db).await, ["1|short|NULL", "3|ok|3"]);
}

/// Settings that make a blocked write fail fast instead of waiting: a
/// connection URL with PostgreSQL's lock_timeout; MariaDB's lock wait
/// timeout is set globally before the task connects. SQLite's writers
/// wait out the lock under their busy timeout (5 s) instead.
async fn fail_fast_url(db: &Db) -> String {
    match db.kind {
        Kind::Postgres => format!("{}&options=-c%20lock_timeout%3D300", db.jdbc_url),
        Kind::MariaDb => {
            db.exec(&["SET GLOBAL innodb_lock_wait_timeout = 1"]).await;
            db.jdbc_url.clone()
        }
        Kind::Sqlite => db.jdbc_url.clone(),
    }
}

/// Opens a transaction on the test's own connection that blocks inserts
/// into `items` until it ends.
async fn lock_items(db: &Db) -> sqlx::Transaction<'static, sqlx::Any> {
    let mut tx = match db.kind {
        Kind::Sqlite => db.pool.begin_with("BEGIN IMMEDIATE").await.unwrap(),
        _ => db.pool.begin().await.unwrap(),
    };
    let lock = match db.kind {
        Kind::Postgres => "LOCK TABLE items IN ACCESS EXCLUSIVE MODE",
        // Next-key locks up to the supremum: inserts above id 0 wait.
        Kind::MariaDb => "SELECT id FROM items WHERE id > 0 FOR UPDATE",
        Kind::Sqlite => "SELECT 1",
    };
    sqlx::query(lock).fetch_all(&mut *tx).await.unwrap();
    tx
}

async fn a_locked_table_is_retried_and_written_once(db: Db) {
    let url = fail_fast_url(&db).await;
    let settings = [
        ("connection.url", url.as_str()),
        ("auto.create", "true"),
        ("pk.mode", "record_value"),
        ("pk.fields", "id"),
        ("max.retries", "50"),
        ("retry.backoff.ms", "100"),
    ];
    let mut task = start(&db, "locked", &settings).await;
    put_all(&mut task, vec![item(0, 1, "a", None)]).await;
    let lock = lock_items(&db).await;
    let put = tokio::spawn(async move {
        let outcome = task
            .put(vec![item(1, 2, "b", None), item(2, 3, "c", None)])
            .await;
        (task, outcome)
    });
    // Long enough for PostgreSQL's and MariaDB's writes to time out and
    // be retried at least once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!put.is_finished(), "the put should wait for the lock");
    lock.commit().await.unwrap();
    let (_task, outcome) = put.await.unwrap();
    assert!(outcome.expect("put").failed.is_empty());
    assert_eq!(items(&db).await, ["1|a|NULL", "2|b|NULL", "3|c|NULL"]);
}

async fn retries_that_run_out_fail_the_put_and_write_nothing(db: Db) {
    if db.kind == Kind::Sqlite {
        // SQLite waits out a lock (busy timeout) rather than failing.
        return;
    }
    let url = fail_fast_url(&db).await;
    let settings = [
        ("connection.url", url.as_str()),
        ("auto.create", "true"),
        ("pk.mode", "record_value"),
        ("pk.fields", "id"),
        ("max.retries", "1"),
        ("retry.backoff.ms", "10"),
    ];
    let mut task = start(&db, "give-up", &settings).await;
    put_all(&mut task, vec![item(0, 1, "a", None)]).await;
    let lock = lock_items(&db).await;
    let err = task
        .put(vec![item(1, 2, "b", None), item(2, 3, "c", None)])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("after 1 retries"), "{err}");
    lock.commit().await.unwrap();
    assert_eq!(items(&db).await, ["1|a|NULL"]);
}
