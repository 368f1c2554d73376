//! The statements the sink runs: multi-row INSERT (plain or upsert),
//! UPDATE by key, and multi-row DELETE by key. A statement is built for a
//! run of rows of one shape; bind values follow row by row, each row's
//! columns in the order given (key columns first).

use super::dialect::{ColumnKind, Dialect, Quoting};

/// The columns of a statement: names and the family each value binds as.
#[derive(Debug, Clone)]
pub struct Shape<'a> {
    pub dialect: Dialect,
    pub quoting: Quoting,
    pub table: &'a str,
    pub columns: Vec<(String, ColumnKind)>,
    /// The first `key_count` columns are the primary key.
    pub key_count: usize,
}

impl Shape<'_> {
    fn quoted(&self, range: std::ops::Range<usize>) -> Vec<String> {
        self.columns[range]
            .iter()
            .map(|(name, _)| self.dialect.quote(self.quoting, name))
            .collect()
    }

    fn table(&self) -> String {
        self.dialect.quote_table(self.quoting, self.table)
    }

    /// `(p1, p2, ...)` for `kinds`, numbering from `next`.
    fn tuple(&self, kinds: &[(String, ColumnKind)], next: &mut usize) -> String {
        let params: Vec<String> = kinds
            .iter()
            .map(|(_, kind)| {
                *next += 1;
                self.dialect.typed_param(*next, *kind)
            })
            .collect();
        format!("({})", params.join(", "))
    }

    /// Bind parameters per row of an INSERT.
    pub fn params_per_row(&self) -> usize {
        self.columns.len()
    }

    /// `INSERT INTO t (...) VALUES (...), (...)` for `rows` rows; with
    /// `upsert`, rows whose key exists update the other columns instead.
    pub fn insert(&self, rows: usize, upsert: bool) -> String {
        let all = self.quoted(0..self.columns.len());
        let mut next = 0;
        let tuples: Vec<String> = (0..rows)
            .map(|_| self.tuple(&self.columns, &mut next))
            .collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table(),
            all.join(", "),
            tuples.join(", ")
        );
        if upsert {
            let keys = self.quoted(0..self.key_count);
            let rest = self.quoted(self.key_count..self.columns.len());
            sql.push_str(&self.dialect.upsert_suffix(&keys, &rest));
        }
        sql
    }

    /// `UPDATE t SET v = ... WHERE k = ...` for one row; binds go value
    /// columns first, then key columns (see [`Shape::update_order`]).
    pub fn update(&self) -> String {
        let mut next = 0;
        let sets: Vec<String> = self.columns[self.key_count..]
            .iter()
            .map(|(name, kind)| {
                next += 1;
                format!(
                    "{} = {}",
                    self.dialect.quote(self.quoting, name),
                    self.dialect.typed_param(next, *kind)
                )
            })
            .collect();
        let conditions: Vec<String> = self.columns[..self.key_count]
            .iter()
            .map(|(name, kind)| {
                next += 1;
                format!(
                    "{} = {}",
                    self.dialect.quote(self.quoting, name),
                    self.dialect.typed_param(next, *kind)
                )
            })
            .collect();
        format!(
            "UPDATE {} SET {} WHERE {}",
            self.table(),
            sets.join(", "),
            conditions.join(" AND ")
        )
    }

    /// The order an UPDATE binds a row's values in (indices into the row).
    pub fn update_order(&self) -> Vec<usize> {
        (self.key_count..self.columns.len())
            .chain(0..self.key_count)
            .collect()
    }

    /// `DELETE FROM t WHERE (k1, k2) IN ((...), (...))` for `rows` keys.
    pub fn delete(&self, rows: usize) -> String {
        let keys = self.quoted(0..self.key_count);
        let key_kinds = &self.columns[..self.key_count];
        let mut next = 0;
        if self.key_count == 1 {
            let params: Vec<String> = (0..rows)
                .map(|_| {
                    next += 1;
                    self.dialect.typed_param(next, key_kinds[0].1)
                })
                .collect();
            return format!(
                "DELETE FROM {} WHERE {} IN ({})",
                self.table(),
                keys[0],
                params.join(", ")
            );
        }
        let tuples: Vec<String> = (0..rows)
            .map(|_| self.tuple(key_kinds, &mut next))
            .collect();
        format!(
            "DELETE FROM {} WHERE ({}) IN ({})",
            self.table(),
            keys.join(", "),
            tuples.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(dialect: Dialect) -> Shape<'static> {
        Shape {
            dialect,
            quoting: Quoting::Always,
            table: "orders",
            columns: vec![
                ("id".into(), ColumnKind::Int),
                ("price".into(), ColumnKind::Decimal),
                ("note".into(), ColumnKind::Text),
            ],
            key_count: 1,
        }
    }

    #[test]
    fn statements_per_dialect() {
        assert_eq!(
            shape(Dialect::Postgres).insert(2, true),
            "INSERT INTO \"orders\" (\"id\", \"price\", \"note\") VALUES ($1, CAST($2 AS DECIMAL), $3), \
             ($4, CAST($5 AS DECIMAL), $6) ON CONFLICT (\"id\") DO UPDATE SET \"price\" = EXCLUDED.\"price\", \
             \"note\" = EXCLUDED.\"note\""
        );
        assert_eq!(
            shape(Dialect::MySql).insert(1, true),
            "INSERT INTO `orders` (`id`, `price`, `note`) VALUES (?, CAST(? AS DECIMAL(65,30)), ?) \
             ON DUPLICATE KEY UPDATE `price` = VALUES(`price`), `note` = VALUES(`note`)"
        );
        assert_eq!(
            shape(Dialect::Postgres).update(),
            "UPDATE \"orders\" SET \"price\" = CAST($1 AS DECIMAL), \"note\" = $2 WHERE \"id\" = $3"
        );
        assert_eq!(
            shape(Dialect::Sqlite).delete(2),
            "DELETE FROM \"orders\" WHERE \"id\" IN (?, ?)"
        );
        let mut two = shape(Dialect::Sqlite);
        two.key_count = 2;
        assert_eq!(
            two.delete(2),
            "DELETE FROM \"orders\" WHERE (\"id\", \"price\") IN ((?, ?), (?, ?))"
        );
    }
}
