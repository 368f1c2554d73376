//! `TimestampConverter$Key` / `TimestampConverter$Value`: converts a
//! timestamp (the whole key or value, or its field `field`) between a
//! formatted string (`format`, a Java `SimpleDateFormat` pattern, UTC),
//! a Unix epoch number (`unix`, in `unix.precision` units) and Connect's
//! logical `Date`, `Time` and `Timestamp`.
//!
//! Without a schema, Connect's logical types have no value of their own
//! here (Java holds a `java.util.Date`): `Date` and `Time` come out as
//! int32 days since the epoch and milliseconds of the day, `Timestamp`
//! as int64 milliseconds, and an integer input is read as `unix`.

use crate::config::Config;
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Importance};
use crate::data::{logical, Schema, SchemaRef, SchemaType, Struct, Value};
use crate::error::{ConnectError, Result};
use crate::record::ConnectRecord;

use super::java_time_format::JavaDateFormat;
use super::util::{
    java_class_name, map_get, require_map, require_struct, struct_like, SchemaCache, Side,
};
use super::Transform;

const PURPOSE: &str = "converting timestamp formats";
const MILLIS_PER_DAY: i64 = 86_400_000;
const TYPES: [&str; 5] = ["string", "unix", "Date", "Time", "Timestamp"];
const PRECISIONS: [&str; 4] = ["seconds", "milliseconds", "microseconds", "nanoseconds"];

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "field",
                ConfigType::String,
                Importance::High,
                "The field containing the timestamp, or empty if the entire value is a timestamp",
            )
            .default(""),
        )
        .define(
            ConfigKey::new(
                "target.type",
                ConfigType::String,
                Importance::High,
                "The desired timestamp representation: string, unix, Date, Time, or Timestamp",
            )
            .one_of(&TYPES)
            // Kafka's check is case-sensitive ("Date", not "date").
            .validator(|v| exactly_one_of(v, &TYPES)),
        )
        .define(
            ConfigKey::new(
                "format",
                ConfigType::String,
                Importance::Medium,
                "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string or used to parse the input if the input is a string.",
            )
            .default(""),
        )
        .define(
            ConfigKey::new(
                "unix.precision",
                ConfigType::String,
                Importance::Low,
                "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. Used to generate the output when type=unix or used to parse the input if the input is a Long.",
            )
            .default("milliseconds")
            .one_of(&PRECISIONS)
            .validator(|v| exactly_one_of(v, &PRECISIONS)),
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

fn exactly_one_of(value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value.trim()) {
        Ok(())
    } else {
        Err(format!("String must be one of: {}", allowed.join(", ")))
    }
}

/// A timestamp representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "string" => Kind::String,
            "unix" => Kind::Unix,
            "Date" => Kind::Date,
            "Time" => Kind::Time,
            "Timestamp" => Kind::Timestamp,
            _ => return None,
        })
    }

    /// The representation a schema declares.
    fn of_schema(schema: &Schema) -> Result<Kind> {
        Ok(match (schema.name.as_deref(), schema.kind) {
            (Some(logical::TIMESTAMP), _) => Kind::Timestamp,
            (Some(logical::DATE), _) => Kind::Date,
            (Some(logical::TIME), _) => Kind::Time,
            (_, SchemaType::String) => Kind::String,
            (_, SchemaType::Int64) => Kind::Unix,
            _ => {
                return Err(ConnectError::Transform(format!(
                    "Schema {} does not correspond to a known timestamp type format",
                    schema.name.as_deref().unwrap_or(schema.kind.name())
                )))
            }
        })
    }

    fn schema(self, optional: bool) -> SchemaRef {
        let s = match self {
            Kind::String => Schema::of(SchemaType::String),
            Kind::Unix => Schema::of(SchemaType::Int64),
            Kind::Date => Schema::of(SchemaType::Int32).with_name(logical::DATE),
            Kind::Time => Schema::of(SchemaType::Int32).with_name(logical::TIME),
            Kind::Timestamp => Schema::of(SchemaType::Int64).with_name(logical::TIMESTAMP),
        };
        s.with_optional(optional).into_ref()
    }
}

/// The unit of `unix` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

pub struct TimestampConverter {
    side: Side,
    /// None: the whole key or value.
    field: Option<String>,
    target: Kind,
    format: Option<JavaDateFormat>,
    precision: Precision,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

pub fn build(config: &Config, side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(TimestampConverter::new(config, side)?))
}

impl TimestampConverter {
    pub fn new(config: &Config, side: Side) -> Result<TimestampConverter> {
        let target_text = config.required("target.type")?;
        let target = Kind::parse(target_text).ok_or_else(|| {
            ConnectError::config(
                "target.type",
                target_text,
                format!("String must be one of: {}", TYPES.join(", ")),
            )
        })?;
        let format = match config.string("format") {
            None if target == Kind::String => {
                return Err(ConnectError::config(
                    "format",
                    "",
                    "TimestampConverter requires format option to be specified when using string timestamps",
                ))
            }
            None => None,
            Some(pattern) => Some(JavaDateFormat::new(pattern).map_err(|m| {
                ConnectError::config(
                    "format",
                    pattern,
                    format!("TimestampConverter requires a SimpleDateFormat-compatible pattern for string timestamps: {pattern} ({m})"),
                )
            })?),
        };
        let precision = match config.string_or("unix.precision", "milliseconds") {
            "seconds" => Precision::Seconds,
            "milliseconds" => Precision::Millis,
            "microseconds" => Precision::Micros,
            "nanoseconds" => Precision::Nanos,
            other => {
                return Err(ConnectError::config(
                    "unix.precision",
                    other,
                    format!("String must be one of: {}", PRECISIONS.join(", ")),
                ))
            }
        };
        Ok(TimestampConverter {
            side,
            field: config.string("field").map(str::to_string),
            target,
            format,
            precision,
            replace_null_with_default: config.bool_or("replace.null.with.default", true)?,
            cache: SchemaCache::new(),
        })
    }

    /// Milliseconds since the epoch from a value of representation `kind`.
    fn millis_of(&self, value: &Value, kind: Kind) -> Result<i64> {
        let wrong = || {
            ConnectError::Transform(format!(
                "Expected a {kind:?} timestamp, found: {}",
                java_class_name(value)
            ))
        };
        Ok(match kind {
            Kind::String => {
                let text = value.as_str().ok_or_else(wrong)?;
                let format = self.format.as_ref().ok_or_else(|| {
                    ConnectError::Transform(
                        "TimestampConverter requires format option to be specified when using string timestamps"
                            .to_string(),
                    )
                })?;
                format.parse_millis(text).map_err(|m| {
                    ConnectError::Transform(format!("Could not parse timestamp: {m}"))
                })?
            }
            Kind::Unix => {
                let n = value.as_i64().ok_or_else(wrong)?;
                match self.precision {
                    Precision::Seconds => n.saturating_mul(1000),
                    Precision::Millis => n,
                    Precision::Micros => n / 1000,
                    Precision::Nanos => n / 1_000_000,
                }
            }
            Kind::Date => value.as_i64().ok_or_else(wrong)? * MILLIS_PER_DAY,
            Kind::Time | Kind::Timestamp => value.as_i64().ok_or_else(wrong)?,
        })
    }

    fn to_target(&self, millis: i64) -> Result<Value> {
        Ok(match self.target {
            Kind::String => {
                let format = self.format.as_ref().expect("checked when built");
                Value::String(
                    format
                        .format_millis(millis)
                        .map_err(ConnectError::Transform)?,
                )
            }
            Kind::Unix => Value::Int64(match self.precision {
                Precision::Seconds => millis / 1000,
                Precision::Millis => millis,
                Precision::Micros => millis.saturating_mul(1000),
                Precision::Nanos => millis.saturating_mul(1_000_000),
            }),
            Kind::Date => Value::Int32(millis.div_euclid(MILLIS_PER_DAY) as i32),
            Kind::Time => Value::Int32(millis.rem_euclid(MILLIS_PER_DAY) as i32),
            Kind::Timestamp => Value::Int64(millis),
        })
    }

    /// Converts a value of `kind` (null stays null).
    fn convert(&self, value: &Value, kind: Kind) -> Result<Value> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        self.to_target(self.millis_of(value, kind)?)
    }

    /// The representation of a schemaless value.
    fn infer(value: &Value) -> Result<Kind> {
        match value {
            Value::String(_) => Ok(Kind::String),
            Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => Ok(Kind::Unix),
            other => Err(ConnectError::Transform(format!(
                "TimestampConverter does not support {} objects as timestamps",
                java_class_name(other)
            ))),
        }
    }
}

impl Transform for TimestampConverter {
    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        match (schema, self.field.clone()) {
            (None, None) => {
                let out = self.convert(&value, Self::infer(&value)?)?;
                self.side.put(&mut record, None, out);
            }
            (None, Some(field)) => {
                let mut map = require_map(value, PURPOSE)?;
                let kind = match map_get(&map, &field) {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(Self::infer(v)?),
                };
                if let Some(kind) = kind {
                    for (k, v) in map.iter_mut() {
                        if k.as_str() == Some(field.as_str()) {
                            *v = self.convert(v, kind)?;
                        }
                    }
                }
                self.side.put(&mut record, None, Value::Map(map));
            }
            (Some(schema), None) => {
                let kind = Kind::of_schema(&schema)?;
                let target = self.target;
                let new_schema = self
                    .cache
                    .get_or_try_insert(&schema, |s| Ok((*target.schema(s.optional)).clone()))?;
                let out = self.convert(&value, kind)?;
                self.side.put(&mut record, Some(new_schema), out);
            }
            (Some(schema), Some(field)) => {
                let old = require_struct(value, PURPOSE)?;
                let input_field = schema.field(&field).ok_or_else(|| {
                    ConnectError::Transform(format!("{field} is not a valid field name"))
                })?;
                let kind = Kind::of_schema(&input_field.schema)?;
                let target = self.target;
                let new_schema = self.cache.get_or_try_insert(&schema, |s| {
                    let fields = s
                        .fields
                        .iter()
                        .map(|f| {
                            let fs = if f.name == field {
                                target.schema(f.schema.optional)
                            } else {
                                f.schema.clone()
                            };
                            (f.name.clone(), fs)
                        })
                        .collect();
                    struct_like(s, fields)
                })?;
                let mut updated = Struct::new(new_schema.clone());
                let Struct {
                    schema: old_schema,
                    values,
                } = old;
                for (f, v) in old_schema.fields.iter().zip(values) {
                    updated.values[f.index] = if f.name == field {
                        let v =
                            super::util::field_value(&f.schema, v, self.replace_null_with_default);
                        self.convert(&v, kind)?
                    } else {
                        v
                    };
                }
                self.side
                    .put(&mut record, Some(new_schema), Value::Struct(updated));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
#[path = "timestamp_converter_tests.rs"]
mod tests;
