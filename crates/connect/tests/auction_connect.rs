//! The auction's worked example (issue 13, item 6): the connector configs
//! shipped in apps/auction/connect/ — a JDBC sink archiving the `bids`
//! topic into a `bid_archive` table, and a file sink writing the bids as
//! JSON lines (the backup) — POSTed to a real worker as they are, except
//! for two substitutions: `connection.url` (each test database's instead of
//! the default SQLite file under auction-data/) and `file` (under the
//! worker's allowed directory instead of fjord-data/). The bids are what
//! the auction's producer writes to `bids`: the item as the key and the
//! bid as JSON (apps/auction/src/codec.rs, `JsonCodec`: serde_json of the
//! `Bid` struct of apps/auction/src/bid.rs, mirrored here field for field).

mod common;
mod jdbc_support;

use std::time::{Duration, Instant};

use common::{wait_lines, TestBroker, TestWorker};
use jdbc_support::{Db, Kind};
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

fn archive_and_backup(kind: Kind) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(Db::open(kind)) else {
        return;
    };
    if kind == Kind::MariaDb {
        // The harness starts MariaDB with --no-defaults: latin1, which cannot
        // hold every bidder's name. Debian's packaged server defaults to
        // utf8mb4 (character-set-server in 50-server.cnf); so does this.
        rt.block_on(
            db.exec(&["ALTER DATABASE auction CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"]),
        );
    }
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
    assert_eq!(
        archive["config"]["connection.url"],
        "jdbc:sqlite:auction-data/bid_archive.db"
    );
    archive["config"]["connection.url"] = json!(db.jdbc_url); // substituted
    let mut backup = shipped("bids-backup.json");
    assert_eq!(
        backup["config"]["file"],
        "fjord-data/auction/bids-backup.jsonl"
    );
    let backup_file = dir.path().join("auction/bids-backup.jsonl");
    backup["config"]["file"] = json!(backup_file.display().to_string()); // substituted
    for config in [&archive, &backup] {
        let (code, body) = worker.call("POST", "/connectors", Some(config));
        assert_eq!(code, 201, "{body}");
    }

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
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let exists = rt.block_on(sqlx::query(&sql).fetch_all(&db.pool)).is_ok();
        let rows = if exists {
            rt.block_on(db.lines(&sql))
        } else {
            Vec::new()
        };
        if rows == expected_rows {
            break;
        }
        if Instant::now() > deadline {
            let (_, status) = worker.call("GET", "/connectors/bids-archive/status", None);
            panic!("{kind:?}: bid_archive holds {rows:?}, expected {expected_rows:?}; {status}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = worker.wait_status("bids-archive", "running", |s| {
        s["tasks"][0]["state"] == "RUNNING"
    });
    assert_eq!(status["connector"]["state"], "RUNNING");
}

#[test]
fn auction_connectors_archive_and_back_up_bids_on_sqlite() {
    archive_and_backup(Kind::Sqlite);
}

#[test]
fn auction_connectors_archive_and_back_up_bids_on_postgres() {
    archive_and_backup(Kind::Postgres);
}

#[test]
fn auction_connectors_archive_and_back_up_bids_on_mariadb() {
    archive_and_backup(Kind::MariaDb);
}
