//! The auction's worked example (issue 13, item 6): the connector configs
//! shipped in apps/auction/connect/ — JDBC sinks archiving the `bids`
//! topic into a `bid_archive` table (bids-archive.json for JSON bids,
//! bids-archive-avro.json for Avro ones), and a file sink writing JSON bids
//! as JSON lines (bids-backup.json, the backup) — POSTed to a real worker
//! as they are, except for these substitutions: `connection.url` (each test
//! database's instead of the default SQLite file under auction-data/),
//! `file` (under the worker's allowed directory instead of fjord-data/) and
//! `value.converter.schema.registry.url` (the test's registry instead of
//! 127.0.0.1:8081). The bids are what the auction's producer writes to
//! `bids`: the item as the key and the bid as JSON (apps/auction/src/codec.rs,
//! `JsonCodec`: serde_json of the `Bid` struct of apps/auction/src/bid.rs,
//! mirrored here field for field) or, with a registry, as Avro (`AvroCodec`:
//! the registry's serializer with codec.rs's BID_SCHEMA, read from that file).

mod common;
mod jdbc_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{wait_lines, TestBroker, TestWorker};
use fjord_registry::client::RegistryClient;
use fjord_registry::serde::AvroSerializer;
use jdbc_support::{Db, Kind};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::{json, Value as Json};

/// apps/auction/src/bid.rs's `Bid`, in its field order.
#[derive(serde::Serialize)]
struct Bid {
    id: &'static str,
    item: &'static str,
    name: &'static str,
    price: i64,
    bid_ts: i64,
}

fn bids() -> Vec<Bid> {
    vec![
        Bid {
            id: "6f1c1f8e-0b7a-4a52-9a43-6c8f0f3f7a11",
            item: "vintage-camera",
            name: "Ann",
            price: 300,
            bid_ts: 1_764_800_000_000,
        },
        Bid {
            id: "0b8e4f7c-3d1e-4c55-8a0f-2b9d6e1a7c42",
            item: "mountain-bike",
            name: "Zoë Ødegård",
            price: 150,
            bid_ts: 1_764_800_001_000,
        },
        Bid {
            id: "c2a9d3b1-5e6f-4a7b-9c8d-0e1f2a3b4c5d",
            item: "vintage-camera",
            name: "Bob \"the bidder\"",
            price: 325,
            bid_ts: 1_764_800_002_500,
        },
        Bid {
            id: "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
            item: "concert-tickets",
            name: "李雷",
            price: 60,
            bid_ts: 1_764_800_003_000,
        },
    ]
}

/// A shipped config, parsed.
fn shipped(name: &str) -> Json {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../apps/auction/connect")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// A runtime for the database checks, and the test's database.
fn open_db(kind: Kind) -> Option<(tokio::runtime::Runtime, Db)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(Db::open(kind))?;
    if kind == Kind::MariaDb {
        // The harness starts MariaDB with --no-defaults: latin1, which cannot
        // hold every bidder's name. Debian's packaged server defaults to
        // utf8mb4 (character-set-server in 50-server.cnf); so does this.
        rt.block_on(
            db.exec(&["ALTER DATABASE auction CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"]),
        );
    }
    Some((rt, db))
}

/// Waits (up to 30 s) until `sql` gives `expected` (rows as `a|b|c`).
fn expect_rows(
    rt: &tokio::runtime::Runtime,
    db: &Db,
    worker: &TestWorker,
    sql: &str,
    expected: &[String],
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let exists = rt.block_on(sqlx::query(sql).fetch_all(&db.pool)).is_ok();
        let rows = if exists {
            rt.block_on(db.lines(sql))
        } else {
            Vec::new()
        };
        if rows == expected {
            break;
        }
        if Instant::now() > deadline {
            let (_, status) = worker.call("GET", "/connectors/bids-archive/status", None);
            panic!(
                "{:?}: bid_archive holds {rows:?}, expected {expected:?}; {status}",
                db.kind
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = worker.wait_status("bids-archive", "running", |s| {
        s["tasks"][0]["state"] == "RUNNING"
    });
    assert_eq!(status["connector"]["state"], "RUNNING");
}

/// POSTs a shipped config (as `fjord connect create -f` does).
fn create(worker: &TestWorker, config: &Json) {
    let (code, body) = worker.call("POST", "/connectors", Some(config));
    assert_eq!(code, 201, "{body}");
}

/// bids-archive.json's default URL, replaced by the test database's.
fn substitute_url(config: &mut Json, db: &Db) {
    assert_eq!(
        config["config"]["connection.url"],
        "jdbc:sqlite:auction-data/bid_archive.db"
    );
    config["config"]["connection.url"] = json!(db.jdbc_url);
}

fn archive_and_backup_json_bids(kind: Kind) {
    let Some((rt, db)) = open_db(kind) else {
        return;
    };
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();

    // The bids as the auction produces them; the last one delivered twice
    // (a producer retry), as at-least-once delivery can.
    let bids = bids();
    let mut records: Vec<(String, String)> = bids
        .iter()
        .map(|b| (b.item.to_string(), serde_json::to_string(b).unwrap()))
        .collect();
    records.push(records.last().unwrap().clone());
    let refs: Vec<(Option<&str>, Option<&str>)> = records
        .iter()
        .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
        .collect();
    broker.produce("bids", &refs);

    let worker = TestWorker::start(&broker, dir.path());
    let mut archive = shipped("bids-archive.json");
    substitute_url(&mut archive, &db);
    let mut backup = shipped("bids-backup.json");
    assert_eq!(
        backup["config"]["file"],
        "fjord-data/auction/bids-backup.jsonl"
    );
    let backup_file = dir.path().join("auction/bids-backup.jsonl");
    backup["config"]["file"] = json!(backup_file.display().to_string());
    create(&worker, &archive);
    create(&worker, &backup);

    // The backup: every delivered record, one JSON line each, as produced.
    let expected_lines: Vec<String> = records.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(wait_lines(&backup_file, records.len()), expected_lines);

    // The archive: one row per bid (upsert by id: the retry is not a
    // second row).
    let expected_rows: Vec<String> = bids
        .iter()
        .map(|b| format!("{}|{}|{}|{}|{}", b.id, b.item, b.name, b.price, b.bid_ts))
        .collect();
    let sql = format!(
        "SELECT id, item, name, price, bid_ts FROM {} ORDER BY bid_ts",
        db.q("bid_archive")
    );
    expect_rows(&rt, &db, &worker, &sql, &expected_rows);
}

/// The auction's Avro schema, read from apps/auction/src/codec.rs.
fn bid_schema() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apps/auction/src/codec.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find("pub const BID_SCHEMA: &str = r#\"")
        .expect("BID_SCHEMA in codec.rs")
        + "pub const BID_SCHEMA: &str = r#\"".len();
    let len = text[start..].find("\"#;").expect("the end of BID_SCHEMA");
    text[start..start + len].to_string()
}

fn archive_avro_bids(kind: Kind) {
    let Some((rt, db)) = open_db(kind) else {
        return;
    };
    let broker = TestBroker::start();
    let (stop_registry, registry_stopped) = tokio::sync::oneshot::channel::<()>();
    let bootstrap = broker.bootstrap();
    let registry = broker.runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = fjord_registry::RegistryConfig::new(&bootstrap);
        tokio::spawn(async move {
            let stopped = async {
                let _ = registry_stopped.await;
            };
            let _ = fjord_registry::serve(listener, config, stopped).await;
        });
        format!("http://{addr}")
    });

    // What AvroCodec::encode writes: the registry's Avro serializer, the
    // bid schema under bids-value (retried while the registry starts).
    let client = Arc::new(RegistryClient::with_timeout(
        &registry,
        Duration::from_secs(5),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let serializer = loop {
        let s = AvroSerializer::new(client.clone(), "bids-value", &bid_schema()).unwrap();
        match s.schema_id() {
            Ok(_) => break s,
            Err(e) if Instant::now() > deadline => panic!("registry not ready: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let bids = bids();
    let records: Vec<(&str, Vec<u8>)> = bids
        .iter()
        .map(|b| (b.item, serializer.serialize(b).unwrap()))
        .collect();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    for (k, v) in &records {
        let r: BaseRecord<'_, str, [u8]> =
            BaseRecord::to("bids").partition(0).key(*k).payload(&v[..]);
        producer.send(r).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let worker = TestWorker::start(&broker, dir.path());
    let mut archive = shipped("bids-archive-avro.json");
    substitute_url(&mut archive, &db);
    assert_eq!(
        archive["config"]["value.converter.schema.registry.url"],
        "http://127.0.0.1:8081"
    );
    archive["config"]["value.converter.schema.registry.url"] = json!(registry);
    create(&worker, &archive);

    // bid_ts is a timestamp-millis: a timestamp column.
    let at = match kind {
        Kind::Postgres => [
            "2025-12-03 22:13:20",
            "2025-12-03 22:13:21",
            "2025-12-03 22:13:22.5",
            "2025-12-03 22:13:23",
        ],
        Kind::Sqlite | Kind::MariaDb => [
            "2025-12-03 22:13:20.000",
            "2025-12-03 22:13:21.000",
            "2025-12-03 22:13:22.500",
            "2025-12-03 22:13:23.000",
        ],
    };
    let expected_rows: Vec<String> = bids
        .iter()
        .zip(at)
        .map(|(b, at)| format!("{}|{}|{}|{}|{at}", b.id, b.item, b.name, b.price))
        .collect();
    let sql = format!(
        "SELECT id, item, name, price, {} FROM {} ORDER BY bid_ts",
        db.text(&db.q("bid_ts")),
        db.q("bid_archive")
    );
    expect_rows(&rt, &db, &worker, &sql, &expected_rows);
    drop(stop_registry);
}

#[test]
fn auction_json_bids_are_archived_and_backed_up_on_sqlite() {
    archive_and_backup_json_bids(Kind::Sqlite);
}

#[test]
fn auction_json_bids_are_archived_and_backed_up_on_postgres() {
    archive_and_backup_json_bids(Kind::Postgres);
}

#[test]
fn auction_json_bids_are_archived_and_backed_up_on_mariadb() {
    archive_and_backup_json_bids(Kind::MariaDb);
}

#[test]
fn auction_avro_bids_are_archived_on_sqlite() {
    archive_avro_bids(Kind::Sqlite);
}

#[test]
fn auction_avro_bids_are_archived_on_postgres() {
    archive_avro_bids(Kind::Postgres);
}

#[test]
fn auction_avro_bids_are_archived_on_mariadb() {
    archive_avro_bids(Kind::MariaDb);
}
