//! The dashboard's data: one snapshot built from the table (and the groups'
//! lag) every refresh, served as JSON and pushed over SSE.

use std::collections::VecDeque;

use serde::Serialize;

use crate::error::Result;
use crate::items::Catalog;
use crate::store::{BidRow, BidStore, BidderRow, ItemStats};
use crate::time;

/// One item as the pages, the API and the dashboard show it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ItemView {
    #[serde(flatten)]
    pub stats: ItemStats,
    pub description: String,
    pub starting_price: i64,
    pub closes_at: String,
    pub closes_at_ms: i64,
    pub open: bool,
    pub time_left: String,
    /// The leader once the item has closed.
    pub winner: Option<String>,
}

impl ItemView {
    pub fn new(item: &crate::items::Item, stats: Option<&ItemStats>, now: i64) -> ItemView {
        let stats = stats.cloned().unwrap_or_else(|| ItemStats {
            item: item.name.clone(),
            ..ItemStats::default()
        });
        let open = item.is_open(now);
        ItemView {
            winner: if open { None } else { stats.leader.clone() },
            stats,
            description: item.description.clone(),
            starting_price: item.starting_price,
            closes_at: time::rfc3339(item.closes_at_ms),
            closes_at_ms: item.closes_at_ms,
            open,
            time_left: time::time_left(item.closes_at_ms, now),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupLag {
    pub group: String,
    pub total: i64,
    /// (partition, lag)
    pub partitions: Vec<(i32, i64)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dashboard {
    pub now: i64,
    pub total_bids: i64,
    pub items: Vec<ItemView>,
    /// (epoch ms, bids in the minute before it)
    pub bids_per_minute: Vec<(i64, i64)>,
    pub top_bidders: Vec<BidderRow>,
    /// (price range, bids in it) over the latest bids
    pub price_histogram: Vec<(String, i64)>,
    pub latest: Vec<BidRow>,
    pub lag: Vec<GroupLag>,
    /// Records in the dead-letter topic (records of `bids` that were not
    /// bids, once per group that met them); `None` when it cannot be read.
    pub dead_letters: Option<i64>,
    pub dead_letter_topic: String,
    /// From the stream statistics (`stats`): bids that arrived after their
    /// minute closed (`bids-late`), and each item's latest minute.
    pub late_bids: Option<i64>,
    pub minutes: Vec<crate::stats::MinuteStats>,
}

/// Samples of the table's row count over time, for bids per minute.
#[derive(Default)]
pub struct RateTracker {
    samples: VecDeque<(i64, i64)>,
}

/// How long the bids-per-minute chart reaches back.
const RATE_WINDOW_MS: i64 = 15 * 60_000;
/// One point per this many ms on the chart.
const RATE_STEP_MS: i64 = 5_000;

impl RateTracker {
    /// Records `total` at `now` and returns the chart's points.
    pub fn observe(&mut self, now: i64, total: i64) -> Vec<(i64, i64)> {
        if self.samples.back().is_none_or(|(t, _)| now - t >= 1_000) {
            self.samples.push_back((now, total));
        }
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now - t > RATE_WINDOW_MS + 60_000)
        {
            self.samples.pop_front();
        }
        let at = |t: i64| -> Option<i64> {
            // The count at the latest sample not after t.
            self.samples
                .iter()
                .rev()
                .find(|(st, _)| *st <= t)
                .map(|(_, c)| *c)
        };
        let mut points = Vec::new();
        let first = self.samples.front().map(|(t, _)| *t).unwrap_or(now);
        let mut t = now;
        while t >= first && now - t <= RATE_WINDOW_MS {
            let earlier = at(t - 60_000).or(self.samples.front().map(|(_, c)| *c));
            if let (Some(c), Some(e)) = (at(t), earlier) {
                points.push((t, (c - e).max(0)));
            }
            t -= RATE_STEP_MS;
        }
        points.reverse();
        points
    }
}

/// Ten equal-width price ranges over `prices`.
pub fn histogram(prices: &[i64]) -> Vec<(String, i64)> {
    let (Some(&min), Some(&max)) = (prices.iter().min(), prices.iter().max()) else {
        return Vec::new();
    };
    let buckets = 10i64;
    let width = ((max - min) / buckets + 1).max(1);
    let mut counts = vec![0i64; buckets as usize];
    for p in prices {
        counts[(((p - min) / width).min(buckets - 1)) as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let lo = min + i as i64 * width;
            (format!("{lo}-{}", lo + width - 1), n)
        })
        .collect()
}

impl Dashboard {
    /// The snapshot with the dead-letter topic's size.
    pub fn with_dead_letters(mut self, topic: &str, records: Option<i64>) -> Dashboard {
        self.dead_letter_topic = topic.to_string();
        self.dead_letters = records;
        self
    }

    /// The snapshot with the stream statistics' figures.
    pub fn with_stream_stats(
        mut self,
        late_bids: Option<i64>,
        minutes: Vec<crate::stats::MinuteStats>,
    ) -> Dashboard {
        self.late_bids = late_bids;
        self.minutes = minutes;
        self
    }

    pub async fn build(
        store: &BidStore,
        catalog: &Catalog,
        rates: &mut RateTracker,
        lag: &[(String, Vec<(i32, i64)>)],
    ) -> Result<Dashboard> {
        let now = time::now_ms();
        let stats = store.item_stats().await?;
        let total_bids = store.count().await?;
        let mut items: Vec<ItemView> = catalog
            .items
            .iter()
            .map(|i| ItemView::new(i, stats.iter().find(|s| s.item == i.name), now))
            .collect();
        // Bids on items since removed from the file still count.
        for s in stats.iter().filter(|s| catalog.get(&s.item).is_none()) {
            items.push(ItemView {
                stats: s.clone(),
                time_left: "closed".into(),
                ..ItemView::default()
            });
        }
        Ok(Dashboard {
            now,
            total_bids,
            items,
            bids_per_minute: rates.observe(now, total_bids),
            top_bidders: store.top_bidders(10).await?,
            price_histogram: histogram(&store.recent_prices(2000).await?),
            latest: store.bids(Some(15)).await?,
            lag: lag
                .iter()
                .map(|(group, parts)| GroupLag {
                    group: group.clone(),
                    total: parts.iter().map(|(_, l)| l).sum(),
                    partitions: parts.clone(),
                })
                .collect(),
            dead_letters: None,
            dead_letter_topic: String::new(),
            late_bids: None,
            minutes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_covers_every_price_once() {
        let h = histogram(&[1, 5, 10, 100, 100]);
        assert_eq!(h.len(), 10);
        assert_eq!(h.iter().map(|(_, n)| n).sum::<i64>(), 5);
        assert_eq!(h[0], ("1-10".to_string(), 3));
        assert!(histogram(&[]).is_empty());
        assert_eq!(histogram(&[7]).iter().map(|(_, n)| n).sum::<i64>(), 1);
    }

    #[test]
    fn rate_counts_the_last_minute() {
        let mut r = RateTracker::default();
        r.observe(0, 0);
        r.observe(30_000, 10);
        let points = r.observe(60_000, 25);
        assert_eq!(points.last(), Some(&(60_000, 25)));
        let points = r.observe(90_000, 25);
        assert_eq!(points.last(), Some(&(90_000, 15)));
    }
}
