//! What the website shares between requests, and the loop that keeps it
//! fresh: the items file, the table's per-item highest bids, the dashboard.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::FutureProducer;
use tokio::sync::watch;

use super::dashboard::{Dashboard, ItemView, RateTracker};
use crate::bid::{validate, Bid, BidRejection, BidRequest};
use crate::codec::BidCodec;
use crate::error::Result;
use crate::items::Catalog;
use crate::kafka::{self, KafkaSettings, BACKUP_GROUP, DB_GROUP};
use crate::store::{BidStore, ItemStats};
use crate::time;

/// How often the dashboard is rebuilt when no bid arrives (time left,
/// bids per minute and lag move on without new rows).
const REFRESH: Duration = Duration::from_millis(500);
/// How often the table's last row id is probed: a new bid is on the
/// dashboard within about this of its row being committed. It also bounds
/// how often the whole dashboard (a dozen queries, aggregates over the
/// table) is rebuilt under a steady stream of bids.
const PROBE: Duration = Duration::from_millis(100);
/// How often the groups' lag and the dead-letter topic's size are read
/// from the broker.
const BROKER_FIGURES_EVERY: Duration = Duration::from_secs(2);

pub struct WebState {
    items_path: PathBuf,
    catalog: RwLock<(Arc<Catalog>, Option<SystemTime>)>,
    producer: FutureProducer,
    codec: Arc<dyn BidCodec>,
    pub(crate) store: BidStore,
    /// Per item, from the table: highest accepted bid, count, leader.
    stats: RwLock<Arc<HashMap<String, ItemStats>>>,
    /// Highest price this website produced per item: the table lags the
    /// topic by a batch, and a bidder who just bid 50 must not be allowed
    /// 40 by the next request.
    produced: Mutex<HashMap<String, (i64, String)>>,
    /// The latest dashboard, pushed to every open SSE stream.
    pub(crate) dashboard: watch::Sender<Arc<Dashboard>>,
    /// Consumers that never join a group: for the groups' lag (one per
    /// group), and for the stream statistics' topics.
    lag_consumers: Option<Arc<(BaseConsumer, BaseConsumer, BaseConsumer)>>,
    /// The dead-letter topic, whose size the dashboard shows.
    dead_letter_topic: String,
}

/// Why a bid was not added.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("{0}")]
    Rejected(#[from] BidRejection),
    #[error("the bid could not be recorded, please try again ({0})")]
    Unavailable(String),
}

impl WebState {
    pub fn new(
        settings: &KafkaSettings,
        items_path: PathBuf,
        store: BidStore,
        codec: Arc<dyn BidCodec>,
    ) -> Result<Arc<WebState>> {
        let catalog = Catalog::load(&items_path)?;
        let mtime = std::fs::metadata(&items_path)
            .and_then(|m| m.modified())
            .ok();
        let lag_consumers = match (
            settings.plain_consumer(DB_GROUP),
            settings.plain_consumer(BACKUP_GROUP),
            settings.committed_reader("auction-dashboard"),
        ) {
            (Ok(a), Ok(b), Ok(c)) => Some(Arc::new((a, b, c))),
            _ => None,
        };
        Ok(Arc::new(WebState {
            items_path,
            catalog: RwLock::new((Arc::new(catalog), mtime)),
            producer: settings.producer()?,
            codec,
            store,
            stats: RwLock::new(Arc::new(HashMap::new())),
            produced: Mutex::new(HashMap::new()),
            dashboard: watch::channel(Arc::new(Dashboard::default())).0,
            lag_consumers,
            dead_letter_topic: settings.dead_letter.topic.clone(),
        }))
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("catalog lock").0.clone()
    }

    pub fn stats(&self) -> Arc<HashMap<String, ItemStats>> {
        self.stats.read().expect("stats lock").clone()
    }

    /// The highest bid this website knows for `item`.
    pub fn known_highest(&self, item: &str) -> Option<i64> {
        let table = self.stats().get(item).and_then(|s| s.highest);
        let produced = self
            .produced
            .lock()
            .expect("produced lock")
            .get(item)
            .map(|(p, _)| *p);
        table.max(produced)
    }

    /// Validates, produces and waits for the broker's acknowledgement.
    /// Returns the bid and the highest bid known afterwards.
    pub async fn place(&self, req: &BidRequest) -> Result<(Bid, i64), PlaceError> {
        let catalog = self.catalog();
        let bid = validate(req, &catalog, |i| self.known_highest(i), time::now_ms())?;
        let value = self
            .codec
            .encode(&bid)
            .map_err(|e| PlaceError::Unavailable(e.to_string()))?;
        kafka::produce(&self.producer, &bid.item, &value)
            .await
            .map_err(|e| PlaceError::Unavailable(e.to_string()))?;
        let highest = {
            let mut produced = self.produced.lock().expect("produced lock");
            let e = produced
                .entry(bid.item.clone())
                .or_insert_with(|| (bid.price, bid.name.clone()));
            if bid.price > e.0 {
                *e = (bid.price, bid.name.clone());
            }
            e.0
        };
        let highest = self.known_highest(&bid.item).unwrap_or(highest);
        Ok((bid, highest))
    }

    /// Every item as the pages show it: the table's figures, with a bid
    /// this website produced and the table does not hold yet as the highest
    /// (so a bidder sees their own bid at once).
    pub fn item_views(&self) -> Vec<ItemView> {
        let now = time::now_ms();
        let stats = self.stats();
        let produced = self.produced.lock().expect("produced lock").clone();
        self.catalog()
            .items
            .iter()
            .map(|i| {
                let mut v = ItemView::new(i, stats.get(&i.name), now);
                if let Some((price, name)) = produced.get(&i.name) {
                    if v.stats.highest.is_none_or(|h| *price > h) {
                        v.stats.highest = Some(*price);
                        v.stats.leader = Some(name.clone());
                        if !v.open {
                            v.winner = Some(name.clone());
                        }
                    }
                }
                v
            })
            .collect()
    }

    /// Reloads the items file when it changed (e.g. `fjord auction item add`).
    fn reload_catalog(&self) {
        let mtime = std::fs::metadata(&self.items_path)
            .and_then(|m| m.modified())
            .ok();
        if mtime == self.catalog.read().expect("catalog lock").1 {
            return;
        }
        match Catalog::load(&self.items_path) {
            Ok(c) => *self.catalog.write().expect("catalog lock") = (Arc::new(c), mtime),
            Err(e) => {
                tracing::warn!(error = %e, "keeping the previous items: the file does not load")
            }
        }
    }
}

/// Refreshes the items, the per-item stats and the dashboard until aborted.
pub(crate) async fn refresh_loop(state: Arc<WebState>) {
    let mut rates = RateTracker::default();
    let mut broker = BrokerFigures::default();
    let mut lag_read_at: Option<tokio::time::Instant> = None;
    loop {
        let deadline = tokio::time::Instant::now() + REFRESH;
        // Taken before the build: a row stored while it runs moves the id
        // past this and triggers the next build at once.
        let seen = state.store.last_row_id().await.ok();
        state.reload_catalog();
        if lag_read_at.is_none_or(|t| t.elapsed() >= BROKER_FIGURES_EVERY) {
            lag_read_at = Some(tokio::time::Instant::now());
            if let Some(consumers) = state.lag_consumers.clone() {
                broker = read_broker_figures(consumers, state.dead_letter_topic.clone()).await;
            }
        }
        match Dashboard::build(&state.store, &state.catalog(), &mut rates, &broker.lag).await {
            Ok(d) => {
                let stats: HashMap<String, ItemStats> = d
                    .items
                    .iter()
                    .map(|i| (i.stats.item.clone(), i.stats.clone()))
                    .collect();
                *state.stats.write().expect("stats lock") = Arc::new(stats);
                let d = d
                    .with_dead_letters(&state.dead_letter_topic, broker.dead_letters)
                    .with_stream_stats(broker.late_bids, broker.minutes.clone());
                state.dashboard.send_replace(Arc::new(d));
            }
            Err(e) => tracing::warn!(error = %e, "cannot refresh the dashboard"),
        }
        wait_for_rows(&state.store, seen, deadline).await;
    }
}

/// What the dashboard reads from the broker rather than the table.
#[derive(Default)]
struct BrokerFigures {
    /// Both groups' lag per partition (empty when the broker does not
    /// answer).
    lag: Vec<(String, Vec<(i32, i64)>)>,
    /// Records in the dead-letter topic (`None`: not known).
    dead_letters: Option<i64>,
    /// Records in `bids-late` (`None`: not known, or no statistics yet).
    late_bids: Option<i64>,
    minutes: Vec<crate::stats::MinuteStats>,
}

/// Reads both groups' lag and the dead-letter topic's size, in one blocking
/// call through the lag consumers (no group joined, nothing committed).
async fn read_broker_figures(
    consumers: Arc<(BaseConsumer, BaseConsumer, BaseConsumer)>,
    dead_letter_topic: String,
) -> BrokerFigures {
    let got = tokio::task::spawn_blocking(move || {
        let db = kafka::group_lag(&consumers.0);
        let backup = kafka::group_lag(&consumers.1);
        let dead_letters = kafka::topic_records(&consumers.0, &dead_letter_topic);
        let late = kafka::topic_records(&consumers.0, crate::stats::LATE_TOPIC);
        let minutes = crate::stats::latest_minutes(&consumers.2);
        (db, backup, dead_letters, late, minutes)
    })
    .await;
    let Ok((db, backup, dead_letters, late, minutes)) = got else {
        return BrokerFigures::default();
    };
    BrokerFigures {
        lag: match (db, backup) {
            (Ok(db), Ok(backup)) => vec![
                (DB_GROUP.to_string(), db),
                (BACKUP_GROUP.to_string(), backup),
            ],
            _ => Vec::new(),
        },
        dead_letters: dead_letters.ok(),
        late_bids: late.ok(),
        minutes: minutes.unwrap_or_default(),
    }
}

/// Returns at `deadline`, or sooner once the table's last row id is no
/// longer `seen` (new bids stored). Without a baseline, or when a probe
/// fails, it just waits for the deadline.
async fn wait_for_rows(store: &BidStore, seen: Option<i64>, deadline: tokio::time::Instant) {
    if let Some(seen) = seen {
        while tokio::time::Instant::now() + PROBE < deadline {
            tokio::time::sleep(PROBE).await;
            match store.last_row_id().await {
                Ok(id) if id != seen => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    tokio::time::sleep_until(deadline).await;
}
