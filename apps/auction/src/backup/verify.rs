//! `fjord auction backup verify` and `backup restore`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::Serialize;

use super::read;
use crate::codec::{BidCodec, TOPIC};
use crate::error::{kafka, AuctionError, Result};
use crate::kafka::KafkaSettings;
use crate::store::{BatchOutcome, BidStore};

/// What `backup verify` found. `problems` is empty when the file, the topic
/// and the table agree.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub file_lines: usize,
    pub topic_records: Option<usize>,
    pub table_rows: Option<usize>,
    pub problems: Vec<String>,
}

/// At most this many examples of one kind of problem are listed.
const EXAMPLES: usize = 5;

fn note(problems: &mut Vec<String>, what: &str, examples: Vec<String>) {
    if examples.is_empty() {
        return;
    }
    let shown: Vec<&str> = examples.iter().take(EXAMPLES).map(String::as_str).collect();
    problems.push(format!("{} {what}: {}", examples.len(), shown.join(", ")));
}

/// Checks the file on its own (no offset or bid id twice), against the
/// topic (every record in the file, with the same bid id), and against the
/// table (the same set of bid ids), for what is given.
pub async fn verify(
    path: &Path,
    topic: Option<(&KafkaSettings, Arc<dyn BidCodec>)>,
    table: Option<&BidStore>,
) -> Result<VerifyReport> {
    let contents = read(path)?;
    let mut report = VerifyReport {
        file_lines: contents.lines.len(),
        ..VerifyReport::default()
    };
    if contents.torn_bytes > 0 {
        report.problems.push(format!(
            "the last {} bytes are a torn line (the backup writer cuts it off when it starts)",
            contents.torn_bytes
        ));
    }
    let mut by_offset: BTreeMap<(i32, i64), &str> = BTreeMap::new();
    let mut ids: HashSet<&str> = HashSet::new();
    let (mut dup_offsets, mut dup_ids) = (Vec::new(), Vec::new());
    for l in &contents.lines {
        if by_offset
            .insert((l.partition, l.offset), &l.bid.id)
            .is_some()
        {
            dup_offsets.push(format!("{}@{}", l.partition, l.offset));
        }
        if !ids.insert(&l.bid.id) {
            dup_ids.push(l.bid.id.clone());
        }
    }
    note(&mut report.problems, "offsets written twice", dup_offsets);
    note(&mut report.problems, "bid ids written twice", dup_ids);

    if let Some((settings, codec)) = topic {
        let settings = settings.clone();
        let records = tokio::task::spawn_blocking(move || read_topic(&settings, codec.as_ref()))
            .await
            .map_err(|e| AuctionError::Codec(format!("topic reader failed: {e}")))??;
        report.topic_records = Some(records.len());
        let (mut missing, mut differ) = (Vec::new(), Vec::new());
        for (key, id) in &records {
            match by_offset.get(key) {
                None => missing.push(format!("{}@{}", key.0, key.1)),
                Some(file_id) if file_id != id => differ.push(format!("{}@{}", key.0, key.1)),
                Some(_) => {}
            }
        }
        let extra: Vec<String> = by_offset
            .keys()
            .filter(|k| !records.contains_key(k))
            .map(|k| format!("{}@{}", k.0, k.1))
            .collect();
        note(
            &mut report.problems,
            "records of the topic missing from the file",
            missing,
        );
        note(
            &mut report.problems,
            "records whose bid differs from the topic",
            differ,
        );
        note(
            &mut report.problems,
            "lines not in the topic (deleted by retention?)",
            extra,
        );
    }

    if let Some(store) = table {
        let rows = store.bids(None).await?;
        report.table_rows = Some(rows.len());
        let table_ids: HashSet<&str> = rows.iter().map(|r| r.bid_id.as_str()).collect();
        let missing: Vec<String> = ids
            .iter()
            .filter(|i| !table_ids.contains(*i))
            .map(|i| i.to_string())
            .collect();
        let extra: Vec<String> = table_ids
            .iter()
            .filter(|i| !ids.contains(*i))
            .map(|i| i.to_string())
            .collect();
        note(
            &mut report.problems,
            "bids of the file missing from the table",
            missing,
        );
        note(
            &mut report.problems,
            "bids of the table missing from the file",
            extra,
        );
    }
    Ok(report)
}

/// Every record of `bids` from the start to the current end: (partition,
/// offset) -> bid id.
fn read_topic(
    settings: &KafkaSettings,
    codec: &dyn BidCodec,
) -> Result<BTreeMap<(i32, i64), String>> {
    let consumer: BaseConsumer = settings.plain_consumer("fjord-auction-verify")?;
    let timeout = Duration::from_secs(15);
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), timeout)
        .map_err(kafka("cannot fetch metadata"))?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for t in metadata.topics().iter().filter(|t| t.name() == TOPIC) {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(TOPIC, p.id(), timeout)
                .map_err(kafka("cannot fetch end offsets"))?;
            if high > low {
                tpl.add_partition_offset(TOPIC, p.id(), Offset::Offset(low))
                    .map_err(kafka("offset list"))?;
                ends.insert(p.id(), high);
            }
        }
    }
    let mut out = BTreeMap::new();
    if ends.is_empty() {
        return Ok(out);
    }
    consumer
        .assign(&tpl)
        .map_err(kafka("cannot assign partitions"))?;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                let id = match m.payload().map(|p| codec.decode(p)) {
                    Some(Ok(bid)) => bid.id,
                    _ => "(not a bid)".to_string(),
                };
                out.insert((m.partition(), m.offset()), id);
                if ends
                    .get(&m.partition())
                    .is_some_and(|end| m.offset() + 1 >= *end)
                {
                    ends.remove(&m.partition());
                }
            }
            Some(Err(e)) => return Err(kafka("cannot read the topic")(e)),
            None if last_progress.elapsed() > timeout => {
                return Err(AuctionError::Codec(format!(
                    "reading `{TOPIC}` made no progress for {timeout:?}"
                )))
            }
            None => {}
        }
    }
    Ok(out)
}

/// Rebuilds the table from the file: lines in partition and offset order
/// (per item the topic's order), so the auction rule gives the same
/// statuses; bid ids already in the table are skipped.
pub async fn restore(path: &Path, store: &BidStore) -> Result<BatchOutcome> {
    let mut contents = read(path)?;
    contents.lines.sort_by_key(|l| (l.partition, l.offset));
    let mut total = BatchOutcome::default();
    let bids: Vec<_> = contents.lines.into_iter().map(|l| l.bid).collect();
    for chunk in bids.chunks(crate::db_writer::MAX_BATCH) {
        let o = store.store_batch(chunk).await?;
        total.accepted += o.accepted;
        total.outbid += o.outbid;
        total.duplicates += o.duplicates;
    }
    Ok(total)
}
