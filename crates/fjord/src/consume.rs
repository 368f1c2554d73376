//! `fjord consume TOPIC`: read records without a consumer group.
//!
//! Partitions are assigned explicitly (`assign`, never `subscribe`) at an
//! offset resolved up front, and nothing is committed, so the command never
//! disturbs a group's position and needs no group coordinator. By default it
//! follows the topic forever, like `tail -f`; `--count`, `--exit-at-end` and
//! `--timeout-ms` make it stop.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::{ArgGroup, Args, ValueEnum};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::util::Timeout;
use serde::Serialize;

use crate::client::{self, ClientArgs, REQUEST_TIMEOUT};

/// How records are written to stdout.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The value, one record per line (with `--print-key`, key SEP value).
    /// A null value or key prints as `null`.
    Plain,
    /// One JSON object per line: topic, partition, offset, timestamp,
    /// timestamp_type, key, value, headers. Keys and values that are not
    /// UTF-8 are base64 with `key_encoding`/`value_encoding` = "base64".
    Json,
}

/// Arguments of `fjord consume`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("start").args(["from_beginning", "from_end", "offset", "from_timestamp"])))]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Start at the earliest available record of each partition.
    #[arg(long)]
    from_beginning: bool,
    /// Start after the last record of each partition (the default).
    #[arg(long)]
    from_end: bool,
    /// Start at this offset in each partition; a negative N starts N records
    /// before the end of each partition.
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    offset: Option<i64>,
    /// Start at the first record whose timestamp is at or after MS
    /// (milliseconds since the Unix epoch), via ListOffsets by timestamp.
    #[arg(long, value_name = "MS")]
    from_timestamp: Option<i64>,
    /// Read only this partition. Repeatable [default: all partitions].
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    partition: Vec<i32>,
    /// Stop after N records.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop once every assigned partition has been read to its end.
    #[arg(long)]
    exit_at_end: bool,
    /// Stop when no record has arrived for MS milliseconds.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "plain")]
    format: Format,
    /// Plain format: print the key before the value.
    #[arg(long)]
    print_key: bool,
    /// Plain format: what separates key and value with --print-key.
    #[arg(long, value_name = "SEP", default_value = "\t")]
    key_separator: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Where each partition starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    Beginning,
    End,
    Offset(i64),
    Timestamp(i64),
}

impl ConsumeArgs {
    fn start(&self) -> Start {
        if self.from_beginning {
            Start::Beginning
        } else if let Some(offset) = self.offset {
            Start::Offset(offset)
        } else if let Some(ms) = self.from_timestamp {
            Start::Timestamp(ms)
        } else {
            Start::End
        }
    }
}

/// Runs `fjord consume`.
pub fn run(args: ConsumeArgs) -> Result<()> {
    let consumer: BaseConsumer = args
        .client
        .config_with(&[
            // librdkafka only allows assign() on a consumer with a group.id.
            // The group is never joined and nothing is committed, so this id
            // is a formality shared by all `fjord consume` instances.
            ("group.id", "fjord-consume"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            (
                "enable.partition.eof",
                if args.exit_at_end { "true" } else { "false" },
            ),
            ("allow.auto.create.topics", "false"),
        ])
        .create()
        .context("cannot create Kafka consumer (check the -X settings)")?;

    let metadata = client::topic_metadata(consumer.client(), &args.topic)?;
    let existing: BTreeSet<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let partitions = crate::client::select_partitions(&args.topic, existing, &args.partition)?;

    let assignment = start_offsets(&consumer, &args.topic, &partitions, args.start())?;
    consumer
        .assign(&assignment)
        .with_context(|| format!("cannot assign partitions of `{}`", args.topic))?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = consume_loop(&args, &consumer, &partitions, &mut out);
    let flushed = out.flush();
    match result {
        Ok(consumed) => {
            if args.count.is_some() || args.exit_at_end || args.timeout_ms.is_some() {
                eprintln!("processed {consumed} records");
            }
        }
        // The reader went away (e.g. `| head`): not an error.
        Err(err) if is_broken_pipe(&err) => return Ok(()),
        Err(err) => return Err(err),
    }
    match flushed {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Resolves the start position of every partition into an assignment.
fn start_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &BTreeSet<i32>,
    start: Start,
) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(partitions.len());
    for &p in partitions {
        let offset = match start {
            Start::Beginning => Offset::Beginning,
            Start::End => Offset::End,
            Start::Offset(n) if n >= 0 => Offset::Offset(n),
            Start::Offset(n) => Offset::OffsetTail(n.saturating_neg()),
            // librdkafka takes the timestamp in the offset field.
            Start::Timestamp(ms) => Offset::Offset(ms),
        };
        tpl.add_partition_offset(topic, p, offset)?;
    }
    let Start::Timestamp(ms) = start else {
        return Ok(tpl);
    };
    let resolved = consumer
        .offsets_for_times(tpl, Timeout::After(REQUEST_TIMEOUT))
        .with_context(|| format!("cannot look up offsets of `{topic}` for timestamp {ms}"))?;
    let mut tpl = TopicPartitionList::with_capacity(partitions.len());
    for elem in resolved.elements() {
        elem.error().with_context(|| {
            format!(
                "ListOffsets by timestamp failed for {topic}-{}",
                elem.partition()
            )
        })?;
        // No record at or after the timestamp: the answer is "the end" (-1).
        let offset = match elem.offset() {
            Offset::Offset(n) if n >= 0 => Offset::Offset(n),
            _ => Offset::End,
        };
        tpl.add_partition_offset(topic, elem.partition(), offset)?;
    }
    Ok(tpl)
}

/// Polls and prints until a stop condition holds; returns how many records
/// were printed.
fn consume_loop(
    args: &ConsumeArgs,
    consumer: &BaseConsumer,
    partitions: &BTreeSet<i32>,
    out: &mut impl Write,
) -> Result<u64> {
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    let mut at_end: BTreeSet<i32> = BTreeSet::new();
    let mut consumed = 0u64;
    if args.count == Some(0) {
        return Ok(0);
    }
    loop {
        // Drain what is buffered without blocking; flush before waiting so
        // a follower sees records as they arrive.
        let mut polled = consumer.poll(Duration::ZERO);
        if polled.is_none() {
            out.flush()?;
            let wait = match idle_limit {
                Some(limit) => {
                    let left = limit.saturating_sub(last_record.elapsed());
                    if left.is_zero() {
                        return Ok(consumed);
                    }
                    left.min(Duration::from_millis(500))
                }
                None => Duration::from_millis(500),
            };
            polled = consumer.poll(wait);
        }
        match polled {
            None => continue,
            Some(Ok(message)) => {
                last_record = Instant::now();
                at_end.remove(&message.partition());
                write_record(args, &message, out)?;
                consumed += 1;
                if args.count.is_some_and(|n| consumed >= n) {
                    return Ok(consumed);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                if args.exit_at_end && partitions.iter().all(|p| at_end.contains(p)) {
                    return Ok(consumed);
                }
            }
            Some(Err(err)) => handle_error(&args.topic, err)?,
        }
    }
}

/// Transient errors (a broker restarting, a leader moving) are retried by
/// librdkafka and only reported; the rest end the command.
fn handle_error(topic: &str, err: KafkaError) -> Result<()> {
    let code = err.rdkafka_error_code();
    let fatal = matches!(err, KafkaError::MessageConsumptionFatal(_))
        || matches!(
            code,
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::UnknownPartition
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::Authentication
            )
        );
    if fatal {
        Err(anyhow!("consuming `{topic}` failed: {err}"))
    } else {
        eprintln!("warning: {err} (retrying)");
        Ok(())
    }
}

fn write_record(args: &ConsumeArgs, m: &BorrowedMessage<'_>, out: &mut impl Write) -> Result<()> {
    match args.format {
        Format::Plain => {
            if args.print_key {
                out.write_all(m.key().unwrap_or(b"null"))?;
                out.write_all(args.key_separator.as_bytes())?;
            }
            out.write_all(m.payload().unwrap_or(b"null"))?;
            out.write_all(b"\n")?;
        }
        Format::Json => {
            serde_json::to_writer(&mut *out, &JsonRecord::new(m))?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// The JSON form of one record (see [`Format::Json`]); fields in this order.
#[derive(Serialize)]
struct JsonRecord<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    /// Milliseconds since the Unix epoch; null when the broker has none.
    timestamp: Option<i64>,
    /// "create" (set by the producer) or "log_append" (set by the broker).
    timestamp_type: Option<&'static str>,
    key: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_encoding: Option<&'static str>,
    value: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_encoding: Option<&'static str>,
    /// In record order; keys may repeat.
    headers: Vec<JsonHeader<'a>>,
}

#[derive(Serialize)]
struct JsonHeader<'a> {
    key: &'a str,
    value: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_encoding: Option<&'static str>,
}

impl<'a> JsonRecord<'a> {
    fn new(m: &'a BorrowedMessage<'a>) -> JsonRecord<'a> {
        let (timestamp, timestamp_type) = match m.timestamp() {
            Timestamp::NotAvailable => (None, None),
            Timestamp::CreateTime(t) => (Some(t), Some("create")),
            Timestamp::LogAppendTime(t) => (Some(t), Some("log_append")),
        };
        let (key, key_encoding) = text_or_base64(m.key());
        let (value, value_encoding) = text_or_base64(m.payload());
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        let (value, value_encoding) = text_or_base64(h.value);
                        JsonHeader {
                            key: h.key,
                            value,
                            value_encoding,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        JsonRecord {
            topic: m.topic(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp,
            timestamp_type,
            key,
            key_encoding,
            value,
            value_encoding,
            headers,
        }
    }
}

/// UTF-8 bytes as they are; anything else as base64, flagged as such.
fn text_or_base64(bytes: Option<&[u8]>) -> (Option<Cow<'_, str>>, Option<&'static str>) {
    match bytes.map(std::str::from_utf8) {
        None => (None, None),
        Some(Ok(text)) => (Some(Cow::Borrowed(text)), None),
        Some(Err(_)) => (bytes.map(|b| Cow::Owned(base64(b))), Some("base64")),
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }
}
