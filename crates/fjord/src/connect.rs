//! `fjord connect`: run a Kafka-Connect-compatible worker (standalone or
//! distributed), and manage connectors through any worker's REST API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use fjord_connect::config::Config;
use fjord_connect::WorkerSettings;
use serde_json::{json, Value as Json};

use crate::client::ClientArgs;

#[derive(Args, Debug)]
pub struct ConnectArgs {
    #[command(subcommand)]
    command: ConnectCommand,
}

#[derive(Subcommand, Debug)]
enum ConnectCommand {
    /// Run a standalone worker: connectors from .properties (or .json) files,
    /// source offsets in offset.storage.file.filename.
    Standalone(StandaloneArgs),
    /// Run a distributed worker: connectors, offsets and statuses in the
    /// connect-configs, connect-offsets and connect-status topics.
    Distributed(DistributedArgs),
    /// List connectors with their state and tasks.
    List(RestArgs),
    /// Show a connector's status (its tasks, where they run, failures).
    Status(NamedArgs),
    /// Create (or update) a connector from a JSON file: Kafka Connect's
    /// {"name": ..., "config": {...}} or a flat config with "name".
    Create(CreateArgs),
    /// Pause a connector's tasks (they keep their assignment).
    Pause(NamedArgs),
    /// Resume a paused or stopped connector.
    Resume(NamedArgs),
    /// Stop a connector: its tasks shut down, its config is kept.
    Stop(NamedArgs),
    /// Restart a connector and, with --include-tasks, its tasks.
    Restart(RestartArgs),
    /// Delete a connector.
    Delete(NamedArgs),
    /// Show, set (--set FILE) or reset (--reset) a stopped connector's offsets.
    Offsets(OffsetsArgs),
    /// List the built-in connector classes.
    Plugins(RestArgs),
}

#[derive(Args, Debug)]
struct StandaloneArgs {
    /// The worker's settings (Kafka's connect-standalone.properties keys).
    worker: PathBuf,
    /// One file per connector (.properties, or .json as the REST API takes it).
    #[arg(required = true)]
    connectors: Vec<PathBuf>,
    /// Address the REST API binds [default: from `listeners`, else 127.0.0.1:8083].
    #[arg(long, env = "FJORD_CONNECT_LISTEN", value_name = "HOST:PORT")]
    listen: Option<SocketAddr>,
}

#[derive(Args, Debug)]
struct DistributedArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Address the REST API binds.
    #[arg(
        long,
        env = "FJORD_CONNECT_LISTEN",
        default_value = "127.0.0.1:8083",
        value_name = "HOST:PORT"
    )]
    listen: SocketAddr,
    /// A worker .properties file (Kafka's connect-distributed.properties
    /// keys); --bootstrap-servers and -X override its client settings.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The worker group [default: group.id from the file, else connect-cluster].
    #[arg(long, value_name = "GROUP")]
    group_id: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct RestArgs {
    /// The worker's REST API.
    #[arg(
        long,
        env = "FJORD_CONNECT_URL",
        default_value = "http://127.0.0.1:8083",
        value_name = "URL"
    )]
    url: String,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct NamedArgs {
    /// The connector's name.
    name: String,
    #[command(flatten)]
    rest: RestArgs,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// The connector's JSON file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    rest: RestArgs,
}

#[derive(Args, Debug)]
struct RestartArgs {
    name: String,
    /// Restart the tasks too.
    #[arg(long)]
    include_tasks: bool,
    /// Restart only what has failed.
    #[arg(long)]
    only_failed: bool,
    #[command(flatten)]
    rest: RestArgs,
}

#[derive(Args, Debug)]
struct OffsetsArgs {
    name: String,
    /// Reset every offset (the connector must be stopped).
    #[arg(long, conflicts_with = "set")]
    reset: bool,
    /// Set offsets from a JSON file {"offsets": [...]} (the connector must be stopped).
    #[arg(long, value_name = "FILE")]
    set: Option<PathBuf>,
    #[command(flatten)]
    rest: RestArgs,
}

pub fn run(args: ConnectArgs) -> Result<()> {
    match args.command {
        ConnectCommand::Standalone(a) => standalone(a),
        ConnectCommand::Distributed(a) => distributed(a),
        ConnectCommand::List(rest) => list(&rest),
        ConnectCommand::Status(a) => status(&a),
        ConnectCommand::Create(a) => create(&a),
        ConnectCommand::Pause(a) => simple(
            &a.rest,
            "PUT",
            &format!("/connectors/{}/pause", a.name),
            "paused",
        ),
        ConnectCommand::Resume(a) => simple(
            &a.rest,
            "PUT",
            &format!("/connectors/{}/resume", a.name),
            "resumed",
        ),
        ConnectCommand::Stop(a) => simple(
            &a.rest,
            "PUT",
            &format!("/connectors/{}/stop", a.name),
            "stopped",
        ),
        ConnectCommand::Delete(a) => simple(
            &a.rest,
            "DELETE",
            &format!("/connectors/{}", a.name),
            "deleted",
        ),
        ConnectCommand::Restart(a) => {
            let path = format!(
                "/connectors/{}/restart?includeTasks={}&onlyFailed={}",
                a.name, a.include_tasks, a.only_failed
            );
            simple(&a.rest, "POST", &path, "restarting")
        }
        ConnectCommand::Offsets(a) => offsets(&a),
        ConnectCommand::Plugins(rest) => plugins(&rest),
    }
}

fn read_properties(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Config::from_properties(&text))
}

/// A connector file: .json as the REST API takes it, else .properties.
fn read_connector(path: &Path) -> Result<(String, Config)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config = if path.extension().is_some_and(|e| e == "json") {
        let body: Json = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let object = body
            .get("config")
            .unwrap_or(&body)
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut config = Config::from_json(&object)?;
        if let Some(name) = body.get("name").and_then(Json::as_str) {
            config.set("name", name);
        }
        config
    } else {
        Config::from_properties(&text)
    };
    let name = config
        .string("name")
        .with_context(|| format!("{} sets no connector name", path.display()))?
        .to_string();
    Ok((name, config))
}

/// Kafka's `listeners=http://host:port` as a socket address.
fn listener_from(raw: &Config) -> Option<SocketAddr> {
    let first = raw.list("listeners").into_iter().next()?;
    let address = first.trim_start_matches("http://");
    let address = if address.starts_with(':') {
        format!("127.0.0.1{address}")
    } else {
        address.to_string()
    };
    address.replace("localhost", "127.0.0.1").parse().ok()
}

fn standalone(args: StandaloneArgs) -> Result<()> {
    crate::logging::init();
    let raw = read_properties(&args.worker)?;
    let listen = args
        .listen
        .or_else(|| listener_from(&raw))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8083)));
    let mut settings = WorkerSettings::from_config(raw, false)?;
    settings.worker_id = listen.to_string();
    let connectors: Vec<(String, Config)> = args
        .connectors
        .iter()
        .map(|p| read_connector(p))
        .collect::<Result<_>>()?;
    run_worker(settings, listen, connectors)
}

fn distributed(args: DistributedArgs) -> Result<()> {
    crate::logging::init();
    let mut raw = match &args.config {
        Some(path) => read_properties(path)?,
        None => Config::default(),
    };
    raw.set("bootstrap.servers", args.client.bootstrap_servers.clone());
    for (k, v) in &args.client.client_config {
        raw.set(k.clone(), v.clone());
    }
    if let Some(group) = args.group_id {
        raw.set("group.id", group);
    }
    let mut settings = WorkerSettings::from_config(raw, true)?;
    settings.worker_id = args.listen.to_string();
    run_worker(settings, args.listen, Vec::new())
}

fn run_worker(
    settings: WorkerSettings,
    listen: SocketAddr,
    connectors: Vec<(String, Config)>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let worker = fjord_connect::start_worker(settings)
            .await
            .context("cannot start the connect worker")?;
        for (name, config) in connectors {
            worker
                .put_connector(&name, config, false)
                .await
                .map_err(|e| anyhow::anyhow!("connector {name}: {}", e.message))?;
        }
        fjord_connect::serve_worker(listener, worker, None, crate::serve::shutdown_signal())
            .await
            .context("connect REST API failed")
    })
}

/// Calls the REST API; a Kafka Connect error body becomes the error.
fn call(rest: &RestArgs, method: &str, path: &str, body: Option<&Json>) -> Result<Option<Json>> {
    let url = format!("{}{path}", rest.url.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        ("DELETE", _) => agent.delete(&url).call(),
        ("POST", Some(b)) => agent.post(&url).send_json(b),
        ("POST", None) => agent.post(&url).send_empty(),
        ("PUT", Some(b)) => agent.put(&url).send_json(b),
        ("PUT", None) => agent.put(&url).send_empty(),
        ("PATCH", Some(b)) => agent.patch(&url).send_json(b),
        _ => bail!("unsupported call {method} {path}"),
    }
    .with_context(|| {
        format!(
            "cannot reach the connect worker at {} (is it running? --url)",
            rest.url
        )
    })?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    let body: Option<Json> = if text.trim().is_empty() {
        None
    } else {
        serde_json::from_str(&text).ok()
    };
    if status >= 400 {
        let message = body
            .as_ref()
            .and_then(|b| b.get("message"))
            .and_then(Json::as_str)
            .map(str::to_string)
            .unwrap_or(text);
        bail!("{status}: {message}");
    }
    Ok(body)
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn list(rest: &RestArgs) -> Result<()> {
    let body =
        call(rest, "GET", "/connectors?expand=status&expand=info", None)?.unwrap_or(json!({}));
    if rest.json {
        print_json(&body);
        return Ok(());
    }
    println!(
        "{:<32} {:<6} {:<10} {:<8} CLASS",
        "NAME", "TYPE", "STATE", "TASKS"
    );
    for (name, entry) in body.as_object().into_iter().flatten() {
        let status = &entry["status"];
        let tasks = status["tasks"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let running = tasks.iter().filter(|t| t["state"] == "RUNNING").count();
        println!(
            "{:<32} {:<6} {:<10} {:<8} {}",
            name,
            status["type"].as_str().unwrap_or("?"),
            status["connector"]["state"].as_str().unwrap_or("?"),
            format!("{running}/{}", tasks.len()),
            entry["info"]["config"]["connector.class"]
                .as_str()
                .unwrap_or("?"),
        );
    }
    Ok(())
}

fn status(args: &NamedArgs) -> Result<()> {
    let body = call(
        &args.rest,
        "GET",
        &format!("/connectors/{}/status", args.name),
        None,
    )?
    .unwrap_or_default();
    if args.rest.json {
        print_json(&body);
        return Ok(());
    }
    println!(
        "connector {} ({}): {} on {}",
        args.name,
        body["type"].as_str().unwrap_or("?"),
        body["connector"]["state"].as_str().unwrap_or("?"),
        body["connector"]["worker_id"].as_str().unwrap_or("?")
    );
    if let Some(trace) = body["connector"]["trace"].as_str() {
        println!("  {trace}");
    }
    for task in body["tasks"].as_array().into_iter().flatten() {
        println!(
            "  task {}: {} on {}",
            task["id"],
            task["state"].as_str().unwrap_or("?"),
            task["worker_id"].as_str().unwrap_or("?")
        );
        if let Some(trace) = task["trace"].as_str() {
            println!("    {trace}");
        }
    }
    Ok(())
}

fn create(args: &CreateArgs) -> Result<()> {
    let (name, config) = read_connector(&args.file)?;
    let body = Json::Object(config.to_json());
    let info = call(
        &args.rest,
        "PUT",
        &format!("/connectors/{name}/config"),
        Some(&body),
    )?
    .unwrap_or_default();
    if args.rest.json {
        print_json(&info);
    } else {
        let tasks = info["tasks"].as_array().map_or(0, Vec::len);
        println!(
            "connector {name}: {} with {tasks} task(s)",
            info["type"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

fn simple(rest: &RestArgs, method: &str, path: &str, done: &str) -> Result<()> {
    let body = call(rest, method, path, None)?;
    match body {
        Some(b) if rest.json => print_json(&b),
        _ => println!("{done}"),
    }
    Ok(())
}

fn offsets(args: &OffsetsArgs) -> Result<()> {
    let path = format!("/connectors/{}/offsets", args.name);
    let body = if args.reset {
        call(&args.rest, "DELETE", &path, None)?
    } else if let Some(file) = &args.set {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let offsets: Json = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        call(&args.rest, "PATCH", &path, Some(&offsets))?
    } else {
        call(&args.rest, "GET", &path, None)?
    };
    print_json(&body.unwrap_or_default());
    Ok(())
}

fn plugins(rest: &RestArgs) -> Result<()> {
    let body = call(rest, "GET", "/connector-plugins", None)?.unwrap_or_default();
    if rest.json {
        print_json(&body);
        return Ok(());
    }
    for p in body.as_array().into_iter().flatten() {
        println!(
            "{:<6} {}",
            p["type"].as_str().unwrap_or("?"),
            p["class"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

/// Starts the worker `fjord serve` embeds on `listen`, against the broker
/// at `bootstrap`, with topic storage (group connect-cluster). A taken
/// port or a failed start is logged and the broker keeps running. Returns
/// the task, which ends once `shutdown` completes and the tasks stopped.
pub async fn spawn_embedded(
    listen: SocketAddr,
    bootstrap: String,
    allowed_paths: Vec<PathBuf>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%listen, error = %e,
                "connect worker not started: cannot listen (set --connect-listen, or --no-connect)");
            return None;
        }
    };
    let mut raw = Config::default();
    raw.set("bootstrap.servers", bootstrap);
    raw.set(
        "allowed.paths",
        allowed_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    // One broker: the internal topics need no more partitions than that
    // serves well.
    raw.set("offset.storage.partitions", "5");
    raw.set("status.storage.partitions", "1");
    let mut settings = match WorkerSettings::from_config(raw, true) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "connect worker not started");
            return None;
        }
    };
    settings.worker_id = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    Some(tokio::spawn(async move {
        match fjord_connect::start_worker(settings).await {
            Ok(worker) => {
                if let Err(e) = fjord_connect::serve_worker(listener, worker, None, shutdown).await
                {
                    tracing::error!(error = %e, "connect REST API stopped");
                }
            }
            Err(e) => tracing::error!(error = %e, "connect worker not started"),
        }
    }))
}
