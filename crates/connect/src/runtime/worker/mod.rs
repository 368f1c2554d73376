//! The worker (Kafka Connect's herder). The config store's snapshot says
//! which connectors exist and what the user wants of them; the group's
//! assignment (distributed) says which of their connectors and tasks run
//! here — a standalone worker runs them all. [`Worker::reconcile`] makes
//! the running tasks match both, whenever either changes; REST writes go
//! to the store and take effect through it, on every worker alike.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod reconcile;

use crate::config::Config;
use crate::connector::{ConnectorKind, ConnectorPlugin, PluginRegistry};
use crate::runtime::assignor::Work;
use crate::runtime::configs::{status_key, ConfigChange, ConfigStore};
use crate::runtime::group::{GroupWorker, Membership};
use crate::runtime::offsets::OffsetStore;
use crate::runtime::settings::WorkerSettings;
use crate::runtime::status::{State, StatusCell, StatusEvent, TargetState};
use crate::runtime::task::Control;
use crate::runtime::validate;

/// An error as the REST API answers it: an HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(name: &str) -> ApiError {
        ApiError::new(404, format!("Connector {name} not found"))
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(500, e.to_string())
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// How long a write waits for a rebalance to end before answering 409.
const REBALANCE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

struct RunningTask {
    status: StatusCell,
    control: watch::Sender<Control>,
    handle: JoinHandle<()>,
}

struct ConnectorEntry {
    config: Config,
    target: TargetState,
    plugin: Arc<dyn ConnectorPlugin>,
    /// The connector's own status, reported while it is assigned here.
    status: StatusCell,
    task_configs: Vec<Config>,
    /// Why the task configs could not be made, if they could not (set by
    /// the generation task).
    failure: Arc<Mutex<Option<String>>>,
    /// The fingerprint of `config`, naming its task configs.
    fingerprint: String,
    topics: Arc<Mutex<BTreeSet<String>>>,
}

#[derive(Default)]
struct Local {
    connectors: BTreeMap<String, ConnectorEntry>,
    tasks: BTreeMap<(String, u32), RunningTask>,
    /// The last restart request acted on.
    restart_seq: u64,
    /// The work this worker was assigned at the last reconcile.
    assigned: BTreeSet<Work>,
    /// Connectors (and config fingerprints) whose task configs this
    /// worker is making or failed to make.
    generating: BTreeSet<(String, String)>,
}

/// The cluster-wide work set, for the group's leader.
#[derive(Default)]
pub struct WorkTracker {
    work: Mutex<(BTreeSet<Work>, i64)>,
    offset: Mutex<i64>,
}

impl GroupWorker for WorkTracker {
    fn all_work(&self) -> (BTreeSet<Work>, i64) {
        self.work.lock().expect("work lock").clone()
    }

    fn config_offset(&self) -> i64 {
        *self.offset.lock().expect("offset lock")
    }
}

pub struct Worker {
    pub settings: Arc<WorkerSettings>,
    pub plugins: PluginRegistry,
    offsets: Arc<dyn OffsetStore>,
    configs: Arc<dyn ConfigStore>,
    local: tokio::sync::Mutex<Local>,
    events: mpsc::UnboundedSender<StatusEvent>,
    membership: Option<Membership>,
    tracker: Arc<WorkTracker>,
}

impl Worker {
    /// Starts a worker over these stores. With `membership` (distributed)
    /// it runs what the group assigns it; without, everything.
    pub async fn start(
        settings: WorkerSettings,
        plugins: PluginRegistry,
        configs: Arc<dyn ConfigStore>,
        offsets: Arc<dyn OffsetStore>,
        membership: Option<(Membership, Arc<WorkTracker>)>,
    ) -> crate::error::Result<Arc<Worker>> {
        let (events, mut receiver) = mpsc::unbounded_channel::<StatusEvent>();
        let (membership, tracker) = match membership {
            Some((m, t)) => (Some(m), t),
            None => (None, Arc::new(WorkTracker::default())),
        };
        let worker = Arc::new(Worker {
            settings: Arc::new(settings),
            plugins,
            offsets,
            configs: configs.clone(),
            local: tokio::sync::Mutex::new(Local::default()),
            events,
            membership,
            tracker,
        });
        let worker_id = worker.settings.worker_id.clone();
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                if let Err(e) = configs.put_status(&event, &worker_id).await {
                    tracing::warn!(error = %e, "cannot publish a status change");
                }
            }
        });
        worker.reconcile().await;
        let weak = Arc::downgrade(&worker);
        let mut snapshots = worker.configs.snapshot();
        let mut assignments = worker.membership.as_ref().map(|m| m.assignment.clone());
        tokio::spawn(async move {
            loop {
                let changed = match assignments.as_mut() {
                    Some(a) => tokio::select! {
                        r = snapshots.changed() => r.is_ok(),
                        r = a.changed() => r.is_ok(),
                    },
                    None => snapshots.changed().await.is_ok(),
                };
                let Some(worker) = weak.upgrade() else { return };
                if !changed {
                    return;
                }
                worker.reconcile().await;
            }
        });
        Ok(worker)
    }

    /// The tracker the group's leader reads the work set from.
    pub fn new_tracker() -> Arc<WorkTracker> {
        Arc::new(WorkTracker::default())
    }

    /// Stops every task and leaves the group (the worker is shutting down).
    pub async fn shutdown(&self) {
        if let Some(m) = &self.membership {
            m.stop();
        }
        let mut local = self.local.lock().await;
        let keys: Vec<(String, u32)> = local.tasks.keys().cloned().collect();
        for key in keys {
            if let Some(task) = local.tasks.remove(&key) {
                self.stop_task(task, false).await;
            }
        }
    }

    pub fn plugin(&self, class: &str) -> ApiResult<Arc<dyn ConnectorPlugin>> {
        self.plugins
            .find(class)
            .ok_or_else(|| ApiError::new(400, self.plugins.unknown(class).to_string()))
    }

    /// The validate endpoint's report for `config`.
    pub fn validate(&self, plugin: &dyn ConnectorPlugin, config: &Config) -> Json {
        validate::report(plugin, config, &self.settings)
    }

    /// Writes wait (a few seconds at most) while this worker is between
    /// group generations, then are refused with 409 as Kafka Connect
    /// refuses them; Kafka answers 409 at once, which scripts run right
    /// after a worker starts keep tripping over.
    async fn check_not_rebalancing(&self) -> ApiResult<()> {
        let Some(m) = &self.membership else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + REBALANCE_WAIT;
        while m.rebalancing() {
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::new(
                    409,
                    "Cannot complete request because of a conflicting operation (e.g. worker rebalance)",
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits until this worker is in its group with an assignment (at once
    /// for a standalone worker); false after `timeout`.
    pub async fn wait_ready(&self, timeout: std::time::Duration) -> bool {
        let Some(m) = &self.membership else {
            return true;
        };
        let mut assignment = m.assignment.clone();
        tokio::time::timeout(timeout, assignment.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    async fn put(&self, change: ConfigChange) -> ApiResult<()> {
        self.configs.put(change).await.map_err(ApiError::internal)?;
        self.reconcile().await;
        Ok(())
    }

    /// Creates or replaces a connector; true when it was created.
    pub async fn put_connector(
        &self,
        name: &str,
        mut config: Config,
        must_be_new: bool,
    ) -> ApiResult<bool> {
        check_name(name)?;
        config.set("name", name);
        let class = config
            .string("connector.class")
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    format!(
                        "Connector config {:?} contains no connector type",
                        config.as_map()
                    ),
                )
            })?
            .to_string();
        let plugin = self.plugin(&class)?;
        let report = self.validate(plugin.as_ref(), &config);
        if let Some(message) = validate::refusal_message(&report) {
            return Err(ApiError::new(400, message));
        }
        self.check_not_rebalancing().await?;
        let exists = self.local.lock().await.connectors.contains_key(name);
        if exists && must_be_new {
            return Err(ApiError::new(
                409,
                format!("Connector {name} already exists"),
            ));
        }
        self.put(ConfigChange::Connector(name.to_string(), Some(config)))
            .await?;
        Ok(!exists)
    }

    pub async fn connector_names(&self) -> Vec<String> {
        self.local.lock().await.connectors.keys().cloned().collect()
    }

    pub async fn config(&self, name: &str) -> ApiResult<Config> {
        let local = self.local.lock().await;
        local
            .connectors
            .get(name)
            .map(|e| e.config.clone())
            .ok_or_else(|| ApiError::not_found(name))
    }

    /// `GET /connectors/{name}`: name, config, tasks and type.
    pub async fn info(&self, name: &str) -> ApiResult<Json> {
        let local = self.local.lock().await;
        let entry = local
            .connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        let tasks = if entry.target == TargetState::Stopped {
            0
        } else {
            entry.task_configs.len()
        };
        Ok(json!({
            "name": name,
            "config": entry.config.to_json(),
            "tasks": (0..tasks).map(|t| json!({"connector": name, "task": t})).collect::<Vec<_>>(),
            "type": entry.plugin.kind().name(),
        }))
    }

    /// A connector's or task's status: this worker's own when it runs it
    /// here, else what its worker published; UNASSIGNED when nobody has.
    fn status_json(&self, local: &Local, name: &str, task: Option<u32>) -> Json {
        let (state, trace, worker_id) = match task {
            Some(id) => match local.tasks.get(&(name.to_string(), id)) {
                Some(t) => {
                    let (s, tr) = t.status.get();
                    (s, tr, self.settings.worker_id.clone())
                }
                None => self.published(name, task),
            },
            None => match local.connectors.get(name) {
                Some(e) if local.assigned.contains(&Work::connector(name)) => {
                    let (s, tr) = e.status.get();
                    (s, tr, self.settings.worker_id.clone())
                }
                _ => self.published(name, None),
            },
        };
        let mut out = json!({"state": state.name(), "worker_id": worker_id});
        if let Some(id) = task {
            out["id"] = json!(id);
        }
        if let Some(t) = trace {
            out["trace"] = Json::String(t);
        }
        out
    }

    fn published(&self, name: &str, task: Option<u32>) -> (State, Option<String>, String) {
        match self.configs.statuses().get(&status_key(name, task)) {
            Some(p) => (p.state, p.trace.clone(), p.worker_id.clone()),
            None => (State::Unassigned, None, String::new()),
        }
    }

    /// `GET /connectors/{name}/status`.
    pub async fn status(&self, name: &str) -> ApiResult<Json> {
        let local = self.local.lock().await;
        let entry = local
            .connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        let count = if entry.target == TargetState::Stopped {
            0
        } else {
            entry.task_configs.len() as u32
        };
        let tasks: Vec<Json> = (0..count)
            .map(|t| self.status_json(&local, name, Some(t)))
            .collect();
        Ok(json!({
            "name": name,
            "connector": self.status_json(&local, name, None),
            "tasks": tasks,
            "type": entry.plugin.kind().name(),
        }))
    }

    pub async fn task_status(&self, name: &str, id: u32) -> ApiResult<Json> {
        let local = self.local.lock().await;
        let entry = local
            .connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        if id as usize >= entry.task_configs.len() || entry.target == TargetState::Stopped {
            return Err(ApiError::new(
                404,
                format!("No status found for task {name}-{id}"),
            ));
        }
        Ok(self.status_json(&local, name, Some(id)))
    }

    /// `GET /connectors/{name}/tasks`.
    pub async fn tasks(&self, name: &str) -> ApiResult<Json> {
        let local = self.local.lock().await;
        let entry = local
            .connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        Ok(Json::Array(
            entry
                .task_configs
                .iter()
                .enumerate()
                .map(|(t, c)| json!({"id": {"connector": name, "task": t}, "config": c.to_json()}))
                .collect(),
        ))
    }

    /// KIP-558's active topics (of the tasks this worker has run).
    pub async fn topics(&self, name: &str) -> ApiResult<Vec<String>> {
        let local = self.local.lock().await;
        let entry = local
            .connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        let topics = entry
            .topics
            .lock()
            .expect("topics lock")
            .iter()
            .cloned()
            .collect();
        Ok(topics)
    }

    pub async fn reset_topics(&self, name: &str) -> ApiResult<()> {
        let local = self.local.lock().await;
        let entry = local
            .connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        entry.topics.lock().expect("topics lock").clear();
        Ok(())
    }

    /// Pause, resume or stop: stored, then applied wherever the tasks run.
    pub async fn set_target(&self, name: &str, target: TargetState) -> ApiResult<()> {
        if !self.local.lock().await.connectors.contains_key(name) {
            return Err(ApiError::not_found(name));
        }
        self.check_not_rebalancing().await?;
        self.put(ConfigChange::Target(name.to_string(), target))
            .await
    }

    pub async fn delete(&self, name: &str) -> ApiResult<()> {
        if !self.local.lock().await.connectors.contains_key(name) {
            return Err(ApiError::not_found(name));
        }
        self.check_not_rebalancing().await?;
        self.put(ConfigChange::Connector(name.to_string(), None))
            .await
    }

    /// KIP-745: restarts the connector and, with `include_tasks`, its tasks
    /// (only the failed ones with `only_failed`). Returns the status with
    /// what restarts marked RESTARTING, as Kafka answers 202.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> ApiResult<Json> {
        let mut plan = self.status(name).await?;
        self.check_not_rebalancing().await?;
        let failed = |s: &Json| s["state"] == "FAILED";
        if !only_failed || failed(&plan["connector"]) {
            plan["connector"]["state"] = json!("RESTARTING");
            plan["connector"].as_object_mut().map(|o| o.remove("trace"));
        }
        for t in plan["tasks"].as_array_mut().into_iter().flatten() {
            if include_tasks && (!only_failed || failed(t)) {
                t["state"] = json!("RESTARTING");
                t.as_object_mut().map(|o| o.remove("trace"));
            }
        }
        self.put(ConfigChange::Restart {
            name: name.to_string(),
            include_tasks,
            only_failed,
            task: None,
        })
        .await?;
        Ok(plan)
    }

    pub async fn restart_task(&self, name: &str, id: u32) -> ApiResult<()> {
        {
            let local = self.local.lock().await;
            let entry = local
                .connectors
                .get(name)
                .ok_or_else(|| ApiError::not_found(name))?;
            if id as usize >= entry.task_configs.len() {
                return Err(ApiError::new(404, format!("Task {name}-{id} not found")));
            }
        }
        self.check_not_rebalancing().await?;
        self.put(ConfigChange::Restart {
            name: name.to_string(),
            include_tasks: true,
            only_failed: false,
            task: Some(id),
        })
        .await
    }

    /// The connector's kind, target state, config and plugin, for the
    /// offsets API.
    pub async fn offsets_context(
        &self,
        name: &str,
    ) -> ApiResult<(ConnectorKind, TargetState, Config, Arc<dyn ConnectorPlugin>)> {
        let local = self.local.lock().await;
        let entry = local
            .connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        Ok((
            entry.plugin.kind(),
            entry.target,
            entry.config.clone(),
            entry.plugin.clone(),
        ))
    }

    pub fn offset_store(&self) -> &Arc<dyn OffsetStore> {
        &self.offsets
    }
}

/// Kafka Connect refuses names it cannot use as topic keys and paths.
fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() {
        return Err(ApiError::new(400, "Connector name cannot be empty"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(ApiError::new(
            400,
            "Connector name cannot contain ISO control characters",
        ));
    }
    Ok(())
}
