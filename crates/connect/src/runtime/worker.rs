//! The worker (Kafka Connect's herder): it keeps the connectors, starts
//! and stops their tasks as their configs and target states change, and
//! answers what the REST API asks. Every change is stored first (the
//! config store) and then applied, so a restarted worker comes back to the
//! same connectors in the same states.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::connector::{ConnectorKind, ConnectorPlugin, PluginRegistry};
use crate::runtime::configs::ConfigStore;
use crate::runtime::offsets::OffsetStore;
use crate::runtime::settings::WorkerSettings;
use crate::runtime::status::{State, StatusCell, StatusEvent, StatusKey, TargetState};
use crate::runtime::task::{Control, TaskSpec};
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

struct RunningTask {
    status: StatusCell,
    control: watch::Sender<Control>,
    handle: JoinHandle<()>,
}

struct ConnectorEntry {
    config: Config,
    target: TargetState,
    plugin: Arc<dyn ConnectorPlugin>,
    status: StatusCell,
    task_configs: Vec<Config>,
    tasks: Vec<RunningTask>,
    topics: Arc<Mutex<BTreeSet<String>>>,
}

pub struct Worker {
    pub settings: Arc<WorkerSettings>,
    pub plugins: PluginRegistry,
    offsets: Arc<dyn OffsetStore>,
    configs: Arc<dyn ConfigStore>,
    connectors: tokio::sync::Mutex<BTreeMap<String, ConnectorEntry>>,
    events: mpsc::UnboundedSender<StatusEvent>,
}

impl Worker {
    /// A worker over these stores; it loads and starts the stored
    /// connectors, and publishes status changes to the config store.
    pub async fn start(
        settings: WorkerSettings,
        plugins: PluginRegistry,
        configs: Arc<dyn ConfigStore>,
        offsets: Arc<dyn OffsetStore>,
    ) -> crate::error::Result<Arc<Worker>> {
        let (events, mut receiver) = mpsc::unbounded_channel::<StatusEvent>();
        let worker = Arc::new(Worker {
            settings: Arc::new(settings),
            plugins,
            offsets,
            configs: configs.clone(),
            connectors: tokio::sync::Mutex::new(BTreeMap::new()),
            events,
        });
        let worker_id = worker.settings.worker_id.clone();
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                if let Err(e) = configs.put_status(&event, &worker_id).await {
                    tracing::warn!(error = %e, "cannot publish a status change");
                }
            }
        });
        for (name, config, target) in worker.configs.load().await? {
            if let Err(e) = worker.apply(&name, config, target).await {
                tracing::error!(connector = %name, error = %e.message, "stored connector not started");
            }
        }
        Ok(worker)
    }

    /// Stops every task (the worker is shutting down).
    pub async fn shutdown(&self) {
        let mut connectors = self.connectors.lock().await;
        for entry in connectors.values_mut() {
            self.stop_tasks(entry).await;
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
                    "Connector config {} contains no connector type"
                        .replace("{}", &format!("{:?}", config.as_map())),
                )
            })?
            .to_string();
        let plugin = self.plugin(&class)?;
        let report = self.validate(plugin.as_ref(), &config);
        if let Some(message) = validate::refusal_message(&report) {
            return Err(ApiError::new(400, message));
        }
        let exists = self.connectors.lock().await.contains_key(name);
        if exists && must_be_new {
            return Err(ApiError::new(
                409,
                format!("Connector {name} already exists"),
            ));
        }
        self.configs
            .put_config(name, Some(&config))
            .await
            .map_err(ApiError::internal)?;
        let target = match self.connectors.lock().await.get(name) {
            Some(e) => e.target,
            None => TargetState::Started,
        };
        self.apply(name, config, target).await?;
        Ok(!exists)
    }

    /// (Re)starts a connector with this config and target state.
    async fn apply(&self, name: &str, config: Config, target: TargetState) -> ApiResult<()> {
        let class = config
            .string("connector.class")
            .unwrap_or_default()
            .to_string();
        let plugin = self.plugin(&class)?;
        let mut connectors = self.connectors.lock().await;
        if let Some(mut old) = connectors.remove(name) {
            self.stop_tasks(&mut old).await;
        }
        let status = StatusCell::new(
            StatusKey {
                connector: name.to_string(),
                task: None,
            },
            Some(self.events.clone()),
        );
        let mut entry = ConnectorEntry {
            config,
            target,
            plugin,
            status,
            task_configs: Vec::new(),
            tasks: Vec::new(),
            topics: Arc::new(Mutex::new(BTreeSet::new())),
        };
        self.start_connector(name, &mut entry);
        connectors.insert(name.to_string(), entry);
        Ok(())
    }

    /// Splits the connector into task configs and starts its tasks, as its
    /// target state says.
    fn start_connector(&self, name: &str, entry: &mut ConnectorEntry) {
        match entry.target {
            TargetState::Stopped => {
                entry.status.set(State::Stopped, None);
                return;
            }
            TargetState::Paused => entry.status.set(State::Paused, None),
            TargetState::Started => entry.status.set(State::Running, None),
        }
        let max_tasks = entry.config.i32_or("tasks.max", 1).unwrap_or(1).max(1) as usize;
        match entry.plugin.task_configs(&entry.config, max_tasks) {
            Ok(configs) => entry.task_configs = configs.into_iter().take(max_tasks).collect(),
            Err(e) => {
                entry.status.fail(e);
                return;
            }
        }
        for id in 0..entry.task_configs.len() as u32 {
            let task = self.spawn_task(name, entry, id);
            entry.tasks.push(task);
        }
    }

    fn spawn_task(&self, name: &str, entry: &ConnectorEntry, id: u32) -> RunningTask {
        let status = StatusCell::new(
            StatusKey {
                connector: name.to_string(),
                task: Some(id),
            },
            Some(self.events.clone()),
        );
        let initial = if entry.target == TargetState::Paused {
            Control::Pause
        } else {
            Control::Run
        };
        let (control, receiver) = watch::channel(initial);
        let spec = TaskSpec {
            connector: name.to_string(),
            task_id: id,
            config: entry.task_configs[id as usize].clone(),
            plugin: entry.plugin.clone(),
            worker: self.settings.clone(),
            status: status.clone(),
            control: receiver,
            topics: entry.topics.clone(),
        };
        status.set(State::Running, None);
        let handle = match entry.plugin.kind() {
            ConnectorKind::Sink => tokio::spawn(crate::runtime::sink::run_sink_task(spec)),
            ConnectorKind::Source => tokio::spawn(crate::runtime::source::run_source_task(
                spec,
                self.offsets.clone(),
            )),
        };
        RunningTask {
            status,
            control,
            handle,
        }
    }

    /// Tells every task to stop and waits for them (at most the graceful
    /// shutdown timeout, then they are aborted).
    async fn stop_tasks(&self, entry: &mut ConnectorEntry) {
        for task in &entry.tasks {
            let _ = task.control.send(Control::Shutdown);
        }
        let timeout = self.settings.task_shutdown_timeout;
        for task in entry.tasks.drain(..) {
            let abort = task.handle.abort_handle();
            if tokio::time::timeout(timeout, task.handle).await.is_err() {
                tracing::warn!(connector = %entry.config.get("name").unwrap_or_default(), "task did not stop in time; aborted");
                abort.abort();
            }
            task.status.set(State::Unassigned, None);
        }
    }

    pub async fn connector_names(&self) -> Vec<String> {
        self.connectors.lock().await.keys().cloned().collect()
    }

    pub async fn config(&self, name: &str) -> ApiResult<Config> {
        self.connectors
            .lock()
            .await
            .get(name)
            .map(|e| e.config.clone())
            .ok_or_else(|| ApiError::not_found(name))
    }

    /// `GET /connectors/{name}`: name, config, tasks and type.
    pub async fn info(&self, name: &str) -> ApiResult<Json> {
        let connectors = self.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        Ok(json!({
            "name": name,
            "config": entry.config.to_json(),
            "tasks": (0..entry.task_configs.len()).map(|t| json!({"connector": name, "task": t})).collect::<Vec<_>>(),
            "type": entry.plugin.kind().name(),
        }))
    }

    /// `GET /connectors/{name}/status`.
    pub async fn status(&self, name: &str) -> ApiResult<Json> {
        let connectors = self.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        let (state, trace) = entry.status.get();
        let mut connector = json!({"state": state.name(), "worker_id": self.settings.worker_id});
        if let Some(t) = trace {
            connector["trace"] = Json::String(t);
        }
        let tasks: Vec<Json> = entry
            .tasks
            .iter()
            .enumerate()
            .map(|(id, t)| self.task_status_json(id, &t.status))
            .collect();
        Ok(json!({
            "name": name,
            "connector": connector,
            "tasks": tasks,
            "type": entry.plugin.kind().name(),
        }))
    }

    fn task_status_json(&self, id: usize, status: &StatusCell) -> Json {
        let (state, trace) = status.get();
        let mut task =
            json!({"id": id, "state": state.name(), "worker_id": self.settings.worker_id});
        if let Some(t) = trace {
            task["trace"] = Json::String(t);
        }
        task
    }

    pub async fn task_status(&self, name: &str, id: u32) -> ApiResult<Json> {
        let connectors = self.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        let task = entry
            .tasks
            .get(id as usize)
            .ok_or_else(|| ApiError::new(404, format!("No status found for task {name}-{id}")))?;
        Ok(self.task_status_json(id as usize, &task.status))
    }

    /// `GET /connectors/{name}/tasks`.
    pub async fn tasks(&self, name: &str) -> ApiResult<Json> {
        let connectors = self.connectors.lock().await;
        let entry = connectors
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

    /// KIP-558's active topics.
    pub async fn topics(&self, name: &str) -> ApiResult<Vec<String>> {
        let connectors = self.connectors.lock().await;
        let entry = connectors
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
        let connectors = self.connectors.lock().await;
        let entry = connectors
            .get(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        entry.topics.lock().expect("topics lock").clear();
        Ok(())
    }

    /// Pause, resume or stop: stored, then applied to the running tasks.
    pub async fn set_target(&self, name: &str, target: TargetState) -> ApiResult<()> {
        let mut connectors = self.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        self.configs
            .put_target(name, target)
            .await
            .map_err(ApiError::internal)?;
        let was = entry.target;
        entry.target = target;
        match target {
            TargetState::Stopped => {
                self.stop_tasks(entry).await;
                entry.task_configs.clear();
                entry.status.set(State::Stopped, None);
            }
            TargetState::Paused | TargetState::Started if was == TargetState::Stopped => {
                self.start_connector(name, entry);
            }
            TargetState::Paused => {
                entry.status.set(State::Paused, None);
                for t in &entry.tasks {
                    let _ = t.control.send(Control::Pause);
                }
            }
            TargetState::Started => {
                entry.status.set(State::Running, None);
                for t in &entry.tasks {
                    let _ = t.control.send(Control::Run);
                }
            }
        }
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> ApiResult<()> {
        let mut connectors = self.connectors.lock().await;
        let mut entry = connectors
            .remove(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        self.configs
            .put_config(name, None)
            .await
            .map_err(ApiError::internal)?;
        self.stop_tasks(&mut entry).await;
        Ok(())
    }

    /// KIP-745: restarts the connector and, with `include_tasks`, its tasks
    /// (only the failed ones with `only_failed`). Returns the status with
    /// the restarting parts marked RESTARTING, as Kafka answers 202.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> ApiResult<Json> {
        let ids: Vec<u32> = {
            let connectors = self.connectors.lock().await;
            let entry = connectors
                .get(name)
                .ok_or_else(|| ApiError::not_found(name))?;
            let connector_failed = entry.status.get().0 == State::Failed;
            if only_failed && !connector_failed && !include_tasks {
                return self.status_locked(name, entry, &[], false);
            }
            if include_tasks {
                entry
                    .tasks
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| !only_failed || t.status.get().0 == State::Failed)
                    .map(|(i, _)| i as u32)
                    .collect()
            } else {
                Vec::new()
            }
        };
        let snapshot = {
            let connectors = self.connectors.lock().await;
            let entry = connectors
                .get(name)
                .ok_or_else(|| ApiError::not_found(name))?;
            let connector_restarts = !only_failed || entry.status.get().0 == State::Failed;
            self.status_locked(name, entry, &ids, connector_restarts)?
        };
        let mut connectors = self.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        if entry.status.get().0 == State::Failed && entry.target != TargetState::Stopped {
            entry.status.set(State::Running, None);
        }
        for id in ids {
            self.restart_one(name, entry, id).await;
        }
        Ok(snapshot)
    }

    fn status_locked(
        &self,
        name: &str,
        entry: &ConnectorEntry,
        restarting: &[u32],
        connector: bool,
    ) -> ApiResult<Json> {
        let connector_state = if connector {
            "RESTARTING"
        } else {
            entry.status.get().0.name()
        };
        let tasks: Vec<Json> = entry
            .tasks
            .iter()
            .enumerate()
            .map(|(id, t)| {
                let mut j = self.task_status_json(id, &t.status);
                if restarting.contains(&(id as u32)) {
                    j["state"] = Json::String("RESTARTING".into());
                    j.as_object_mut().map(|o| o.remove("trace"));
                }
                j
            })
            .collect();
        Ok(json!({
            "name": name,
            "connector": {"state": connector_state, "worker_id": self.settings.worker_id},
            "tasks": tasks,
            "type": entry.plugin.kind().name(),
        }))
    }

    pub async fn restart_task(&self, name: &str, id: u32) -> ApiResult<()> {
        let mut connectors = self.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found(name))?;
        if id as usize >= entry.tasks.len() {
            return Err(ApiError::new(404, format!("Task {name}-{id} not found")));
        }
        self.restart_one(name, entry, id).await;
        Ok(())
    }

    async fn restart_one(&self, name: &str, entry: &mut ConnectorEntry, id: u32) {
        let old = &entry.tasks[id as usize];
        old.status.set(State::Restarting, None);
        let _ = old.control.send(Control::Shutdown);
        let replacement = self.spawn_task(name, entry, id);
        let old = std::mem::replace(&mut entry.tasks[id as usize], replacement);
        let abort = old.handle.abort_handle();
        if tokio::time::timeout(self.settings.task_shutdown_timeout, old.handle)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    /// The connector's kind, target state and config, for the offsets API.
    pub async fn offsets_context(
        &self,
        name: &str,
    ) -> ApiResult<(ConnectorKind, TargetState, Config, Arc<dyn ConnectorPlugin>)> {
        let connectors = self.connectors.lock().await;
        let entry = connectors
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
