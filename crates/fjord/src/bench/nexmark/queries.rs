//! Nexmark's queries as fjord-streams topologies over the generator's JSON
//! topics, each writing JSON to `nexmark-<q>-fjord`. They compute what the
//! Flink DataStream jobs in bench/flink compute, so the two can be timed
//! side by side on the same topics:
//!
//! - q0 pass-through: every bid, decoded and written back;
//! - q1 projection: the price in euros (`price * 0.908`);
//! - q2 filter: bids with `auction % 123 == 0`, as (auction, price);
//! - q3 join: persons in OR, ID or CA with their category-10 auctions
//!   (a stream-stream join on the person, its window a day wide: in a
//!   run, a regular join);
//! - q5 hot items: bids per auction in 10 s windows every 2 s (EMIT
//!   FINAL), then per window start the auction with the most;
//! - q7 highest bid: per 10 s tumbling window over all bids (one key);
//! - q8 new users: persons and the auctions they opened in the same 10 s
//!   tumbling window (a window join), one row per pair.
//!
//! Persons and auctions are keyed by person (see the generator), so q3 and
//! q8 join without a repartition. Windows over a source topic have no
//! grace, as the Flink jobs' watermarks allow no out-of-orderness. Where
//! records come through a repartition topic (q7's single key), two tasks
//! write into one partition and their records interleave out of order by
//! by many seconds of event time (the consumer reads one partition ahead
//! of the other); Flink's watermark is the minimum over its inputs and
//! waits for the slower one, here a grace of `REPARTITION_GRACE_MS` does
//! (5 s was not enough: a bid 10 s behind was dropped). The last window of each task stays open (nothing later closes
//! it), where Flink's bounded sources close every window at the end: an
//! output or so per task fewer in q5, q7 and q8.

use std::collections::BTreeMap;

use fjord_streams::{
    Aggregate, Emit, Format, JoinKind, Record, Result, StreamsBuilder, TimeWindows, Topology,
    Value, WindowKind,
};

use super::generator::{AUCTION_TOPIC, BID_TOPIC, PERSON_TOPIC};

pub const QUERIES: &[&str] = &["q0", "q1", "q2", "q3", "q5", "q7", "q8"];

/// Grace of windows over repartitioned records (see above).
const REPARTITION_GRACE_MS: i64 = 60_000;

/// The topics a query reads.
pub fn inputs(query: &str) -> &'static [&'static str] {
    match query {
        "q3" | "q8" => &[PERSON_TOPIC, AUCTION_TOPIC],
        _ => &[BID_TOPIC],
    }
}

pub fn output_topic(query: &str) -> String {
    format!("nexmark-{query}-fjord")
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.field(name).unwrap_or(&Value::Null)
}

fn int(v: &Value, name: &str) -> i64 {
    field(v, name).as_i64().unwrap_or(0)
}

fn object(fields: &[(&str, Value)]) -> Value {
    Value::Struct(
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn window_start(r: &Record) -> i64 {
    r.window.map_or(0, |w| w.start)
}

/// The topology of `query` (one of `QUERIES`), its application id
/// `fjord-nexmark-<q>-<run>`.
pub fn topology(query: &str, run: &str) -> Result<Topology> {
    let b = StreamsBuilder::new(format!("fjord-nexmark-{query}-{run}"));
    let out = output_topic(query);
    let bids = || b.stream(BID_TOPIC, Format::String, Format::Json);
    match query {
        "q0" => bids().to(out, Format::String, Format::Json),
        "q1" => bids()
            .map_values(|r| {
                let v = &r.value;
                Ok(object(&[
                    ("auction", field(v, "auction").clone()),
                    ("bidder", field(v, "bidder").clone()),
                    ("price", Value::Double(int(v, "price") as f64 * 0.908)),
                    ("dateTime", field(v, "dateTime").clone()),
                ]))
            })
            .to(out, Format::String, Format::Json),
        "q2" => bids()
            .filter(|r| Ok(int(&r.value, "auction") % 123 == 0))
            .map_values(|r| {
                Ok(object(&[
                    ("auction", field(&r.value, "auction").clone()),
                    ("price", field(&r.value, "price").clone()),
                ]))
            })
            .to(out, Format::String, Format::Json),
        "q3" => {
            let persons = b
                .stream(PERSON_TOPIC, Format::String, Format::Json)
                .filter(|r| {
                    Ok(matches!(
                        field(&r.value, "state").as_str(),
                        Some("OR" | "ID" | "CA")
                    ))
                });
            // Auctions are keyed by seller (see the generator).
            let auctions = b
                .stream(AUCTION_TOPIC, Format::String, Format::Json)
                .filter(|r| Ok(int(&r.value, "category") == 10));
            persons
                .join(
                    &auctions,
                    "q3-join",
                    JoinKind::Inner,
                    86_400_000,
                    0,
                    |person, auction| {
                        Ok(object(&[
                            ("name", field(person, "name").clone()),
                            ("city", field(person, "city").clone()),
                            ("state", field(person, "state").clone()),
                            ("id", field(auction, "id").clone()),
                        ]))
                    },
                    None,
                )
                .to(out, Format::String, Format::Json)
        }
        "q5" => bids()
            .window_aggregate(
                "q5-counts",
                WindowKind::Time(TimeWindows::hopping(10_000, 2_000)),
                Aggregate::Count,
                |_| Value::Null,
                Emit::Final,
                None,
            )
            .map_values(|r| Ok(Value::Array(vec![r.value.clone(), r.key.clone()])))
            .select_key(|r| Ok(Value::String(window_start(r).to_string())))
            // [count, -offset, auction]: the largest is the hottest auction,
            // the first to reach a count keeping it (the aggregation emits
            // on change: a new row only when the count grows, as Flink's
            // job does).
            .aggregate("q5-hottest", Aggregate::Max, |r| {
                let first = r.source.as_ref().map_or(0, |s| -s.offset);
                match &r.value {
                    Value::Array(pair) if pair.len() == 2 => {
                        Value::Array(vec![pair[0].clone(), Value::Int(first), pair[1].clone()])
                    }
                    other => other.clone(),
                }
            })
            .map_values(|r| {
                let (num, auction) = match &r.value {
                    Value::Array(v) if v.len() == 3 => (v[0].clone(), v[2].clone()),
                    _ => (Value::Null, Value::Null),
                };
                let start = r.key.as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                // The auction id as the number it is in the events.
                let auction = match auction.as_str().map(str::parse::<i64>) {
                    Some(Ok(id)) => Value::Int(id),
                    _ => auction,
                };
                Ok(object(&[
                    ("auction", auction),
                    ("num", num),
                    ("starttime", Value::Int(start)),
                ]))
            })
            .to(out, Format::String, Format::Json),
        "q7" => bids()
            // Only what the window needs crosses the repartition topic
            // (as Flink's job maps bids to a small tuple before its
            // window): [price, auction, bidder], compared as a whole.
            .map_values(|r| {
                Ok(Value::Array(vec![
                    field(&r.value, "price").clone(),
                    field(&r.value, "auction").clone(),
                    field(&r.value, "bidder").clone(),
                ]))
            })
            .select_key(|_| Ok(Value::String("all".into())))
            .window_aggregate(
                "q7-highest",
                WindowKind::Time(TimeWindows::tumbling(10_000).grace(REPARTITION_GRACE_MS)),
                Aggregate::Max,
                |r| r.value.clone(),
                Emit::Final,
                None,
            )
            .map_values(|r| {
                let [price, auction, bidder] = match &r.value {
                    Value::Array(v) if v.len() == 3 => [v[0].clone(), v[1].clone(), v[2].clone()],
                    _ => [Value::Null, Value::Null, Value::Null],
                };
                Ok(object(&[
                    ("auction", auction),
                    ("bidder", bidder),
                    ("price", price),
                    ("starttime", Value::Int(window_start(r))),
                ]))
            })
            .to(out, Format::String, Format::Json),
        "q8" => {
            let persons = b.stream(PERSON_TOPIC, Format::String, Format::Json);
            let auctions = b.stream(AUCTION_TOPIC, Format::String, Format::Json);
            persons
                .join(
                    &auctions,
                    "q8-join",
                    JoinKind::Inner,
                    10_000,
                    0,
                    |person, auction| {
                        // The same tumbling 10 s window, or no row.
                        let window = |t: i64| t - t.rem_euclid(10_000);
                        let start = window(int(person, "dateTime"));
                        if start != window(int(auction, "dateTime")) {
                            return Ok(Value::Null);
                        }
                        Ok(object(&[
                            ("id", field(person, "id").clone()),
                            ("name", field(person, "name").clone()),
                            ("starttime", Value::Int(start)),
                        ]))
                    },
                    None,
                )
                .filter(|r| Ok(!r.value.is_null()))
                .to(out, Format::String, Format::Json)
        }
        other => {
            return Err(fjord_streams::Error::Topology(format!(
                "no Nexmark query {other} (there are {})",
                QUERIES.join(", ")
            )))
        }
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::nexmark::generator::Generator;

    /// The topology's outputs to `topic` for the generator's first `n`
    /// events, all run through one task (repartition topics fed back).
    fn run(query: &str, n: usize) -> Vec<fjord_streams::Output> {
        let topology = topology(query, "test").unwrap();
        let mut task = topology.task(0);
        let mut g = Generator::new(1_000_000);
        let mut queue: std::collections::VecDeque<fjord_streams::Output> = (0..n)
            .map(|_| {
                let e = g.next_event();
                fjord_streams::Output {
                    topic: e.topic.to_string(),
                    partition: None,
                    key: Some(e.key.into()),
                    value: Some(e.value.into()),
                    timestamp: e.timestamp,
                    headers: Vec::new(),
                }
            })
            .collect();
        let mut out = Vec::new();
        let mut offset = 0;
        let sources = topology.source_topics();
        while let Some(r) = queue.pop_front() {
            offset += 1;
            if !sources.contains(&r.topic) {
                continue;
            }
            let produced = task
                .process(
                    &r.topic,
                    0,
                    offset,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    r.timestamp,
                    Vec::new(),
                )
                .unwrap();
            for o in produced {
                if o.topic.ends_with("-repartition") {
                    queue.push_back(o);
                } else if o.topic == output_topic(query) {
                    out.push(o);
                }
            }
        }
        out
    }

    #[test]
    fn q5_writes_a_window_again_only_when_its_top_count_grows() {
        let out = run("q5", 60_000);
        let mut by_start: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for o in &out {
            let v: serde_json::Value = serde_json::from_slice(o.value.as_deref().unwrap()).unwrap();
            by_start
                .entry(v["starttime"].as_i64().unwrap())
                .or_default()
                .push(v["num"].as_i64().unwrap());
        }
        assert!(by_start.len() >= 5, "{} windows", by_start.len());
        for (start, nums) in by_start {
            assert!(
                nums.windows(2).all(|w| w[0] < w[1]),
                "window {start}: {nums:?}"
            );
        }
    }

    #[test]
    fn q7_writes_each_window_once() {
        // 150 s of event time: windows close 60 s (the grace) after their end.
        let out = run("q7", 150_000);
        let mut starts: Vec<_> = out.iter().map(|o| o.key.clone()).collect();
        let all = starts.len();
        starts.sort();
        starts.dedup();
        assert_eq!(starts.len(), all, "a window written twice");
        assert!(all >= 3, "{all} windows");
    }
}
