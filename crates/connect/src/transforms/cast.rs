//! `Cast$Key` / `Cast$Value`: casts the whole key or value (`spec=int64`)
//! or some of its fields (`spec=f1:int32,f2:string`) to another primitive
//! type, as Java's number conversions do: narrowing wraps (`(byte) 300`
//! is 44), floating point truncates toward zero, a number is true when
//! its long value is not 0, a string parses strictly (a bad one is an
//! error) except to boolean (anything but "true" is false).

use std::sync::OnceLock;

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{logical, Schema, SchemaType, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::java_time_format::JavaDateFormat;
use super::util::{
    field_value, java_class_name, require_map, require_struct, struct_like, SchemaCache, Side,
};
use super::Transform;

const PURPOSE: &str = "cast types";

/// The types Kafka's `Cast` accepts as targets.
const OUTPUT_TYPES: [SchemaType; 8] = [
    SchemaType::Int8,
    SchemaType::Int16,
    SchemaType::Int32,
    SchemaType::Int64,
    SchemaType::Float32,
    SchemaType::Float64,
    SchemaType::Boolean,
    SchemaType::String,
];

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "spec",
                ConfigType::List,
                Importance::High,
                "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, int32, int64, float32, float64, boolean, and string. Note that binary fields can only be cast to string.",
            )
            .validator(|v| parse_spec(v).map(|_| ())),
        )
        .define(
            ConfigKey::new(
                "replace.null.with.default",
                ConfigType::Boolean,
                Importance::Medium,
                "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used.",
            )
            .default("true"),
        )
}

/// What to cast: the whole value, or these fields.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Whole(SchemaType),
    Fields(Vec<(String, SchemaType)>),
}

fn parse_type(name: &str) -> Result<SchemaType, String> {
    let kind = SchemaType::from_name(name.trim())
        .ok_or_else(|| format!("Invalid type found in casting spec: {}", name.trim()))?;
    if OUTPUT_TYPES.contains(&kind) {
        Ok(kind)
    } else {
        Err(format!(
            "Cast transformation does not support casting to {}; supported types are {}",
            kind.name().to_ascii_uppercase(),
            supported_names()
        ))
    }
}

fn supported_names() -> String {
    OUTPUT_TYPES
        .iter()
        .map(|t| t.name().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_spec(text: &str) -> Result<Spec, String> {
    let mappings = crate::config::split_list(text);
    if mappings.is_empty() {
        return Err("Must specify at least one field to cast.".to_string());
    }
    let mut fields = Vec::new();
    let mut whole = None;
    for mapping in &mappings {
        let parts: Vec<&str> = mapping.split(':').collect();
        match parts.as_slice() {
            [kind] => whole = Some(parse_type(kind)?),
            [field, kind] => fields.push((field.trim().to_string(), parse_type(kind)?)),
            _ => return Err(format!("Invalid cast mapping: {mapping}")),
        }
    }
    match whole {
        Some(_) if mappings.len() > 1 => Err(
            "Cast transformations that specify a type to cast the entire value to may only specify a single cast in their spec"
                .to_string(),
        ),
        Some(kind) => Ok(Spec::Whole(kind)),
        None => Ok(Spec::Fields(fields)),
    }
}

pub struct Cast {
    side: Side,
    spec: Spec,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(Cast::new(config, side)?))
}

impl Cast {
    pub fn new(config: &Config, side: Side) -> Result<Cast> {
        let text = config.get("spec").unwrap_or("");
        let spec = parse_spec(text).map_err(|m| {
            ConnectError::config("spec", if text.is_empty() { "null" } else { text }, m)
        })?;
        Ok(Cast {
            side,
            spec,
            replace_null_with_default: config.bool_or("replace.null.with.default", true)?,
            cache: SchemaCache::new(),
        })
    }

    fn cast_for(&self, field: &str) -> Option<SchemaType> {
        match &self.spec {
            Spec::Fields(fields) => fields.iter().find(|(f, _)| f == field).map(|(_, t)| *t),
            Spec::Whole(_) => None,
        }
    }
}

/// The schema a cast to `target` gives a value of `schema`: the plain
/// type, optional as the input, with its default cast too.
fn cast_schema(schema: &Schema, target: SchemaType) -> Result<Schema> {
    if !schema.kind.is_primitive() {
        return Err(ConnectError::Transform(format!(
            "Cast transformation does not support casting from {}; supported types are {}, BYTES",
            schema.kind.name().to_ascii_uppercase(),
            supported_names()
        )));
    }
    let mut out = Schema::of(target).with_optional(schema.optional);
    if let Some(default) = &schema.default {
        out.default = Some(cast_value(Some(schema), default.clone(), target)?);
    }
    Ok(out)
}

fn updated_schema(spec: &Spec, schema: &Schema) -> Result<Schema> {
    match spec {
        Spec::Whole(target) => cast_schema(schema, *target),
        Spec::Fields(casts) => {
            if schema.kind != SchemaType::Struct {
                return Err(ConnectError::Transform(format!(
                    "Only Struct objects supported for [{PURPOSE}], found a schema of type {}",
                    schema.kind.name()
                )));
            }
            let mut fields = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                let s = match casts.iter().find(|(name, _)| *name == f.name) {
                    Some((_, target)) => cast_schema(&f.schema, *target)?.into_ref(),
                    None => f.schema.clone(),
                };
                fields.push((f.name.clone(), s));
            }
            struct_like(schema, fields)
        }
    }
}

impl Transform for Cast {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        match (schema, &self.spec) {
            (None, Spec::Whole(target)) => {
                let v = cast_value(None, value, *target)?;
                self.side.put(&mut record, None, v);
            }
            (None, Spec::Fields(casts)) => {
                let mut map = require_map(value, PURPOSE)?;
                for (k, v) in map.iter_mut() {
                    let target = k
                        .as_str()
                        .and_then(|k| casts.iter().find(|(name, _)| name == k));
                    if let Some((_, target)) = target {
                        *v = cast_value(None, std::mem::replace(v, Value::Null), *target)?;
                    }
                }
                self.side.put(&mut record, None, Value::Map(map));
            }
            (Some(schema), spec) => {
                let new_schema = self
                    .cache
                    .get_or_try_insert(&schema, |s| updated_schema(spec, s))?;
                let out = match spec {
                    Spec::Whole(target) => cast_value(Some(&schema), value, *target)?,
                    Spec::Fields(_) => {
                        let old = require_struct(value, PURPOSE)?;
                        let mut updated = Struct::new(new_schema.clone());
                        let Struct {
                            schema: old_schema,
                            values,
                        } = old;
                        for (field, v) in old_schema.fields.iter().zip(values) {
                            let v = field_value(&field.schema, v, self.replace_null_with_default);
                            updated.values[field.index] = match self.cast_for(&field.name) {
                                Some(target) => cast_value(Some(&field.schema), v, target)?,
                                None => v,
                            };
                        }
                        Value::Struct(updated)
                    }
                };
                self.side.put(&mut record, Some(new_schema), out);
            }
        }
        Ok(Some(record))
    }
}

/// A number as Java sees it: integral, floating point, or a Decimal (its
/// integer part and its text).
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
    /// `BigDecimal`: the integer part (its low 64 bits are what
    /// `longValue()` and, narrower, `intValue()` give) and the value.
    Decimal(i128, f64),
}

impl Num {
    fn as_i64(self) -> i64 {
        match self {
            Num::Int(v) => v,
            // Java's (long) d: toward zero, saturating, NaN is 0; as Rust's `as`.
            Num::Float(v) => v as i64,
            Num::Decimal(whole, _) => whole as i64,
        }
    }

    /// Java's `intValue()`: (int) of a double saturates at int's range
    /// before a narrower cast wraps.
    fn as_i32(self) -> i32 {
        match self {
            Num::Int(v) => v as i32,
            Num::Float(v) => v as i32,
            Num::Decimal(whole, _) => whole as i32,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(v) => v as f64,
            Num::Float(v) | Num::Decimal(_, v) => v,
        }
    }
}

fn out_of_range(text: &str) -> ConnectError {
    ConnectError::Transform(format!(
        "Value ({text}) was out of range for requested data type"
    ))
}

/// Kafka's `castValueToType`: `value` (of `schema`, or inferred from the
/// value when schemaless) cast to `target`.
pub fn cast_value(schema: Option<&Schema>, value: Value, target: SchemaType) -> Result<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let logical_name = schema.and_then(|s| s.logical_name());
    if let Value::Array(_) | Value::Map(_) | Value::Struct(_) = value {
        let kind = value.inferred_type().expect("not null");
        return Err(ConnectError::Transform(format!(
            "Cast transformation does not support casting from {}; supported types are {}, BYTES",
            kind.name().to_ascii_uppercase(),
            supported_names()
        )));
    }
    if target == SchemaType::String {
        return Ok(Value::String(to_java_string(&value, schema)?));
    }
    let num: Num = match &value {
        Value::Boolean(b) => Num::Int(i64::from(*b)),
        Value::Int8(v) => Num::Int((*v).into()),
        Value::Int16(v) => Num::Int((*v).into()),
        Value::Int32(v) => Num::Int((*v).into()),
        Value::Int64(v) => Num::Int(*v),
        Value::Float32(v) => Num::Float((*v).into()),
        Value::Float64(v) => Num::Float(*v),
        Value::Bytes(b) if logical_name == Some(logical::DECIMAL) => {
            let scale = decimal_scale(schema.expect("a logical type has a schema"))?;
            let (unscaled, text) = decimal(b, scale)?;
            // 16 bytes hold less than 10^39: past that scale the integer part is 0.
            let whole = 10i128.checked_pow(scale).map_or(0, |p| unscaled / p);
            Num::Decimal(whole, text.parse().expect("decimal text parses"))
        }
        Value::Bytes(_) => {
            return Err(ConnectError::Transform(format!(
                "Cast transformation does not support casting BYTES to {}; binary fields can only be cast to string",
                target.name().to_ascii_uppercase()
            )))
        }
        Value::String(s) => return cast_string(s, target),
        other => unreachable!("handled above: {}", java_class_name(other)),
    };
    Ok(match target {
        SchemaType::Int8 => Value::Int8(num.as_i32() as i8),
        SchemaType::Int16 => Value::Int16(num.as_i32() as i16),
        SchemaType::Int32 => Value::Int32(num.as_i32()),
        SchemaType::Int64 => Value::Int64(num.as_i64()),
        SchemaType::Float32 => Value::Float32(num.as_f64() as f32),
        SchemaType::Float64 => Value::Float64(num.as_f64()),
        SchemaType::Boolean => Value::Boolean(num.as_i64() != 0),
        other => unreachable!("not an output type: {other:?}"),
    })
}

/// A string parsed as Java's `Byte.parseByte` .. `Double.parseDouble`
/// and `Boolean.parseBoolean` do.
fn cast_string(s: &str, target: SchemaType) -> Result<Value> {
    let bad = || out_of_range(s);
    Ok(match target {
        SchemaType::Int8 => Value::Int8(s.parse().map_err(|_| bad())?),
        SchemaType::Int16 => Value::Int16(s.parse().map_err(|_| bad())?),
        SchemaType::Int32 => Value::Int32(s.parse().map_err(|_| bad())?),
        SchemaType::Int64 => Value::Int64(s.parse().map_err(|_| bad())?),
        SchemaType::Float32 => Value::Float32(s.trim().parse().map_err(|_| bad())?),
        SchemaType::Float64 => Value::Float64(s.trim().parse().map_err(|_| bad())?),
        SchemaType::Boolean => Value::Boolean(s.eq_ignore_ascii_case("true")),
        other => unreachable!("not an output type: {other:?}"),
    })
}

/// `String.valueOf` as Java prints each value; logical types as Kafka's
/// `Values.dateFormatFor` and `BigDecimal.toString`; bytes in Base64.
pub(super) fn to_java_string(value: &Value, schema: Option<&Schema>) -> Result<String> {
    let logical_name = schema.and_then(|s| s.logical_name());
    Ok(match (value, logical_name) {
        (Value::Int32(days), Some(logical::DATE)) => date_string(i64::from(*days) * 86_400_000)?,
        (Value::Int32(ms), Some(logical::TIME)) => date_string(i64::from(*ms))?,
        (Value::Int64(ms), Some(logical::TIMESTAMP)) => date_string(*ms)?,
        (Value::Bytes(b), Some(logical::DECIMAL)) => decimal_text(
            b,
            decimal_scale(schema.expect("a logical type has a schema"))?,
        )?,
        (Value::Boolean(b), _) => b.to_string(),
        (Value::Int8(v), _) => v.to_string(),
        (Value::Int16(v), _) => v.to_string(),
        (Value::Int32(v), _) => v.to_string(),
        (Value::Int64(v), _) => v.to_string(),
        (Value::Float32(v), _) => java_float_string(f64::from(*v), format!("{v:e}")),
        (Value::Float64(v), _) => java_float_string(*v, format!("{v:e}")),
        (Value::String(s), _) => s.clone(),
        (Value::Bytes(b), _) => base64(b),
        (other, _) => java_class_name(other).to_string(),
    })
}

/// A `java.util.Date` as Kafka's `Values.dateFormatFor` prints it: the
/// pattern follows the value, not its logical type: an instant before
/// 1970-01-02 as a time of day, one at midnight as a date, any other as a
/// timestamp (so a Timestamp at midnight prints as `2024-03-05`).
fn date_string(millis: i64) -> Result<String> {
    static TIME: OnceLock<JavaDateFormat> = OnceLock::new();
    static DATE: OnceLock<JavaDateFormat> = OnceLock::new();
    static TIMESTAMP: OnceLock<JavaDateFormat> = OnceLock::new();
    let pattern = |cell: &'static OnceLock<JavaDateFormat>, p: &str| {
        cell.get_or_init(|| JavaDateFormat::new(p).expect("a valid built-in pattern"))
    };
    let format = if millis < 86_400_000 {
        pattern(&TIME, "HH:mm:ss.SSS'Z'")
    } else if millis % 86_400_000 == 0 {
        pattern(&DATE, "yyyy-MM-dd")
    } else {
        pattern(&TIMESTAMP, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
    };
    format
        .format_millis(millis)
        .map_err(ConnectError::Transform)
}

/// Java's `Double.toString` / `Float.toString`: shortest digits, plain
/// between 10^-3 and 10^7 (`1.0`, `0.5`), else `1.0E7`, `1.5E-5`.
/// `sci` is Rust's `{:e}` of the value in its own width (shortest digits).
fn java_float_string(v: f64, sci: String) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("exponent is a number");
    let (sign, digits_part) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = digits_part.chars().filter(|c| *c != '.').collect();
    if v == 0.0 {
        return format!("{sign}0.0");
    }
    if (-3..7).contains(&exponent) {
        // Plain: place the point exponent+1 digits in.
        let point = exponent + 1;
        if point <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
        } else {
            let point = point as usize;
            let mut d = digits.clone();
            while d.len() < point + 1 {
                d.push('0');
            }
            format!("{sign}{}.{}", &d[..point], &d[point..])
        }
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{}E{exponent}", &digits[..1], frac)
    }
}

fn decimal_scale(schema: &Schema) -> Result<u32> {
    schema
        .parameters
        .get(logical::DECIMAL_SCALE)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ConnectError::Transform(
                "Invalid Decimal schema: scale parameter not found.".to_string(),
            )
        })
}

/// A Decimal's text (`BigDecimal.toPlainString`) from its big-endian
/// two's-complement unscaled bytes; up to 16 bytes.
fn decimal_text(bytes: &[u8], scale: u32) -> Result<String> {
    decimal(bytes, scale).map(|(_, text)| text)
}

/// A Decimal's unscaled value and its text.
fn decimal(bytes: &[u8], scale: u32) -> Result<(i128, String)> {
    if bytes.is_empty() || bytes.len() > 16 {
        return Err(ConnectError::Transform(format!(
            "Decimal of {} bytes is not supported by Cast (at most 16)",
            bytes.len()
        )));
    }
    let mut unscaled: i128 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
    for b in bytes {
        unscaled = (unscaled << 8) | i128::from(*b);
    }
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    Ok((unscaled, if negative { format!("-{text}") } else { text }))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "cast_tests.rs"]
mod tests;
