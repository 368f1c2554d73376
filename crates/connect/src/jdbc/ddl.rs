//! Tables as the sink finds and shapes them: reading a table's columns
//! from the catalog, `auto.create` (CREATE TABLE from the records'
//! columns) and `auto.evolve` (ALTER TABLE ADD COLUMN for fields the table
//! lacks). Evolution only adds columns: a new field that is required and
//! has no default, or a field whose type no longer fits its column, is an
//! error naming the table and the column, never a silent change.

use sqlx::{AnyConnection, Row as _};

use super::dialect::{ColumnKind, Dialect, Quoting};
use super::rows::ColumnSpec;
use super::values::{json_text, to_sql, SqlValue};
use crate::error::ConnectError;

/// A column the table has.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// As the catalog says it (`numeric(10,2)` for PostgreSQL's numerics
    /// with a scale, MySQL's full `column_type`, SQLite's declared type).
    pub type_name: String,
    pub kind: ColumnKind,
    pub nullable: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    pub columns: Vec<ColumnInfo>,
}

impl TableInfo {
    /// The column for a field: the same name, or the same name in another
    /// case (PostgreSQL folds unquoted names to lower case).
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }
}

/// Reads `table`'s columns; None when it does not exist.
pub async fn describe(
    conn: &mut AnyConnection,
    dialect: Dialect,
    table: &str,
) -> Result<Option<TableInfo>, sqlx::Error> {
    let (schema, name) = match table.rsplit_once('.') {
        Some((s, n)) => (Some(s), n),
        None => (None, table),
    };
    let mut columns = Vec::new();
    match dialect {
        Dialect::Sqlite => {
            let pragma = match schema {
                Some(s) => format!(
                    "PRAGMA \"{}\".table_info(\"{}\")",
                    s.replace('"', "\"\""),
                    name.replace('"', "\"\"")
                ),
                None => format!("PRAGMA table_info(\"{}\")", name.replace('"', "\"\"")),
            };
            for row in sqlx::query(&pragma).fetch_all(&mut *conn).await? {
                let type_name: String = row.try_get(2)?;
                let notnull: i64 = row.try_get(3)?;
                columns.push(ColumnInfo {
                    name: row.try_get(1)?,
                    kind: dialect.kind_of_type(&type_name),
                    type_name,
                    nullable: notnull == 0,
                });
            }
        }
        Dialect::Postgres | Dialect::MySql => {
            let sql = if dialect == Dialect::Postgres {
                "SELECT CAST(column_name AS TEXT), \
                 CASE WHEN data_type = 'numeric' AND numeric_scale IS NOT NULL \
                 THEN 'numeric(' || numeric_precision || ',' || numeric_scale || ')' \
                 ELSE CAST(data_type AS TEXT) END, CAST(is_nullable AS TEXT) \
                 FROM information_schema.columns \
                 WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 \
                 ORDER BY ordinal_position"
            } else {
                "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR), CAST(is_nullable AS CHAR) \
                 FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                 ORDER BY ordinal_position"
            };
            let rows = sqlx::query(sql)
                .bind(schema.map(str::to_string))
                .bind(name.to_string())
                .fetch_all(&mut *conn)
                .await?;
            for row in rows {
                let type_name = text_at(&row, 1)?;
                let nullable = text_at(&row, 2)?;
                columns.push(ColumnInfo {
                    name: text_at(&row, 0)?,
                    kind: dialect.kind_of_type(&type_name),
                    type_name,
                    nullable: nullable.eq_ignore_ascii_case("YES"),
                });
            }
        }
    }
    Ok(if columns.is_empty() {
        None
    } else {
        Some(TableInfo { columns })
    })
}

impl ColumnInfo {
    /// The scale in a type name like `decimal(10,2)`.
    pub fn scale(&self) -> Option<u32> {
        let inside = self.type_name.split_once('(')?.1.split_once(')')?.0;
        inside.split_once(',')?.1.trim().parse().ok()
    }
}

/// A text column that MySQL may report as a BLOB (`CAST(... AS CHAR)` of
/// a LONGTEXT is still long text, which sqlx's `Any` calls a blob).
pub fn text_at(row: &sqlx::any::AnyRow, index: usize) -> Result<String, sqlx::Error> {
    match row.try_get::<String, _>(index) {
        Ok(text) => Ok(text),
        Err(_) => {
            let bytes: Vec<u8> = row.try_get(index)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// `CREATE TABLE` for these columns, the key columns as primary key.
pub fn create_table_sql(
    dialect: Dialect,
    quoting: Quoting,
    table: &str,
    columns: &[ColumnSpec],
) -> String {
    let mut parts: Vec<String> = columns
        .iter()
        .map(|c| column_definition(dialect, quoting, c))
        .collect();
    let keys: Vec<String> = columns
        .iter()
        .filter(|c| c.key)
        .map(|c| dialect.quote(quoting, &c.name))
        .collect();
    if !keys.is_empty() {
        parts.push(format!("PRIMARY KEY({})", keys.join(", ")));
    }
    format!(
        "CREATE TABLE {} (\n{})",
        dialect.quote_table(quoting, table),
        parts.join(",\n")
    )
}

/// One `ALTER TABLE ... ADD` per column (SQLite adds one at a time).
pub fn add_columns_sql(
    dialect: Dialect,
    quoting: Quoting,
    table: &str,
    columns: &[ColumnSpec],
) -> Vec<String> {
    columns
        .iter()
        .map(|c| {
            let add = if dialect == Dialect::Postgres {
                "ADD COLUMN"
            } else {
                "ADD"
            };
            format!(
                "ALTER TABLE {} {add} {}",
                dialect.quote_table(quoting, table),
                column_definition(dialect, quoting, c)
            )
        })
        .collect()
}

fn column_definition(dialect: Dialect, quoting: Quoting, c: &ColumnSpec) -> String {
    let mut def = format!(
        "{} {}",
        dialect.quote(quoting, &c.name),
        dialect.column_type(c.kind, c.width, c.scale, c.key)
    );
    if let Some(default) = c.default.as_ref().filter(|d| !d.is_null()) {
        // MySQL refuses defaults on TEXT and BLOB columns.
        let text_like = matches!(
            c.kind,
            ColumnKind::Text | ColumnKind::Bytes | ColumnKind::Other
        );
        if !(dialect == Dialect::MySql && text_like && !c.key) {
            if let Some(literal) = default_literal(dialect, c, default) {
                def.push_str(" DEFAULT ");
                def.push_str(&literal);
            }
        }
    }
    def.push_str(if c.optional { " NULL" } else { " NOT NULL" });
    def
}

/// A default value as an SQL literal.
fn default_literal(dialect: Dialect, c: &ColumnSpec, value: &crate::data::Value) -> Option<String> {
    let Ok(sql) = to_sql(value, c.schema.as_deref(), c.kind, &jiff::tz::TimeZone::UTC) else {
        return Some(format!("'{}'", json_text(value).replace('\'', "''")));
    };
    Some(match sql {
        SqlValue::Null(_) => "NULL".to_string(),
        SqlValue::Bool(b) => match dialect {
            Dialect::Postgres => b.to_string().to_uppercase(),
            _ => i32::from(b).to_string(),
        },
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) => f.to_string(),
        SqlValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
        SqlValue::Bytes(b) => match dialect {
            Dialect::Postgres => format!(
                "'\\x{}'",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
            _ => format!(
                "X'{}'",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
        },
    })
}

/// Whether a field of `field` kind may be written to a column of `column`
/// kind (widening and text forms the database parses), without changing
/// the column.
pub fn fits(field: ColumnKind, column: ColumnKind) -> bool {
    use ColumnKind as K;
    field == column
        || column == K::Other
        || matches!(
            (field, column),
            (K::Int, K::Float | K::Decimal | K::Bool | K::Timestamp)
                | (K::Bool, K::Int)
                | (K::Float, K::Decimal)
                | (K::Decimal, K::Float)
                | (K::Text, K::Date | K::Time | K::Timestamp | K::Decimal)
        )
}

/// The columns to add so `table` can take `columns`, or the task error
/// that explains why it cannot (evolution off, a required field without
/// default, a changed type).
pub fn plan_evolution(
    table: &str,
    info: &TableInfo,
    columns: &[ColumnSpec],
    auto_evolve: bool,
) -> Result<Vec<ColumnSpec>, ConnectError> {
    let mut missing = Vec::new();
    for c in columns {
        match info.column(&c.name) {
            Some(existing) => {
                if c.known && !fits(c.kind, existing.kind) {
                    return Err(ConnectError::External(format!(
                        "table {table:?}: column {:?} is {} but the record's field is now {:?}; \
                         auto.evolve only adds columns and cannot change a column's type",
                        existing.name, existing.type_name, c.kind
                    )));
                }
            }
            None => missing.push(c),
        }
    }
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = missing.iter().map(|c| c.name.as_str()).collect();
    if !auto_evolve {
        return Err(ConnectError::External(format!(
            "table {table:?} is missing the columns {names:?} and auto.evolve is disabled"
        )));
    }
    let mut add = Vec::new();
    for c in missing {
        if c.key || (!c.optional && c.default.is_none()) {
            return Err(ConnectError::External(format!(
                "cannot ALTER TABLE {table:?} to add the column {:?}: the field is {}; \
                 auto.evolve can only add optional fields or fields with a default value",
                c.name,
                if c.key {
                    "part of the primary key"
                } else {
                    "required and has no default value"
                }
            )));
        }
        add.push(c.clone());
    }
    Ok(add)
}
