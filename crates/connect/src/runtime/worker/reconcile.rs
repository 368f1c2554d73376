//! Reconciling: the running tasks made to match the config store's
//! snapshot and the group's assignment, whenever either changes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::{ConnectorEntry, RunningTask, Worker};
use crate::connector::ConnectorKind;
use crate::runtime::assignor::Work;
use crate::runtime::configs::{fingerprint, ConfigChange, Snapshot};
use crate::runtime::status::{State, StatusCell, StatusKey, TargetState};
use crate::runtime::task::{Control, TaskSpec};

impl Worker {
    /// Makes the running tasks match the store's snapshot and the group's
    /// assignment.
    pub async fn reconcile(&self) {
        let snapshot: Snapshot = self.configs.snapshot().borrow().clone();
        let mut local = self.local.lock().await;
        let local = &mut *local;
        let mut changed: BTreeSet<String> = BTreeSet::new();
        local.connectors.retain(|name, _| {
            let keep = snapshot.connectors.contains_key(name);
            if !keep {
                changed.insert(name.clone());
            }
            keep
        });
        for (name, (config, target)) in &snapshot.connectors {
            let print = fingerprint(config);
            // The task configs committed for this very config, if any.
            let committed = snapshot
                .tasks
                .get(name)
                .filter(|(f, _)| *f == print)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            if let Some(e) = local
                .connectors
                .get_mut(name)
                .filter(|e| &e.config == config)
            {
                e.target = *target;
                if e.task_configs != committed {
                    e.task_configs = committed;
                    changed.insert(name.clone());
                }
                continue;
            }
            let Some(plugin) = self
                .plugins
                .find(config.string("connector.class").unwrap_or_default())
            else {
                tracing::error!(connector = %name, "stored connector's class is not built in; skipped");
                continue;
            };
            changed.insert(name.clone());
            let status = StatusCell::new(
                StatusKey {
                    connector: name.clone(),
                    task: None,
                },
                Some(self.events.clone()),
            );
            let topics = local
                .connectors
                .get(name)
                .map(|e| e.topics.clone())
                .unwrap_or_default();
            local.connectors.insert(
                name.clone(),
                ConnectorEntry {
                    config: config.clone(),
                    target: *target,
                    plugin,
                    status,
                    task_configs: committed,
                    failure: Arc::new(Mutex::new(None)),
                    fingerprint: print,
                    topics,
                },
            );
        }

        // The work set, and (distributed) a rebalance when it changed.
        let mut all_work = BTreeSet::new();
        for (name, e) in &local.connectors {
            all_work.insert(Work::connector(name));
            if e.target != TargetState::Stopped {
                all_work.extend((0..e.task_configs.len() as u32).map(|t| Work::task(name, t)));
            }
        }
        {
            let mut tracked = self.tracker.work.lock().expect("work lock");
            if tracked.0 != all_work {
                if let Some(m) = &self.membership {
                    m.request_rebalance();
                }
            }
            *tracked = (all_work.clone(), snapshot.offset);
            *self.tracker.offset.lock().expect("offset lock") = snapshot.offset;
        }
        let wanted: BTreeSet<Work> = match &self.membership {
            None => all_work.clone(),
            Some(m) => match &*m.assignment.borrow() {
                Some(a) => a
                    .assigned
                    .iter()
                    .filter(|w| all_work.contains(w))
                    .cloned()
                    .collect(),
                None => BTreeSet::new(),
            },
        };

        // Restart requests this worker has not acted on yet.
        let mut restart: BTreeSet<(String, u32)> = BTreeSet::new();
        for r in snapshot
            .restarts
            .iter()
            .filter(|r| r.seq > local.restart_seq)
        {
            let failed = |key: &(String, u32)| {
                local
                    .tasks
                    .get(key)
                    .is_some_and(|t| t.status.get().0 == State::Failed)
            };
            for key in local.tasks.keys().filter(|(c, _)| c == &r.name) {
                let chosen = match r.task {
                    Some(t) => key.1 == t,
                    None => r.include_tasks && (!r.only_failed || failed(key)),
                };
                if chosen {
                    restart.insert(key.clone());
                }
            }
            if r.task.is_none() {
                if let Some(e) = local.connectors.get(&r.name) {
                    if !r.only_failed || e.status.get().0 == State::Failed {
                        e.status.set(State::Restarting, None);
                        // A restarted connector makes its task configs again.
                        *e.failure.lock().expect("failure lock") = None;
                        local.generating.retain(|(c, _)| c != &r.name);
                    }
                }
            }
        }
        local.restart_seq = snapshot
            .restarts
            .last()
            .map_or(local.restart_seq, |r| r.seq.max(local.restart_seq));

        // Stop what no longer runs here, or must start over.
        let keys: Vec<(String, u32)> = local.tasks.keys().cloned().collect();
        for key in keys {
            let keep = wanted.contains(&Work::task(&key.0, key.1))
                && !changed.contains(&key.0)
                && !restart.contains(&key);
            if !keep {
                let task = local.tasks.remove(&key).expect("present");
                let moved_away = !wanted.contains(&Work::task(&key.0, key.1));
                self.stop_task(task, moved_away).await;
            }
        }
        // Start what runs here now; tell the rest their target state.
        for (name, e) in &local.connectors {
            let mine = wanted.contains(&Work::connector(name));
            if mine {
                self.generate_task_configs(name, e, &mut local.generating);
                let failure = e.failure.lock().expect("failure lock").clone();
                match (&failure, e.target) {
                    (Some(f), _) => e.status.fail(f),
                    (None, TargetState::Stopped) => e.status.set(State::Stopped, None),
                    (None, TargetState::Paused) => e.status.set(State::Paused, None),
                    (None, TargetState::Started) => e.status.set(State::Running, None),
                }
            }
            for id in 0..e.task_configs.len() as u32 {
                let key = (name.clone(), id);
                if !wanted.contains(&Work::task(name, id)) {
                    continue;
                }
                let control = if e.target == TargetState::Paused {
                    Control::Pause
                } else {
                    Control::Run
                };
                match local.tasks.get(&key) {
                    Some(t) => {
                        t.control.send_if_modified(|c| {
                            let differs = *c != control;
                            *c = control;
                            differs
                        });
                    }
                    None => {
                        let task = self.spawn_task(name, e, id, control);
                        local.tasks.insert(key, task);
                    }
                }
            }
        }
        local.assigned = wanted;
    }

    /// On the connector's worker: makes the connector's task configs from
    /// its config (off the async threads: a JDBC source lists tables) and
    /// commits them to the config store, where every worker reads them.
    fn generate_task_configs(
        &self,
        name: &str,
        e: &ConnectorEntry,
        generating: &mut BTreeSet<(String, String)>,
    ) {
        let key = (name.to_string(), e.fingerprint.clone());
        if e.target == TargetState::Stopped
            || !e.task_configs.is_empty()
            || generating.contains(&key)
        {
            return;
        }
        generating.retain(|(c, _)| c != name);
        generating.insert(key);
        let (plugin, config, configs) = (e.plugin.clone(), e.config.clone(), self.configs.clone());
        let (failure, status, print, name) = (
            e.failure.clone(),
            e.status.clone(),
            e.fingerprint.clone(),
            name.to_string(),
        );
        tokio::spawn(async move {
            let max_tasks = config.i32_or("tasks.max", 1).unwrap_or(1).max(1) as usize;
            let made =
                tokio::task::spawn_blocking(move || plugin.task_configs(&config, max_tasks)).await;
            let made = match made {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("making task configs panicked: {e}")),
            };
            match made {
                Ok(tasks) => {
                    let tasks = tasks.into_iter().take(max_tasks).collect();
                    let change = ConfigChange::TaskConfigs {
                        name: name.clone(),
                        fingerprint: print,
                        configs: tasks,
                    };
                    if let Err(e) = configs.put(change).await {
                        tracing::error!(connector = %name, error = %e, "cannot store task configs");
                        *failure.lock().expect("failure lock") = Some(e.to_string());
                        status.fail(e);
                    }
                }
                Err(e) => {
                    *failure.lock().expect("failure lock") = Some(e.clone());
                    status.fail(e);
                }
            }
        });
    }

    fn spawn_task(
        &self,
        name: &str,
        entry: &ConnectorEntry,
        id: u32,
        initial: Control,
    ) -> RunningTask {
        let status = StatusCell::new(
            StatusKey {
                connector: name.to_string(),
                task: Some(id),
            },
            Some(self.events.clone()),
        );
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
        status.set(
            if initial == Control::Pause {
                State::Paused
            } else {
                State::Running
            },
            None,
        );
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

    /// Tells a task to stop and waits for it (at most the graceful
    /// shutdown timeout, then it is aborted). A task that moved to another
    /// worker says so (UNASSIGNED) unless it failed.
    pub(super) async fn stop_task(&self, task: RunningTask, moved_away: bool) {
        let _ = task.control.send(Control::Shutdown);
        let abort = task.handle.abort_handle();
        if tokio::time::timeout(self.settings.task_shutdown_timeout, task.handle)
            .await
            .is_err()
        {
            tracing::warn!("a task did not stop in time; aborted");
            abort.abort();
        }
        if moved_away && task.status.get().0 != State::Failed {
            task.status.set(State::Unassigned, None);
        }
    }
}
