//! Private PostgreSQL and MariaDB servers for the auction tests: each in a
//! temp dir, on a free port, stopped when dropped. As root (CI), the server
//! runs as the `postgres` / `mysql` system user that Debian's packages
//! create, since neither server runs as root. Missing binaries skip the
//! test, unless FJORD_TEST_STRICT=1 (then they fail it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct DbServer {
    child: Child,
    _dir: tempfile::TempDir,
    pub url: String,
}

impl Drop for DbServer {
    /// Stops the server's whole process group: as root the child is
    /// `runuser`, and killing it alone left the database server running
    /// (a test run once left 168 mariadbd processes holding 15 GB).
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) && !group_alive(&group) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Whether any process of the group is left (`kill -0` succeeds).
fn group_alive(group: &str) -> bool {
    Command::new("kill")
        .args(["-0", "--", group])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program` in a process group of its own, so [`DbServer`]'s drop can stop
/// it and everything it started.
fn in_own_group(mut command: Command) -> Command {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    command
}

fn strict() -> bool {
    std::env::var("FJORD_TEST_STRICT").is_ok_and(|v| v == "1")
}

fn missing(what: &str) -> Option<DbServer> {
    assert!(!strict(), "FJORD_TEST_STRICT=1 and {what} is not installed");
    eprintln!("skipping: {what} is not installed");
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args` as `user` when root, else as ourselves.
fn as_user(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn owned_temp_dir(user: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", user])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success());
    }
    dir
}

fn wait_listening(port: u16, child: &mut Child, log: &Path) {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "database exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "database did not listen: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

pub fn postgres() -> Option<DbServer> {
    let Some(bin) = postgres_bin() else {
        return missing("PostgreSQL (Debian package postgresql)");
    };
    let dir = owned_temp_dir("postgres");
    let data = dir.path().join("data");
    let out = as_user("postgres", &bin.join("initdb"))
        .args([
            "-D",
            data.to_str().unwrap(),
            "-U",
            "auction",
            "--auth=trust",
            "--no-sync",
        ])
        .output()
        .expect("initdb");
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let log = dir.path().join("postgres.log");
    let logfile = std::fs::File::create(&log).unwrap();
    let mut child = in_own_group(as_user("postgres", &bin.join("postgres")))
        .args([
            "-D",
            data.to_str().unwrap(),
            "-p",
            &port.to_string(),
            "-k",
            dir.path().to_str().unwrap(),
        ])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(logfile))
        .spawn()
        .expect("start postgres");
    wait_listening(port, &mut child, &log);
    Some(DbServer {
        child,
        _dir: dir,
        url: format!("postgres://auction@127.0.0.1:{port}/postgres"),
    })
}

pub fn mariadb() -> Option<DbServer> {
    let server = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let install = ["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let (Some(server), Some(install)) = (server, install) else {
        return missing("MariaDB (Debian package mariadb-server)");
    };
    let user = if is_root() { "mysql" } else { "" };
    let dir = if is_root() {
        owned_temp_dir("mysql")
    } else {
        tempfile::tempdir().unwrap()
    };
    let data = dir.path().join("data");
    let mut cmd = if is_root() {
        as_user(user, &install)
    } else {
        Command::new(&install)
    };
    let out = cmd
        .args([
            "--no-defaults",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ])
        .arg(format!("--datadir={}", data.display()))
        .output()
        .expect("mariadb-install-db");
    assert!(
        out.status.success(),
        "mariadb-install-db: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let log = dir.path().join("mariadb.log");
    let cmd = if is_root() {
        as_user(user, &server)
    } else {
        Command::new(&server)
    };
    let mut child = in_own_group(cmd)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={port}"))
        .arg(format!(
            "--socket={}",
            dir.path().join("mysqld.sock").display()
        ))
        .arg(format!("--log-error={}", log.display()))
        .args([
            "--bind-address=127.0.0.1",
            "--skip-grant-tables",
            "--innodb-flush-log-at-trx-commit=2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mariadbd");
    wait_listening(port, &mut child, &log);
    let out = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            "root",
            "-e",
            "CREATE DATABASE auction",
        ])
        .output()
        .expect("mariadb client");
    assert!(
        out.status.success(),
        "create database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(DbServer {
        child,
        _dir: dir,
        url: format!("mysql://root@127.0.0.1:{port}/auction"),
    })
}
