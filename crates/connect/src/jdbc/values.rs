//! Connect values as bind parameters. sqlx's `Any` driver binds only
//! booleans, integers, floats, text and bytes, so the logical types travel
//! as text (`2024-05-01`, `12:30:00.000`, `2024-05-01 12:30:00.000`,
//! `-12.50`) and the statement casts them to the column's type (see
//! [`super::dialect::Dialect::typed_param`]). A null is bound with its
//! column's family so PostgreSQL sees a parameter of the right type.

use sqlx::any::Any;
use sqlx::query::Query;

use super::dialect::{ColumnKind, IntWidth};
use crate::data::{logical, Schema, SchemaType, Value};

/// One bind parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null(ColumnKind),
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl SqlValue {
    pub fn bind<'q>(
        self,
        query: Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        match self {
            SqlValue::Null(kind) => match kind {
                ColumnKind::Int => query.bind(None::<i64>),
                ColumnKind::Float => query.bind(None::<f64>),
                ColumnKind::Bool => query.bind(None::<bool>),
                ColumnKind::Bytes => query.bind(None::<Vec<u8>>),
                _ => query.bind(None::<String>),
            },
            SqlValue::Bool(v) => query.bind(v),
            SqlValue::Int(v) => query.bind(v),
            SqlValue::Float(v) => query.bind(v),
            SqlValue::Text(v) => query.bind(v),
            SqlValue::Bytes(v) => query.bind(v),
        }
    }
}

/// The family, width and decimal scale a Connect schema maps to.
pub fn kind_of_schema(schema: &Schema) -> (ColumnKind, IntWidth, u32) {
    let scale = schema
        .parameters
        .get(logical::DECIMAL_SCALE)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match schema.logical_name() {
        Some(logical::DECIMAL) => return (ColumnKind::Decimal, IntWidth::W64, scale),
        Some(logical::DATE) => return (ColumnKind::Date, IntWidth::W32, 0),
        Some(logical::TIME) => return (ColumnKind::Time, IntWidth::W32, 0),
        Some(logical::TIMESTAMP) => return (ColumnKind::Timestamp, IntWidth::W64, 0),
        _ => {}
    }
    match schema.kind {
        SchemaType::Int8 => (ColumnKind::Int, IntWidth::W8, 0),
        SchemaType::Int16 => (ColumnKind::Int, IntWidth::W16, 0),
        SchemaType::Int32 => (ColumnKind::Int, IntWidth::W32, 0),
        SchemaType::Int64 => (ColumnKind::Int, IntWidth::W64, 0),
        SchemaType::Float32 => (ColumnKind::Float, IntWidth::W32, 0),
        SchemaType::Float64 => (ColumnKind::Float, IntWidth::W64, 0),
        SchemaType::Boolean => (ColumnKind::Bool, IntWidth::W8, 0),
        SchemaType::String => (ColumnKind::Text, IntWidth::W64, 0),
        SchemaType::Bytes => (ColumnKind::Bytes, IntWidth::W64, 0),
        // Nested values are written as JSON text.
        SchemaType::Array | SchemaType::Map | SchemaType::Struct => {
            (ColumnKind::Text, IntWidth::W64, 0)
        }
    }
}

/// The family a schemaless value suggests when a column is created for it.
pub fn kind_of_value(value: &Value) -> Option<(ColumnKind, IntWidth)> {
    Some(match value {
        Value::Null => return None,
        Value::Boolean(_) => (ColumnKind::Bool, IntWidth::W8),
        Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => {
            (ColumnKind::Int, IntWidth::W64)
        }
        Value::Float32(_) | Value::Float64(_) => (ColumnKind::Float, IntWidth::W64),
        Value::Bytes(_) => (ColumnKind::Bytes, IntWidth::W64),
        Value::String(_) | Value::Array(_) | Value::Map(_) | Value::Struct(_) => {
            (ColumnKind::Text, IntWidth::W64)
        }
    })
}

/// Converts `value` for a column of `kind`. `schema` (when the record has
/// one) says how a logical value is represented; `zone` is `db.timezone`.
/// An error is the record's own fault (a string in an integer column).
pub fn to_sql(
    value: &Value,
    schema: Option<&Schema>,
    kind: ColumnKind,
    zone: &jiff::tz::TimeZone,
) -> Result<SqlValue, String> {
    if value.is_null() {
        return Ok(SqlValue::Null(kind));
    }
    let logical_name = schema.and_then(Schema::logical_name);
    // Logical values first: their representation is an int or bytes.
    match (logical_name, value) {
        (Some(logical::DECIMAL), Value::Bytes(unscaled)) => {
            let scale = schema
                .and_then(|s| s.parameters.get(logical::DECIMAL_SCALE))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            return Ok(SqlValue::Text(decimal_text(unscaled, scale)));
        }
        (Some(logical::DATE), v) if v.as_i64().is_some() => {
            return Ok(SqlValue::Text(date_text(v.as_i64().unwrap_or(0))?))
        }
        (Some(logical::TIME), v) if v.as_i64().is_some() => {
            return Ok(SqlValue::Text(time_text(v.as_i64().unwrap_or(0))))
        }
        (Some(logical::TIMESTAMP), v) if v.as_i64().is_some() => {
            return Ok(SqlValue::Text(timestamp_text(
                v.as_i64().unwrap_or(0),
                zone,
            )?))
        }
        _ => {}
    }
    let mismatch = || {
        format!(
            "a {} value cannot be written to a {kind:?} column",
            value
                .inferred_type()
                .map(SchemaType::name)
                .unwrap_or("null")
        )
    };
    Ok(match kind {
        ColumnKind::Int => match value {
            Value::Boolean(b) => SqlValue::Int(i64::from(*b)),
            v => SqlValue::Int(v.as_i64().ok_or_else(mismatch)?),
        },
        ColumnKind::Float => match value {
            Value::Float32(f) => SqlValue::Float(f64::from(*f)),
            Value::Float64(f) => SqlValue::Float(*f),
            v => SqlValue::Float(v.as_i64().ok_or_else(mismatch)? as f64),
        },
        ColumnKind::Bool => match value {
            Value::Boolean(b) => SqlValue::Bool(*b),
            v => SqlValue::Bool(v.as_i64().ok_or_else(mismatch)? != 0),
        },
        ColumnKind::Bytes => match value {
            Value::Bytes(b) => SqlValue::Bytes(b.clone()),
            Value::String(s) => SqlValue::Bytes(s.clone().into_bytes()),
            _ => return Err(mismatch()),
        },
        // Timestamps given as epoch milliseconds in a schemaless record.
        ColumnKind::Timestamp if value.as_i64().is_some() => {
            SqlValue::Text(timestamp_text(value.as_i64().unwrap_or(0), zone)?)
        }
        ColumnKind::Date | ColumnKind::Time | ColumnKind::Timestamp | ColumnKind::Decimal => {
            match value {
                Value::String(s) => SqlValue::Text(s.clone()),
                Value::Float64(f) if kind == ColumnKind::Decimal => SqlValue::Text(f.to_string()),
                v if kind == ColumnKind::Decimal && v.as_i64().is_some() => {
                    SqlValue::Text(v.as_i64().unwrap_or(0).to_string())
                }
                _ => return Err(mismatch()),
            }
        }
        ColumnKind::Text | ColumnKind::Other => match value {
            Value::String(s) => SqlValue::Text(s.clone()),
            Value::Boolean(b) if kind == ColumnKind::Other => SqlValue::Bool(*b),
            Value::Float32(f) if kind == ColumnKind::Other => SqlValue::Float(f64::from(*f)),
            Value::Float64(f) if kind == ColumnKind::Other => SqlValue::Float(*f),
            v if kind == ColumnKind::Other && v.as_i64().is_some() => {
                SqlValue::Int(v.as_i64().unwrap_or(0))
            }
            v => SqlValue::Text(json_text(v)),
        },
    })
}

/// A nested or scalar value as JSON text (for TEXT columns).
pub fn json_text(value: &Value) -> String {
    fn to_json(value: &Value) -> serde_json::Value {
        use serde_json::Value as J;
        match value {
            Value::Null => J::Null,
            Value::Boolean(b) => J::Bool(*b),
            Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => {
                J::from(value.as_i64().unwrap_or(0))
            }
            Value::Float32(f) => J::from(f64::from(*f)),
            Value::Float64(f) => J::from(*f),
            Value::String(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(b.iter().map(|x| format!("{x:02x}")).collect()),
            Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Value::String(s) => s.clone(),
                            other => to_json(other).to_string(),
                        };
                        (key, to_json(v))
                    })
                    .collect(),
            ),
            Value::Struct(s) => J::Object(
                s.iter()
                    .map(|(f, v)| (f.name.clone(), to_json(v)))
                    .collect(),
            ),
        }
    }
    match value {
        Value::String(s) => s.clone(),
        other => to_json(other).to_string(),
    }
}

/// Days since the epoch as `YYYY-MM-DD`.
pub fn date_text(days: i64) -> Result<String, String> {
    let ts = jiff::Timestamp::from_second(days * 86_400).map_err(|e| e.to_string())?;
    Ok(ts.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
}

/// Milliseconds since midnight as `HH:MM:SS.fff`.
pub fn time_text(ms: i64) -> String {
    let ms = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.fff` in `zone`.
pub fn timestamp_text(ms: i64, zone: &jiff::tz::TimeZone) -> Result<String, String> {
    let ts = jiff::Timestamp::from_millisecond(ms).map_err(|e| e.to_string())?;
    Ok(ts
        .to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S%.3f")
        .to_string())
}

/// A Decimal's big-endian two's-complement unscaled bytes and scale as
/// decimal text (`-12.50`), for any number of bytes.
pub fn decimal_text(unscaled: &[u8], scale: u32) -> String {
    let negative = unscaled.first().is_some_and(|b| b & 0x80 != 0);
    // Magnitude: two's complement negated when negative.
    let mut magnitude: Vec<u8> = unscaled.to_vec();
    if negative {
        for b in magnitude.iter_mut() {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    // Repeated division by 10 of the big-endian magnitude.
    let mut digits = Vec::new();
    while magnitude.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for b in magnitude.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    let scale = scale as usize;
    while digits.len() <= scale {
        digits.push(b'0');
    }
    digits.reverse();
    let text = String::from_utf8(digits).unwrap_or_default();
    let (int, frac) = text.split_at(text.len() - scale);
    let sign = if negative { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// Decimal text as a Decimal's unscaled two's-complement bytes at
/// `scale` (digits beyond it are cut): the inverse of [`decimal_text`].
pub fn decimal_bytes(text: &str, scale: u32) -> Option<Vec<u8>> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut all: String = int.to_string();
    let frac: String = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(scale as usize)
        .collect();
    all.push_str(&frac);
    if all.is_empty() || !all.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Big-endian base-256 magnitude, built digit by digit.
    let mut magnitude: Vec<u8> = vec![0];
    for d in all.bytes() {
        let mut carry = u32::from(d - b'0');
        for b in magnitude.iter_mut().rev() {
            let cur = u32::from(*b) * 10 + carry;
            *b = (cur & 0xff) as u8;
            carry = cur >> 8;
        }
        while carry > 0 {
            magnitude.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    // Room for the sign bit.
    if magnitude[0] & 0x80 != 0 {
        magnitude.insert(0, 0);
    }
    while magnitude.len() > 1 && magnitude[0] == 0 && magnitude[1] & 0x80 == 0 {
        magnitude.remove(0);
    }
    if negative {
        for b in magnitude.iter_mut() {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    // Minimal two's complement, as Java's BigInteger.toByteArray.
    while magnitude.len() > 1 && magnitude[0] == 0xff && magnitude[1] & 0x80 != 0 {
        magnitude.remove(0);
    }
    Some(magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_through_text() {
        assert_eq!(decimal_text(&[0x04, 0xe2], 2), "12.50");
        assert_eq!(decimal_text(&[0xfb, 0x1e], 2), "-12.50");
        assert_eq!(decimal_text(&[0x05], 3), "0.005");
        assert_eq!(decimal_text(&[], 0), "0");
        for (text, scale) in [
            ("12.50", 2),
            ("-12.50", 2),
            ("0.005", 3),
            ("-128", 0),
            ("123456789012345678901234567890", 0),
        ] {
            let bytes = decimal_bytes(text, scale).unwrap();
            assert_eq!(decimal_text(&bytes, scale), text);
        }
        assert_eq!(decimal_bytes("-128", 0).unwrap(), vec![0x80]);
        assert_eq!(decimal_bytes("128", 0).unwrap(), vec![0x00, 0x80]);
    }

    #[test]
    fn logical_values_format_as_sql_text() {
        assert_eq!(date_text(19_844).unwrap(), "2024-05-01");
        assert_eq!(time_text(45_296_789), "12:34:56.789");
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(
            timestamp_text(1_714_566_896_789, &utc).unwrap(),
            "2024-05-01 12:34:56.789"
        );
    }
}
