//! Processes and HTTP for the registry tests: `fjord serve` with the
//! embedded registry on a chosen port (restartable on the same data dir),
//! standalone `fjord registry` instances, and a small JSON client.
#![allow(dead_code)] // each test file uses part of it

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const FJORD: &str = env!("CARGO_BIN_EXE_fjord");
pub const CT: &str = "application/vnd.schemaregistry.v1+json";

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// A child process, killed when dropped; its stderr goes to `log`.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    fn spawn(args: &[String], cwd: &Path, log: PathBuf) -> Proc {
        let child = Command::new(FJORD)
            .args(args)
            .current_dir(cwd)
            .env_remove("FJORD_CONFIG")
            .env_remove("FJORD_REGISTRY_LISTEN")
            .env_remove("FJORD_BOOTSTRAP_SERVERS")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("log file"),
            ))
            .spawn()
            .expect("start fjord");
        Proc { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGINT, as Ctrl-C, and waits for the exit.
    pub fn interrupt(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("fjord did not exit after SIGINT: {}", self.log_text());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `fjord serve` with its registry on `registry`; restartable.
pub struct Serve {
    pub dir: tempfile::TempDir,
    pub kafka: SocketAddr,
    pub registry: SocketAddr,
    pub proc: Option<Proc>,
}

impl Serve {
    pub fn start() -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        // Elections and groups form at once (no 3 s initial delay).
        std::fs::write(
            dir.path().join("fjord.toml"),
            "[broker]\ngroup_initial_rebalance_delay_ms = 0\n",
        )
        .expect("fjord.toml");
        let mut s = Serve {
            dir,
            kafka: free_addr(),
            registry: free_addr(),
            proc: None,
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.registry)
    }

    pub fn bootstrap(&self) -> String {
        self.kafka.to_string()
    }

    /// Starts (again) on the same data dir and ports; waits for the registry.
    pub fn restart(&mut self) {
        self.proc = None;
        let args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            self.kafka.to_string(),
            "--data-dir".into(),
            self.dir.path().join("data").display().to_string(),
            "--registry-listen".into(),
            self.registry.to_string(),
            "--no-connect".into(),
        ];
        let proc = Proc::spawn(&args, self.dir.path(), self.dir.path().join("serve.log"));
        self.proc = Some(proc);
        wait_ready(&self.url(), self.proc.as_mut().unwrap());
    }

    pub fn kill(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.kill();
        }
    }

    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log_text).unwrap_or_default()
    }
}

/// `fjord registry` against `bootstrap`, on its own port.
pub fn standalone(bootstrap: &str, dir: &Path, name: &str, extra: &[&str]) -> (Proc, String) {
    let addr = free_addr();
    let mut args: Vec<String> = vec![
        "registry".into(),
        "--listen".into(),
        addr.to_string(),
        "--bootstrap-servers".into(),
        bootstrap.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut proc = Proc::spawn(&args, dir, dir.join(format!("{name}.log")));
    let url = format!("http://{addr}");
    wait_ready(&url, &mut proc);
    (proc, url)
}

/// Waits until GET / answers `{}`.
pub fn wait_ready(url: &str, proc: &mut Proc) {
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("fjord exited with {status}: {}", proc.log_text());
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            // The port listens before the store is loaded: until then a
            // request may be reset or wait.
            if let Ok(mut resp) = agent().get(&format!("{url}/")).call() {
                let body = resp.body_mut().read_to_string().unwrap_or_default();
                if resp.status().as_u16() == 200 {
                    assert_eq!(body, "{}");
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "registry at {url} not ready: {}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// One request; returns the status and the body as JSON (a string when
/// the body is not JSON).
pub fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let agent = agent();
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let resp = match method {
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        "POST" => agent.post(url).header("Content-Type", CT).send(&text),
        "PUT" => agent.put(url).header("Content-Type", CT).send(&text),
        other => panic!("method {other}"),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    if status != 204 {
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert_eq!(ct, CT, "{method} {url} answered content type {ct}");
    }
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Registers `schema` (Avro unless `kind` says otherwise) under `subject`.
pub fn register(url: &str, subject: &str, schema: &str, kind: Option<&str>) -> (u16, Value) {
    let mut body = serde_json::json!({ "schema": schema });
    if let Some(k) = kind {
        body["schemaType"] = Value::String(k.to_string());
    }
    call(
        "POST",
        &format!("{url}/subjects/{subject}/versions"),
        Some(&body),
    )
}

/// Asserts a Confluent error body with `code`.
pub fn assert_error(got: &(u16, Value), status: u16, code: u64) {
    assert_eq!(got.0, status, "{got:?}");
    assert_eq!(got.1["error_code"].as_u64(), Some(code), "{got:?}");
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{got:?}"
    );
}
