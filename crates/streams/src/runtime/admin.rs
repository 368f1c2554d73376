//! Looking at an application from outside (`fjord streams describe`):
//! its tasks as their instances last reported them (`status`), with each
//! task's lag from the group's committed offsets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::{self, kafka};
use super::status::{status_topic, TaskStatus};
use crate::error::Result;

/// One task of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub task: i32,
    /// Its last status record (None: no instance has reported it).
    pub status: Option<TaskStatus>,
    /// Records of its input partitions not yet committed (None: nothing
    /// committed).
    pub lag: Option<i64>,
}

/// Every task of `application_id`: those with a status record or a
/// committed offset, by task number.
pub fn describe(
    bootstrap: &str,
    settings: &[(String, String)],
    application_id: &str,
) -> Result<Vec<TaskView>> {
    let consumer: BaseConsumer = kafka::client_config(
        bootstrap,
        settings,
        &[
            ("group.id", "fjord-streams-describe"),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()
    .map_err(|e| kafka("consumer", e))?;
    let mut tasks: BTreeMap<i32, TaskView> = BTreeMap::new();
    for s in read_status(&consumer, application_id)? {
        tasks.insert(
            s.task,
            TaskView {
                task: s.task,
                status: Some(s),
                lag: None,
            },
        );
    }
    for c in committed(bootstrap, settings, application_id)? {
        if c.offset < 0 {
            continue;
        }
        let (_, high) = consumer
            .fetch_watermarks(&c.topic, c.partition, Duration::from_secs(10))
            .map_err(|e| kafka(&format!("offsets of {}-{}", c.topic, c.partition), e))?;
        let view = tasks.entry(c.partition).or_insert(TaskView {
            task: c.partition,
            status: None,
            lag: None,
        });
        view.lag = Some(view.lag.unwrap_or(0) + (high - c.offset).max(0));
    }
    Ok(tasks.into_values().collect())
}

/// The latest status record per task (empty when there is no status topic).
fn read_status(consumer: &BaseConsumer, application_id: &str) -> Result<Vec<TaskStatus>> {
    let topic = status_topic(application_id);
    if kafka::partition_counts(consumer, std::slice::from_ref(&topic))?[0].is_none() {
        return Ok(Vec::new());
    }
    let (low, high) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .map_err(|e| kafka(&format!("offsets of {topic}"), e))?;
    let mut latest: BTreeMap<i32, TaskStatus> = BTreeMap::new();
    if high <= low {
        return Ok(Vec::new());
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&topic, 0, Offset::Offset(low))
        .map_err(|e| kafka("assign", e))?;
    consumer.assign(&list).map_err(|e| kafka("assign", e))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = low;
    while next < high && Instant::now() < deadline {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        next = m.offset() + 1;
        if let Some(s) = m
            .payload()
            .and_then(|v| serde_json::from_slice::<TaskStatus>(v).ok())
        {
            latest.insert(s.task, s);
        }
    }
    Ok(latest.into_values().collect())
}

/// The topics `application_id` has committed offsets for (its inputs).
pub fn committed_topics(
    bootstrap: &str,
    settings: &[(String, String)],
    application_id: &str,
) -> Result<Vec<String>> {
    let mut topics: Vec<String> = committed(bootstrap, settings, application_id)?
        .into_iter()
        .filter(|c| c.offset >= 0)
        .map(|c| c.topic)
        .collect();
    topics.sort();
    topics.dedup();
    Ok(topics)
}

/// Everything the application's group has committed.
fn committed(
    bootstrap: &str,
    settings: &[(String, String)],
    application_id: &str,
) -> Result<Vec<kafka::PartitionOffset>> {
    let mut conn = fjord_kafka_client::group::connect_coordinator(
        bootstrap,
        settings,
        application_id,
        Duration::from_secs(15),
    )
    .map_err(|e| kafka("group coordinator", e))?;
    // An instance's transaction commits within its commit interval.
    kafka::fetch_offsets(
        &mut conn,
        application_id,
        None,
        &[],
        Duration::from_secs(15),
    )
}
