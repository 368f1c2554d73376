//! Kafka Connect's error handling (KIP-298), per task: each step of a
//! record's way (converting, transforming, writing) runs under the
//! connector's `errors.*` settings. A failed step is retried while it is
//! retriable and `errors.retry.timeout` allows; then, with
//! `errors.tolerance=none` the task fails, with `all` the record is
//! skipped, logged when `errors.log.enable`, and (sinks) sent to the
//! dead-letter topic with the `__connect.errors.*` context headers.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{ConnectError, Result};

/// Where in the pipeline a record failed (`__connect.errors.stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    KeyConverter,
    ValueConverter,
    HeaderConverter,
    Transformation,
    TaskPut,
    TaskPoll,
    KafkaProduce,
    KafkaConsume,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::HeaderConverter => "HEADER_CONVERTER",
            Stage::Transformation => "TRANSFORMATION",
            Stage::TaskPut => "TASK_PUT",
            Stage::TaskPoll => "TASK_POLL",
            Stage::KafkaProduce => "KAFKA_PRODUCE",
            Stage::KafkaConsume => "KAFKA_CONSUME",
        }
    }
}

/// The Java exception class a Kafka Connect user would see for an error
/// (`__connect.errors.exception.class.name`).
pub fn exception_class(error: &ConnectError) -> &'static str {
    match error {
        ConnectError::Conversion(_) | ConnectError::Transform(_) => {
            "org.apache.kafka.connect.errors.DataException"
        }
        ConnectError::Config { .. } => "org.apache.kafka.common.config.ConfigException",
        ConnectError::External(_) => "org.apache.kafka.connect.errors.ConnectException",
        ConnectError::Kafka(_) => "org.apache.kafka.common.KafkaException",
        ConnectError::Io(_) => "java.io.IOException",
    }
}

/// Errors worth trying again: the outside world may recover; a value
/// that cannot be converted will not.
pub fn is_retriable(error: &ConnectError) -> bool {
    matches!(
        error,
        ConnectError::External(_) | ConnectError::Kafka(_) | ConnectError::Io(_)
    )
}

/// The connector's `errors.*` settings.
#[derive(Debug, Clone)]
pub struct ErrorPolicy {
    pub tolerate_all: bool,
    /// How long a retriable failure is retried; None: forever (-1).
    pub retry_timeout: Option<Duration>,
    pub retry_delay_max: Duration,
    pub log: bool,
    pub log_messages: bool,
    pub dead_letter_topic: Option<String>,
    pub context_headers: bool,
}

impl ErrorPolicy {
    pub fn from_config(config: &Config) -> Result<ErrorPolicy> {
        let tolerate_all = config.choice_or("errors.tolerance", &["none", "all"], "none")? == "all";
        let timeout = config.i64_or("errors.retry.timeout", 0)?;
        Ok(ErrorPolicy {
            tolerate_all,
            retry_timeout: (timeout >= 0).then(|| Duration::from_millis(timeout as u64)),
            retry_delay_max: config.millis_or("errors.retry.delay.max.ms", 60_000)?,
            log: config.bool_or("errors.log.enable", false)?,
            log_messages: config.bool_or("errors.log.include.messages", false)?,
            dead_letter_topic: config
                .string("errors.deadletterqueue.topic.name")
                .map(str::to_string),
            context_headers: config
                .bool_or("errors.deadletterqueue.context.headers.enable", false)?,
        })
    }

    /// Runs `op` until it succeeds, fails for good, or the retry timeout
    /// passes; delays double from 300 ms up to `errors.retry.delay.max.ms`.
    pub async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut delay = Duration::from_millis(300);
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if is_retriable(&e) => {
                    let elapsed = started.elapsed();
                    let left = match self.retry_timeout {
                        None => delay,
                        Some(t) if elapsed + delay <= t => delay,
                        Some(t) if elapsed < t => t - elapsed,
                        Some(_) => return Err(e),
                    };
                    tracing::debug!(error = %e, "retrying after a retriable error");
                    tokio::time::sleep(left).await;
                    delay = (delay * 2).min(self.retry_delay_max);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A record that failed for good at some stage, with what is known of it.
#[derive(Debug)]
pub struct Failure<'a> {
    pub stage: Stage,
    /// The class of the step that failed (converter, transform, task).
    pub class_name: &'a str,
    pub error: &'a ConnectError,
}

impl Failure<'_> {
    /// The `__connect.errors.*` headers Kafka Connect adds, in its order,
    /// for a record read from `origin`.
    pub fn context_headers(
        &self,
        origin: Option<&crate::record::KafkaOrigin>,
        connector: &str,
        task_id: u32,
    ) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        let mut put = |k: &str, v: String| headers.push((format!("__connect.errors.{k}"), v));
        if let Some(o) = origin {
            put("topic", o.topic.clone());
            put("partition", o.partition.to_string());
            put("offset", o.offset.to_string());
        }
        put("connector.name", connector.to_string());
        put("task.id", task_id.to_string());
        put("stage", self.stage.name().to_string());
        put("class.name", self.class_name.to_string());
        put(
            "exception.class.name",
            exception_class(self.error).to_string(),
        );
        put("exception.message", self.error.to_string());
        put(
            "exception.stacktrace",
            format!(
                "{}: {}\n\tat {} ({})",
                exception_class(self.error),
                self.error,
                self.class_name,
                self.stage.name()
            ),
        );
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retriable_errors_are_retried_until_the_timeout_and_data_errors_never() {
        let policy =
            ErrorPolicy::from_config(&Config::from_pairs([("errors.retry.timeout", "700")]))
                .unwrap();
        let mut calls = 0;
        let result: Result<()> = policy
            .retry(|| {
                calls += 1;
                async { Err(ConnectError::External("db down".into())) }
            })
            .await;
        assert!(result.is_err());
        assert!((2..=4).contains(&calls), "{calls} calls in 700 ms");

        let mut calls = 0;
        let result: Result<()> = policy
            .retry(|| {
                calls += 1;
                async { Err(ConnectError::Conversion("bad json".into())) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn context_headers_name_the_record_the_stage_and_the_error() {
        let error = ConnectError::Conversion("Unexpected character".into());
        let failure = Failure {
            stage: Stage::ValueConverter,
            class_name: "org.apache.kafka.connect.json.JsonConverter",
            error: &error,
        };
        let origin = crate::record::KafkaOrigin {
            topic: "bids".into(),
            partition: 2,
            offset: 41,
        };
        let headers = failure.context_headers(Some(&origin), "sink", 0);
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("__connect.errors.topic"), Some("bids"));
        assert_eq!(get("__connect.errors.partition"), Some("2"));
        assert_eq!(get("__connect.errors.offset"), Some("41"));
        assert_eq!(get("__connect.errors.stage"), Some("VALUE_CONVERTER"));
        assert_eq!(
            get("__connect.errors.exception.class.name"),
            Some("org.apache.kafka.connect.errors.DataException")
        );
        assert_eq!(
            get("__connect.errors.exception.message"),
            Some("conversion failed: Unexpected character")
        );
        assert_eq!(headers.len(), 10);
    }
}
