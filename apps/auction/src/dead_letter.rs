//! Records of `bids` that are not bids: what the DB writers and the backup
//! writer do with a record they cannot decode (garbage, JSON read by a
//! component expecting Avro, a record without a value), the way Kafka
//! Connect's `errors.tolerance` / `errors.deadletterqueue.topic.name` do.
//!
//! The invariant both writers keep: a group's committed offset never moves
//! past a record that is neither stored (table, file) nor acknowledged by the
//! broker in the dead-letter topic. So no record is lost silently:
//!
//! - [`OnBadRecord::DeadLetter`] (the default) produces the record unchanged
//!   (key, value, timestamp, original headers) to the dead-letter topic with
//!   `fjord.dlq.*` headers naming where it came from and why, waits for the
//!   broker's acknowledgement (acks=all, idempotent), and only then lets the
//!   writer commit past it. Each group dead-letters on its own (the
//!   `fjord.dlq.group` header tells them apart): a bad record appears once
//!   per group, and again only if the writer crashes between the
//!   acknowledgement and its commit (at least once, as in Kafka Connect).
//! - [`OnBadRecord::Stop`] makes the writer exit with an error naming topic,
//!   partition, offset and the decode error, committing nothing past the
//!   record, so a restart (after a fix) reads it again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::bid::Bid;
use crate::codec::{BidCodec, TOPIC};
use crate::error::{AuctionError, Result};
use crate::kafka::KafkaSettings;

/// The dead-letter topic unless `--dead-letter-topic` names another.
pub const DEFAULT_TOPIC: &str = "bids-dlq";
/// Partitions of the dead-letter topic when the writers create it. One:
/// dead letters are rare and read by people (and `backup verify`) as one
/// list in the order they failed; nothing consumes them in parallel, and the
/// headers, not the partition, say which partition of `bids` each came from.
pub const PARTITIONS: i32 = 1;

/// The headers added to a dead letter (after the record's own headers).
/// Values are UTF-8 text (numbers in decimal), readable with any client.
pub mod header {
    /// The topic the record was read from (`bids`).
    pub const TOPIC: &str = "fjord.dlq.topic";
    /// Its partition there.
    pub const PARTITION: &str = "fjord.dlq.partition";
    /// Its offset there.
    pub const OFFSET: &str = "fjord.dlq.offset";
    /// The consumer group that could not take it.
    pub const GROUP: &str = "fjord.dlq.group";
    /// Why: the decode error.
    pub const ERROR: &str = "fjord.dlq.error";
}

/// The decode error of a record that has no value at all.
pub const NO_VALUE: &str = "the record has no value";

/// What a writer does with a record that is not a bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBadRecord {
    /// Produce it to the dead-letter topic, then go on.
    #[default]
    DeadLetter,
    /// Exit with an error, committing nothing past it.
    Stop,
}

impl fmt::Display for OnBadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnBadRecord::DeadLetter => "dead-letter",
            OnBadRecord::Stop => "stop",
        })
    }
}

/// `--on-bad-record` and `--dead-letter-topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPolicy {
    pub on_bad_record: OnBadRecord,
    /// Where dead letters go (and where `backup verify` and the dashboard
    /// look for them).
    pub topic: String,
}

impl Default for DeadLetterPolicy {
    fn default() -> DeadLetterPolicy {
        DeadLetterPolicy {
            on_bad_record: OnBadRecord::DeadLetter,
            topic: DEFAULT_TOPIC.to_string(),
        }
    }
}

/// A record of `bids` that a writer could not decode, kept whole so it can
/// be dead-lettered byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Create or append time in ms, when the record has one.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The record's own headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Why it is not a bid.
    pub error: String,
}

impl BadRecord {
    pub fn new(m: &impl Message, error: impl fmt::Display) -> BadRecord {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        BadRecord {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
            error: error.to_string(),
        }
    }

    /// The dead letter's headers: the record's own, then where it came
    /// from and why.
    pub fn dead_letter_headers(&self, group: &str) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = self.headers.clone();
        let mut add = |k: &str, v: String| out.push((k.to_string(), Some(v.into_bytes())));
        add(header::TOPIC, self.topic.clone());
        add(header::PARTITION, self.partition.to_string());
        add(header::OFFSET, self.offset.to_string());
        add(header::GROUP, group.to_string());
        add(header::ERROR, self.error.clone());
        out
    }

    /// The error a writer under `--on-bad-record stop` exits with.
    pub fn stop_error(&self, group: &str) -> AuctionError {
        AuctionError::BadRecord {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            group: group.to_string(),
            error: self.error.clone(),
        }
    }
}

/// Kafka's rule for topic names: 1 to 249 of `a-z A-Z 0-9 . _ -`, and not
/// `.` or `..`. Checked when a writer starts, rather than on the first bad
/// record, when producing to it would fail.
fn valid_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A writer's handle on its dead-letter policy: routes each bad record.
pub struct DeadLetters {
    policy: DeadLetterPolicy,
    /// The writer's consumer group (the `fjord.dlq.group` header).
    group: &'static str,
    /// Only under [`OnBadRecord::DeadLetter`].
    producer: Option<FutureProducer>,
}

/// Attempts at producing one dead letter before the writer gives up (each
/// attempt is itself retried by librdkafka for `message.timeout.ms`).
const ATTEMPTS: u32 = 3;

impl DeadLetters {
    /// For the writer of `group`, with the policy in `settings`. Under
    /// dead-letter it creates the dead-letter topic unless it exists; a
    /// failure there is only a warning (the topic may exist on a cluster
    /// that refuses this client topic creation), since a produce that then
    /// fails still keeps the record from being committed.
    pub async fn start(settings: &KafkaSettings, group: &'static str) -> Result<DeadLetters> {
        let policy = settings.dead_letter.clone();
        if !valid_topic_name(&policy.topic) || policy.topic == TOPIC {
            return Err(AuctionError::DeadLetterTopic(policy.topic));
        }
        let producer = match policy.on_bad_record {
            OnBadRecord::Stop => None,
            OnBadRecord::DeadLetter => {
                if let Err(e) = settings.ensure_topic_named(&policy.topic, PARTITIONS).await {
                    tracing::warn!(topic = %policy.topic, error = %e, "cannot create the dead-letter topic");
                }
                Some(settings.producer()?)
            }
        };
        tracing::info!(group, on_bad_record = %policy.on_bad_record, dead_letter_topic = %policy.topic, "policy for records that are not bids");
        Ok(DeadLetters {
            policy,
            group,
            producer,
        })
    }

    pub fn policy(&self) -> &DeadLetterPolicy {
        &self.policy
    }

    /// Decodes `m`; a record that is not a bid is routed (see
    /// [`DeadLetters::route`]) and gives `None`.
    pub async fn decode(&self, codec: &dyn BidCodec, m: &impl Message) -> Result<Option<Bid>> {
        let error = match m.payload().map(|p| codec.decode(p)) {
            Some(Ok(bid)) => return Ok(Some(bid)),
            Some(Err(e)) => e.to_string(),
            None => NO_VALUE.to_string(),
        };
        self.route(&BadRecord::new(m, error)).await?;
        Ok(None)
    }

    /// Dead-letter: produces the record to the dead-letter topic and returns
    /// once the broker acknowledged it (the caller may then commit past
    /// it); an error when it cannot. Stop: the error naming the record.
    pub async fn route(&self, bad: &BadRecord) -> Result<()> {
        let Some(producer) = &self.producer else {
            return Err(bad.stop_error(self.group));
        };
        let headers = bad.dead_letter_headers(self.group);
        let mut attempt = 1;
        loop {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for (key, value) in &headers {
                owned = owned.insert(Header {
                    key,
                    value: value.as_deref(),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.policy.topic).headers(owned);
            if let Some(k) = &bad.key {
                record = record.key(k);
            }
            if let Some(v) = &bad.value {
                record = record.payload(v);
            }
            // The original time, as Kafka Connect keeps it.
            if let Some(ts) = bad.timestamp {
                record = record.timestamp(ts);
            }
            match producer.send(record, Duration::from_secs(30)).await {
                Ok(d) => {
                    tracing::warn!(
                        group = self.group,
                        partition = bad.partition,
                        offset = bad.offset,
                        error = %bad.error,
                        dead_letter = %format!("{}/{}@{}", self.policy.topic, d.partition, d.offset),
                        "a record that is not a bid went to the dead-letter topic"
                    );
                    return Ok(());
                }
                Err((e, _)) if attempt < ATTEMPTS => {
                    tracing::warn!(group = self.group, error = %e, attempt, "cannot produce a dead letter; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    attempt += 1;
                }
                Err((source, _)) => {
                    return Err(AuctionError::Kafka {
                        context: format!(
                            "cannot dead-letter `{}` partition {} offset {} to `{}` (nothing was committed past it)",
                            bad.topic, bad.partition, bad.offset, self.policy.topic
                        ),
                        source,
                    })
                }
            }
        }
    }
}

/// One record of the dead-letter topic, as `backup verify` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where the original was: topic, partition, offset.
    pub source: (String, i32, i64),
    pub group: String,
    pub error: String,
    pub value: Option<Vec<u8>>,
}

impl DeadLetter {
    /// `None` for a record without the `fjord.dlq.*` source headers (not
    /// put there by a writer). When a header repeats, the last one counts:
    /// a dead letter of a dead letter names its latest source.
    pub fn parse(m: &impl Message) -> Option<DeadLetter> {
        let mut found: HashMap<&str, String> = HashMap::new();
        for h in m.headers()?.iter() {
            if let Some(v) = h.value {
                found.insert(h.key, String::from_utf8_lossy(v).into_owned());
            }
        }
        let text = |k: &str| found.get(k).cloned();
        Some(DeadLetter {
            source: (
                text(header::TOPIC)?,
                text(header::PARTITION)?.parse().ok()?,
                text(header::OFFSET)?.parse().ok()?,
            ),
            group: text(header::GROUP).unwrap_or_default(),
            error: text(header::ERROR).unwrap_or_default(),
            value: m.payload().map(<[u8]>::to_vec),
        })
    }
}

/// Every dead letter in `settings`' dead-letter topic (none when the topic
/// does not exist). Blocking: call from a blocking thread.
pub fn read_all(settings: &KafkaSettings) -> Result<Vec<DeadLetter>> {
    let consumer: BaseConsumer = settings.plain_consumer("fjord-auction-verify")?;
    let mut out = Vec::new();
    crate::kafka::read_to_end(&consumer, &settings.dead_letter.topic, |m| {
        if let Some(d) = DeadLetter::parse(m) {
            out.push(d);
        }
    })?;
    Ok(out)
}

/// Records of `bids` that are not bids, by (partition, offset): their
/// values (`backup verify` looks for them among the dead letters).
pub type NotBids = BTreeMap<(i32, i64), Option<Vec<u8>>>;

/// How many of `not_bids` are among `letters` (a dead letter from `bids`
/// at the same partition and offset, with the same bytes, from either
/// group), and the ones that are not: those were lost.
pub fn account(not_bids: &NotBids, letters: &[DeadLetter]) -> (usize, Vec<(i32, i64)>) {
    let found: HashSet<(i32, i64)> = letters
        .iter()
        .filter(|d| d.source.0 == TOPIC)
        .filter(|d| not_bids.get(&(d.source.1, d.source.2)) == Some(&d.value))
        .map(|d| (d.source.1, d.source.2))
        .collect();
    let lost: Vec<(i32, i64)> = not_bids
        .keys()
        .filter(|k| !found.contains(k))
        .copied()
        .collect();
    (not_bids.len() - lost.len(), lost)
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{OwnedMessage, Timestamp};

    use super::*;

    fn message(value: Option<&[u8]>, headers: Option<OwnedHeaders>) -> OwnedMessage {
        OwnedMessage::new(
            value.map(<[u8]>::to_vec),
            Some(b"lamp".to_vec()),
            "bids".into(),
            Timestamp::CreateTime(1_700_000_000_000),
            2,
            17,
            headers,
        )
    }

    fn text(headers: &[(String, Option<Vec<u8>>)], key: &str) -> Vec<String> {
        headers
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| String::from_utf8(v.clone().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_dead_letter_keeps_the_record_and_says_where_from_and_why() {
        let own = OwnedHeaders::new().insert(Header {
            key: "trace",
            value: Some("abc"),
        });
        let m = message(Some(b"\x00garbage\xff"), Some(own));
        let bad = BadRecord::new(&m, "bid codec: not an Avro bid: bad magic byte");
        assert_eq!(bad.value.as_deref(), Some(&b"\x00garbage\xff"[..]));
        assert_eq!(bad.key.as_deref(), Some(&b"lamp"[..]));
        assert_eq!(bad.timestamp, Some(1_700_000_000_000));
        let h = bad.dead_letter_headers("bid-backup");
        // The record's own headers first, unchanged, then ours.
        assert_eq!(h[0], ("trace".to_string(), Some(b"abc".to_vec())));
        assert_eq!(h.len(), 6);
        assert_eq!(text(&h, header::TOPIC), ["bids"]);
        assert_eq!(text(&h, header::PARTITION), ["2"]);
        assert_eq!(text(&h, header::OFFSET), ["17"]);
        assert_eq!(text(&h, header::GROUP), ["bid-backup"]);
        assert_eq!(
            text(&h, header::ERROR),
            ["bid codec: not an Avro bid: bad magic byte"]
        );
    }

    #[test]
    fn a_record_without_headers_or_value_gets_only_ours() {
        let bad = BadRecord::new(&message(None, None), NO_VALUE);
        assert_eq!(bad.value, None);
        let h = bad.dead_letter_headers("bid-db-writers");
        let keys: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                header::TOPIC,
                header::PARTITION,
                header::OFFSET,
                header::GROUP,
                header::ERROR
            ]
        );
        assert_eq!(text(&h, header::ERROR), [NO_VALUE]);
    }

    #[test]
    fn a_dead_letter_reads_back_to_its_source() {
        let bad = BadRecord::new(&message(Some(b"{\"x\":1}"), None), "not a bid");
        let mut owned = OwnedHeaders::new();
        for (key, value) in &bad.dead_letter_headers("bid-backup") {
            owned = owned.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let dl = OwnedMessage::new(
            bad.value.clone(),
            bad.key.clone(),
            DEFAULT_TOPIC.into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(owned),
        );
        let parsed = DeadLetter::parse(&dl).unwrap();
        assert_eq!(parsed.source, ("bids".to_string(), 2, 17));
        assert_eq!(parsed.group, "bid-backup");
        assert_eq!(parsed.error, "not a bid");
        assert_eq!(parsed.value.as_deref(), Some(&b"{\"x\":1}"[..]));
        // A record someone produced to the topic by hand is no dead letter.
        assert_eq!(DeadLetter::parse(&message(Some(b"x"), None)), None);
    }

    #[test]
    fn verify_counts_a_bad_record_only_when_its_bytes_are_dead_lettered() {
        let letter = |topic: &str, p, o, value: &[u8]| DeadLetter {
            source: (topic.to_string(), p, o),
            group: "bid-backup".into(),
            error: "not a bid".into(),
            value: Some(value.to_vec()),
        };
        let not_bids = NotBids::from([
            ((0, 3), Some(b"garbage".to_vec())),
            ((1, 5), Some(b"{}".to_vec())),
            ((2, 7), Some(b"other".to_vec())),
            ((3, 9), Some(b"elsewhere".to_vec())),
        ]);
        let letters = [
            letter("bids", 0, 3, b"garbage"),
            // The same record dead-lettered by the other group counts once.
            letter("bids", 0, 3, b"garbage"),
            letter("bids", 1, 5, b"{}"),
            // Same place, other bytes: not this record.
            letter("bids", 2, 7, b"changed"),
            // Another source topic.
            letter("orders", 3, 9, b"elsewhere"),
        ];
        assert_eq!(account(&not_bids, &letters), (2, vec![(2, 7), (3, 9)]));
    }

    #[test]
    fn dead_letter_topic_names_follow_kafka() {
        for ok in ["bids-dlq", "a", "dead_letters.v2", &"x".repeat(249)] {
            assert!(valid_topic_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "bad name", "a/b", "é", &"x".repeat(250)] {
            assert!(!valid_topic_name(bad), "{bad}");
        }
    }

    #[test]
    fn stop_names_topic_partition_offset_and_error() {
        let bad = BadRecord::new(&message(Some(b"x"), None), "not a JSON bid: expected value");
        let msg = bad.stop_error("bid-db-writers").to_string();
        for part in [
            "`bids`",
            "partition 2",
            "offset 17",
            "bid-db-writers",
            "not a JSON bid: expected value",
        ] {
            assert!(msg.contains(part), "{part} not in: {msg}");
        }
    }
}
