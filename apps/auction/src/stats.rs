//! Live bid statistics by stream processing (fjord-streams): bids per item
//! per minute and the highest bid per item per minute, on the bids' own
//! time (`bid_ts`), written to topics the dashboard reads; a bid whose
//! minute has closed goes to `bids-late`, which the dashboard counts.
//!
//! Each minute takes bids until [`GRACE_MS`] after its end (bids from
//! different partitions and retries arrive a little out of order); a bid
//! for a minute closed beyond that is late, and is sent to `bids-late`
//! unchanged with headers saying which minute it missed and by how much.
//! The results are emitted on every bid (EMIT CHANGES), so the dashboard
//! moves as bids arrive.
//!
//! Outbid counts stay the DB writers': the auction rule is theirs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fjord_streams::{
    Aggregate, Emit, Error as StreamsError, Format, ProcessingGuarantee, StreamsBuilder,
    StreamsConfig, TimeWindows, Topology, Value, WindowKind,
};

use crate::codec::{BidCodec, TOPIC};
use crate::error::Result;
use crate::kafka::KafkaSettings;

/// The application id: the consumer group and the prefix of its topics.
pub const APPLICATION_ID: &str = "auction-stats";
/// Bids per item per minute: windowed key (item + minute start, as Kafka
/// Streams writes windowed keys), value the count (JSON).
pub const BIDS_PER_MINUTE: &str = "bids-per-minute";
/// Highest bid per item per minute: windowed key, value the price (JSON).
pub const HIGHEST_BID_PER_MINUTE: &str = "highest-bid-per-minute";
/// Bids that arrived after their minute closed.
pub const LATE_TOPIC: &str = "bids-late";
/// How long after its end a minute still takes bids.
pub const GRACE_MS: i64 = 5_000;
const MINUTE_MS: i64 = 60_000;

/// The topology: bids decoded with `codec` (the registry's Avro or JSON),
/// event time from `bid_ts`, keyed by item.
pub fn topology(codec: Arc<dyn BidCodec>) -> Result<Topology> {
    let b = StreamsBuilder::new(APPLICATION_ID);
    let bids = b
        .stream(TOPIC, Format::String, Format::Bytes)
        .map_values(move |r| {
            let Value::Bytes(raw) = &r.value else {
                return Err(StreamsError::Decode("a bid has no value".into()));
            };
            let bid = codec
                .decode(raw)
                .map_err(|e| StreamsError::Decode(e.to_string()))?;
            Ok(Value::record([
                ("item", Value::from(bid.item)),
                ("name", Value::from(bid.name)),
                ("price", Value::Int(bid.price)),
                ("bid_ts", Value::Int(bid.bid_ts)),
            ]))
        })
        // The bid's own time; the key stays the item (bids are keyed by
        // item), so no repartition is needed.
        .set_timestamp(|r| {
            r.value
                .field("bid_ts")
                .and_then(Value::as_i64)
                .ok_or_else(|| StreamsError::Decode("a bid without bid_ts".into()))
        });
    let minutes = WindowKind::Time(TimeWindows::tumbling(MINUTE_MS).grace(GRACE_MS));
    bids.window_aggregate(
        "bids-per-minute",
        minutes,
        Aggregate::Count,
        |_| Value::Null,
        Emit::Changes,
        // One aggregation routes late bids; the other would send each twice.
        Some(LATE_TOPIC),
    )
    .to(BIDS_PER_MINUTE, Format::String, Format::Json);
    bids.window_aggregate(
        "highest-bid-per-minute",
        minutes,
        Aggregate::Max,
        |r| r.value.field("price").cloned().unwrap_or(Value::Null),
        Emit::Changes,
        None,
    )
    .to(HIGHEST_BID_PER_MINUTE, Format::String, Format::Json);
    Ok(b.build()?)
}

/// Runs the statistics until `stop` is set (Ctrl-C), on `settings`' cluster.
/// A failure (the cluster unreachable, a delivery refused) restarts the
/// instance after a pause, as Kafka Streams replaces a failed thread: it
/// resumes from its last commit, so nothing is lost (outputs since that
/// commit may repeat; the results are updates per window).
pub fn run(
    settings: &KafkaSettings,
    codec: Arc<dyn BidCodec>,
    guarantee: ProcessingGuarantee,
    stop: &AtomicBool,
) -> Result<()> {
    let topology = topology(codec)?;
    let mut config =
        StreamsConfig::new(settings.bootstrap_servers.clone()).with_guarantee(guarantee);
    config.client_settings = settings.extra.clone();
    // The dashboard shows these live: commit (and so flush) at least every
    // second (exactly-once commits every 100 ms already).
    config.commit_interval = config.commit_interval.min(Duration::from_secs(1));
    while !stop.load(Ordering::SeqCst) {
        match fjord_streams::run(&topology, &config, stop) {
            Ok(()) => break,
            // A topology the cluster cannot run (an input missing, ...)
            // will not get better by retrying.
            Err(e @ StreamsError::Topology(_)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "bid statistics failed; restarting in 2 s");
                for _ in 0..20 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    Ok(())
}

/// One item's latest minute, as the statistics last wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MinuteStats {
    pub item: String,
    /// Start of the minute, epoch ms.
    pub minute_start: i64,
    pub bids: i64,
    pub highest: Option<i64>,
}

/// Records read from the end of each statistics partition: enough for
/// every item's latest minute (the results of one minute are a few
/// updates per item).
const TAIL: i64 = 512;

/// Each item's latest minute, from the tails of the statistics topics
/// (empty when they do not exist yet). Blocking; `consumer` joins no group
/// and is left unassigned.
pub fn latest_minutes(consumer: &rdkafka::consumer::BaseConsumer) -> Result<Vec<MinuteStats>> {
    use rdkafka::consumer::Consumer;
    use rdkafka::message::Message;

    let mut list = rdkafka::TopicPartitionList::new();
    let mut ends = std::collections::HashMap::new();
    for topic in [BIDS_PER_MINUTE, HIGHEST_BID_PER_MINUTE] {
        for p in crate::kafka::partitions(consumer, topic)? {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .map_err(crate::error::kafka(format!(
                    "cannot fetch the offsets of `{topic}`"
                )))?;
            if high > low {
                let start = rdkafka::Offset::Offset((high - TAIL).max(low));
                let _ = list.add_partition_offset(topic, p, start);
                ends.insert((topic, p), high);
            }
        }
    }
    let mut latest: std::collections::BTreeMap<String, MinuteStats> = Default::default();
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    consumer
        .assign(&list)
        .map_err(crate::error::kafka("cannot read the bid statistics"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !ends.is_empty() && std::time::Instant::now() < deadline {
        let polled = consumer.poll(Duration::from_millis(100));
        // Read to the end: the position passes transaction markers too (an
        // exactly-once statistics application ends its topics with one),
        // where the last record's offset does not reach the end.
        if let Ok(positions) = consumer.position() {
            for e in positions.elements() {
                if let rdkafka::Offset::Offset(at) = e.offset() {
                    ends.retain(|&(t, p), end| {
                        !(t == e.topic() && p == e.partition() && at >= *end)
                    });
                }
            }
        }
        let Some(Ok(m)) = polled else {
            continue;
        };
        let topic = if m.topic() == BIDS_PER_MINUTE {
            BIDS_PER_MINUTE
        } else {
            HIGHEST_BID_PER_MINUTE
        };
        let (Some(key), Some(value)) = (m.key(), m.payload()) else {
            continue;
        };
        let Some((item, start)) = split_windowed_key(key) else {
            continue;
        };
        let Ok(n) = serde_json::from_slice::<i64>(value) else {
            continue;
        };
        let entry = latest.entry(item.clone()).or_insert_with(|| MinuteStats {
            item,
            minute_start: start,
            ..MinuteStats::default()
        });
        if start < entry.minute_start {
            continue;
        }
        if start > entry.minute_start {
            *entry = MinuteStats {
                item: entry.item.clone(),
                minute_start: start,
                ..MinuteStats::default()
            };
        }
        // Results come in order, each update after the last: keep the last.
        if topic == BIDS_PER_MINUTE {
            entry.bids = n;
        } else {
            entry.highest = Some(n);
        }
    }
    let _ = consumer.unassign();
    Ok(latest.into_values().collect())
}

/// (item, window start) of a windowed key: the item's bytes, then the
/// start as 8 bytes big-endian (Kafka Streams' TimeWindowedSerializer).
fn split_windowed_key(key: &[u8]) -> Option<(String, i64)> {
    let at = key.len().checked_sub(8)?;
    let start = i64::from_be_bytes(key[at..].try_into().ok()?);
    Some((String::from_utf8(key[..at].to_vec()).ok()?, start))
}
