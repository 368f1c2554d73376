//! The SQL that differs between SQLite, PostgreSQL and MySQL/MariaDB. Every
//! other statement is written once in the common subset.

use crate::error::{AuctionError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

impl Dialect {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Dialect> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::MySql),
            _ => Err(AuctionError::DatabaseUrl(redact(url))),
        }
    }

    /// The `n`th (1-based) bind parameter.
    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite | Dialect::MySql => "?".to_string(),
        }
    }

    /// Statements that create the table `bid` and its index when missing.
    /// `id` auto-increments as in the seed; `bid_id` is unique so a bid
    /// delivered twice is stored once.
    pub fn create_table(self) -> Vec<&'static str> {
        match self {
            Dialect::Sqlite => vec![
                "CREATE TABLE IF NOT EXISTS bid (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    bid_id TEXT NOT NULL UNIQUE,
                    item TEXT NOT NULL,
                    name TEXT NOT NULL,
                    price BIGINT NOT NULL,
                    bid_ts TEXT NOT NULL,
                    status TEXT NOT NULL)",
                "CREATE INDEX IF NOT EXISTS bid_item_price ON bid (item, status, price)",
            ],
            Dialect::Postgres => vec![
                "CREATE TABLE IF NOT EXISTS bid (
                    id BIGSERIAL PRIMARY KEY,
                    bid_id VARCHAR(36) NOT NULL UNIQUE,
                    item VARCHAR(64) NOT NULL,
                    name VARCHAR(64) NOT NULL,
                    price BIGINT NOT NULL,
                    bid_ts TIMESTAMP(3) NOT NULL,
                    status VARCHAR(8) NOT NULL)",
                "CREATE INDEX IF NOT EXISTS bid_item_price ON bid (item, status, price)",
            ],
            // MySQL has no CREATE INDEX IF NOT EXISTS: the index is inline.
            Dialect::MySql => vec![
                "CREATE TABLE IF NOT EXISTS bid (
                    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                    bid_id VARCHAR(36) NOT NULL UNIQUE,
                    item VARCHAR(64) NOT NULL,
                    name VARCHAR(64) NOT NULL,
                    price BIGINT NOT NULL,
                    bid_ts DATETIME(3) NOT NULL,
                    status VARCHAR(8) NOT NULL,
                    INDEX bid_item_price (item, status, price)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            ],
        }
    }

    /// A bind parameter holding `YYYY-MM-DD HH:MM:SS.mmm` text, as a value
    /// for the `bid_ts` column.
    pub fn timestamp_param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => self.param(n),
            Dialect::Postgres => format!("CAST({} AS TIMESTAMP(3))", self.param(n)),
            Dialect::MySql => format!("CAST({} AS DATETIME(3))", self.param(n)),
        }
    }

    /// `bid_ts` read back as text.
    pub fn timestamp_text(self) -> &'static str {
        match self {
            Dialect::Sqlite => "bid_ts",
            Dialect::Postgres => "to_char(bid_ts, 'YYYY-MM-DD HH24:MI:SS.MS')",
            Dialect::MySql => "DATE_FORMAT(bid_ts, '%Y-%m-%d %H:%i:%s.%f')",
        }
    }

    /// Ends a multi-row INSERT so rows whose `bid_id` is already stored
    /// are skipped, not an error.
    pub fn insert_suffix(self) -> &'static str {
        match self {
            Dialect::Sqlite | Dialect::Postgres => " ON CONFLICT (bid_id) DO NOTHING",
            Dialect::MySql => " ON DUPLICATE KEY UPDATE bid_id = bid_id",
        }
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_dialect_and_hide_passwords() {
        assert_eq!(Dialect::from_url("sqlite://x.db").unwrap(), Dialect::Sqlite);
        assert_eq!(
            Dialect::from_url("postgresql://u@h/db").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(
            Dialect::from_url("mysql://u:p@h/db").unwrap(),
            Dialect::MySql
        );
        let err = Dialect::from_url("oracle://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("oracle://u:***@h/db") && !err.contains("secret"),
            "{err}"
        );
        assert_eq!(Dialect::Postgres.param(3), "$3");
    }
}
