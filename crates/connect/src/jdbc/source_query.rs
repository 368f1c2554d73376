//! The source's SQL and its rows: which expression reads each column
//! (sqlx's `Any` driver reads only integers, floats, booleans, text and
//! bytes, so dates, times, timestamps and decimals are converted in SQL:
//! days, milliseconds, microseconds since the epoch, decimal text), the
//! record schema built from the column types, and the mode's WHERE clause.

use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{Column as _, Row as _};

use super::ddl::{ColumnInfo, TableInfo};
use super::dialect::{ColumnKind, Dialect, Quoting};
use super::source_config::Mode;
use super::values::decimal_bytes;
use crate::data::{logical, Schema, SchemaRef, SchemaType, Value};

/// The Connect type a column is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Bool,
    String,
    Bytes,
    /// Decimal with this scale.
    Decimal(u32),
    Date,
    Time,
    Timestamp,
}

impl FieldType {
    fn schema(self, optional: bool) -> Schema {
        let of = |kind| Schema::of(kind).with_optional(optional);
        match self {
            FieldType::Int8 => of(SchemaType::Int8),
            FieldType::Int16 => of(SchemaType::Int16),
            FieldType::Int32 => of(SchemaType::Int32),
            FieldType::Int64 => of(SchemaType::Int64),
            FieldType::Float32 => of(SchemaType::Float32),
            FieldType::Float64 => of(SchemaType::Float64),
            FieldType::Bool => of(SchemaType::Boolean),
            FieldType::String => of(SchemaType::String),
            FieldType::Bytes => of(SchemaType::Bytes),
            FieldType::Decimal(scale) => of(SchemaType::Bytes)
                .with_name(logical::DECIMAL)
                .with_parameter(logical::DECIMAL_SCALE, &scale.to_string()),
            FieldType::Date => of(SchemaType::Int32).with_name(logical::DATE),
            FieldType::Time => of(SchemaType::Int32).with_name(logical::TIME),
            FieldType::Timestamp => of(SchemaType::Int64).with_name(logical::TIMESTAMP),
        }
    }
}

/// A column of the result: its name, type, and the expression selected.
#[derive(Debug, Clone)]
pub struct SourceColumn {
    pub name: String,
    pub field: FieldType,
    pub optional: bool,
    pub expr: String,
}

/// The Connect type for a catalog column (Confluent's mapping: SQLite's
/// INTEGER and REAL are 64-bit; a numeric without a scale is a double).
fn field_type(dialect: Dialect, column: &ColumnInfo) -> FieldType {
    let t = column.type_name.to_ascii_lowercase();
    match column.kind {
        ColumnKind::Int => {
            if dialect == Dialect::Sqlite {
                FieldType::Int64
            } else if t.contains("tinyint") {
                FieldType::Int8
            } else if t.contains("smallint") || t.contains("int2") || t.contains("smallserial") {
                FieldType::Int16
            } else if t.contains("bigint") || t.contains("int8") || t.contains("bigserial") {
                FieldType::Int64
            } else {
                FieldType::Int32
            }
        }
        ColumnKind::Float => {
            let single = match dialect {
                Dialect::Postgres => t == "real",
                Dialect::MySql => t.starts_with("float"),
                Dialect::Sqlite => false,
            };
            if single {
                FieldType::Float32
            } else {
                FieldType::Float64
            }
        }
        ColumnKind::Decimal => column
            .scale()
            .map_or(FieldType::Float64, FieldType::Decimal),
        ColumnKind::Bool => FieldType::Bool,
        ColumnKind::Bytes => FieldType::Bytes,
        ColumnKind::Date => FieldType::Date,
        ColumnKind::Time => FieldType::Time,
        ColumnKind::Timestamp => FieldType::Timestamp,
        ColumnKind::Text | ColumnKind::Other => FieldType::String,
    }
}

/// `expr` as text.
fn as_text(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::MySql => format!("CAST({expr} AS CHAR)"),
        _ => format!("CAST({expr} AS TEXT)"),
    }
}

/// Microseconds since the epoch of a timestamp expression (naive
/// timestamps read as UTC; SQLite's numbers taken as epoch milliseconds).
pub fn timestamp_micros(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST(EXTRACT(EPOCH FROM {expr}) * 1000000 AS BIGINT)"),
        Dialect::MySql => {
            format!("CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {expr}) AS SIGNED)")
        }
        Dialect::Sqlite => format!(
            "(CASE WHEN typeof({expr}) IN ('integer', 'real') THEN CAST({expr} AS INTEGER) * 1000 \
             ELSE CAST(ROUND((julianday({expr}) - 2440587.5) * 86400000) AS INTEGER) * 1000 END)"
        ),
    }
}

/// The expression reading `col` (quoted) as `field`.
fn select_expr(dialect: Dialect, col: &str, field: FieldType, kind: ColumnKind) -> String {
    use FieldType as F;
    match (dialect, field) {
        (_, F::Timestamp) => timestamp_micros(dialect, col),
        (Dialect::Postgres, F::Date) => format!("({col} - DATE '1970-01-01')"),
        (Dialect::MySql, F::Date) => format!("DATEDIFF({col}, '1970-01-01')"),
        (Dialect::Sqlite, F::Date) => format!("CAST(julianday({col}) - 2440587.5 AS INTEGER)"),
        (Dialect::Postgres, F::Time) => format!("CAST(EXTRACT(EPOCH FROM {col}) * 1000 AS BIGINT)"),
        (Dialect::MySql, F::Time) => {
            format!("CAST(FLOOR(TIME_TO_SEC({col})) * 1000 + FLOOR(MICROSECOND({col}) / 1000) AS SIGNED)")
        }
        (Dialect::Sqlite, F::Time) => format!(
            "CAST(ROUND((julianday('1970-01-01 ' || {col}) - 2440587.5) * 86400000) AS INTEGER)"
        ),
        (_, F::Decimal(_)) => as_text(dialect, col),
        (Dialect::Postgres, F::Float64) if kind == ColumnKind::Decimal => {
            format!("CAST({col} AS DOUBLE PRECISION)")
        }
        (Dialect::Sqlite, F::Float64) if kind == ColumnKind::Decimal => {
            format!("CAST({col} AS REAL)")
        }
        (Dialect::MySql, F::Int8 | F::Int16 | F::Int32 | F::Int64 | F::Bool) => {
            format!("CAST({col} AS SIGNED)")
        }
        (Dialect::Postgres | Dialect::MySql, F::String) => as_text(dialect, col),
        // SQLite: sqlx types a plain column by its declared type, and its
        // `Any` driver refuses some (BOOLEAN, DATETIME, NUMERIC); an
        // expression is typed by its value instead.
        (Dialect::Sqlite, F::Int8 | F::Int16 | F::Int32 | F::Int64 | F::Bool) => {
            format!("CAST({col} AS INTEGER)")
        }
        (Dialect::Sqlite, F::Float32 | F::Float64) => format!("CAST({col} AS REAL)"),
        (Dialect::Sqlite, F::String) => format!("CAST({col} AS TEXT)"),
        _ => col.to_string(),
    }
}

/// The columns of a table, read through the expressions above.
pub fn table_columns(dialect: Dialect, quoting: Quoting, info: &TableInfo) -> Vec<SourceColumn> {
    info.columns
        .iter()
        .map(|c| {
            let field = field_type(dialect, c);
            SourceColumn {
                name: c.name.clone(),
                field,
                optional: c.nullable,
                expr: select_expr(dialect, &dialect.quote(quoting, &c.name), field, c.kind),
            }
        })
        .collect()
}

/// The columns of a custom query's rows, typed from the driver.
pub fn query_columns(row: &AnyRow) -> Vec<SourceColumn> {
    row.columns()
        .iter()
        .map(|c| {
            let field = match c.type_info().kind() {
                AnyTypeInfoKind::SmallInt => FieldType::Int16,
                AnyTypeInfoKind::Integer => FieldType::Int32,
                AnyTypeInfoKind::BigInt => FieldType::Int64,
                AnyTypeInfoKind::Real => FieldType::Float32,
                AnyTypeInfoKind::Double => FieldType::Float64,
                AnyTypeInfoKind::Bool => FieldType::Bool,
                AnyTypeInfoKind::Blob => FieldType::Bytes,
                AnyTypeInfoKind::Text | AnyTypeInfoKind::Null => FieldType::String,
            };
            SourceColumn {
                name: c.name().to_string(),
                field,
                optional: true,
                expr: String::new(),
            }
        })
        .collect()
}

/// The record schema: a struct named after the table (or query topic).
pub fn record_schema(name: &str, columns: &[SourceColumn]) -> SchemaRef {
    Schema::structure(
        Some(name),
        columns
            .iter()
            .map(|c| (c.name.clone(), c.field.schema(c.optional).into_ref()))
            .collect(),
    )
    .into_ref()
}

/// Column `i` of `row` as `field`.
pub fn read_value(row: &AnyRow, i: usize, field: FieldType) -> Result<Value, String> {
    use FieldType as F;
    let int = || -> Result<Option<i64>, String> {
        if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            return Ok(v);
        }
        if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
            return Ok(v.map(|f| f as i64));
        }
        match text(row, i)? {
            Some(t) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{t:?} is not an integer")),
            None => Ok(None),
        }
    };
    let narrow = |v: i64, what: &str| -> Result<i64, String> {
        let ok = match what {
            "int8" => i8::try_from(v).is_ok(),
            "int16" => i16::try_from(v).is_ok(),
            "int32" => i32::try_from(v).is_ok(),
            _ => true,
        };
        if ok {
            Ok(v)
        } else {
            Err(format!("{v} does not fit {what}"))
        }
    };
    Ok(match field {
        F::Int8 => int()?.map_or(Value::Null, |v| Value::Int8(v as i8)),
        F::Int16 => int()?.map_or(Ok(Value::Null), |v| {
            narrow(v, "int16").map(|v| Value::Int16(v as i16))
        })?,
        F::Int32 => int()?.map_or(Ok(Value::Null), |v| {
            narrow(v, "int32").map(|v| Value::Int32(v as i32))
        })?,
        F::Int64 => int()?.map_or(Value::Null, Value::Int64),
        F::Date => int()?.map_or(Value::Null, |v| Value::Int32(v as i32)),
        F::Time => int()?.map_or(Value::Null, |v| Value::Int32(v as i32)),
        F::Timestamp => int()?.map_or(Value::Null, |micros| Value::Int64(micros.div_euclid(1000))),
        F::Bool => match row.try_get::<Option<bool>, _>(i) {
            Ok(v) => v.map_or(Value::Null, Value::Boolean),
            Err(_) => int()?.map_or(Value::Null, |v| Value::Boolean(v != 0)),
        },
        F::Float32 | F::Float64 => {
            let v = match row.try_get::<Option<f64>, _>(i) {
                Ok(v) => v,
                Err(_) => match row.try_get::<Option<f32>, _>(i) {
                    Ok(v) => v.map(f64::from),
                    Err(_) => int()?.map(|v| v as f64),
                },
            };
            match (v, field) {
                (None, _) => Value::Null,
                (Some(v), F::Float32) => Value::Float32(v as f32),
                (Some(v), _) => Value::Float64(v),
            }
        }
        F::String => match text(row, i)? {
            Some(t) => Value::String(t),
            None => Value::Null,
        },
        F::Bytes => match row.try_get::<Option<Vec<u8>>, _>(i) {
            Ok(v) => v.map_or(Value::Null, Value::Bytes),
            Err(_) => text(row, i)?.map_or(Value::Null, |t| Value::Bytes(t.into_bytes())),
        },
        F::Decimal(scale) => match text(row, i)? {
            Some(t) => Value::Bytes(
                decimal_bytes(&t, scale).ok_or_else(|| format!("{t:?} is not a decimal"))?,
            ),
            None => Value::Null,
        },
    })
}

/// Column `i` as text, whatever the driver calls it.
fn text(row: &AnyRow, i: usize) -> Result<Option<String>, String> {
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return Ok(v);
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
        return Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()));
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return Ok(v.map(|v| v.to_string()));
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return Ok(v.map(|v| v.to_string()));
    }
    row.try_get::<Option<bool>, _>(i)
        .map(|v| v.map(|b| b.to_string()))
        .map_err(|e| e.to_string())
}

/// Where a table's reading stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// The last incrementing value read (-1 before any: Confluent's start).
    pub incrementing: Option<i64>,
    /// The last timestamp read, microseconds since the epoch.
    pub timestamp_micros: Option<i64>,
}

/// The mode's `WHERE ... ORDER BY ... LIMIT` and its integer binds,
/// numbered from 1. `ts` and `inc` are SQL expressions.
pub fn mode_clause(
    dialect: Dialect,
    mode: Mode,
    ts: &str,
    inc: &str,
    position: Position,
    upper_micros: i64,
    limit: usize,
) -> (String, Vec<i64>) {
    let p = |n: usize| dialect.param(n);
    let last_inc = position.incrementing.unwrap_or(-1);
    let last_ts = position.timestamp_micros.unwrap_or(0);
    match mode {
        Mode::Bulk => (String::new(), Vec::new()),
        Mode::Incrementing => (
            format!(" WHERE {inc} > {} ORDER BY {inc} ASC LIMIT {limit}", p(1)),
            vec![last_inc],
        ),
        // No LIMIT: rows sharing the last timestamp must all be read in
        // the same query, since the next one starts after it.
        Mode::Timestamp => (
            format!(" WHERE {ts} > {} AND {ts} < {} ORDER BY {ts} ASC", p(1), p(2)),
            vec![last_ts, upper_micros],
        ),
        Mode::TimestampIncrementing => (
            format!(
                " WHERE {ts} < {} AND (({ts} = {} AND {inc} > {}) OR {ts} > {}) ORDER BY {ts}, {inc} ASC LIMIT {limit}",
                p(1),
                p(2),
                p(3),
                p(4)
            ),
            vec![upper_micros, last_ts, last_inc, last_ts],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modes_where_clauses() {
        let pos = Position {
            incrementing: Some(7),
            timestamp_micros: Some(1_000),
        };
        let (sql, binds) = mode_clause(
            Dialect::Postgres,
            Mode::TimestampIncrementing,
            "T",
            "\"id\"",
            pos,
            9_000,
            100,
        );
        assert_eq!(
            sql,
            " WHERE T < $1 AND ((T = $2 AND \"id\" > $3) OR T > $4) ORDER BY T, \"id\" ASC LIMIT 100"
        );
        assert_eq!(binds, [9_000, 1_000, 7, 1_000]);
        let (sql, binds) = mode_clause(
            Dialect::Sqlite,
            Mode::Incrementing,
            "T",
            "id",
            Position::default(),
            0,
            5,
        );
        assert_eq!(sql, " WHERE id > ? ORDER BY id ASC LIMIT 5");
        assert_eq!(binds, [-1]);
    }
}
