//! `fjord auction ...`: the live auction system (the
//! fjord-auction crate) on the command line. `up` runs everything in one
//! process; every other subcommand is one component, pointed at a cluster
//! (`--bootstrap-servers`, `-X`), a registry and a database.

mod tools;
mod up;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use fjord_auction::backup::BackupFormat;
use fjord_auction::codec::{AvroCodec, BidCodec, JsonCodec};
use fjord_auction::dead_letter::{self, DeadLetterPolicy, OnBadRecord};
use fjord_auction::items::{self, Catalog, Item};
use fjord_auction::kafka::KafkaSettings;
use fjord_auction::store::BidStore;
use fjord_auction::{backup, db_writer, load, time, web};
use tokio::sync::watch;

use crate::client::parse_key_value;
use tools::{require_file, run_backup, run_item, run_load};
use up::run_up;

#[derive(Args, Debug)]
pub struct AuctionArgs {
    #[command(subcommand)]
    command: AuctionCommand,
}

#[derive(Subcommand, Debug)]
enum AuctionCommand {
    /// The whole system: embedded broker (unless --bootstrap-servers),
    /// website + API + dashboard, two DB writers, the backup writer.
    Up(UpArgs),
    /// The website, its JSON API and the dashboard alone.
    Web(WebArgs),
    /// DB writers alone (group bid-db-writers).
    DbWriter(DbWriterArgs),
    /// The backup writer alone (group bid-backup).
    BackupWriter(BackupWriterArgs),
    /// Live bid statistics alone (stream processing, application
    /// auction-stats): bids and highest bid per item per minute on the bids'
    /// own time, to the topics bids-per-minute and highest-bid-per-minute;
    /// bids for a minute already closed (5 s grace) go to bids-late. Run it
    /// twice to share the work; stop one and the other takes over.
    Stats(StatsArgs),
    /// Bid through the website's API: bidders, rate, duration.
    Load(LoadArgs),
    /// Add and list the items on auction.
    Item(ItemArgs),
    /// Check the backup file against the topic and the table, or rebuild the
    /// table from it.
    Backup(BackupArgs),
}

/// Cluster options; `--bootstrap-servers` is optional so `up` can tell when
/// to embed a broker.
#[derive(Args, Debug, Clone)]
struct Cluster {
    /// Kafka bootstrap servers, HOST:PORT,... [default: 127.0.0.1:9092;
    /// `auction up` embeds a broker when absent].
    #[arg(
        long,
        short = 'b',
        env = "FJORD_BOOTSTRAP_SERVERS",
        value_name = "HOST:PORT,..."
    )]
    bootstrap_servers: Option<String>,
    /// librdkafka client setting (SASL, TLS, ...), repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    client_config: Vec<(String, String)>,
    /// Schema registry URL (Avro values under subject bids-value).
    #[arg(long, env = "FJORD_SCHEMA_REGISTRY", value_name = "URL")]
    schema_registry: Option<String>,
}

impl Cluster {
    fn settings(&self, embedded: Option<SocketAddr>) -> KafkaSettings {
        let bootstrap = match (&self.bootstrap_servers, embedded) {
            (Some(b), _) => b.clone(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => "127.0.0.1:9092".to_string(),
        };
        KafkaSettings {
            bootstrap_servers: bootstrap,
            extra: self.client_config.clone(),
            dead_letter: DeadLetterPolicy::default(),
        }
    }

    /// Avro through the registry when one is given; JSON otherwise (see
    /// codec.rs).
    async fn codec(&self) -> Result<Arc<dyn BidCodec>> {
        match &self.schema_registry {
            Some(url) => {
                // A registry that is starting (electing its writer) refuses
                // for a moment: retry for a while before giving up.
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                loop {
                    let u = url.clone();
                    match tokio::task::spawn_blocking(move || AvroCodec::connect(&u)).await? {
                        Ok(codec) => return Ok(Arc::new(codec)),
                        Err(e) if std::time::Instant::now() < deadline => {
                            tracing::debug!(error = %e, "schema registry not ready; retrying");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            None => Ok(Arc::new(JsonCodec)),
        }
    }
}

/// What the DB and backup writers do with a record of `bids` that is not
/// a bid (Kafka Connect's errors.tolerance and dead-letter queue).
#[derive(Args, Debug, Clone)]
struct BadRecords {
    /// dead-letter: produce it unchanged to the dead-letter topic, with
    /// fjord.dlq.* headers saying where from and why, then go on; stop: exit
    /// with an error naming it, committing nothing past it.
    #[arg(
        long,
        env = "FJORD_AUCTION_ON_BAD_RECORD",
        value_enum,
        default_value = "dead-letter"
    )]
    on_bad_record: OnBadRecordArg,
    #[command(flatten)]
    topic: DeadLetterTopic,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OnBadRecordArg {
    DeadLetter,
    Stop,
}

impl BadRecords {
    fn policy(&self) -> DeadLetterPolicy {
        DeadLetterPolicy {
            on_bad_record: match self.on_bad_record {
                OnBadRecordArg::DeadLetter => OnBadRecord::DeadLetter,
                OnBadRecordArg::Stop => OnBadRecord::Stop,
            },
            topic: self.topic.dead_letter_topic.clone(),
        }
    }
}

/// Where records that are not bids go (the writers) and are looked for
/// (`backup verify`, the dashboard).
#[derive(Args, Debug, Clone)]
struct DeadLetterTopic {
    /// The dead-letter topic (created with 1 partition when missing).
    #[arg(
        long,
        env = "FJORD_AUCTION_DEAD_LETTER_TOPIC",
        default_value = dead_letter::DEFAULT_TOPIC,
        value_name = "NAME"
    )]
    dead_letter_topic: String,
}

impl DeadLetterTopic {
    fn policy(&self) -> DeadLetterPolicy {
        DeadLetterPolicy {
            topic: self.dead_letter_topic.clone(),
            ..DeadLetterPolicy::default()
        }
    }
}

/// Where the auction keeps its files.
#[derive(Args, Debug, Clone)]
struct Data {
    /// Data dir: auction.toml, auction.db (SQLite), bids-backup.jsonl (or .avro), and
    /// the embedded broker's log under broker/.
    #[arg(
        long,
        env = "FJORD_AUCTION_DATA_DIR",
        default_value = "auction-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Items file [default: DIR/auction.toml, created from the sample set].
    #[arg(long, value_name = "FILE")]
    items: Option<PathBuf>,
    /// sqlite://FILE, postgres://... or mysql://... [default: sqlite://DIR/auction.db].
    #[arg(long, env = "FJORD_AUCTION_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
}

impl Data {
    fn items_path(&self) -> PathBuf {
        self.items
            .clone()
            .unwrap_or_else(|| self.data_dir.join("auction.toml"))
    }

    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("auction.db").display()))
    }

    async fn store(&self) -> Result<BidStore> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        Ok(BidStore::connect(&self.database_url()).await?)
    }

    /// The items file, created from the sample set when it is the default
    /// one and missing.
    fn ensure_items(&self) -> Result<PathBuf> {
        let path = self.items_path();
        if self.items.is_none() && items::ensure_file(&path)? {
            tracing::info!(path = %path.display(), "wrote the sample items");
        }
        Ok(path)
    }
}

/// Where the website, its API and the dashboard listen.
#[derive(Args, Debug, Clone)]
struct Http {
    /// The website, API and dashboard.
    #[arg(
        long,
        env = "FJORD_AUCTION_HTTP_LISTEN",
        default_value = "127.0.0.1:5000",
        value_name = "HOST:PORT"
    )]
    http_listen: SocketAddr,
}

/// The backup file's place and format.
#[derive(Args, Debug, Clone)]
struct BackupFile {
    /// Backup file [default: DIR/bids-backup.jsonl, or DIR/bids-backup.avro
    /// with --backup-format avro].
    #[arg(long, value_name = "PATH")]
    backup_file: Option<PathBuf>,
    /// jsonl (JSON Lines) or avro (an Avro object container file)
    /// [default: jsonl; verify and restore read the file's own format].
    #[arg(long, value_name = "jsonl|avro")]
    backup_format: Option<BackupFormat>,
}

impl BackupFile {
    /// The file the backup writer appends to, and its format. A file of
    /// the other format is refused (see [`BackupFile::check`]).
    fn for_writing(&self, data: &Data) -> (PathBuf, BackupFormat) {
        let format = self.backup_format.unwrap_or_default();
        let path = self
            .backup_file
            .clone()
            .unwrap_or_else(|| backup::default_path(&data.data_dir, format));
        (path, format)
    }

    /// Fails early when an existing file is of the other format.
    fn check(&self, data: &Data) -> Result<()> {
        let (path, format) = self.for_writing(data);
        Ok(backup::check_format(&path, format)?)
    }

    /// The existing file `backup verify` and `restore` read, and its format
    /// (from the file itself; a --backup-format that disagrees is refused).
    fn for_reading(&self, data: &Data) -> Result<(PathBuf, BackupFormat)> {
        let path = match (&self.backup_file, self.backup_format) {
            (Some(p), _) => p.clone(),
            (None, Some(f)) => backup::default_path(&data.data_dir, f),
            (None, None) => {
                let found: Vec<PathBuf> = [BackupFormat::JsonLines, BackupFormat::Avro]
                    .map(|f| backup::default_path(&data.data_dir, f))
                    .into_iter()
                    .filter(|p| p.exists())
                    .collect();
                match found.as_slice() {
                    [] => backup::default_path(&data.data_dir, BackupFormat::JsonLines),
                    [one] => one.clone(),
                    [a, b, ..] => bail!(
                        "both {} and {} exist: choose one with --backup-format or --backup-file",
                        a.display(),
                        b.display()
                    ),
                }
            }
        };
        require_file(&path)?;
        if let Some(format) = self.backup_format {
            backup::check_format(&path, format)?;
        }
        let format = backup::detect(&path)?.unwrap_or_default();
        Ok((path, format))
    }
}

#[derive(Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    cluster: Cluster,
    #[command(flatten)]
    data: Data,
    #[command(flatten)]
    http: Http,
    #[command(flatten)]
    backup: BackupFile,
    #[command(flatten)]
    bad_records: BadRecords,
    /// The embedded broker's Kafka listener (without --bootstrap-servers).
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    broker_listen: SocketAddr,
    /// DB writers to run (members of bid-db-writers).
    #[arg(long, default_value_t = 2)]
    db_writers: usize,
    /// The embedded schema registry (without --schema-registry).
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "HOST:PORT")]
    registry_listen: SocketAddr,
    /// No embedded registry: without --schema-registry, values are JSON.
    #[arg(long)]
    no_registry: bool,
    /// Do not run the live bid statistics (stream processing; see `fjord
    /// auction stats`).
    #[arg(long)]
    no_stats: bool,
}

#[derive(Args, Debug)]
struct WebArgs {
    #[command(flatten)]
    cluster: Cluster,
    #[command(flatten)]
    data: Data,
    #[command(flatten)]
    http: Http,
    #[command(flatten)]
    dead_letter: DeadLetterTopic,
}

#[derive(Args, Debug)]
struct DbWriterArgs {
    #[command(flatten)]
    cluster: Cluster,
    #[command(flatten)]
    data: Data,
    #[command(flatten)]
    bad_records: BadRecords,
    /// Members of bid-db-writers to run in this process.
    #[arg(long, default_value_t = 1)]
    instances: usize,
}

#[derive(Args, Debug)]
struct BackupWriterArgs {
    #[command(flatten)]
    cluster: Cluster,
    #[command(flatten)]
    data: Data,
    #[command(flatten)]
    backup: BackupFile,
    #[command(flatten)]
    bad_records: BadRecords,
}

#[derive(Args, Debug)]
struct StatsArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// Processing guarantee of the statistics application (exactly-once:
    /// the dashboard reads its results read_committed, each once).
    #[arg(
        long,
        value_enum,
        default_value = "at-least-once",
        env = "FJORD_STATS_GUARANTEE"
    )]
    guarantee: crate::streams::GuaranteeArg,
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// The website's base URL.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    url: String,
    /// Concurrent bidders.
    #[arg(long, default_value_t = 8)]
    bidders: usize,
    /// Total bids per second (0: as fast as the bidders can).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Only these items (repeatable) [default: every open item].
    #[arg(long = "item")]
    items: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ItemArgs {
    #[command(subcommand)]
    command: ItemCommand,
}

#[derive(Subcommand, Debug)]
enum ItemCommand {
    /// Append an item to the items file.
    Add {
        /// Item name: letters, digits, '-', '_', '.'.
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, value_name = "PRICE")]
        starting_price: i64,
        /// Closing time, RFC 3339 (2030-06-01T18:00:00Z).
        #[arg(
            long,
            value_name = "TIME",
            conflicts_with = "open_minutes",
            required_unless_present = "open_minutes"
        )]
        closes_at: Option<String>,
        /// Or: minutes from now.
        #[arg(long, value_name = "N")]
        open_minutes: Option<i64>,
        #[command(flatten)]
        data: Data,
    },
    /// List the items.
    List {
        #[command(flatten)]
        data: Data,
    },
}

#[derive(Args, Debug)]
struct BackupArgs {
    #[command(subcommand)]
    command: BackupCommand,
}

#[derive(Subcommand, Debug)]
enum BackupCommand {
    /// Check the file: no offset or bid twice, every record of the topic in
    /// it, the same bids as the table. Exits 1 on a problem.
    Verify {
        #[command(flatten)]
        cluster: Cluster,
        #[command(flatten)]
        data: Data,
        #[command(flatten)]
        backup: BackupFile,
        #[command(flatten)]
        dead_letter: DeadLetterTopic,
        /// Do not read the topic.
        #[arg(long)]
        no_topic: bool,
        /// Do not read the table.
        #[arg(long)]
        no_table: bool,
    },
    /// Rebuild the table from the file (bids already there are skipped).
    Restore {
        #[command(flatten)]
        data: Data,
        #[command(flatten)]
        backup: BackupFile,
    },
}

pub fn run(args: AuctionArgs) -> Result<()> {
    crate::logging::init();
    if let AuctionCommand::Load(a) = args.command {
        return run_load(a);
    }
    if let AuctionCommand::Item(a) = args.command {
        return run_item(a);
    }
    if let AuctionCommand::Up(a) = args.command {
        return run_up(a);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            AuctionCommand::Web(a) => {
                let settings = a
                    .cluster
                    .settings(None)
                    .with_dead_letter(a.dead_letter.policy());
                settings.ensure_topic().await?;
                let store = a.data.store().await?;
                let items = a.data.ensure_items()?;
                let state = web::WebState::new(&settings, items, store, a.cluster.codec().await?)?;
                let listener = bind(a.http.http_listen).await?;
                web::serve(listener, state, stop_signal()).await?;
                Ok(())
            }
            AuctionCommand::DbWriter(a) => {
                let settings = a
                    .cluster
                    .settings(None)
                    .with_dead_letter(a.bad_records.policy());
                let store = a.data.store().await?;
                let codec = a.cluster.codec().await?;
                let tasks = spawn_db_writers(a.instances.max(1), &settings, &store, &codec);
                first_failure(tasks).await
            }
            AuctionCommand::BackupWriter(a) => {
                let settings = a
                    .cluster
                    .settings(None)
                    .with_dead_letter(a.bad_records.policy());
                let (path, format) = a.backup.for_writing(&a.data);
                a.backup.check(&a.data)?;
                let codec = a.cluster.codec().await?;
                backup::run(&settings, &path, format, codec, stop_signal()).await?;
                Ok(())
            }
            AuctionCommand::Stats(a) => {
                let settings = a.cluster.settings(None);
                settings.ensure_topic().await?;
                let codec = a.cluster.codec().await?;
                Ok(run_stats(settings, codec, a.guarantee.engine(), stop_signal()).await?)
            }
            AuctionCommand::Backup(a) => run_backup(a).await,
            AuctionCommand::Load(_) | AuctionCommand::Item(_) | AuctionCommand::Up(_) => {
                unreachable!("handled above")
            }
        }
    })
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Ctrl-C or SIGTERM, as a future any number of components can wait on.
fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    static STOP: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();
    let tx = STOP.get_or_init(|| {
        let (tx, _) = watch::channel(false);
        let t = tx.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            t.send_replace(true);
        });
        tx
    });
    let mut rx = tx.subscribe();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs the bid statistics on a thread of their own (the streams runtime
/// blocks) until `stop` completes.
async fn run_stats(
    settings: fjord_auction::kafka::KafkaSettings,
    codec: Arc<dyn BidCodec>,
    guarantee: fjord_streams::ProcessingGuarantee,
    stop: impl Future<Output = ()> + Send + 'static,
) -> fjord_auction::Result<()> {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = flag.clone();
    // Also when this future is dropped unfinished: `auction up` ending on
    // a writer's failure shuts its runtime down, which drops this task
    // (perhaps before it saw `stop`) and then waits for the blocking
    // thread; without the flag set that wait never ended (the conformance
    // test of --on-bad-record stop hung one run in five).
    let _stop_on_drop = StopOnDrop(flag.clone());
    let worker = tokio::task::spawn_blocking(move || {
        fjord_auction::stats::run(&settings, codec, guarantee, &running)
    });
    tokio::pin!(stop);
    tokio::pin!(worker);
    let joined = tokio::select! {
        () = &mut stop => {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            worker.await
        }
        done = &mut worker => done,
    };
    joined.unwrap_or_else(|e| {
        Err(fjord_streams::Error::Kafka(format!("the statistics thread failed: {e}")).into())
    })
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

type WriterTask = tokio::task::JoinHandle<fjord_auction::Result<()>>;

/// Starts `count` members of bid-db-writers (client ids db-writer-0, -1,
/// ...), each stopping on Ctrl-C/SIGTERM.
fn spawn_db_writers(
    count: usize,
    settings: &KafkaSettings,
    store: &BidStore,
    codec: &Arc<dyn BidCodec>,
) -> Vec<WriterTask> {
    (0..count)
        .map(|n| {
            let (settings, store, codec) = (settings.clone(), store.clone(), codec.clone());
            tokio::spawn(async move {
                let client_id = format!("db-writer-{n}");
                db_writer::run(&settings, store, codec, &client_id, stop_signal()).await
            })
        })
        .collect()
}

/// Waits for every writer task; returns at once with the first error.
async fn first_failure(tasks: Vec<WriterTask>) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for t in tasks {
        set.spawn(t);
    }
    while let Some(done) = set.join_next().await {
        done???;
    }
    Ok(())
}
