//! `fjord auction up`: the whole system in one process, with an embedded
//! broker and registry unless the options point elsewhere.

use super::*;

async fn up(a: UpArgs, embedded: Option<SocketAddr>) -> Result<()> {
    std::fs::create_dir_all(&a.data.data_dir)
        .with_context(|| format!("cannot create {}", a.data.data_dir.display()))?;
    let settings = a
        .cluster
        .settings(embedded)
        .with_dead_letter(a.bad_records.policy());
    settings
        .ensure_topic()
        .await
        .context("cannot create the topic `bids`")?;
    let codec = a.cluster.codec().await?;
    let store = a.data.store().await?;
    let items = a.data.ensure_items()?;
    let (backup_path, backup_format) = a.backup.for_writing(&a.data);
    // Before anything starts: the writer's own refusal would surface only
    // when the system stops.
    a.backup.check(&a.data)?;

    let mut tasks = spawn_db_writers(a.db_writers, &settings, &store, &codec);
    {
        let (settings, codec, path) = (settings.clone(), codec.clone(), backup_path.clone());
        tasks.push(tokio::spawn(async move {
            backup::run(&settings, &path, backup_format, codec, stop_signal()).await
        }));
    }
    // The statistics stop with the signal, or when `up` ends for another
    // reason (a writer failed): their thread must not outlive it.
    let (stats_stop, stats_stopped) = tokio::sync::oneshot::channel::<()>();
    if !a.no_stats {
        let stop = async move {
            tokio::select! {
                () = stop_signal() => {}
                _ = stats_stopped => {}
            }
        };
        tasks.push(tokio::spawn(run_stats(
            settings.clone(),
            codec.clone(),
            fjord_streams::ProcessingGuarantee::AtLeastOnce,
            stop,
        )));
    }
    let state = web::WebState::new(&settings, items.clone(), store.clone(), codec)?;
    let listener = bind(a.http.http_listen).await?;
    println!(
        "auction up: website http://{} (dashboard /dashboard), Kafka {}, database {}, backup {}, items {}",
        listener.local_addr()?,
        settings.bootstrap_servers,
        fjord_auction::store::redact(&a.data.database_url()),
        backup_path.display(),
        items.display()
    );
    // A writer that fails (e.g. --on-bad-record stop) ends the whole
    // process with its error rather than leave the website up without it.
    let serve = web::serve(listener, state, stop_signal());
    let writers = first_failure(tasks);
    tokio::pin!(serve, writers);
    let result = tokio::select! {
        served = &mut serve => {
            match served {
                Ok(()) => writers.await,
                Err(e) => Err(e.into()),
            }
        }
        written = &mut writers => {
            match written {
                Ok(()) => Ok(serve.await?),
                Err(e) => Err(e),
            }
        }
    };
    drop(stats_stop);
    result
}

/// `up`: the embedded broker first (its own runtime, started outside the
/// components' runtime), then everything else.
pub(super) fn run_up(mut a: UpArgs) -> Result<()> {
    std::fs::create_dir_all(&a.data.data_dir)
        .with_context(|| format!("cannot create {}", a.data.data_dir.display()))?;
    let mut embedded = None;
    let mut broker = None;
    if a.cluster.bootstrap_servers.is_none() {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, thread) =
            start_embedded_broker(a.data.data_dir.join("broker"), a.broker_listen, stopped)?;
        tracing::info!(listen = %bound, "embedded broker ready");
        embedded = Some(bound);
        broker = Some((stop, thread));
    }
    let mut registry = None;
    if a.cluster.schema_registry.is_none() && !a.no_registry {
        let bootstrap = a.cluster.settings(embedded).bootstrap_servers;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        registry = Some((
            stop,
            start_embedded_registry(a.registry_listen, bootstrap, stopped)?,
        ));
        a.cluster.schema_registry = Some(format!("http://{}", a.registry_listen));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(up(a, embedded));
    drop(runtime);
    // The servers stop last, in that order, once their clients have left
    // (on Ctrl-C, or a component's failure): the components' last commits
    // and the registry's last reads still reach the broker, and the final
    // lines on the console are not clients' connection errors.
    for (stop, thread) in [registry, broker].into_iter().flatten() {
        let _ = stop.send(());
        let _ = thread.join();
    }
    outcome
}

/// The embedded broker on a runtime of its own: whatever the auction's
/// components do on their threads, the broker keeps answering them.
fn start_embedded_broker(
    data_dir: PathBuf,
    listen: SocketAddr,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("broker")
        .enable_all()
        .build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| {
            format!("cannot listen on {listen} (choose another port with --broker-listen)")
        })?;
    let bound = listener.local_addr()?;
    let config = fjord_broker::BrokerConfig::new(data_dir);
    let broker = fjord_broker::Broker::open(config, bound)
        .context("cannot open the embedded broker's data dir")?;
    let thread = std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            runtime.block_on(fjord_broker::run(listener, broker, async {
                let _ = stop.await;
            }))
        })?;
    Ok((bound, thread))
}

/// The embedded schema registry (the same service as `fjord registry`) on
/// a runtime of its own, against the auction's cluster.
fn start_embedded_registry(
    listen: SocketAddr,
    bootstrap: String,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<std::thread::JoinHandle<()>> {
    // Bind once here for a clear error; the service binds again itself.
    drop(std::net::TcpListener::bind(listen).with_context(|| {
        format!("cannot listen on {listen} (choose another port with --registry-listen, or --no-registry)")
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("registry")
        .enable_all()
        .build()?;
    Ok(std::thread::Builder::new()
        .name("registry".into())
        .spawn(move || {
            runtime.block_on(async move {
                let stopped = async {
                    let _ = stop.await;
                };
                if let Some(task) =
                    crate::registry::spawn_embedded(listen, bootstrap, stopped).await
                {
                    let _ = task.await;
                }
            })
        })?)
}
