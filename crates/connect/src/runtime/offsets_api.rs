//! KIP-875's offsets endpoints: `GET|PATCH|DELETE
//! /connectors/{name}/offsets`. A source's offsets are its stored source
//! positions; a sink's are its consumer group's committed offsets, or —
//! for a sink that keeps them in its own database (exactly-once JDBC) —
//! the task's store. Changing them requires the connector to be STOPPED,
//! as in Kafka.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value as Json};

use crate::config::Config;
use crate::connector::{ConnectorKind, ConnectorPlugin, SinkTask, TaskContext, TopicPartition};
use crate::runtime::settings::ClientRole;
use crate::runtime::status::TargetState;
use crate::runtime::worker::{ApiError, ApiResult, Worker};

const TIMEOUT: Duration = Duration::from_secs(15);

fn sink_group(name: &str, config: &Config) -> String {
    config
        .string("consumer.override.group.id")
        .map(str::to_string)
        .unwrap_or_else(|| format!("connect-{name}"))
}

pub async fn get(worker: &Worker, name: &str) -> ApiResult<Json> {
    let (kind, _, config, plugin) = worker.offsets_context(name).await?;
    let offsets: Vec<Json> = match kind {
        ConnectorKind::Source => worker
            .offset_store()
            .read(name)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|(p, o)| json!({"partition": p, "offset": o}))
            .collect(),
        ConnectorKind::Sink => sink_offsets(worker, name, &config, plugin.as_ref())
            .await?
            .into_iter()
            .map(|((t, p), o)| json!({"partition": {"kafka_topic": t, "kafka_partition": p}, "offset": {"kafka_offset": o}}))
            .collect(),
    };
    Ok(json!({ "offsets": offsets }))
}

/// The sink's offsets: the task's own store when it keeps one, else the
/// group's commits.
async fn sink_offsets(
    worker: &Worker,
    name: &str,
    config: &Config,
    plugin: &dyn ConnectorPlugin,
) -> ApiResult<Vec<(TopicPartition, i64)>> {
    let partitions = topic_partitions(worker, config).await?;
    if keeps_own_offsets(config) {
        let mut task = offsets_task(worker, name, config, plugin).await?;
        let stored = task
            .stored_offsets(&partitions)
            .await
            .map_err(ApiError::internal);
        task.stop().await;
        let mut list: Vec<_> = stored?.into_iter().collect();
        list.sort();
        return Ok(list);
    }
    let client = worker.settings.client_config(ClientRole::Consumer, config);
    let group = sink_group(name, config);
    tokio::task::spawn_blocking(move || {
        let consumer = group_consumer(&client, &group)?;
        let mut list = TopicPartitionList::new();
        for (t, p) in &partitions {
            list.add_partition(t, *p);
        }
        let committed = consumer
            .committed_offsets(list, TIMEOUT)
            .map_err(ApiError::internal)?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                _ => None,
            })
            .collect())
    })
    .await
    .map_err(ApiError::internal)?
}

/// Every partition of the sink's topics (`topics`; a regex sink's active
/// topics are not known here, so `topics.regex` lists what matches now).
async fn topic_partitions(worker: &Worker, config: &Config) -> ApiResult<Vec<TopicPartition>> {
    let client = worker.settings.client_config(ClientRole::Consumer, config);
    let topics = config.list("topics");
    let pattern = config
        .string("topics.regex")
        .map(|p| regex::Regex::new(&format!("^(?:{p})$")));
    let pattern = match pattern {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => return Err(ApiError::new(400, format!("bad topics.regex: {e}"))),
        None => None,
    };
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client.create().map_err(ApiError::internal)?;
        let metadata = consumer
            .fetch_metadata(None, TIMEOUT)
            .map_err(ApiError::internal)?;
        let mut out = Vec::new();
        for t in metadata.topics() {
            let wanted = topics.iter().any(|x| x == t.name())
                || pattern.as_ref().is_some_and(|r| r.is_match(t.name()));
            if wanted {
                out.extend(
                    t.partitions()
                        .iter()
                        .map(|p| (t.name().to_string(), p.id())),
                );
            }
        }
        out.sort();
        Ok(out)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether the sink keeps its offsets in its own system (the JDBC sink's
/// exactly-once mode) rather than only in its consumer group.
fn keeps_own_offsets(config: &Config) -> bool {
    config.bool_or("exactly.once", false).unwrap_or(false)
}

/// A task of the sink, started only to read or write its own offsets.
async fn offsets_task(
    worker: &Worker,
    name: &str,
    config: &Config,
    plugin: &dyn ConnectorPlugin,
) -> ApiResult<Box<dyn SinkTask>> {
    let mut task = plugin
        .create_sink_task()
        .ok_or_else(|| ApiError::internal("not a sink"))?;
    let context = TaskContext {
        connector: name.to_string(),
        task_id: 0,
        allowed_paths: std::sync::Arc::new(worker.settings.allowed_paths.clone()),
    };
    task.start(config, context)
        .await
        .map_err(ApiError::internal)?;
    Ok(task)
}

/// A consumer of the sink's group that subscribes to nothing: it reads
/// and commits the group's offsets.
fn group_consumer(client: &rdkafka::ClientConfig, group: &str) -> ApiResult<BaseConsumer> {
    client
        .clone()
        .set("group.id", group)
        .create()
        .map_err(ApiError::internal)
}

fn require_stopped(target: TargetState, name: &str) -> ApiResult<()> {
    if target == TargetState::Stopped {
        return Ok(());
    }
    Err(ApiError::new(
        400,
        format!(
            "Connectors must be in the STOPPED state before their offsets can be modified. This can be done \
             for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
        ),
    ))
}

/// `PATCH /connectors/{name}/offsets` with `{"offsets": [...]}`; a null
/// offset resets that partition.
pub async fn alter(worker: &Worker, name: &str, body: &Json) -> ApiResult<Json> {
    let (kind, target, config, plugin) = worker.offsets_context(name).await?;
    require_stopped(target, name)?;
    let entries = body
        .get("offsets")
        .and_then(Json::as_array)
        .ok_or_else(|| {
            ApiError::new(
                400,
                "The request body must contain a list of offsets under \"offsets\"",
            )
        })?;
    match kind {
        ConnectorKind::Source => {
            let mut list = Vec::new();
            for e in entries {
                let partition = e
                    .get("partition")
                    .and_then(Json::as_object)
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::new(400, "Each source offset must have a \"partition\" object")
                    })?;
                let offset = match e.get("offset") {
                    None | Some(Json::Null) => None,
                    Some(Json::Object(o)) => Some(o.clone()),
                    Some(_) => {
                        return Err(ApiError::new(
                            400,
                            "A source offset must be an object or null",
                        ))
                    }
                };
                list.push((partition, offset));
            }
            worker
                .offset_store()
                .write(name, &list)
                .await
                .map_err(ApiError::internal)?;
        }
        ConnectorKind::Sink => {
            let mut list: Vec<(TopicPartition, Option<i64>)> = Vec::new();
            for e in entries {
                list.push(parse_sink_entry(e)?);
            }
            write_sink_offsets(worker, name, &config, plugin.as_ref(), list).await?;
        }
    }
    Ok(
        json!({"message": "The Connect framework-managed offsets for this connector have been altered successfully. \
        However, if this connector manages offsets externally, they will need to be manually altered in the system that the connector uses."}),
    )
}

fn parse_sink_entry(e: &Json) -> ApiResult<(TopicPartition, Option<i64>)> {
    let bad = |m: &str| ApiError::new(400, m.to_string());
    let p = e
        .get("partition")
        .and_then(Json::as_object)
        .ok_or_else(|| bad("Each sink offset must have a \"partition\" object"))?;
    let topic = p
        .get("kafka_topic")
        .and_then(Json::as_str)
        .ok_or_else(|| bad("Sink connector offsets must contain the key 'kafka_topic'"))?;
    let partition = p
        .get("kafka_partition")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| bad("Kafka partitions must be valid numbers (key 'kafka_partition')"))?;
    let offset = match e.get("offset") {
        None | Some(Json::Null) => None,
        Some(o) => Some(
            o.get("kafka_offset")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    bad("Kafka offsets must be valid non-negative numbers (key 'kafka_offset')")
                })?,
        ),
    };
    Ok(((topic.to_string(), partition as i32), offset))
}

async fn write_sink_offsets(
    worker: &Worker,
    name: &str,
    config: &Config,
    plugin: &dyn ConnectorPlugin,
    list: Vec<(TopicPartition, Option<i64>)>,
) -> ApiResult<()> {
    if keeps_own_offsets(config) {
        let mut task = offsets_task(worker, name, config, plugin).await?;
        let done = task
            .set_stored_offsets(&list)
            .await
            .map_err(ApiError::internal);
        task.stop().await;
        done?;
    }
    let client = worker.settings.client_config(ClientRole::Consumer, config);
    let group = sink_group(name, config);
    tokio::task::spawn_blocking(move || {
        let consumer = group_consumer(&client, &group)?;
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &list {
            // A reset partition goes back to its start (what a fresh group
            // with auto.offset.reset=earliest would read).
            let at = match offset {
                Some(o) => *o,
                None => {
                    consumer
                        .fetch_watermarks(topic, *partition, TIMEOUT)
                        .map_err(ApiError::internal)?
                        .0
                }
            };
            tpl.add_partition_offset(topic, *partition, Offset::Offset(at))
                .map_err(ApiError::internal)?;
        }
        consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
            ApiError::new(
                500,
                format!("cannot commit the sink's offsets (is its group still active?): {e}"),
            )
        })
    })
    .await
    .map_err(ApiError::internal)?
}

/// `DELETE /connectors/{name}/offsets`: every offset reset.
pub async fn reset(worker: &Worker, name: &str) -> ApiResult<Json> {
    let (kind, target, config, plugin) = worker.offsets_context(name).await?;
    require_stopped(target, name)?;
    match kind {
        ConnectorKind::Source => {
            let stored = worker
                .offset_store()
                .read(name)
                .await
                .map_err(ApiError::internal)?;
            let list: Vec<crate::runtime::offsets::OffsetEntry> =
                stored.into_iter().map(|(p, _)| (p, None)).collect();
            worker
                .offset_store()
                .write(name, &list)
                .await
                .map_err(ApiError::internal)?;
        }
        ConnectorKind::Sink => {
            if keeps_own_offsets(&config) {
                let partitions = topic_partitions(worker, &config).await?;
                let list = partitions.into_iter().map(|tp| (tp, None)).collect();
                write_sink_offsets(worker, name, &config, plugin.as_ref(), list).await?;
            }
            let client = worker.settings.client_config(ClientRole::Admin, &config);
            let group = sink_group(name, &config);
            let admin: AdminClient<DefaultClientContext> =
                client.create().map_err(ApiError::internal)?;
            let results = admin
                .delete_groups(
                    &[group.as_str()],
                    &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
                )
                .await
                .map_err(ApiError::internal)?;
            for r in results {
                match r {
                    Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::GroupIdNotFound)) => {}
                    Err((_, code)) => {
                        return Err(ApiError::new(
                            500,
                            format!("cannot delete group {group}: {code}"),
                        ))
                    }
                }
            }
        }
    }
    Ok(
        json!({"message": "The Connect framework-managed offsets for this connector have been reset successfully. \
        However, if this connector manages offsets externally, they will need to be manually reset in the system that the connector uses."}),
    )
}
