//! Connector configs copied from Confluent's documentation, POSTed to a
//! real worker's REST API (against a real broker, and Fjord's registry for
//! the Avro case), with records produced in the converters' own formats;
//! then the table's rows (or the topic's records) are checked exactly. One
//! test per database: SQLite always; PostgreSQL and MariaDB when installed
//! (skipped otherwise, unless FJORD_TEST_STRICT=1), each test sharing one
//! broker, worker and database among its scenarios.
//!
//! In every config only the connection URL, topic and connector names are
//! adapted (each marked where it happens); everything else is the
//! documentation's text. Where the documentation describes a setting in
//! prose rather than in a config (upsert, delete, auto.evolve), the
//! quick-start config is used with the keys that section names, and the
//! comment says so.

mod common;
mod jdbc_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestBroker, TestWorker};
use jdbc_support::{Db, Kind};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::{json, Value as Json};

/// One database, broker, registry and worker for a test's scenarios.
struct Env {
    db: Db,
    /// Runs the database checks (the pool lives on it).
    rt: tokio::runtime::Runtime,
    broker: TestBroker,
    worker: TestWorker,
    registry_url: String,
    _stop_registry: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Env {
    fn open(kind: Kind) -> Option<Env> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let db = rt.block_on(Db::open(kind))?;
        let broker = TestBroker::start();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let bootstrap = broker.bootstrap();
        let registry = broker.runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let config = fjord_registry::RegistryConfig::new(&bootstrap);
            tokio::spawn(async move {
                let stopped = async {
                    let _ = stopped.await;
                };
                if let Err(e) = fjord_registry::serve(listener, config, stopped).await {
                    eprintln!("registry stopped: {e}");
                }
            });
            addr
        });
        let dir = tempfile::tempdir().unwrap();
        let worker = TestWorker::start(&broker, dir.path());
        Some(Env {
            db,
            rt,
            broker,
            worker,
            registry_url: format!("http://{registry}"),
            _stop_registry: stop,
            _dir: dir,
        })
    }

    /// `db.jdbc_url`, as the docs' `connection.url` is replaced.
    fn url(&self) -> &str {
        &self.db.jdbc_url
    }

    /// POSTs Kafka Connect's `{"name": ..., "config": ...}` and expects 201.
    fn create(&self, name: &str, config: Json) {
        let (code, body) = self.worker.call(
            "POST",
            "/connectors",
            Some(&json!({"name": name, "config": config})),
        );
        assert_eq!(code, 201, "creating {name}: {body}");
        assert_eq!(body["name"], name);
    }

    /// Waits (up to 30 s) until `sql` gives `expected`, rows as `a|b|c`;
    /// fails with the connector's status otherwise.
    fn expect_rows(&self, connector: &str, sql: &str, expected: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.rt.block_on(self.try_lines(sql));
            if got.as_deref() == Some(expected_vec(expected).as_slice()) {
                return;
            }
            if Instant::now() > deadline {
                let (_, status) =
                    self.worker
                        .call("GET", &format!("/connectors/{connector}/status"), None);
                panic!(
                    "{:?}: {sql} gave {got:?}, expected {expected:?}; status {status}",
                    self.db.kind
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The rows, or None while the table does not exist yet.
    async fn try_lines(&self, sql: &str) -> Option<Vec<String>> {
        match sqlx::query(sql).fetch_all(&self.db.pool).await {
            Ok(_) => Some(self.db.lines(sql).await),
            Err(_) => None,
        }
    }

    /// A table name quoted for this database.
    fn table(&self, name: &str) -> String {
        self.db.q(name)
    }

    fn produce_bytes(&self, topic: &str, records: &[Record]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.bootstrap())
            .create()
            .unwrap();
        for (k, v) in records {
            let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(0);
            if let Some(k) = k {
                r = r.key(&k[..]);
            }
            if let Some(v) = v {
                r = r.payload(&v[..]);
            }
            producer.send(r).map_err(|(e, _)| e).unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Until Fjord's registry accepts a write (its store is loaded and it
    /// elected itself writer); returns a client.
    fn registry(&self) -> Arc<fjord_registry::client::RegistryClient> {
        use fjord_registry::client::{RegistryClient, Schema};
        let client = RegistryClient::with_timeout(&self.registry_url, Duration::from_secs(5));
        let probe = Schema::new(fjord_registry::schema::SchemaType::Avro, "\"string\"");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client.register("readiness-probe", &probe) {
                Ok(_) => return Arc::new(client),
                Err(e) if Instant::now() > deadline => panic!("registry not ready: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

/// A record's key and value bytes.
type Record = (Option<Vec<u8>>, Option<Vec<u8>>);

fn expected_vec(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

/// A record as JsonConverter writes it with `schemas.enable=true` (the
/// default of Kafka's worker configs, and of the test worker).
fn enveloped(schema: &Json, payload: Json) -> String {
    json!({"schema": schema, "payload": payload}).to_string()
}

/// The Avro value schema of the quick start's producer command
/// (`kafka-avro-console-producer ... --property value.schema=...`), as a
/// JsonConverter schema: int → int32, float → float.
fn myrecord_schema(extra: &[Json]) -> Json {
    let mut fields = vec![
        json!({"type": "int32", "optional": false, "field": "id"}),
        json!({"type": "string", "optional": false, "field": "product"}),
        json!({"type": "int32", "optional": false, "field": "quantity"}),
        json!({"type": "float", "optional": false, "field": "price"}),
    ];
    fields.extend_from_slice(extra);
    json!({"type": "struct", "fields": fields, "optional": false, "name": "myrecord"})
}

/// The JDBC sink's quick start config, as `confluent load jdbc-sink`
/// prints it in Confluent's docs ("JDBC Sink Connector", Quick Start, "Load
/// the JDBC Sink Connector",
/// https://docs.confluent.io/4.0.0/connect/connect-jdbc/docs/sink_connector.html;
/// the same keys as etc/kafka-connect-jdbc/sink-quickstart-sqlite.properties
/// in later versions). Adapted: connection.url (the docs':
/// jdbc:sqlite:test.db) and topics (the docs': orders).
fn sink_quickstart(url: &str, topic: &str) -> Json {
    json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": topic,
        "connection.url": url,
        "auto.create": "true"
    })
}

/// The quick start itself: the docs' record `{"id": 999, "product": "foo",
/// "quantity": 100, "price": 50}` (and one more), with the worker's
/// JsonConverter; the table is created (auto.create) and holds the rows.
fn sink_quickstart_with_json_converter(env: &Env) {
    let schema = myrecord_schema(&[]);
    env.broker.produce(
        "orders",
        &[
            (
                None,
                Some(&enveloped(
                    &schema,
                    json!({"id": 999, "product": "foo", "quantity": 100, "price": 50}),
                )),
            ),
            (
                None,
                Some(&enveloped(
                    &schema,
                    json!({"id": 1000, "product": "bar", "quantity": 2, "price": 1.5}),
                )),
            ),
        ],
    );
    // Connector name: the docs' jdbc-sink.
    env.create("jdbc-sink", sink_quickstart(env.url(), "orders"));
    env.expect_rows(
        "jdbc-sink",
        &format!("SELECT * FROM {} ORDER BY id", env.table("orders")),
        &["999|foo|100|50", "1000|bar|2|1.5"],
    );
}

/// The quick start as the docs run it: Avro values written with the
/// registry by `kafka-avro-console-producer`, here by Fjord's registry
/// serializer with the docs' value.schema. The converter keys are those
/// Confluent's Avro worker config (connect-avro-distributed.properties)
/// sets, given on the connector as Kafka Connect allows: value.converter
/// and value.converter.schema.registry.url (adapted: the registry's URL).
fn sink_quickstart_with_avro_converter(env: &Env) {
    let client = env.registry();
    let schema = r#"{"type":"record","name":"myrecord","fields":[{"name":"id","type":"int"},{"name":"product", "type": "string"}, {"name":"quantity", "type": "int"}, {"name":"price", "type": "float"}]}"#;
    let serializer =
        fjord_registry::serde::AvroSerializer::new(client, "orders_avro-value", schema).unwrap();
    use apache_avro::types::Value as Avro;
    let value = serializer
        .serialize_value(&Avro::Record(vec![
            ("id".into(), Avro::Int(999)),
            ("product".into(), Avro::String("foo".into())),
            ("quantity".into(), Avro::Int(100)),
            ("price".into(), Avro::Float(50.0)),
        ]))
        .unwrap();
    env.produce_bytes("orders_avro", &[(None, Some(value))]);
    let mut config = sink_quickstart(env.url(), "orders_avro");
    config["value.converter"] = json!("io.confluent.connect.avro.AvroConverter");
    config["value.converter.schema.registry.url"] = json!(env.registry_url);
    env.create("jdbc-sink-avro", config);
    env.expect_rows(
        "jdbc-sink-avro",
        &format!("SELECT * FROM {}", env.table("orders_avro")),
        &["999|foo|100|50"],
    );
}

/// Upsert and delete: the quick start config with the keys of the docs'
/// "Idempotent writes" section (insert.mode=upsert) and "Delete mode"
/// section (delete.enabled=true, which needs pk.mode=record_key)
/// (https://docs.confluent.io/kafka-connectors/jdbc/current/sink-connector/overview.html).
/// Keys are JsonConverter structs; a tombstone (null value) deletes.
fn sink_upsert_and_delete_by_record_key(env: &Env) {
    let key_schema = json!({"type": "struct", "fields": [
        {"type": "int32", "optional": false, "field": "id"}], "optional": false, "name": "key"});
    let value_schema = json!({"type": "struct", "fields": [
        {"type": "string", "optional": false, "field": "name"},
        {"type": "string", "optional": true, "field": "email"}], "optional": false, "name": "customer"});
    let key = |id: i32| enveloped(&key_schema, json!({ "id": id }));
    let value = |name: &str, email: Option<&str>| {
        enveloped(&value_schema, json!({"name": name, "email": email}))
    };
    let records = [
        (key(1), Some(value("ann", Some("ann@example.com")))),
        (key(2), Some(value("bob", None))),
        (key(3), Some(value("cy", None))),
        (key(2), Some(value("bob2", Some("bob@example.com")))),
        (key(3), None),
        (key(4), Some(value("dee", None))),
        (key(1), Some(value("ann2", None))),
    ];
    let records: Vec<(Option<&str>, Option<&str>)> = records
        .iter()
        .map(|(k, v)| (Some(k.as_str()), v.as_deref()))
        .collect();
    env.broker.produce("customers", &records);
    let mut config = sink_quickstart(env.url(), "customers");
    config["insert.mode"] = json!("upsert");
    config["pk.mode"] = json!("record_key");
    config["delete.enabled"] = json!("true");
    env.create("jdbc-sink-upsert", config);
    // Key columns first, then the value's; 3 deleted, 1 and 2 updated.
    env.expect_rows(
        "jdbc-sink-upsert",
        &format!("SELECT * FROM {} ORDER BY id", env.table("customers")),
        &["1|ann2|NULL", "2|bob2|bob@example.com", "4|dee|NULL"],
    );
}

/// auto.evolve: the quick start config with the key of the docs'
/// "Auto-creation and auto-evolution" section (auto.evolve=true): a record
/// with a new optional field adds its column (ALTER TABLE), older rows and
/// later records of the old schema leave it NULL.
fn sink_auto_evolve_adds_a_column(env: &Env) {
    let v1 = myrecord_schema(&[]);
    let v2 = myrecord_schema(&[json!({"type": "string", "optional": true, "field": "color"})]);
    let records = [
        enveloped(
            &v1,
            json!({"id": 1, "product": "a", "quantity": 1, "price": 1}),
        ),
        enveloped(
            &v2,
            json!({"id": 2, "product": "b", "quantity": 2, "price": 2.5, "color": "red"}),
        ),
        enveloped(
            &v1,
            json!({"id": 3, "product": "c", "quantity": 3, "price": 3}),
        ),
    ];
    let records: Vec<(Option<&str>, Option<&str>)> =
        records.iter().map(|v| (None, Some(v.as_str()))).collect();
    env.broker.produce("orders_evolve", &records);
    let mut config = sink_quickstart(env.url(), "orders_evolve");
    config["auto.evolve"] = json!("true");
    env.create("jdbc-sink-evolve", config);
    env.expect_rows(
        "jdbc-sink-evolve",
        &format!("SELECT * FROM {} ORDER BY id", env.table("orders_evolve")),
        &["1|a|1|1|NULL", "2|b|2|2.5|red", "3|c|3|3|NULL"],
    );
}

/// The JDBC source's quick start (Confluent's docs, "JDBC Source
/// Connector", Quick Start: etc/kafka-connect-jdbc/source-quickstart-sqlite.properties,
/// https://docs.confluent.io/kafka-connectors/jdbc/current/source-connector/overview.html
/// and the 4.0 docs' `confluent load jdbc-source` output): the docs'
/// accounts table, mode=incrementing; each row becomes one record of
/// test-sqlite-jdbc-accounts (JsonConverter with schemas: the worker's),
/// and a row inserted later follows. Adapted: connection.url (the docs':
/// jdbc:sqlite:test.db).
fn source_quickstart_incrementing(env: &Env) {
    let id = match env.db.kind {
        // The docs' own statement.
        Kind::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
        Kind::Postgres => "id SERIAL PRIMARY KEY",
        Kind::MariaDb => "id INT AUTO_INCREMENT PRIMARY KEY",
    };
    env.rt.block_on(env.db.exec(&[
        &format!("CREATE TABLE accounts({id}, name VARCHAR(255))"),
        "INSERT INTO accounts(name) VALUES('alice')",
        "INSERT INTO accounts(name) VALUES('bob')",
    ]));
    env.create(
        "test-source-sqlite-jdbc-autoincrement",
        json!({
            "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
            "tasks.max": "1",
            "connection.url": env.url(),
            "mode": "incrementing",
            "incrementing.column.name": "id",
            "topic.prefix": "test-sqlite-jdbc-"
        }),
    );
    let topic = "test-sqlite-jdbc-accounts";
    let id_type = match env.db.kind {
        Kind::Sqlite => "int64",
        Kind::Postgres | Kind::MariaDb => "int32",
    };
    let schema = json!({"type": "struct", "fields": [
        {"type": id_type, "optional": false, "field": "id"},
        {"type": "string", "optional": true, "field": "name"}],
        "optional": false, "name": "accounts"});
    let expected =
        |id: i64, name: &str| json!({"schema": schema, "payload": {"id": id, "name": name}});
    let read = |count: usize| -> Vec<(Option<String>, Json)> {
        env.broker
            .read(topic, count)
            .into_iter()
            .map(|r| {
                let value = serde_json::from_str(r.value.as_deref().unwrap_or("null")).unwrap();
                (r.key, value)
            })
            .collect()
    };
    assert_eq!(
        read(2),
        [(None, expected(1, "alice")), (None, expected(2, "bob"))],
        "{:?}",
        env.db.kind
    );
    env.rt
        .block_on(env.db.exec(&["INSERT INTO accounts(name) VALUES('cathy')"]));
    // The next poll (poll.interval.ms: the default 5 s) finds only the new row.
    let all = read(3);
    assert_eq!(
        all,
        [
            (None, expected(1, "alice")),
            (None, expected(2, "bob")),
            (None, expected(3, "cathy"))
        ],
        "{:?}",
        env.db.kind
    );
    // Without table.whitelist the docs' config copies every table (the
    // sinks' too); the accounts position is the last id read.
    let (_, offsets) = env.worker.call(
        "GET",
        "/connectors/test-source-sqlite-jdbc-autoincrement/offsets",
        None,
    );
    let accounts = offsets["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["partition"] == json!({"table": "accounts"}))
        .unwrap_or_else(|| panic!("no accounts offset: {offsets}"));
    assert_eq!(accounts["offset"], json!({"incrementing": 3}), "{offsets}");
}

fn all_scenarios(kind: Kind) {
    let Some(env) = Env::open(kind) else { return };
    sink_quickstart_with_json_converter(&env);
    sink_quickstart_with_avro_converter(&env);
    sink_upsert_and_delete_by_record_key(&env);
    sink_auto_evolve_adds_a_column(&env);
    source_quickstart_incrementing(&env);
}

#[test]
fn confluent_documented_configs_on_sqlite() {
    all_scenarios(Kind::Sqlite);
}

#[test]
fn confluent_documented_configs_on_postgres() {
    all_scenarios(Kind::Postgres);
}

#[test]
fn confluent_documented_configs_on_mariadb() {
    all_scenarios(Kind::MariaDb);
}

/// Kafka's quick start ("Step 7: Import/export your data as streams of
/// events with Kafka Connect", https://kafka.apache.org/quickstart): Kafka's
/// config/connect-file-source.properties and connect-file-sink.properties,
/// POSTed as JSON, with the worker's JsonConverter (schemas enabled, as
/// Kafka's worker configs set it). The topic holds the lines as the docs
/// show them, `{"schema":{"type":"string","optional":false},"payload":"foo"}`,
/// and the sink's file holds the lines again. Adapted: `file` (the docs':
/// test.txt and test.sink.txt, relative to where Kafka runs; here under the
/// worker's allowed directory).
#[test]
fn kafka_quickstart_file_source_and_sink() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let source_file = dir.path().join("test.txt");
    let sink_file = dir.path().join("test.sink.txt");
    std::fs::write(&source_file, "foo\nbar\n").unwrap();
    let worker = TestWorker::start(&broker, dir.path());
    for (name, config) in [
        (
            "local-file-source",
            json!({
                "connector.class": "FileStreamSource",
                "tasks.max": "1",
                "file": source_file.display().to_string(),
                "topic": "connect-test"
            }),
        ),
        (
            "local-file-sink",
            json!({
                "connector.class": "FileStreamSink",
                "tasks.max": "1",
                "file": sink_file.display().to_string(),
                "topics": "connect-test"
            }),
        ),
    ] {
        let (code, body) = worker.call(
            "POST",
            "/connectors",
            Some(&json!({"name": name, "config": config})),
        );
        assert_eq!(code, 201, "{body}");
    }
    assert_eq!(common::wait_lines(&sink_file, 2), ["foo", "bar"]);
    let values: Vec<Option<String>> = broker
        .read("connect-test", 2)
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(
        values,
        [
            Some(r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#.to_string()),
            Some(r#"{"schema":{"type":"string","optional":false},"payload":"bar"}"#.to_string()),
        ]
    );
    // "Append data to the file... you should see the line appear in the
    // console consumer output and in the sink file."
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&source_file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"Another line\n").unwrap();
    assert_eq!(
        common::wait_lines(&sink_file, 3),
        ["foo", "bar", "Another line"]
    );
}
