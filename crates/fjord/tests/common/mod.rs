//! The test harness shared by the fjord binary's integration tests: a real
//! `fjord serve` child process on a free port with a fresh data dir.
#![allow(dead_code)] // each test file uses part of it

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const FJORD: &str = env!("CARGO_BIN_EXE_fjord");

/// A broker child process; killed when dropped.
pub struct Broker {
    child: Child,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_with_config("")
    }

    /// A broker that reads `fjord_toml` as its ./fjord.toml (e.g.
    /// `[broker]\ngroup_initial_rebalance_delay_ms = 0` for fast group tests).
    pub fn start_with_config(fjord_toml: &str) -> Broker {
        // The free port is found by binding port 0 and letting it go: in a
        // busy test run another process can take it in between, and the
        // broker then exits at once. Try a fresh port then.
        let mut last = String::new();
        for _ in 0..3 {
            match Broker::try_start(fjord_toml) {
                Ok(b) => return b,
                Err(log) => last = log,
            }
        }
        panic!("fjord serve did not start three times; last log: {last}");
    }

    fn try_start(fjord_toml: &str) -> Result<Broker, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        if !fjord_toml.is_empty() {
            std::fs::write(dir.path().join("fjord.toml"), fjord_toml).expect("write fjord.toml");
        }
        // Ask the OS for a free port, then hand it to the broker. Another
        // process could take it in between; that is rare enough for tests.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let child = Broker::spawn(&dir, addr);
        let mut broker = Broker { child, addr, dir };
        broker.wait_listening()?;
        Ok(broker)
    }

    /// kill -9, then the broker again on the same port and data: what it
    /// acknowledged must all be there.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Broker::spawn(&self.dir, self.addr);
        if let Err(log) = self.wait_listening() {
            panic!("fjord serve did not come back after kill -9: {log}");
        }
    }

    fn spawn(dir: &TempDir, addr: SocketAddr) -> Child {
        Command::new(FJORD)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            // The embedded registry would take 127.0.0.1:8081, which every
            // test broker running in parallel wants; tests that need a
            // registry start one on a port of their own.
            .arg("--no-registry")
            // Likewise the embedded connect worker's 127.0.0.1:8083 (and its
            // topics and group would show in topic and group listings).
            .arg("--no-connect")
            // No ./fjord.toml or FJORD_* settings from the caller's environment.
            .current_dir(dir.path())
            .env_remove("FJORD_CONFIG")
            .env_remove("FJORD_DATA_DIR")
            .env_remove("FJORD_LISTEN")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join("broker.log"))
                    .expect("log file"),
            ))
            .spawn()
            .expect("start fjord serve")
    }

    /// Waits until the broker accepts connections; Err(log) if it exited.
    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("fjord serve exited with {status}: {}", self.log()));
            }
            assert!(
                Instant::now() < deadline,
                "broker did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// `fjord ARGS` against this broker.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new(FJORD)
            .args(args)
            .env("FJORD_BOOTSTRAP_SERVERS", self.addr.to_string())
            .env_remove("RUST_BACKTRACE")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run fjord");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input).expect("write stdin");
        }
        wait_with_timeout(child, Duration::from_secs(60), args)
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_success(&out, args, self);
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs and expects failure; returns (exit code, stderr).
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "`fjord {}` should have failed; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.contains("panicked"),
            "`fjord {}` panicked: {stderr}",
            args.join(" ")
        );
        (out.status.code().unwrap_or(-1), stderr)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Starts this test binary again, running only `test` (an `#[ignore]`d
/// test whose body is the child process: an application to kill, to
/// measure), with `env` set and its output appended to `log`.
pub fn spawn_test_process(test: &str, env: &[(&str, String)], log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("child log file");
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["--ignored", "--exact", test, "--nocapture"])
        .stdout(Stdio::from(log.try_clone().expect("log file")))
        .stderr(Stdio::from(log));
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().expect("start the test's child process")
}

pub fn wait_with_timeout(mut child: Child, limit: Duration, args: &[&str]) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().expect("collect output"),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect output");
                panic!(
                    "`fjord {}` did not finish in {limit:?}; stderr: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

pub fn assert_success(out: &Output, args: &[&str], broker: &Broker) {
    assert!(
        out.status.success(),
        "`fjord {}` failed ({}):\nstdout: {}\nstderr: {}\nbroker log tail: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&broker.log(), 20)
    );
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
