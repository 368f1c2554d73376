//! The JDBC sink task driven directly (no Kafka): each scenario runs on
//! SQLite, PostgreSQL and MariaDB and checks the table's rows exactly.

mod jdbc_support;

use fjord_connect::connector::ConnectorPlugin;
use fjord_connect::data::{logical, Schema, SchemaRef, SchemaType as T, Value};
use fjord_connect::record::ConnectRecord;
use jdbc_support::{
    config, item, items, map, optional, put_all, schema, sink_record, start_sink as start,
    struct_schema, structure, Db, Kind,
};

per_database!(
    confluent_quickstart_config_creates_the_table_and_inserts,
    logical_types_are_written_as_the_databases_own_types,
    upsert_inserts_new_keys_and_updates_existing_ones,
    update_mode_changes_existing_rows_only,
    tombstones_delete_by_record_key,
    kafka_pk_mode_keys_rows_by_topic_partition_offset,
    fields_whitelist_limits_the_value_columns,
    auto_evolve_adds_optional_and_defaulted_columns,
    evolution_that_would_change_or_require_a_column_is_refused,
    schemaless_maps_create_tables_and_fill_existing_ones,
    exactly_once_resumes_from_the_offsets_table_without_duplicates,
    batches_beyond_the_bind_parameter_limit_are_split,
    unquoted_identifiers_follow_the_databases_case_rules,
    exactly_once_holds_when_a_zombie_task_writes_the_same_partition,
    each_topic_goes_to_its_own_table_within_one_put,
);

/// The orders value schema of Confluent's JDBC sink quick start
/// (docs.confluent.io, "JDBC Sink Connector", Quick Start: the Avro
/// `myrecord` with id, product, quantity, price).
fn orders_schema() -> SchemaRef {
    struct_schema(
        "myrecord",
        &[
            ("id", schema(T::Int32)),
            ("product", schema(T::String)),
            ("quantity", schema(T::Int32)),
            ("price", schema(T::Float32)),
        ],
    )
}

fn order(offset: i64, id: i32, product: &str, quantity: i32, price: f32) -> ConnectRecord {
    let s = orders_schema();
    let v = structure(
        &s,
        vec![
            Value::Int32(id),
            product.into(),
            Value::Int32(quantity),
            Value::Float32(price),
        ],
    );
    sink_record("orders", 0, offset, None, Some((s, v)))
}

async fn confluent_quickstart_config_creates_the_table_and_inserts(db: Db) {
    // The sink-quickstart-sqlite.properties of Confluent's JDBC sink docs
    // (docs.confluent.io/kafka-connectors/jdbc/current/sink-connector):
    // name=test-sink, tasks.max=1, topics=orders,
    // connection.url=jdbc:sqlite:test.db (here each database's URL), auto.create=true.
    let mut task = start(
        &db,
        "test-sink",
        &[
            (
                "connector.class",
                "io.confluent.connect.jdbc.JdbcSinkConnector",
            ),
            ("tasks.max", "1"),
            ("topics", "orders"),
            ("auto.create", "true"),
        ],
    )
    .await;
    put_all(
        &mut task,
        vec![
            order(0, 999, "foo", 100, 50.0),
            order(1, 1000, "bar", 2, 1.5),
        ],
    )
    .await;
    let sql = format!(
        "SELECT id, product, quantity, price FROM {} ORDER BY id",
        db.q("orders")
    );
    assert_eq!(db.lines(&sql).await, ["999|foo|100|50", "1000|bar|2|1.5"]);
    task.stop().await;
}

async fn logical_types_are_written_as_the_databases_own_types(db: Db) {
    let decimal = Schema::of(T::Bytes)
        .with_name(logical::DECIMAL)
        .with_parameter(logical::DECIMAL_SCALE, "2")
        .into_ref();
    let date = Schema::of(T::Int32).with_name(logical::DATE).into_ref();
    let time = Schema::of(T::Int32).with_name(logical::TIME).into_ref();
    let ts = Schema::of(T::Int64)
        .with_name(logical::TIMESTAMP)
        .into_ref();
    let s = struct_schema(
        "payment",
        &[
            ("id", schema(T::Int64)),
            ("amount", decimal),
            ("day", date),
            ("at_time", time),
            ("at", ts),
            ("ok", schema(T::Boolean)),
            ("note", optional(T::String)),
            ("raw", schema(T::Bytes)),
        ],
    );
    let v = structure(
        &s,
        vec![
            Value::Int64(1),
            Value::Bytes(vec![0xfb, 0x1e]), // -12.50
            Value::Int32(19_844),           // 2024-05-01
            Value::Int32(45_296_789),       // 12:34:56.789
            Value::Int64(1_714_566_896_789),
            Value::Boolean(true),
            Value::Null,
            Value::Bytes(b"ab".to_vec()),
        ],
    );
    let mut task = start(
        &db,
        "logical",
        &[
            ("auto.create", "true"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    put_all(
        &mut task,
        vec![sink_record("payments", 0, 0, None, Some((s, v)))],
    )
    .await;
    let t = |c: &str| db.text(&db.q(c));
    let sql = format!(
        "SELECT id, {}, {}, {}, {}, {}, note, raw FROM {}",
        t("amount"),
        t("day"),
        t("at_time"),
        t("at"),
        t("ok"),
        db.q("payments")
    );
    let expected = match db.kind {
        Kind::Sqlite => "1|-12.5|2024-05-01|12:34:56.789|2024-05-01 12:34:56.789|1|NULL|ab",
        Kind::Postgres => "1|-12.50|2024-05-01|12:34:56.789|2024-05-01 12:34:56.789|true|NULL|ab",
        Kind::MariaDb => "1|-12.50|2024-05-01|12:34:56.789|2024-05-01 12:34:56.789|1|NULL|ab",
    };
    assert_eq!(db.lines(&sql).await, [expected]);
}

async fn upsert_inserts_new_keys_and_updates_existing_ones(db: Db) {
    let mut task = start(
        &db,
        "upsert",
        &[
            ("auto.create", "true"),
            ("insert.mode", "upsert"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    put_all(
        &mut task,
        vec![item(0, 1, "a", Some(1)), item(1, 2, "b", None)],
    )
    .await;
    // Key 1 twice in one batch: the later one wins.
    put_all(
        &mut task,
        vec![
            item(2, 1, "a2", Some(5)),
            item(3, 3, "c", Some(3)),
            item(4, 1, "a3", None),
        ],
    )
    .await;
    assert_eq!(items(&db).await, ["1|a3|NULL", "2|b|NULL", "3|c|3"]);
}

async fn update_mode_changes_existing_rows_only(db: Db) {
    let mut task = start(
        &db,
        "update",
        &[
            ("auto.create", "true"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    put_all(
        &mut task,
        vec![item(0, 1, "a", Some(1)), item(1, 2, "b", Some(2))],
    )
    .await;
    task.stop().await;
    let mut task = start(
        &db,
        "update",
        &[
            ("insert.mode", "update"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    put_all(
        &mut task,
        vec![item(2, 2, "b2", None), item(3, 7, "nobody", Some(7))],
    )
    .await;
    assert_eq!(items(&db).await, ["1|a|1", "2|b2|NULL"]);
}

async fn tombstones_delete_by_record_key(db: Db) {
    let key_schema = struct_schema("key", &[("id", schema(T::Int64))]);
    let value_schema = struct_schema("v", &[("name", schema(T::String))]);
    let rec = |offset: i64, id: i64, name: Option<&str>| {
        let key = (
            key_schema.clone(),
            structure(&key_schema, vec![Value::Int64(id)]),
        );
        let value = name.map(|n| {
            (
                value_schema.clone(),
                structure(&value_schema, vec![n.into()]),
            )
        });
        sink_record("people", 0, offset, Some(key), value)
    };
    let mut task = start(
        &db,
        "deletes",
        &[
            ("auto.create", "true"),
            ("insert.mode", "upsert"),
            ("pk.mode", "record_key"),
            ("delete.enabled", "true"),
        ],
    )
    .await;
    put_all(
        &mut task,
        vec![
            rec(0, 1, Some("ann")),
            rec(1, 2, Some("bob")),
            rec(2, 3, Some("cy")),
        ],
    )
    .await;
    // Delete 2; 3 is deleted and written again in the same batch, in order.
    put_all(
        &mut task,
        vec![
            rec(3, 2, None),
            rec(4, 3, None),
            rec(5, 3, Some("cy2")),
            rec(6, 9, None),
        ],
    )
    .await;
    let sql = format!("SELECT id, name FROM {} ORDER BY id", db.q("people"));
    assert_eq!(db.lines(&sql).await, ["1|ann", "3|cy2"]);
}

async fn kafka_pk_mode_keys_rows_by_topic_partition_offset(db: Db) {
    let mut task = start(
        &db,
        "kafka-pk",
        &[("auto.create", "true"), ("pk.mode", "kafka")],
    )
    .await;
    let mut second = item(7, 2, "b", None);
    second.origin.as_mut().unwrap().partition = 3;
    put_all(&mut task, vec![item(5, 1, "a", Some(1)), second]).await;
    let sql = format!(
        "SELECT __connect_topic, __connect_partition, __connect_offset, id, name FROM {} ORDER BY id",
        db.q("items")
    );
    assert_eq!(db.lines(&sql).await, ["items|0|5|1|a", "items|3|7|2|b"]);
    // Replaying the same offsets hits the primary key: each fails alone.
    let outcome = task.put(vec![item(5, 1, "a", Some(1))]).await.unwrap();
    assert_eq!(outcome.failed.iter().map(|f| f.0).collect::<Vec<_>>(), [0]);
}

async fn fields_whitelist_limits_the_value_columns(db: Db) {
    let mut task = start(
        &db,
        "whitelist",
        &[
            ("auto.create", "true"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
            ("fields.whitelist", "name"),
        ],
    )
    .await;
    put_all(&mut task, vec![item(0, 1, "a", Some(1))]).await;
    assert_eq!(
        db.lines(&format!("SELECT * FROM {}", db.q("items"))).await,
        ["1|a"]
    );
}

async fn auto_evolve_adds_optional_and_defaulted_columns(db: Db) {
    let mut task = start(
        &db,
        "evolve",
        &[
            ("auto.create", "true"),
            ("auto.evolve", "true"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    put_all(&mut task, vec![item(0, 1, "a", Some(1))]).await;
    let mut with_default = Schema::of(T::Int32);
    with_default.default = Some(Value::Int32(7));
    let s = struct_schema(
        "item",
        &[
            ("id", schema(T::Int64)),
            ("name", schema(T::String)),
            ("qty", optional(T::Int32)),
            ("color", optional(T::String)),
            ("size", with_default.into_ref()),
        ],
    );
    let v = structure(
        &s,
        vec![
            Value::Int64(2),
            "b".into(),
            Value::Null,
            "red".into(),
            Value::Int32(3),
        ],
    );
    put_all(
        &mut task,
        vec![sink_record("items", 0, 1, None, Some((s, v)))],
    )
    .await;
    // The old schema still writes: new columns take NULL / their default.
    put_all(&mut task, vec![item(2, 3, "c", None)]).await;
    let sql = format!(
        "SELECT id, name, qty, color, size FROM {} ORDER BY id",
        db.q("items")
    );
    assert_eq!(
        db.lines(&sql).await,
        ["1|a|1|NULL|7", "2|b|NULL|red|3", "3|c|NULL|NULL|7"]
    );
}

async fn evolution_that_would_change_or_require_a_column_is_refused(db: Db) {
    let mut task = start(
        &db,
        "refuse",
        &[
            ("auto.create", "true"),
            ("auto.evolve", "true"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    put_all(&mut task, vec![item(0, 1, "a", Some(1))]).await;
    // A new required field without a default cannot be added.
    let s = struct_schema(
        "item",
        &[
            ("id", schema(T::Int64)),
            ("name", schema(T::String)),
            ("weight", schema(T::Int32)),
        ],
    );
    let v = structure(&s, vec![Value::Int64(2), "b".into(), Value::Int32(3)]);
    let err = task
        .put(vec![sink_record("items", 0, 1, None, Some((s, v)))])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"items\"") && err.contains("\"weight\"") && err.contains("required"),
        "{err}"
    );
    // A field whose type changed (qty: int32 -> string) cannot be evolved.
    let s = struct_schema(
        "item",
        &[
            ("id", schema(T::Int64)),
            ("name", schema(T::String)),
            ("qty", optional(T::String)),
        ],
    );
    let v = structure(&s, vec![Value::Int64(3), "c".into(), "three".into()]);
    let err = task
        .put(vec![sink_record("items", 0, 2, None, Some((s, v)))])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"items\"") && err.contains("\"qty\"") && err.contains("type"),
        "{err}"
    );
    // Without auto.evolve a missing column is an error too.
    let mut plain = start(
        &db,
        "refuse2",
        &[("pk.mode", "record_value"), ("pk.fields", "id")],
    )
    .await;
    let s = struct_schema(
        "item",
        &[("id", schema(T::Int64)), ("extra", optional(T::String))],
    );
    let v = structure(&s, vec![Value::Int64(4), "x".into()]);
    let err = plain
        .put(vec![sink_record("items", 0, 3, None, Some((s, v)))])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("auto.evolve is disabled") && err.contains("extra"),
        "{err}"
    );
    assert_eq!(items(&db).await, ["1|a|1"]);
}

async fn schemaless_maps_create_tables_and_fill_existing_ones(db: Db) {
    let mut task = start(
        &db,
        "schemaless",
        &[
            ("auto.create", "true"),
            ("auto.evolve", "true"),
            ("insert.mode", "upsert"),
            ("pk.mode", "record_value"),
            ("pk.fields", "id"),
        ],
    )
    .await;
    let rec = |offset: i64, value: Value| {
        let mut r = ConnectRecord::new("events", None, Value::Null, None, value);
        r.origin = Some(fjord_connect::record::KafkaOrigin {
            topic: "events".into(),
            partition: 0,
            offset,
        });
        r
    };
    put_all(
        &mut task,
        vec![
            rec(
                0,
                map(&[
                    ("id", Value::Int64(1)),
                    ("kind", "click".into()),
                    ("score", Value::Null),
                ]),
            ),
            rec(
                1,
                map(&[
                    ("id", Value::Int64(2)),
                    ("kind", "view".into()),
                    ("score", Value::Float64(0.5)),
                ]),
            ),
        ],
    )
    .await;
    // A new key becomes a new optional column; nested values become JSON text.
    put_all(
        &mut task,
        vec![rec(
            2,
            map(&[
                ("id", Value::Int64(1)),
                ("kind", "buy".into()),
                ("tags", Value::Array(vec!["x".into()])),
            ]),
        )],
    )
    .await;
    let sql = format!(
        "SELECT id, kind, score, tags FROM {} ORDER BY id",
        db.q("events")
    );
    assert_eq!(
        db.lines(&sql).await,
        ["1|buy|NULL|[\"x\"]", "2|view|0.5|NULL"]
    );
}

async fn exactly_once_resumes_from_the_offsets_table_without_duplicates(db: Db) {
    let settings = [("auto.create", "true"), ("exactly.once", "true")];
    let batch = |from: i64, to: i64| {
        (from..to)
            .map(|o| item(o, o, "x", None))
            .collect::<Vec<_>>()
    };
    let tp = ("items".to_string(), 0);
    let mut task = start(&db, "eo", &settings).await;
    assert!(task
        .stored_offsets(std::slice::from_ref(&tp))
        .await
        .unwrap()
        .is_empty());
    put_all(&mut task, batch(0, 5)).await;
    // A crash: the task is dropped without stop, before any group commit.
    drop(task);
    let mut task = start(&db, "eo", &settings).await;
    let stored = task
        .stored_offsets(std::slice::from_ref(&tp))
        .await
        .unwrap();
    assert_eq!(stored.get(&tp), Some(&5));
    // Kafka redelivers from the group's last commit (none): offsets 0..8.
    put_all(&mut task, batch(0, 8)).await;
    let count = db
        .lines(&format!(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM {}",
            db.q("items")
        ))
        .await;
    assert_eq!(count, ["8|8"]);
    assert_eq!(
        task.stored_offsets(std::slice::from_ref(&tp))
            .await
            .unwrap()
            .get(&tp),
        Some(&8)
    );
    // Another connector's offsets are its own.
    let mut other = start(&db, "eo-other", &settings).await;
    assert!(other
        .stored_offsets(std::slice::from_ref(&tp))
        .await
        .unwrap()
        .is_empty());
    // The offsets REST endpoints: overwrite, then erase.
    assert!(task
        .set_stored_offsets(&[(tp.clone(), Some(3))])
        .await
        .unwrap());
    assert_eq!(
        task.stored_offsets(std::slice::from_ref(&tp))
            .await
            .unwrap()
            .get(&tp),
        Some(&3)
    );
    assert!(task
        .set_stored_offsets(&[(tp.clone(), None)])
        .await
        .unwrap());
    assert!(task
        .stored_offsets(std::slice::from_ref(&tp))
        .await
        .unwrap()
        .is_empty());
    // Without exactly.once the sink keeps no offsets.
    let mut plain = start(&db, "plain", &[("auto.create", "true")]).await;
    assert!(!plain.set_stored_offsets(&[(tp, Some(1))]).await.unwrap());
}

async fn batches_beyond_the_bind_parameter_limit_are_split(db: Db) {
    // 20 columns x 4000 records = 80,000 parameters: beyond SQLite's 32,766
    // and PostgreSQL's and MySQL's 65,535.
    let fields: Vec<(String, SchemaRef)> = (0..20)
        .map(|i| (format!("c{i}"), schema(T::Int64)))
        .collect();
    let s = Schema::structure(Some("wide"), fields).into_ref();
    let records: Vec<ConnectRecord> = (0..4000)
        .map(|n| {
            let v = structure(&s, (0..20).map(|i| Value::Int64(n * 100 + i)).collect());
            sink_record("wide", 0, n, None, Some((s.clone(), v)))
        })
        .collect();
    let mut task = start(
        &db,
        "wide",
        &[("auto.create", "true"), ("batch.size", "5000")],
    )
    .await;
    put_all(&mut task, records).await;
    let sql = format!(
        "SELECT COUNT(*), {}, {} FROM {}",
        db.text("SUM(c0)"),
        db.text("SUM(c19)"),
        db.q("wide")
    );
    let expected_c0: i64 = (0..4000).map(|n| n * 100).sum();
    assert_eq!(
        db.lines(&sql).await,
        [format!("4000|{expected_c0}|{}", expected_c0 + 19 * 4000)]
    );
}

async fn unquoted_identifiers_follow_the_databases_case_rules(db: Db) {
    // quote.sql.identifiers=never: PostgreSQL folds Orders to orders.
    let mut task = start(
        &db,
        "unquoted",
        &[
            ("auto.create", "true"),
            ("quote.sql.identifiers", "never"),
            ("table.name.format", "Orders_${topic}"),
        ],
    )
    .await;
    put_all(&mut task, vec![order(0, 1, "a", 1, 1.0)]).await;
    // The table is found again (not created twice) on the next put.
    put_all(&mut task, vec![order(1, 2, "b", 2, 2.0)]).await;
    let sql = "SELECT id, product FROM Orders_orders ORDER BY id";
    assert_eq!(db.lines(sql).await, ["1|a", "2|b"]);
}

#[test]
fn jdbc_sink_settings_confluent_refuses_together_are_refused_on_their_key() {
    let plugin = fjord_connect::jdbc::JdbcSinkConnector;
    let check = |pairs: &[(&str, &str)]| plugin.validate_extra(&config(pairs));
    let url = ("connection.url", "jdbc:sqlite:/tmp/x.db");
    let errors = check(&[url, ("delete.enabled", "true"), ("pk.mode", "record_value")]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "delete.enabled");
    assert!(errors[0].1.contains("record_key"), "{errors:?}");
    let errors = check(&[url, ("insert.mode", "upsert")]);
    assert_eq!(errors[0].0, "pk.mode");
    // A missing URL is the declared settings' error, not reported twice.
    assert!(check(&[("insert.mode", "insert")]).is_empty());
    let errors = check(&[("connection.url", "jdbc:oracle:thin:@h:1521:db")]);
    assert_eq!(errors[0].0, "connection.url");
    assert!(check(&[url, ("pk.mode", "kafka")]).is_empty());
}

async fn exactly_once_holds_when_a_zombie_task_writes_the_same_partition(db: Db) {
    // After a rebalance a task that has not noticed it lost its partition
    // (a zombie) and its successor write the same records at once, in
    // insert mode without a key: each row must still land once.
    let settings = [("auto.create", "true"), ("exactly.once", "true")];
    let mut first = start(&db, "zombie", &settings).await;
    put_all(&mut first, vec![item(0, 0, "x", None)]).await;
    let second = start(&db, "zombie", &settings).await;
    let batch = |from: i64, to: i64| {
        (from..to)
            .map(|o| item(o, o, "x", None))
            .collect::<Vec<_>>()
    };
    let (a, b) = tokio::join!(
        tokio::spawn(async move {
            let mut task = first;
            task.put(batch(1, 3000)).await.map(|o| o.failed.len())
        }),
        tokio::spawn(async move {
            let mut task = second;
            task.put(batch(1, 4000)).await.map(|o| o.failed.len())
        }),
    );
    assert_eq!(a.unwrap().unwrap(), 0);
    assert_eq!(b.unwrap().unwrap(), 0);
    let sql = format!("SELECT COUNT(*), COUNT(DISTINCT id) FROM {}", db.q("items"));
    // Both resumed from the stored offset 1; whichever committed second
    // skipped what the first wrote.
    assert_eq!(db.lines(&sql).await, ["4000|4000"]);
}

async fn each_topic_goes_to_its_own_table_within_one_put(db: Db) {
    let mut task = start(
        &db,
        "topics",
        &[
            ("auto.create", "true"),
            ("table.name.format", "kafka_${topic}"),
        ],
    )
    .await;
    let mut other = item(1, 2, "b", None);
    other.topic = "more_items".into();
    put_all(
        &mut task,
        vec![item(0, 1, "a", None), other, item(2, 3, "c", None)],
    )
    .await;
    let sql = |t: &str| format!("SELECT id, name FROM {} ORDER BY id", db.q(t));
    assert_eq!(db.lines(&sql("kafka_items")).await, ["1|a", "3|c"]);
    assert_eq!(db.lines(&sql("kafka_more_items")).await, ["2|b"]);
}
