//! `fjord auction load`: bidders bidding through the website's JSON API at
//! a given total rate for a given time, for demos, tests and benchmarks.
//! Blocking (one thread per bidder, ureq), so latencies measure the website,
//! not a shared client runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Website base URL, e.g. http://127.0.0.1:5000
    pub url: String,
    /// Concurrent bidders (threads), each with its own name.
    pub bidders: usize,
    /// Total bids per second over all bidders (0: as fast as they can).
    pub rate: f64,
    pub duration: Duration,
    /// Items to bid on (empty: every open item the website lists).
    pub items: Vec<String>,
}

/// What happened; latencies in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct LoadReport {
    pub sent: u64,
    pub added: u64,
    /// Refused by the website (mostly "not above the highest bid" races).
    pub refused: u64,
    /// Transport errors and 5xx.
    pub errors: u64,
    pub seconds: f64,
    pub bids_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Ids of the bids the website added.
    #[serde(skip)]
    pub added_ids: Vec<String>,
}

#[derive(Deserialize)]
struct ItemInfo {
    item: String,
    open: bool,
    highest: Option<i64>,
    starting_price: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {url}/api/items: {message}")]
    Items { url: String, message: String },
    #[error("no open item to bid on")]
    NoItems,
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn fetch_items(agent: &ureq::Agent, url: &str) -> Result<Vec<ItemInfo>, LoadError> {
    let err = |message: String| LoadError::Items {
        url: url.to_string(),
        message,
    };
    let mut resp = agent
        .get(format!("{url}/api/items"))
        .call()
        .map_err(|e| err(e.to_string()))?;
    resp.body_mut()
        .read_json::<Vec<ItemInfo>>()
        .map_err(|e| err(e.to_string()))
}

/// A small xorshift generator: the load needs cheap variety, not quality.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// Runs the plan; blocks until it is done.
pub fn run(plan: &LoadPlan) -> Result<LoadReport, LoadError> {
    let url = plan.url.trim_end_matches('/').to_string();
    let agent = new_agent();
    let listed = fetch_items(&agent, &url)?;
    let items: Vec<(String, i64)> = listed
        .iter()
        .filter(|i| i.open && (plan.items.is_empty() || plan.items.contains(&i.item)))
        .map(|i| (i.item.clone(), i.highest.unwrap_or(i.starting_price - 1)))
        .collect();
    if items.is_empty() {
        return Err(LoadError::NoItems);
    }
    // Shared view of the highest price per item, raised by every answer.
    let highest = Arc::new(Mutex::new(items));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let report = Arc::new(Mutex::new(LoadReport::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let bidders = plan.bidders.max(1);
    let interval = if plan.rate > 0.0 {
        Some(Duration::from_secs_f64(bidders as f64 / plan.rate))
    } else {
        None
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for n in 0..bidders {
            let (highest, latencies, report, stop, url) = (
                highest.clone(),
                latencies.clone(),
                report.clone(),
                stop.clone(),
                url.clone(),
            );
            s.spawn(move || {
                let agent = new_agent();
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((n as u64 + 1) * 0x1000_0001));
                let name = format!("bidder-{n:03}");
                // Spread the bidders' first requests over one interval.
                let mut next = started
                    + interval
                        .map(|i| i.mul_f64(n as f64 / bidders as f64))
                        .unwrap_or_default();
                while started.elapsed() < plan.duration && !stop.load(Ordering::Relaxed) {
                    if let Some(i) = interval {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += i;
                    }
                    let (item, price) = {
                        let h = highest.lock().expect("highest");
                        let (item, top) = &h[rng.next(h.len() as u64) as usize];
                        (item.clone(), top + 1 + rng.next(5) as i64)
                    };
                    let body = serde_json::json!({"item": item, "name": name, "price": price});
                    let t = Instant::now();
                    let result = agent.post(format!("{url}/api/bids")).send_json(&body);
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    let mut r = report.lock().expect("report");
                    r.sent += 1;
                    match result {
                        Ok(mut resp) => {
                            let status = resp.status().as_u16();
                            let v: serde_json::Value =
                                resp.body_mut().read_json().unwrap_or_default();
                            if let Some(top) = v.get("highest").and_then(|h| h.as_i64()) {
                                let mut h = highest.lock().expect("highest");
                                if let Some(e) = h.iter_mut().find(|(i, _)| *i == item) {
                                    e.1 = e.1.max(top);
                                }
                            }
                            match status {
                                201 => {
                                    r.added += 1;
                                    if let Some(id) = v.pointer("/bid/id").and_then(|i| i.as_str())
                                    {
                                        r.added_ids.push(id.to_string());
                                    }
                                    latencies.lock().expect("latencies").push(ms);
                                }
                                400..=499 => {
                                    r.refused += 1;
                                    // "must be above the highest bid of N": learn N.
                                    if v.get("code").and_then(|c| c.as_str())
                                        == Some("not_above_highest")
                                    {
                                        let msg =
                                            v.get("error").and_then(|e| e.as_str()).unwrap_or("");
                                        if let Some(top) = msg
                                            .rsplit(' ')
                                            .next()
                                            .and_then(|t| t.parse::<i64>().ok())
                                        {
                                            let mut h = highest.lock().expect("highest");
                                            if let Some(e) = h.iter_mut().find(|(i, _)| *i == item)
                                            {
                                                e.1 = e.1.max(top);
                                            }
                                        }
                                    }
                                }
                                _ => r.errors += 1,
                            }
                        }
                        Err(_) => r.errors += 1,
                    }
                }
            });
        }
    });
    let mut report = Arc::try_unwrap(report)
        .map(|m| m.into_inner().expect("report"))
        .unwrap_or_else(|a| a.lock().expect("report").clone());
    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]
        }
    };
    report.seconds = started.elapsed().as_secs_f64();
    report.bids_per_second = report.added as f64 / report.seconds.max(1e-9);
    report.p50_ms = pct(0.50);
    report.p99_ms = pct(0.99);
    report.max_ms = lat.last().copied().unwrap_or(0.0);
    Ok(report)
}
