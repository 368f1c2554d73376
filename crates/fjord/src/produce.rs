//! `fjord produce TOPIC`: one record per input line, from stdin or a file.
//!
//! Records go through librdkafka's producer with the chosen acks and
//! compression; the command exits non-zero if any record was not
//! acknowledged, naming the first failure, and always says how many were.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;

use crate::client::{self, parse_key_value, ClientArgs};

/// Acknowledgements a producer waits for (librdkafka `acks`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// Do not wait for the broker at all (records may be lost silently).
    #[value(name = "0")]
    None,
    /// Wait for the partition leader to write the record.
    #[value(name = "1")]
    Leader,
    /// Wait for all in-sync replicas; Fjord fsyncs before acknowledging.
    #[value(name = "all", alias = "-1")]
    All,
}

impl Acks {
    /// The value of librdkafka's `acks` setting.
    pub fn as_config(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// Producer batch compression (librdkafka `compression.type`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The value of librdkafka's `compression.type` setting.
    pub fn as_config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Arguments of `fjord produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Topic to produce to (created on first use if the broker auto-creates topics).
    topic: String,
    /// Read records from this file instead of stdin (shows a progress bar).
    #[arg(long, short = 'f', value_name = "PATH")]
    file: Option<PathBuf>,
    /// Split each line at the first SEP into key and value; a line without
    /// SEP is an error. Without this flag records have no key.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Header added to every record, e.g. `--header source=cli`. Repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    headers: Vec<(String, String)>,
    /// Send every record to this partition instead of the default partitioner
    /// (key hash, or sticky for records without a key).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    partition: Option<i32>,
    /// Acknowledgements to wait for.
    #[arg(long, value_enum, default_value = "all")]
    acks: Acks,
    /// Compression codec for record batches.
    #[arg(long, value_enum, default_value = "none")]
    compression: Compression,
    #[command(flatten)]
    client: ClientArgs,
}

/// Counts delivery reports; the producer calls it from `poll`/`flush`.
#[derive(Default)]
struct DeliveryTracker {
    acknowledged: AtomicU64,
    failed: AtomicU64,
    /// The first failure, with the input line it came from.
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    /// The input line number of the record.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, line: usize) {
        match result {
            Ok(_) => {
                self.acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(format!("record from line {line}: {err}"));
                }
            }
        }
    }
}

/// Runs `fjord produce`.
pub fn run(args: ProduceArgs) -> Result<()> {
    let (reader, progress): (Box<dyn BufRead>, ProgressBar) = match &args.file {
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let bar = ProgressBar::new(len).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("static progress template is valid"),
            );
            (Box::new(BufReader::with_capacity(1 << 20, file)), bar)
        }
        None => (Box::new(io::stdin().lock()), ProgressBar::hidden()),
    };

    let producer: BaseProducer<DeliveryTracker> = args
        .client
        .config_with(&[
            ("acks", args.acks.as_config()),
            ("compression.type", args.compression.as_config()),
            // Fail within half a minute when the cluster is unreachable,
            // rather than librdkafka's five minutes.
            ("message.timeout.ms", "30000"),
        ])
        .create_with_context(DeliveryTracker::default())
        .context("cannot create Kafka producer (check the -X settings)")?;

    // Fail fast on an unreachable cluster or a partition that does not exist.
    let metadata = client::topic_metadata(producer.client(), &args.topic)?;
    if let Some(partition) = args.partition {
        let count = metadata.topics()[0].partitions().len();
        if partition as usize >= count {
            bail!(
                "topic `{}` has {count} partition(s); partition {partition} does not exist",
                args.topic
            );
        }
    }

    let sent = send_lines(&args, &producer, reader, &progress);
    progress.finish_and_clear();
    // Deliver what was sent even when input stopped early.
    let flushed = producer.flush(Timeout::Never);

    let ctx = producer.context();
    let acknowledged = ctx.acknowledged.load(Ordering::Relaxed);
    let failed = ctx.failed.load(Ordering::Relaxed);
    println!(
        "{acknowledged} records acknowledged by topic {}",
        args.topic
    );
    let sent = sent?;
    flushed.context("flushing the producer failed")?;
    if failed > 0 {
        let first = ctx
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        bail!(
            "{failed} of {sent} records were not delivered; first error: {}",
            first.unwrap_or_default()
        );
    }
    Ok(())
}

/// Reads lines and hands them to the producer; returns how many were sent.
fn send_lines(
    args: &ProduceArgs,
    producer: &BaseProducer<DeliveryTracker>,
    mut reader: Box<dyn BufRead>,
    progress: &ProgressBar,
) -> Result<u64> {
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    if separator == Some(b"") {
        bail!("--key-separator must not be empty");
    }
    let mut line = Vec::with_capacity(4096);
    let mut line_no = 0usize;
    let mut sent = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .context("cannot read input")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        progress.inc(n as u64);
        let mut record_bytes = line.as_slice();
        if let Some(rest) = record_bytes.strip_suffix(b"\n") {
            record_bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        // Blank lines are skipped, as most line-oriented tools do.
        if record_bytes.is_empty() {
            continue;
        }
        let (key, value) = match separator {
            None => (None, record_bytes),
            Some(sep) => match find(record_bytes, sep) {
                Some(at) => (Some(&record_bytes[..at]), &record_bytes[at + sep.len()..]),
                None => bail!(
                    "line {line_no} has no key separator `{}`",
                    args.key_separator.as_deref().unwrap_or_default()
                ),
            },
        };

        let mut record = BaseRecord::with_opaque_to(&args.topic, line_no).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        if !args.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(args.headers.len());
            for (key, value) in &args.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            record = record.headers(headers);
        }
        // The local queue is bounded; when it is full, serve delivery
        // reports until there is room.
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
                Err((err, _)) => bail!("cannot send the record from line {line_no}: {err}"),
            }
        }
        sent += 1;
        producer.poll(Duration::ZERO);
    }
    Ok(sent)
}

/// Position of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_multibyte_separator() {
        assert_eq!(find(b"k::v::w", b"::"), Some(1));
        assert_eq!(find(b"kv", b"::"), None);
        assert_eq!(find(b"", b":"), None);
    }
}
