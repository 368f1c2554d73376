//! The SQL table `bid`, on SQLite, PostgreSQL or MySQL/MariaDB (chosen by
//! URL), through one sqlx `Any` pool.
//!
//! [`BidStore::store_batch`] is where the auction rule is settled: bids
//! arrive in partition order, and every item lives in one partition, so
//! walking a batch in order and comparing each bid with the highest accepted
//! price of its item (from the table, then from the batch) gives every item
//! strictly increasing accepted prices. A bid id already in the table is
//! skipped, so redelivery after a crash stores nothing twice.

mod dialect;
mod queries;

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::Row;

pub use dialect::{redact, Dialect};
pub use queries::{BidRow, BidderRow, ItemStats};

use crate::bid::Bid;
use crate::error::{db, Result};
use crate::time;

/// `status` of a bid that beat every earlier bid on its item.
pub const ACCEPTED: &str = "accepted";
/// `status` of a bid that did not: it never counts as the highest.
pub const OUTBID: &str = "outbid";

/// Rows per INSERT statement: 200 rows x 6 parameters stays far below every
/// backend's parameter limit (SQLite's 32766 is the lowest).
const ROWS_PER_INSERT: usize = 200;

#[derive(Clone)]
pub struct BidStore {
    pool: AnyPool,
    dialect: Dialect,
}

/// What one batch did to the table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    pub accepted: usize,
    pub outbid: usize,
    /// Bids whose id was already stored (redelivered records).
    pub duplicates: usize,
}

impl BidStore {
    /// Connects and creates the table when it is missing. A SQLite file is
    /// created when missing; its journal is switched to WAL so readers (the
    /// website) never block the writers.
    pub async fn connect(url: &str) -> Result<BidStore> {
        let dialect = Dialect::from_url(url)?;
        sqlx::any::install_default_drivers();
        let url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 8 })
            .connect(&url)
            .await
            .map_err(db(format!("cannot connect to {}", redact(&url))))?;
        let store = BidStore { pool, dialect };
        if dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&store.pool)
                .await
                .map_err(db("cannot switch SQLite to WAL"))?;
        }
        store.create_table().await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn create_table(&self) -> Result<()> {
        for statement in self.dialect.create_table() {
            // Two writers starting together can race on PostgreSQL's catalog
            // ("duplicate key ... pg_type") even with IF NOT EXISTS: the
            // loser retries once and then finds the table.
            if let Err(first) = sqlx::query(statement).execute(&self.pool).await {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                sqlx::query(statement)
                    .execute(&self.pool)
                    .await
                    .map_err(|_| first)
                    .map_err(db("cannot create table bid"))?;
            }
        }
        Ok(())
    }

    /// Stores bids given in partition order (per item), in one transaction.
    pub async fn store_batch(&self, bids: &[Bid]) -> Result<BatchOutcome> {
        let mut outcome = BatchOutcome::default();
        if bids.is_empty() {
            return Ok(outcome);
        }
        let d = self.dialect;
        // SQLite: take the write lock up front. A deferred transaction that
        // reads first and then writes cannot wait for the other DB writer's
        // commit (SQLite refuses the upgrade at once, "database is locked",
        // without calling the busy handler); IMMEDIATE waits its turn under
        // the busy timeout instead.
        let begin = if d == Dialect::Sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        };
        let mut tx = begin.map_err(db("cannot begin"))?;

        let mut seen: HashSet<String> = HashSet::new();
        for chunk in bids.chunks(ROWS_PER_INSERT) {
            let list = (1..=chunk.len())
                .map(|n| d.param(n))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT bid_id FROM bid WHERE bid_id IN ({list})");
            let mut q = sqlx::query(&sql);
            for b in chunk {
                q = q.bind(b.id.clone());
            }
            for row in q
                .fetch_all(&mut *tx)
                .await
                .map_err(db("cannot look up bid ids"))?
            {
                seen.insert(row.try_get(0).map_err(db("bid_id"))?);
            }
        }

        let items: Vec<&str> = {
            let mut v: Vec<&str> = bids.iter().map(|b| b.item.as_str()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut highest: HashMap<String, i64> = HashMap::new();
        for chunk in items.chunks(ROWS_PER_INSERT) {
            let list = (1..=chunk.len())
                .map(|n| d.param(n + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT item, MAX(price) FROM bid WHERE status = {} AND item IN ({list}) GROUP BY item",
                d.param(1)
            );
            let mut q = sqlx::query(&sql).bind(ACCEPTED);
            for item in chunk {
                q = q.bind(item.to_string());
            }
            for row in q
                .fetch_all(&mut *tx)
                .await
                .map_err(db("cannot read highest bids"))?
            {
                let item: String = row.try_get(0).map_err(db("item"))?;
                let max: Option<i64> = row.try_get(1).map_err(db("max(price)"))?;
                if let Some(max) = max {
                    highest.insert(item, max);
                }
            }
        }

        let mut rows: Vec<(&Bid, &'static str)> = Vec::with_capacity(bids.len());
        for bid in bids {
            if !seen.insert(bid.id.clone()) {
                outcome.duplicates += 1;
                continue;
            }
            let best = highest.get(&bid.item).copied();
            if best.is_some_and(|h| bid.price <= h) {
                outcome.outbid += 1;
                rows.push((bid, OUTBID));
            } else {
                highest.insert(bid.item.clone(), bid.price);
                outcome.accepted += 1;
                rows.push((bid, ACCEPTED));
            }
        }

        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len());
            for i in 0..chunk.len() {
                let n = i * 6;
                values.push(format!(
                    "({}, {}, {}, {}, {}, {})",
                    d.param(n + 1),
                    d.param(n + 2),
                    d.param(n + 3),
                    d.param(n + 4),
                    d.timestamp_param(n + 5),
                    d.param(n + 6)
                ));
            }
            let sql = format!(
                "INSERT INTO bid (bid_id, item, name, price, bid_ts, status) VALUES {}{}",
                values.join(", "),
                d.insert_suffix()
            );
            let mut q = sqlx::query(&sql);
            for (bid, status) in chunk {
                q = q
                    .bind(bid.id.clone())
                    .bind(bid.item.clone())
                    .bind(bid.name.clone())
                    .bind(bid.price)
                    .bind(time::sql_timestamp(bid.bid_ts))
                    .bind(*status);
            }
            q.execute(&mut *tx)
                .await
                .map_err(db("cannot insert bids"))?;
        }
        tx.commit().await.map_err(db("cannot commit bids"))?;
        Ok(outcome)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(id: &str, item: &str, price: i64) -> Bid {
        Bid {
            id: id.into(),
            item: item.into(),
            name: format!("n-{id}"),
            price,
            bid_ts: 1_700_000_000_000,
        }
    }

    #[tokio::test]
    async fn the_auction_rule_and_redelivery_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = BidStore::connect(&url).await.unwrap();
        let first = store
            .store_batch(&[
                bid("1", "lamp", 10),
                bid("2", "lamp", 10),
                bid("3", "vase", 5),
                bid("4", "lamp", 12),
            ])
            .await
            .unwrap();
        assert_eq!(
            first,
            BatchOutcome {
                accepted: 3,
                outbid: 1,
                duplicates: 0
            }
        );
        // Redelivered ids are skipped; the rule sees the stored highest (12).
        let again = BidStore::connect(&url).await.unwrap();
        let second = again
            .store_batch(&[
                bid("4", "lamp", 12),
                bid("5", "lamp", 11),
                bid("6", "lamp", 13),
                bid("6", "lamp", 13),
            ])
            .await
            .unwrap();
        assert_eq!(
            second,
            BatchOutcome {
                accepted: 1,
                outbid: 1,
                duplicates: 2
            }
        );
        let rows = store.bids(None).await.unwrap();
        let got: Vec<(&str, i64, &str)> = rows
            .iter()
            .map(|r| (r.bid_id.as_str(), r.price, r.status.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("1", 10, ACCEPTED),
                ("2", 10, OUTBID),
                ("3", 5, ACCEPTED),
                ("4", 12, ACCEPTED),
                ("5", 11, OUTBID),
                ("6", 13, ACCEPTED)
            ]
        );
        assert_eq!(rows[0].bid_ts, "2023-11-14 22:13:20.000");
        let stats = store.item_stats().await.unwrap();
        let lamp = stats.iter().find(|s| s.item == "lamp").unwrap();
        assert_eq!((lamp.bids, lamp.highest, lamp.outbid), (5, Some(13), 2));
        assert_eq!(lamp.leader.as_deref(), Some("n-6"));
        assert_eq!(store.count().await.unwrap(), 6);
        assert_eq!(store.top_bidders(3).await.unwrap().len(), 3);
        assert_eq!(store.recent_prices(2).await.unwrap(), [13, 11]);
    }
}
