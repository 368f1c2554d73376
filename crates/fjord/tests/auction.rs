//! The auction end to end with real processes: a `fjord serve` broker, the
//! website, two DB writers and the backup writer as separate `fjord auction`
//! processes, bids over HTTP, and the table and backup file checked through
//! `fjord auction backup verify` and the website's API.

mod auction_db;
mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_with_timeout, FJORD};
use serde_json::{json, Value};

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// One HTTP/1.1 request (Connection: close); returns status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the website");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// A `fjord serve` child that can be killed and restarted on the same
/// address and data dir (the harness in common/ starts one only once).
struct Broker {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("fjord.toml"),
            "[broker]\ngroup_initial_rebalance_delay_ms = 0\n",
        )
        .unwrap();
        let addr = free_addr();
        let child = Broker::spawn(addr, dir.path());
        let b = Broker { child, addr, dir };
        b.wait_listening();
        b
    }

    fn spawn(addr: SocketAddr, dir: &Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("broker.log"))
            .unwrap();
        Command::new(FJORD)
            // The auction tests bring no registry: none on :8081 per broker.
            .args([
                "serve",
                "--no-registry",
                "--no-connect",
                "--listen",
                &addr.to_string(),
                "--data-dir",
            ])
            .arg(dir.join("data"))
            .current_dir(dir)
            .env_remove("FJORD_CONFIG")
            .env_remove("FJORD_DATA_DIR")
            .env_remove("FJORD_LISTEN")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start fjord serve")
    }

    fn wait_listening(&self) {
        let addr = self.addr;
        wait_until("the broker", Duration::from_secs(30), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
    }

    /// kill -9, then start again on the same address and data.
    fn restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = Broker::spawn(self.addr, self.dir.path());
        self.wait_listening();
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let child = Command::new(FJORD)
            .args(args)
            .env("FJORD_BOOTSTRAP_SERVERS", self.addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run fjord");
        wait_with_timeout(child, Duration::from_secs(120), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`fjord {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `fjord auction ...` child process, killed when dropped.
struct Component {
    child: Child,
    log: PathBuf,
}

impl Component {
    fn start(
        name: &str,
        args: &[&str],
        broker: &Broker,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Component {
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(FJORD);
        cmd.arg("auction")
            .args(args)
            .env("FJORD_BOOTSTRAP_SERVERS", broker.addr.to_string())
            .env("RUST_LOG", "info")
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        Component {
            child: cmd.spawn().expect("start fjord auction"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct System {
    broker: Broker,
    dir: tempfile::TempDir,
    web_addr: SocketAddr,
    web: Option<Component>,
    writers: Vec<Component>,
    backup: Option<Component>,
    database_url: String,
}

impl System {
    fn start(database_url: Option<String>) -> System {
        let broker = Broker::start();
        let dir = tempfile::tempdir().unwrap();
        let database_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("auction.db").display()));
        let mut sys = System {
            broker,
            web_addr: free_addr(),
            dir,
            web: None,
            writers: Vec::new(),
            backup: None,
            database_url,
        };
        let listen = sys.web_addr.to_string();
        sys.web = Some(sys.component("web", &["web", "--http-listen", &listen], &[]));
        let addr = sys.web_addr;
        wait_until("the website", Duration::from_secs(30), || {
            TcpStream::connect(addr).is_ok()
        });
        for n in 0..2 {
            let c = sys.component(&format!("db-writer-{n}"), &["db-writer"], &[]);
            sys.writers.push(c);
        }
        sys.backup = Some(sys.component("backup", &["backup-writer"], &[]));
        sys
    }

    fn component(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Component {
        let data = self.dir.path().to_str().unwrap();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data-dir", data, "--database-url", &self.database_url]);
        Component::start(name, &all, &self.broker, self.dir.path(), env)
    }

    fn bid(&self, item: &str, name: &str, price: Value) -> (u16, Value) {
        let (status, body) = http(
            self.web_addr,
            "POST",
            "/api/bids",
            Some(&json!({"item": item, "name": name, "price": price})),
        );
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn dashboard(&self) -> Value {
        get_json(self.web_addr, "/api/dashboard")
    }

    /// Waits until the table holds `n` bids and both groups' lag is 0.
    ///
    /// The dashboard polls the groups' lag every ~2 s, so a lag of 0 counts
    /// only once it was measured after the table reached `n` (a stale 0
    /// from before the last bids let a slower backup writer pass as done).
    fn wait_settled(&self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut reached: Option<Instant> = None;
        loop {
            let d = self.dashboard();
            let lag_zero = d["lag"]
                .as_array()
                .is_some_and(|l| l.len() == 2 && l.iter().all(|g| g["total"] == 0));
            if d["total_bids"] == n {
                let since = *reached.get_or_insert_with(Instant::now);
                if lag_zero && since.elapsed() > Duration::from_secs(3) {
                    return;
                }
            } else {
                reached = None;
            }
            if Instant::now() > deadline {
                let last = d;
                let logs: Vec<String> = self.writers.iter().map(|w| w.log()).collect();
                panic!(
                    "not settled at {n} bids: total {} lag {}\nwriters: {logs:?}",
                    last["total_bids"], last["lag"]
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `fjord auction backup verify` must pass; returns its stdout.
    fn verify(&self) -> String {
        let data = self.dir.path().to_str().unwrap();
        let out = self.broker.run(&[
            "auction",
            "backup",
            "verify",
            "--data-dir",
            data,
            "--database-url",
            &self.database_url,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "verify failed: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// Bids from `threads` threads at once on `item`, each a little above the
/// last highest bid it saw; returns the ids of the bids the website added.
fn concurrent_bids(sys: &System, item: &str, threads: usize, per_thread: usize) -> Vec<String> {
    let addr = sys.web_addr;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let item = item.to_string();
            std::thread::spawn(move || {
                let mut added = Vec::new();
                for i in 0..per_thread {
                    let items = get_json(addr, "/api/items");
                    let it = items
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|x| x["item"] == item.as_str())
                        .unwrap()
                        .clone();
                    let base = it["highest"]
                        .as_i64()
                        .unwrap_or(it["starting_price"].as_i64().unwrap());
                    let price = base + 1 + (t as i64 % 3);
                    let body = json!({"item": item, "name": format!("t{t}-{i}"), "price": price});
                    let (status, resp) = http(addr, "POST", "/api/bids", Some(&body));
                    if status == 201 {
                        let v: Value = serde_json::from_str(&resp).unwrap();
                        added.push(v["bid"]["id"].as_str().unwrap().to_string());
                    } else {
                        assert_eq!(status, 400, "{resp}");
                    }
                }
                added
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

fn item_bids(sys: &System, item: &str) -> Vec<Value> {
    get_json(sys.web_addr, &format!("/api/items/{item}/bids"))
        .as_array()
        .unwrap()
        .clone()
}

/// The whole scenario, run per database.
fn scenario(database_url: Option<String>) {
    let mut sys = System::start(database_url);

    // Bad bids are refused with the right message and stored nowhere.
    let bad = [
        (
            json!({"item": "vintage-camera", "name": "", "price": 500}),
            "empty_name",
        ),
        (
            json!({"item": "vintage-camera", "name": "x".repeat(65), "price": 500}),
            "name_too_long",
        ),
        (
            json!({"item": "vintage-camera", "name": "Ann", "price": "lots"}),
            "price_not_number",
        ),
        (
            json!({"item": "vintage-camera", "name": "Ann", "price": 0}),
            "price_zero",
        ),
        (
            json!({"item": "vintage-camera", "name": "Ann", "price": -3}),
            "price_negative",
        ),
        (
            json!({"item": "vintage-camera", "name": "Ann", "price": 10_000_000_000i64}),
            "price_absurd",
        ),
        (
            json!({"item": "no-such-thing", "name": "Ann", "price": 500}),
            "unknown_item",
        ),
        (
            json!({"item": "vintage-camera", "name": "Ann", "price": 10}),
            "below_starting_price",
        ),
    ];
    for (body, code) in &bad {
        let (status, resp) = http(sys.web_addr, "POST", "/api/bids", Some(body));
        let v: Value = serde_json::from_str(&resp).unwrap();
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some(*code)),
            "{body}: {resp}"
        );
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    // A closed item refuses bids.
    let data = sys.dir.path().to_str().unwrap().to_string();
    sys.broker.ok(&[
        "auction",
        "item",
        "add",
        "gone",
        "--starting-price",
        "5",
        "--closes-at",
        "2001-01-01T00:00:00Z",
        "--data-dir",
        &data,
    ]);
    wait_until(
        "the website to load the new item",
        Duration::from_secs(10),
        || {
            let (status, body) = http(
                sys.web_addr,
                "POST",
                "/api/bids",
                Some(&json!({"item": "gone", "name": "Ann", "price": 9})),
            );
            status == 400 && body.contains("item_closed")
        },
    );

    // A first bid, then one not above it.
    let (status, v) = sys.bid("vintage-camera", "Ann", json!(400));
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["status"], "bid added");
    let (status, v) = sys.bid("vintage-camera", "Bob", json!(400));
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("not_above_highest")),
        "{v}"
    );
    // A retried request with the same id is stored once.
    let retry = json!({"item": "mountain-bike", "name": "Cy", "price": 200, "id": "0b7f7c1e-5d0e-4b7e-9a38-5b0c1f1d2a3e"});
    for _ in 0..3 {
        let (status, body) = http(sys.web_addr, "POST", "/api/bids", Some(&retry));
        assert!(
            status == 201 || (status == 400 && body.contains("not_above_highest")),
            "{body}"
        );
    }
    sys.wait_settled(2);

    // Many bids from many threads; one DB writer is killed mid-run.
    let items = [
        "vintage-camera",
        "mountain-bike",
        "first-edition",
        "espresso-machine",
    ];
    let addr = sys.web_addr;
    let loaders: Vec<_> = items
        .iter()
        .map(|item| {
            let item = item.to_string();
            std::thread::spawn(move || {
                let mut price = 1000;
                let mut ids = Vec::new();
                for i in 0..60 {
                    price += 1 + i % 4;
                    let body =
                        json!({"item": item, "name": format!("{item}-{}", i % 7), "price": price});
                    let (status, resp) = http(addr, "POST", "/api/bids", Some(&body));
                    assert_eq!(status, 201, "{resp}");
                    let v: Value = serde_json::from_str(&resp).unwrap();
                    ids.push(v["bid"]["id"].as_str().unwrap().to_string());
                }
                ids
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let mut killed = sys.writers.remove(0);
    killed.child.kill().unwrap(); // SIGKILL: no leave, no commit
    let _ = killed.child.wait();
    let mut ids: Vec<String> = loaders
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(ids.len(), 240);
    sys.wait_settled(242);
    // The backup writer is killed between its flush and its commit, then
    // restarted: the redelivered records must not be written twice.
    sys.backup = None; // kill the running one
    let crash = sys.component(
        "backup-crash",
        &["backup-writer"],
        &[("FJORD_AUCTION_CRASH_AFTER_FLUSH", "1")],
    );
    for i in 0..5 {
        let (status, v) = sys.bid("first-edition", "Dee", json!(5000 + i));
        assert_eq!(status, 201, "{v}");
        ids.push(v["bid"]["id"].as_str().unwrap().to_string());
    }
    let mut crash = crash;
    wait_until(
        "the crashing backup writer to exit",
        Duration::from_secs(60),
        || matches!(crash.child.try_wait(), Ok(Some(_))),
    );
    assert_eq!(
        crash.child.wait().unwrap().code(),
        Some(3),
        "{}",
        crash.log()
    );
    sys.backup = Some(sys.component("backup-2", &["backup-writer"], &[]));
    sys.wait_settled(247);

    let out = sys.verify();
    assert!(
        out.contains("247 lines") && out.contains("247 rows") && out.contains("OK"),
        "{out}"
    );
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 245);

    // 50 concurrent bids on one item: the accepted prices rise strictly.
    let added = concurrent_bids(&sys, "concert-tickets", 10, 5);
    let total = 247 + added.len() as i64;
    sys.wait_settled(total);
    let rows = item_bids(&sys, "concert-tickets");
    assert_eq!(rows.len(), added.len());
    let accepted: Vec<i64> = rows
        .iter()
        .filter(|r| r["status"] == "accepted")
        .map(|r| r["price"].as_i64().unwrap())
        .collect();
    assert!(!accepted.is_empty());
    assert!(
        accepted.windows(2).all(|w| w[0] < w[1]),
        "accepted prices not strictly increasing: {accepted:?}"
    );
    let mut highest = 0;
    for r in &rows {
        let p = r["price"].as_i64().unwrap();
        let want = if p > highest { "accepted" } else { "outbid" };
        assert_eq!(r["status"], want, "{r}");
        highest = highest.max(p);
    }
    // The pages show the item's highest bid and the dashboard the latest bids.
    let (status, page) = http(sys.web_addr, "GET", "/", None);
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(
            "<b class=\"highest\">{}</b>",
            accepted.last().unwrap()
        )),
        "{page}"
    );
    let out = sys.verify();
    assert!(out.contains(&format!("{total} lines")), "{out}");

    // The broker is killed and restarted under the running components:
    // bids placed after it are stored exactly once too.
    sys.broker.restart();
    let mut price = 20_000;
    for i in 0..20 {
        price += 1;
        // The website's producer reconnects; a request may wait for it.
        let (status, v) = sys.bid("mountain-bike", &format!("after-restart-{i}"), json!(price));
        assert_eq!(status, 201, "{v}");
    }
    let total = total + 20;
    sys.wait_settled(total);
    let out = sys.verify();
    assert!(
        out.contains(&format!("{total} lines")) && out.contains(&format!("{total} rows")),
        "{out}"
    );
}

#[test]
fn auction_end_to_end_on_sqlite() {
    scenario(None);
}

#[test]
fn auction_end_to_end_on_postgres() {
    if let Some(db) = auction_db::postgres() {
        scenario(Some(db.url.clone()));
    }
}

#[test]
fn auction_end_to_end_on_mariadb() {
    if let Some(db) = auction_db::mariadb() {
        scenario(Some(db.url.clone()));
    }
}

/// The live statistics (`auction stats`, stream processing): bids per item
/// per minute and the highest bid reach the dashboard; a bid whose minute
/// closed long ago lands in `bids-late`, which the dashboard counts, and
/// leaves the minute's figures alone.
#[test]
fn stream_statistics_reach_the_dashboard_and_late_bids_are_counted() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let db = format!("sqlite://{}", dir.path().join("auction.db").display());
    let web_addr = free_addr();
    let listen = web_addr.to_string();
    let common = ["--data-dir", data.as_str(), "--database-url", db.as_str()];
    let mut web_args = vec!["web", "--http-listen", listen.as_str()];
    web_args.extend(common);
    let _web = Component::start("web", &web_args, &broker, dir.path(), &[]);
    wait_until("the website", Duration::from_secs(30), || {
        TcpStream::connect(web_addr).is_ok()
    });
    let stats = Component::start("stats", &["stats"], &broker, dir.path(), &[]);
    for price in [300, 350, 420] {
        let (status, body) = http(
            web_addr,
            "POST",
            "/api/bids",
            Some(&json!({"item": "vintage-camera", "name": "Ann", "price": price})),
        );
        assert_eq!(status, 201, "{body}");
    }
    let camera = |d: &Value| -> Option<Value> {
        d["minutes"]
            .as_array()?
            .iter()
            .find(|m| m["item"] == "vintage-camera")
            .cloned()
    };
    let mut seen = Value::Null;
    wait_until(
        "the minute's figures on the dashboard",
        Duration::from_secs(60),
        || {
            let d = get_json(web_addr, "/api/dashboard");
            seen = d.clone();
            // The three bids may straddle a minute: the latest minute has the
            // last one, and the highest is the last price.
            camera(&d).is_some_and(|m| m["highest"] == 420 && m["bids"].as_i64() >= Some(1))
                && d["late_bids"] == 0
        },
    );
    let before = camera(&seen).unwrap();

    // A bid timestamped ten minutes ago: its minute closed long since.
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 600_000;
    let late = json!({"id": "late-1", "item": "vintage-camera", "name": "Old", "price": 999, "bid_ts": old});
    let file = dir.path().join("late.txt");
    std::fs::write(&file, format!("vintage-camera|{late}\n")).unwrap();
    broker.ok(&[
        "produce",
        "bids",
        "-f",
        file.to_str().unwrap(),
        "--key-separator",
        "|",
    ]);
    wait_until("the late bid counted", Duration::from_secs(60), || {
        let d = get_json(web_addr, "/api/dashboard");
        seen = d.clone();
        d["late_bids"] == 1
    });
    assert_eq!(
        camera(&seen).unwrap(),
        before,
        "a late bid changes no open minute"
    );
    assert!(stats.log().contains("running tasks"), "{}", stats.log());
}
