//! `fjord auction backup verify` and `backup restore`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use serde::Serialize;

use super::read;
use crate::codec::{BidCodec, TOPIC};
use crate::dead_letter::{self, NotBids};
use crate::error::{AuctionError, Result};
use crate::kafka::{self, KafkaSettings};
use crate::store::{BatchOutcome, BidStore};

/// What `backup verify` found. `problems` is empty when the file, the topic
/// and the table agree.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub file_lines: usize,
    pub topic_records: Option<usize>,
    pub table_rows: Option<usize>,
    /// Records of the topic that are not bids and are in the dead-letter
    /// topic (so not missing from the file: no writer could store them).
    pub dead_lettered: usize,
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
            "the last {} bytes are a torn write (a partial last line or block; the backup writer cuts it off when it starts)",
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
        let (records, not_bids) = tokio::task::spawn_blocking({
            let settings = settings.clone();
            move || read_topic(&settings, codec.as_ref())
        })
        .await
        .map_err(|e| AuctionError::Codec(format!("topic reader failed: {e}")))??;
        report.topic_records = Some(records.len() + not_bids.len());
        let (mut missing, mut differ) = (Vec::new(), Vec::new());
        for (key, id) in &records {
            match by_offset.get(key) {
                None => missing.push(format!("{}@{}", key.0, key.1)),
                Some(file_id) if file_id != id => differ.push(format!("{}@{}", key.0, key.1)),
                Some(_) => {}
            }
        }
        // A line where the topic has no bid at all differs from it too.
        differ.extend(
            by_offset
                .keys()
                .filter(|k| not_bids.contains_key(k))
                .map(|k| format!("{}@{}", k.0, k.1)),
        );
        let extra: Vec<String> = by_offset
            .keys()
            .filter(|k| !records.contains_key(k) && !not_bids.contains_key(k))
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
        if !not_bids.is_empty() {
            let letters = tokio::task::spawn_blocking(move || dead_letter::read_all(&settings))
                .await
                .map_err(|e| AuctionError::Codec(format!("dead-letter reader failed: {e}")))??;
            let (found, lost) = dead_letter::account(&not_bids, &letters);
            report.dead_lettered = found;
            note(
                &mut report.problems,
                "records that are not bids, in neither the file nor the dead-letter topic",
                lost.iter().map(|(p, o)| format!("{p}@{o}")).collect(),
            );
        }
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

/// Bid ids by (partition, offset).
type BidIds = BTreeMap<(i32, i64), String>;

/// Every record of `bids` from the start to the current end: the bids'
/// ids, and the records that are not bids.
fn read_topic(settings: &KafkaSettings, codec: &dyn BidCodec) -> Result<(BidIds, NotBids)> {
    let consumer: BaseConsumer = settings.plain_consumer("fjord-auction-verify")?;
    let (mut bids, mut not_bids) = (BTreeMap::new(), NotBids::new());
    kafka::read_to_end(&consumer, TOPIC, |m| {
        let key = (m.partition(), m.offset());
        match m.payload().map(|p| codec.decode(p)) {
            Some(Ok(bid)) => {
                bids.insert(key, bid.id);
            }
            _ => {
                not_bids.insert(key, m.payload().map(<[u8]>::to_vec));
            }
        }
    })?;
    Ok((bids, not_bids))
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
