//! Read queries for the website, the dashboard, `backup verify` and tests.

use serde::Serialize;
use sqlx::Row;

use super::{BidStore, ACCEPTED, OUTBID};
use crate::error::{db, Result};

/// One item's bids as the table has them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ItemStats {
    pub item: String,
    pub bids: i64,
    /// Highest accepted price.
    pub highest: Option<i64>,
    /// Who bid it.
    pub leader: Option<String>,
    pub outbid: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BidderRow {
    pub name: String,
    pub bids: i64,
    pub highest: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BidRow {
    pub id: i64,
    pub bid_id: String,
    pub item: String,
    pub name: String,
    pub price: i64,
    pub bid_ts: String,
    pub status: String,
}

impl BidStore {
    /// Per item: bid count, highest accepted price and its bidder, outbid count.
    pub async fn item_stats(&self) -> Result<Vec<ItemStats>> {
        let d = self.dialect;
        let sql = format!(
            "SELECT item, COUNT(*), COUNT(CASE WHEN status = {} THEN 1 END) FROM bid GROUP BY item",
            d.param(1)
        );
        let rows = sqlx::query(&sql)
            .bind(OUTBID)
            .fetch_all(&self.pool)
            .await
            .map_err(db("cannot count bids"))?;
        let mut stats = Vec::with_capacity(rows.len());
        for row in rows {
            stats.push(ItemStats {
                item: row.try_get(0).map_err(db("item"))?,
                bids: row.try_get(1).map_err(db("count"))?,
                outbid: row.try_get(2).map_err(db("outbid count"))?,
                ..ItemStats::default()
            });
        }
        // Accepted prices rise strictly per item, so the highest accepted
        // bid of an item is one row.
        let sql = format!(
            "SELECT b.item, b.name, b.price FROM bid b WHERE b.status = {p} AND b.price = \
             (SELECT MAX(c.price) FROM bid c WHERE c.item = b.item AND c.status = {p2})",
            p = d.param(1),
            p2 = d.param(2)
        );
        let rows = sqlx::query(&sql)
            .bind(ACCEPTED)
            .bind(ACCEPTED)
            .fetch_all(&self.pool)
            .await
            .map_err(db("cannot read highest bids"))?;
        for row in rows {
            let item: String = row.try_get(0).map_err(db("item"))?;
            if let Some(s) = stats.iter_mut().find(|s| s.item == item) {
                s.leader = Some(row.try_get(1).map_err(db("name"))?);
                s.highest = Some(row.try_get(2).map_err(db("price"))?);
            }
        }
        Ok(stats)
    }

    /// Bidders with the most bids.
    pub async fn top_bidders(&self, limit: i64) -> Result<Vec<BidderRow>> {
        let sql = format!(
            "SELECT name, COUNT(*) AS n, MAX(price) FROM bid GROUP BY name ORDER BY n DESC, name LIMIT {}",
            limit.clamp(1, 1000)
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db("cannot read top bidders"))?;
        rows.into_iter()
            .map(|row| {
                Ok(BidderRow {
                    name: row.try_get(0).map_err(db("name"))?,
                    bids: row.try_get(1).map_err(db("count"))?,
                    highest: row.try_get(2).map_err(db("max(price)"))?,
                })
            })
            .collect()
    }

    /// The most recently stored bids, newest first (`limit` rows; all of
    /// them, oldest first, when `limit` is `None`).
    pub async fn bids(&self, limit: Option<i64>) -> Result<Vec<BidRow>> {
        let order = match limit {
            Some(n) => format!("ORDER BY id DESC LIMIT {}", n.clamp(1, 100_000)),
            None => "ORDER BY id".to_string(),
        };
        let sql = format!(
            "SELECT id, bid_id, item, name, price, {}, status FROM bid {order}",
            self.dialect.timestamp_text()
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db("cannot read bids"))?;
        rows.into_iter().map(bid_row).collect()
    }

    /// Every bid on one item in the order the DB writers stored them (per
    /// item, the topic's partition order).
    pub async fn item_bids(&self, item: &str) -> Result<Vec<BidRow>> {
        let sql = format!(
            "SELECT id, bid_id, item, name, price, {}, status FROM bid WHERE item = {} ORDER BY id",
            self.dialect.timestamp_text(),
            self.dialect.param(1)
        );
        let rows = sqlx::query(&sql)
            .bind(item.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db("cannot read bids"))?;
        rows.into_iter().map(bid_row).collect()
    }

    /// Prices of the latest `limit` bids, for the price distribution.
    pub async fn recent_prices(&self, limit: i64) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT price FROM bid ORDER BY id DESC LIMIT {}",
            limit.clamp(1, 100_000)
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db("cannot read prices"))?;
        rows.into_iter()
            .map(|row| row.try_get(0).map_err(db("price")))
            .collect()
    }

    /// The highest row id (0 for an empty table): a cheap probe (the
    /// primary key's last entry) that changes whenever a bid is stored.
    pub async fn last_row_id(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM bid")
            .fetch_one(&self.pool)
            .await
            .map_err(db("cannot read the last bid id"))?;
        row.try_get(0).map_err(db("last bid id"))
    }

    /// Rows in the table.
    pub async fn count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM bid")
            .fetch_one(&self.pool)
            .await
            .map_err(db("cannot count bids"))?;
        row.try_get(0).map_err(db("count"))
    }
}

fn bid_row(row: sqlx::any::AnyRow) -> Result<BidRow> {
    Ok(BidRow {
        id: row.try_get(0).map_err(db("id"))?,
        bid_id: row.try_get(1).map_err(db("bid_id"))?,
        item: row.try_get(2).map_err(db("item"))?,
        name: row.try_get(3).map_err(db("name"))?,
        price: row.try_get(4).map_err(db("price"))?,
        bid_ts: row.try_get(5).map_err(db("bid_ts"))?,
        status: row.try_get(6).map_err(db("status"))?,
    })
}
