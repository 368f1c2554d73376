//! What differs between SQLite, PostgreSQL and MySQL/MariaDB: the
//! connection URL (JDBC's `jdbc:` forms turned into sqlx's), identifier
//! quoting, bind placeholders and their limits, column types for Connect's
//! types, the upsert clause, and which database errors belong to one record
//! rather than to the connection.

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor as _};

use crate::error::{ConnectError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

/// The type family of a column, as far as writing and reading values
/// goes: each family has one bind representation (see `values.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Integers of any width (the width only matters for DDL).
    Int,
    Float,
    Bool,
    Text,
    Bytes,
    /// Connect's Decimal logical type; bound as decimal text.
    Decimal,
    /// Connect's Date; bound as `YYYY-MM-DD` text.
    Date,
    /// Connect's Time; bound as `HH:MM:SS.fff` text.
    Time,
    /// Connect's Timestamp; bound as `YYYY-MM-DD HH:MM:SS.fff` text.
    Timestamp,
    /// A column type we do not map (json, uuid, enum...): values are bound
    /// as they come and the database decides.
    Other,
}

/// How identifiers are written (`quote.sql.identifiers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    Always,
    Never,
}

impl Dialect {
    /// The dialect of a sqlx URL (after [`to_sqlx_url`]).
    pub fn of_url(url: &str) -> Result<Dialect> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::MySql),
            _ => Err(ConnectError::config(
                "connection.url",
                &redact(url),
                "unsupported database: use jdbc:sqlite:, jdbc:postgresql://, jdbc:mysql:// or \
                 jdbc:mariadb:// (or sqlite:, postgres://, mysql://)",
            )),
        }
    }

    /// The most bind parameters one statement may carry. SQLite: the
    /// bundled libsqlite3-sys 0.30.1 is SQLite 3.46.0, whose
    /// SQLITE_MAX_VARIABLE_NUMBER defaults to 32766 (since 3.32.0).
    /// PostgreSQL's wire protocol counts parameters in an int16 (65535);
    /// MySQL's prepared statements likewise allow 65535.
    pub fn max_params(self) -> usize {
        match self {
            Dialect::Sqlite => 32766,
            Dialect::Postgres | Dialect::MySql => 65535,
        }
    }

    /// The `n`th (1-based) bind placeholder.
    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite | Dialect::MySql => "?".to_string(),
        }
    }

    /// The `n`th placeholder for a value of `kind`: text-bound logical
    /// values are cast to the column's type, since PostgreSQL will not
    /// assign text to a date or numeric column by itself.
    pub fn typed_param(self, n: usize, kind: ColumnKind) -> String {
        let p = self.param(n);
        let target = match (self, kind) {
            (Dialect::Sqlite, _) => return p,
            (Dialect::Postgres, ColumnKind::Decimal) => "DECIMAL",
            (Dialect::MySql, ColumnKind::Decimal) => "DECIMAL(65,30)",
            (_, ColumnKind::Date) => "DATE",
            (Dialect::Postgres, ColumnKind::Time) => "TIME",
            (Dialect::MySql, ColumnKind::Time) => "TIME(3)",
            (Dialect::Postgres, ColumnKind::Timestamp) => "TIMESTAMP",
            (Dialect::MySql, ColumnKind::Timestamp) => "DATETIME(3)",
            _ => return p,
        };
        format!("CAST({p} AS {target})")
    }

    /// Quotes one identifier (a column, or one part of a table name).
    pub fn quote(self, quoting: Quoting, name: &str) -> String {
        if quoting == Quoting::Never {
            return name.to_string();
        }
        match self {
            Dialect::MySql => format!("`{}`", name.replace('`', "``")),
            Dialect::Sqlite | Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// A table name, `schema.table` quoted part by part.
    pub fn quote_table(self, quoting: Quoting, table: &str) -> String {
        table
            .split('.')
            .map(|part| self.quote(quoting, part))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The column type for a Connect type (as Confluent's dialects choose
    /// them). `key` columns get bounded types on MySQL, which cannot index
    /// TEXT or BLOB without a prefix length.
    pub fn column_type(self, kind: ColumnKind, width: IntWidth, scale: u32, key: bool) -> String {
        use ColumnKind as K;
        match self {
            Dialect::Sqlite => match kind {
                K::Int | K::Bool => "INTEGER",
                K::Float => "REAL",
                K::Text | K::Other => "TEXT",
                K::Bytes => "BLOB",
                K::Decimal => "NUMERIC",
                K::Date => "DATE",
                K::Time => "TIME",
                K::Timestamp => "TIMESTAMP",
            }
            .to_string(),
            Dialect::Postgres => match kind {
                K::Int => match width {
                    IntWidth::W8 | IntWidth::W16 => "SMALLINT",
                    IntWidth::W32 => "INT",
                    IntWidth::W64 => "BIGINT",
                },
                K::Float => {
                    if width == IntWidth::W32 {
                        "REAL"
                    } else {
                        "DOUBLE PRECISION"
                    }
                }
                K::Bool => "BOOLEAN",
                K::Text | K::Other => "TEXT",
                K::Bytes => "BYTEA",
                K::Decimal => "DECIMAL",
                K::Date => "DATE",
                K::Time => "TIME",
                K::Timestamp => "TIMESTAMP",
            }
            .to_string(),
            Dialect::MySql => match kind {
                K::Int => match width {
                    IntWidth::W8 => "TINYINT",
                    IntWidth::W16 => "SMALLINT",
                    IntWidth::W32 => "INT",
                    IntWidth::W64 => "BIGINT",
                }
                .to_string(),
                K::Float => if width == IntWidth::W32 {
                    "FLOAT"
                } else {
                    "DOUBLE"
                }
                .to_string(),
                K::Bool => "TINYINT".to_string(),
                K::Text | K::Other => if key { "VARCHAR(256)" } else { "TEXT" }.to_string(),
                K::Bytes => if key { "VARBINARY(1024)" } else { "BLOB" }.to_string(),
                K::Decimal => format!("DECIMAL(65,{})", scale.min(30)),
                K::Date => "DATE".to_string(),
                K::Time => "TIME(3)".to_string(),
                K::Timestamp => "DATETIME(3)".to_string(),
            },
        }
    }

    /// The clause that turns a multi-row INSERT into an upsert on `keys`,
    /// updating `columns` (already quoted).
    pub fn upsert_suffix(self, keys: &[String], columns: &[String]) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => {
                let target = keys.join(", ");
                if columns.is_empty() {
                    format!(" ON CONFLICT ({target}) DO NOTHING")
                } else {
                    let sets: Vec<String> = columns
                        .iter()
                        .map(|c| format!("{c} = EXCLUDED.{c}"))
                        .collect();
                    format!(" ON CONFLICT ({target}) DO UPDATE SET {}", sets.join(", "))
                }
            }
            Dialect::MySql => {
                // With nothing but keys, a no-op assignment keeps the row.
                let sets: Vec<String> = if columns.is_empty() {
                    keys.iter().map(|k| format!("{k} = {k}")).collect()
                } else {
                    columns
                        .iter()
                        .map(|c| format!("{c} = VALUES({c})"))
                        .collect()
                };
                format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
            }
        }
    }

    /// The family of a column from the type name the catalog reports.
    pub fn kind_of_type(self, type_name: &str) -> ColumnKind {
        let t = type_name.to_ascii_lowercase();
        let t = t.trim();
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        if self == Dialect::MySql && (t.starts_with("tinyint(1)") || t == "bit(1)") {
            return ColumnKind::Bool;
        }
        if has(&["bool"]) {
            ColumnKind::Bool
        } else if has(&["int", "serial"]) {
            ColumnKind::Int
        } else if has(&["real", "floa", "doub"]) {
            ColumnKind::Float
        } else if has(&["numeric", "decimal"]) {
            ColumnKind::Decimal
        } else if has(&["timestamp", "datetime"]) {
            ColumnKind::Timestamp
        } else if t.starts_with("date") {
            ColumnKind::Date
        } else if t.starts_with("time") {
            ColumnKind::Time
        } else if has(&["char", "text", "clob", "string"]) {
            ColumnKind::Text
        } else if has(&["blob", "binary", "bytea"]) {
            ColumnKind::Bytes
        } else {
            // Unknown types, and SQLite columns declared without a type.
            ColumnKind::Other
        }
    }

    /// The statement that opens a write transaction. SQLite takes the
    /// write lock up front: a deferred transaction that later writes
    /// cannot wait for another writer (it fails at once, "database is
    /// locked"); IMMEDIATE waits under the busy timeout instead.
    pub fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres | Dialect::MySql => "BEGIN",
        }
    }
}

/// An integer's (or float's) width, for the column type chosen on create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntWidth {
    W8,
    W16,
    W32,
    W64,
}

/// Turns a `connection.url` (JDBC's or sqlx's form) and the optional
/// `connection.user` / `connection.password` into a sqlx URL.
///
/// `jdbc:sqlite:PATH` becomes `sqlite:PATH`; `jdbc:postgresql://h:p/db?user=u&password=x`
/// and `jdbc:mysql://` / `jdbc:mariadb://` become `postgres://u:x@h:p/db` and
/// `mysql://u:x@h:p/db`, the credentials moved from the query string (or
/// the settings, which win) into the authority; other query parameters
/// are kept only when sqlx knows them.
pub fn to_sqlx_url(url: &str, user: Option<&str>, password: Option<&str>) -> Result<String> {
    let bare = url.trim();
    let bare = bare.strip_prefix("jdbc:").unwrap_or(bare);
    let (scheme, rest) = bare.split_once(':').ok_or_else(|| {
        ConnectError::config("connection.url", &redact(url), "not a database URL")
    })?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "sqlite" {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        if path != ":memory:" && !params.iter().any(|p| p.starts_with("mode=")) {
            params.push("mode=rwc");
        }
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        };
        return Ok(format!("sqlite:{path}{query}"));
    }
    let scheme = match scheme.as_str() {
        "postgres" | "postgresql" => "postgres",
        "mysql" | "mariadb" => "mysql",
        _ => return Dialect::of_url(bare).map(|_| String::new()),
    };
    let rest = rest.strip_prefix("//").ok_or_else(|| {
        ConnectError::config(
            "connection.url",
            &redact(url),
            "expected //host after the scheme",
        )
    })?;
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i..]),
        None => (before_query, ""),
    };
    let (mut url_user, mut url_password, host) = match authority.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((u, p)) => (Some(u.to_string()), Some(p.to_string()), host),
            None => (Some(info.to_string()), None, host),
        },
        None => (None, None, authority),
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "user" => url_user = Some(percent_decode(v)),
            "password" => url_password = Some(percent_decode(v)),
            "sslmode"
            | "ssl-mode"
            | "options"
            | "application_name"
            | "sslrootcert"
            | "ssl-ca"
            | "charset"
            | "statement-cache-capacity" => kept.push(pair.to_string()),
            _ => {}
        }
    }
    if let Some(u) = user {
        url_user = Some(u.to_string());
    }
    if let Some(p) = password {
        url_password = Some(p.to_string());
    }
    let userinfo = match (url_user, url_password) {
        (Some(u), Some(p)) => format!("{}:{}@", percent_encode(&u), percent_encode(&p)),
        (Some(u), None) => format!("{}@", percent_encode(&u)),
        (None, _) => String::new(),
    };
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    Ok(format!("{scheme}://{userinfo}{host}{path}{query}"))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let mut out = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    };
    if let Some(i) = out.find("password=") {
        let end = out[i..].find('&').map(|e| i + e).unwrap_or(out.len());
        out.replace_range(i + "password=".len()..end, "***");
    }
    out
}

/// Opens a pool on a sqlx URL, trying `attempts` times `backoff` apart
/// (`connection.attempts`, `connection.backoff.ms`). Sessions use `zone`
/// (`db.timezone`) so naive timestamps mean the same on every connection.
pub async fn connect(
    url: &str,
    attempts: u32,
    backoff: std::time::Duration,
    zone: &str,
) -> Result<(AnyPool, Dialect)> {
    let dialect = Dialect::of_url(url)?;
    sqlx::any::install_default_drivers();
    let setup: Option<String> = match dialect {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some(format!("SET TIME ZONE '{}'", zone.replace('\'', ""))),
        // Named zones need MySQL's time zone tables; UTC is an offset.
        Dialect::MySql if zone.eq_ignore_ascii_case("utc") => {
            Some("SET time_zone = '+00:00'".to_string())
        }
        Dialect::MySql => None,
    };
    let mut last = None;
    for attempt in 1..=attempts.max(1) {
        let setup = setup.clone();
        let options = AnyPoolOptions::new()
            // One SQLite file has one writer at a time anyway.
            .max_connections(if dialect == Dialect::Sqlite { 1 } else { 2 })
            .after_connect(move |conn, _| {
                let setup = setup.clone();
                Box::pin(async move {
                    if let Some(sql) = setup {
                        conn.execute(sqlx::raw_sql(&sql)).await?;
                    }
                    Ok(())
                })
            });
        match options.connect(url).await {
            Ok(pool) => return Ok((pool, dialect)),
            Err(e) => {
                tracing::warn!(attempt, url = %redact(url), error = %e, "cannot connect to the database");
                last = Some(e);
                if attempt < attempts {
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }
    Err(ConnectError::External(format!(
        "cannot connect to {}: {}",
        redact(url),
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// What a database error means for the records being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The record itself cannot be written (a constraint violation, a
    /// value out of range, too long, or of the wrong type): retrying the
    /// records one by one finds which, and only those fail.
    Record,
    /// The connection or the server's state (connection lost, deadlock,
    /// lock timeout, server shutting down): the whole write is retried.
    Transient,
    /// The statement is wrong for every record (a missing table or column,
    /// a permission): retrying cannot help; the task fails.
    Fatal,
}

/// Classifies an error by SQLSTATE class (PostgreSQL, MySQL), MySQL's
/// error number (MySQL puts several bad-value errors under the generic
/// `HY000`), or SQLite's primary result code.
///
/// Record-level: SQLSTATE class 22 (data exception: 22001 too long, 22003
/// out of range, 22007 bad datetime, 22P02 bad text representation) and 23
/// (integrity constraint: unique, not null, foreign key, check); MySQL
/// 1048, 1062, 1264, 1265, 1292, 1366, 1406, 1451, 1452, 1690, 3819, 4025;
/// SQLite SQLITE_CONSTRAINT (19), SQLITE_MISMATCH (20), SQLITE_TOOBIG (18).
/// Fatal: SQLSTATE class 42 (syntax, undefined table or column, privilege)
/// and SQLite's generic SQLITE_ERROR (1), which is how it reports those.
/// Everything else from the server, and every I/O, TLS, protocol or pool
/// error, is transient.
pub fn classify(error: &sqlx::Error) -> ErrorClass {
    match error {
        sqlx::Error::Database(db) => {
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                let n = my.number();
                if [
                    1048, 1062, 1264, 1265, 1292, 1366, 1406, 1451, 1452, 1690, 3819, 4025,
                ]
                .contains(&n)
                {
                    return ErrorClass::Record;
                }
            }
            if let Some(lite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                let code: i32 = sqlx::error::DatabaseError::code(lite)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                return match code & 0xff {
                    18..=20 => ErrorClass::Record,
                    1 => ErrorClass::Fatal,
                    _ => ErrorClass::Transient,
                };
            }
            let state = db.code().map(|c| c.to_string()).unwrap_or_default();
            match state.get(..2) {
                Some("22") | Some("23") => ErrorClass::Record,
                Some("42") => ErrorClass::Fatal,
                _ => ErrorClass::Transient,
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorClass::Transient,
        _ => ErrorClass::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_urls_become_sqlx_urls() {
        assert_eq!(
            to_sqlx_url("jdbc:sqlite:/tmp/a.db", None, None).unwrap(),
            "sqlite:/tmp/a.db?mode=rwc"
        );
        assert_eq!(
            to_sqlx_url("jdbc:sqlite::memory:", None, None).unwrap(),
            "sqlite::memory:"
        );
        // From Confluent's JDBC sink docs: "jdbc:postgresql://localhost/postgres?user=postgres&password=..."
        assert_eq!(
            to_sqlx_url(
                "jdbc:postgresql://localhost:5432/postgres?user=postgres&password=p%40ss&ssl=true",
                None,
                None
            )
            .unwrap(),
            "postgres://postgres:p%40ss@localhost:5432/postgres"
        );
        assert_eq!(
            to_sqlx_url("jdbc:mariadb://db:3306/shop", Some("app"), Some("s3cret")).unwrap(),
            "mysql://app:s3cret@db:3306/shop"
        );
        assert_eq!(
            to_sqlx_url("postgres://u@h/db?sslmode=disable", None, None).unwrap(),
            "postgres://u@h/db?sslmode=disable"
        );
        assert!(to_sqlx_url("jdbc:oracle:thin:@h:1521", None, None).is_err());
        assert_eq!(
            redact("jdbc:mysql://h/db?user=a&password=x&z=1"),
            "jdbc:mysql://h/db?user=a&password=***&z=1"
        );
    }

    #[test]
    fn catalog_type_names_map_to_kinds() {
        let d = Dialect::Postgres;
        assert_eq!(
            d.kind_of_type("timestamp without time zone"),
            ColumnKind::Timestamp
        );
        assert_eq!(d.kind_of_type("character varying"), ColumnKind::Text);
        assert_eq!(d.kind_of_type("double precision"), ColumnKind::Float);
        assert_eq!(d.kind_of_type("date"), ColumnKind::Date);
        assert_eq!(d.kind_of_type("time without time zone"), ColumnKind::Time);
        assert_eq!(Dialect::MySql.kind_of_type("tinyint(1)"), ColumnKind::Bool);
        assert_eq!(Dialect::MySql.kind_of_type("tinyint(4)"), ColumnKind::Int);
        assert_eq!(d.kind_of_type("jsonb"), ColumnKind::Other);
    }

    #[tokio::test]
    async fn sqlite_errors_are_classified_by_result_code() {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        pool.execute(sqlx::raw_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL CHECK (length(v) < 3))",
        ))
        .await
        .unwrap();
        pool.execute(sqlx::raw_sql("INSERT INTO t VALUES (1, 'a')"))
            .await
            .unwrap();
        for (sql, class) in [
            ("INSERT INTO t VALUES (1, 'b')", ErrorClass::Record),
            ("INSERT INTO t VALUES (2, NULL)", ErrorClass::Record),
            ("INSERT INTO t VALUES (3, 'long')", ErrorClass::Record),
            ("INSERT INTO t VALUES ('x', 'a')", ErrorClass::Record),
            ("INSERT INTO missing VALUES (1)", ErrorClass::Fatal),
            ("INSERT INTO t (nope) VALUES (1)", ErrorClass::Fatal),
        ] {
            let err = pool.execute(sqlx::raw_sql(sql)).await.unwrap_err();
            assert_eq!(classify(&err), class, "{sql}: {err}");
        }
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), ErrorClass::Transient);
    }
}
