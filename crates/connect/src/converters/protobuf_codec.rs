//! Protobuf's binary encoding, driven by descriptors at run time (no
//! generated code): messages of any registered schema decode into Connect
//! structs, and Connect structs encode as the messages
//! [`proto_text`](super::protobuf_data::proto_text) declares.
//!
//! Decoding follows the encoding spec's rules: the last occurrence of a
//! singular field wins, repeated scalars are read packed or not, an absent
//! field without presence reads as its type's zero, unknown fields are
//! skipped. Input is untrusted: every length is checked and nothing
//! recurses more than 32 messages deep.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::FieldDescriptorProto;

use super::conversion;
use super::json::java_class;
use super::protobuf_data::{wrapper_kind, Types, DATE, ENUM, TAG, TIMESTAMP, TIME_OF_DAY};
use crate::data::{logical, Schema, SchemaRef, SchemaType, Struct, Value};
use crate::error::Result;

const MAX_DEPTH: usize = 32;

/// One field occurrence as the wire has it.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn truncated() -> crate::error::ConnectError {
    conversion("truncated Protobuf message")
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(truncated)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(conversion("Protobuf varint longer than 10 bytes"))
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8]> {
    let end = pos
        .checked_add(n)
        .filter(|e| *e <= buf.len())
        .ok_or_else(truncated)?;
    let out = &buf[*pos..end];
    *pos = end;
    Ok(out)
}

/// The (field number, occurrence) pairs of a message, in order.
fn parse_fields(buf: &[u8]) -> Result<Vec<(u32, Raw<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| conversion("bad Protobuf field key"))?;
        let raw = match key & 7 {
            0 => Raw::Varint(read_varint(buf, &mut pos)?),
            1 => Raw::Fixed64(u64::from_le_bytes(
                take(buf, &mut pos, 8)?.try_into().unwrap(),
            )),
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).map_err(|_| truncated())?;
                Raw::Bytes(take(buf, &mut pos, len)?)
            }
            5 => Raw::Fixed32(u32::from_le_bytes(
                take(buf, &mut pos, 4)?.try_into().unwrap(),
            )),
            w => return Err(conversion(format!("unsupported Protobuf wire type {w}"))),
        };
        out.push((number, raw));
    }
    Ok(out)
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Message `full` in `buf` as a Connect struct of `schema` (from
/// [`Types::connect_schema`]).
pub fn decode(
    types: &Types,
    full: &str,
    schema: &SchemaRef,
    buf: &[u8],
    depth: usize,
) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(conversion("Protobuf message nested too deeply"));
    }
    let m = types.message(full)?;
    let raw = parse_fields(buf)?;
    let mut s = Struct::new(schema.clone());
    for (index, f) in m.field.iter().enumerate() {
        let fs = &schema.fields[index].schema;
        let number = f.number() as u32;
        let mut found = raw.iter().filter(|(n, _)| *n == number).map(|(_, r)| *r);
        s.values[index] = if let Some(entry) = types.map_entry(f) {
            let (ks, vs) = (
                fs.key_schema.as_ref().unwrap(),
                fs.value_schema.as_ref().unwrap(),
            );
            let (kf, vf) = (&entry.field[0], &entry.field[1]);
            let mut entries = Vec::new();
            for r in found {
                let Raw::Bytes(b) = r else {
                    return Err(conversion(format!(
                        "map field {} is not length-delimited",
                        f.name()
                    )));
                };
                let e = parse_fields(b)?;
                let part = |n: u32, f: &FieldDescriptorProto, s: &Schema| match e
                    .iter()
                    .rev()
                    .find(|(x, _)| *x == n)
                {
                    Some((_, r)) => single(types, f, s, *r, depth),
                    None => single(types, f, s, zero(f), depth),
                };
                entries.push((part(1, kf, ks)?, part(2, vf, vs)?));
            }
            Value::Map(entries)
        } else if f.label() == Label::Repeated {
            let es = fs.value_schema.as_ref().unwrap();
            let mut items = Vec::new();
            for r in found {
                match (r, packed_width(f.r#type())) {
                    (Raw::Bytes(b), Some(width)) => {
                        let mut pos = 0;
                        while pos < b.len() {
                            let r = match width {
                                0 => Raw::Varint(read_varint(b, &mut pos)?),
                                4 => Raw::Fixed32(u32::from_le_bytes(
                                    take(b, &mut pos, 4)?.try_into().unwrap(),
                                )),
                                _ => Raw::Fixed64(u64::from_le_bytes(
                                    take(b, &mut pos, 8)?.try_into().unwrap(),
                                )),
                            };
                            items.push(single(types, f, es, r, depth)?);
                        }
                    }
                    (r, _) => items.push(single(types, f, es, r, depth)?),
                }
            }
            Value::Array(items)
        } else {
            match found.next_back() {
                Some(r) => single(types, f, fs, r, depth)?,
                None if fs.optional => Value::Null,
                None => single(types, f, fs, zero(f), depth)?,
            }
        };
    }
    Ok(Value::Struct(s))
}

/// How a packed repeated field of this type is laid out: 0 for varints,
/// else the byte width; None when it cannot be packed.
fn packed_width(t: Type) -> Option<usize> {
    match t {
        Type::Int32
        | Type::Int64
        | Type::Uint32
        | Type::Uint64
        | Type::Sint32
        | Type::Sint64
        | Type::Bool
        | Type::Enum => Some(0),
        Type::Fixed32 | Type::Sfixed32 | Type::Float => Some(4),
        Type::Fixed64 | Type::Sfixed64 | Type::Double => Some(8),
        _ => None,
    }
}

/// The occurrence an absent field without presence stands for.
fn zero(f: &FieldDescriptorProto) -> Raw<'static> {
    match packed_width(f.r#type()) {
        Some(0) => Raw::Varint(0),
        Some(4) => Raw::Fixed32(0),
        Some(_) => Raw::Fixed64(0),
        None => Raw::Bytes(&[]),
    }
}

fn single(
    types: &Types,
    f: &FieldDescriptorProto,
    schema: &Schema,
    raw: Raw,
    depth: usize,
) -> Result<Value> {
    let wrong = || {
        conversion(format!(
            "Protobuf field {} has the wrong wire type for {:?}",
            f.name(),
            f.r#type()
        ))
    };
    Ok(match (f.r#type(), raw) {
        (Type::Double, Raw::Fixed64(v)) => Value::Float64(f64::from_bits(v)),
        (Type::Float, Raw::Fixed32(v)) => Value::Float32(f32::from_bits(v)),
        (Type::Int64 | Type::Uint64, Raw::Varint(v)) => Value::Int64(v as i64),
        (Type::Sint64, Raw::Varint(v)) => Value::Int64(zigzag(v)),
        (Type::Sfixed64 | Type::Fixed64, Raw::Fixed64(v)) => Value::Int64(v as i64),
        (Type::Int32, Raw::Varint(v)) => Value::Int32(v as i64 as i32),
        (Type::Sint32, Raw::Varint(v)) => Value::Int32(zigzag(v) as i32),
        (Type::Sfixed32, Raw::Fixed32(v)) => Value::Int32(v as i32),
        (Type::Uint32, Raw::Varint(v)) => Value::Int64(i64::from(v as u32)),
        (Type::Fixed32, Raw::Fixed32(v)) => Value::Int64(i64::from(v)),
        (Type::Bool, Raw::Varint(v)) => Value::Boolean(v != 0),
        (Type::String, Raw::Bytes(b)) => Value::String(
            String::from_utf8(b.to_vec())
                .map_err(|_| conversion(format!("Protobuf field {} is not UTF-8", f.name())))?,
        ),
        (Type::Bytes, Raw::Bytes(b)) => Value::Bytes(b.to_vec()),
        (Type::Enum, Raw::Varint(v)) => {
            let number = v as i64 as i32;
            let symbol = types
                .enums
                .get(f.type_name())
                .and_then(|e| e.value.iter().find(|x| x.number() == number))
                .map(|x| x.name().to_string());
            Value::String(symbol.unwrap_or_else(|| number.to_string()))
        }
        (Type::Message, Raw::Bytes(b)) => {
            let fields = || parse_fields(b);
            let int = |fields: &[(u32, Raw)], n: u32| {
                fields
                    .iter()
                    .rev()
                    .find(|(x, _)| *x == n)
                    .map_or(0, |(_, r)| match r {
                        Raw::Varint(v) => *v as i64,
                        _ => 0,
                    })
            };
            match f.type_name() {
                TIMESTAMP => {
                    let fs = fields()?;
                    let (secs, nanos) = (int(&fs, 1), int(&fs, 2) as i32);
                    Value::Int64(
                        secs.saturating_mul(1000)
                            .saturating_add(i64::from(nanos).div_euclid(1_000_000)),
                    )
                }
                DATE => {
                    let fs = fields()?;
                    let (y, m, d) = (int(&fs, 1), int(&fs, 2), int(&fs, 3));
                    let days = if (y, m, d) == (0, 0, 0) {
                        0
                    } else {
                        days_from_civil(y, m, d)
                    };
                    Value::Int32(i32::try_from(days).map_err(|_| conversion("date out of range"))?)
                }
                TIME_OF_DAY => {
                    let fs = fields()?;
                    let ms = ((int(&fs, 1) * 60 + int(&fs, 2)) * 60 + int(&fs, 3)) * 1000
                        + int(&fs, 4) / 1_000_000;
                    Value::Int32(
                        i32::try_from(ms).map_err(|_| conversion("time of day out of range"))?,
                    )
                }
                t if wrapper_kind(t).is_some() => {
                    // A wrapper's one field, numbered 1, of the wrapped type.
                    let inner = FieldDescriptorProto {
                        name: Some("value".into()),
                        number: Some(1),
                        r#type: Some(wrapped_type(t) as i32),
                        ..Default::default()
                    };
                    let fs = fields()?;
                    let r = fs
                        .iter()
                        .rev()
                        .find(|(x, _)| *x == 1)
                        .map_or(zero(&inner), |(_, r)| *r);
                    single(types, &inner, schema, r, depth)?
                }
                t => {
                    let schema_ref = SchemaRef::new(schema.clone().with_optional(false));
                    let mut v = decode(types, t, &schema_ref, b, depth + 1)?;
                    if let Value::Struct(s) = &mut v {
                        // The struct keeps the field's own schema (optional or not).
                        s.schema = SchemaRef::new(schema.clone());
                    }
                    v
                }
            }
        }
        _ => return Err(wrong()),
    })
}

fn wrapped_type(t: &str) -> Type {
    match t.trim_start_matches(".google.protobuf.") {
        "DoubleValue" => Type::Double,
        "FloatValue" => Type::Float,
        "Int64Value" => Type::Int64,
        "UInt64Value" => Type::Uint64,
        "UInt32Value" => Type::Uint32,
        "Int32Value" => Type::Int32,
        "BoolValue" => Type::Bool,
        "StringValue" => Type::String,
        _ => Type::Bytes,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(number: u32, wire: u8, out: &mut Vec<u8>) {
    put_varint(u64::from(number) << 3 | u64::from(wire), out);
}

fn put_len(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    put_key(number, 2, out);
    put_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Struct `value` of `schema` as the message [`proto_text`] declares for it.
///
/// [`proto_text`]: super::protobuf_data::proto_text
pub fn encode(schema: &Schema, value: &Struct, out: &mut Vec<u8>) -> Result<()> {
    for f in &schema.fields {
        let number = match f.schema.parameters.get(TAG) {
            Some(t) => t
                .parse()
                .map_err(|_| conversion(format!("bad {TAG} parameter {t:?}")))?,
            None => f.index as u32 + 1,
        };
        let v = value.get(&f.name).unwrap_or(&Value::Null);
        let v = match (v, &f.schema.default) {
            (Value::Null, Some(d)) => d,
            _ => v,
        };
        encode_field(number, &f.schema, v, &f.name, out)?;
    }
    Ok(())
}

fn encode_field(
    number: u32,
    schema: &Schema,
    value: &Value,
    name: &str,
    out: &mut Vec<u8>,
) -> Result<()> {
    match (schema.kind, value) {
        (_, Value::Null) if schema.optional => Ok(()),
        (_, Value::Null) => Err(conversion(format!("null value for required field {name}"))),
        (SchemaType::Array, Value::Array(items)) => {
            let es = schema
                .value_schema
                .as_deref()
                .ok_or_else(|| conversion("Array schema has no element schema"))?;
            let packable = !matches!(
                es.kind,
                SchemaType::String | SchemaType::Bytes | SchemaType::Struct
            ) && es.name.is_none()
                || es.parameters.contains_key(ENUM);
            if packable {
                let mut packed = Vec::new();
                for item in items {
                    scalar(es, item, &mut packed)?;
                }
                put_len(number, &packed, out);
            } else {
                for item in items {
                    encode_single(number, es, item, out)?;
                }
            }
            Ok(())
        }
        (SchemaType::Map, Value::Map(entries)) => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(conversion("Map schema has no key or value schema"));
            };
            for (k, v) in entries {
                let mut entry = Vec::new();
                encode_single(1, ks, k, &mut entry)?;
                encode_single(2, vs, v, &mut entry)?;
                put_len(number, &entry, out);
            }
            Ok(())
        }
        _ => encode_single(number, schema, value, out),
    }
}

fn encode_single(number: u32, schema: &Schema, value: &Value, out: &mut Vec<u8>) -> Result<()> {
    let mut message = Vec::new();
    match (schema.name.as_deref(), value) {
        (Some(logical::TIMESTAMP), Value::Int64(ms)) => {
            put_key(1, 0, &mut message);
            put_varint(ms.div_euclid(1000) as u64, &mut message);
            put_key(2, 0, &mut message);
            put_varint((ms.rem_euclid(1000) * 1_000_000) as u64, &mut message);
        }
        (Some(logical::DATE), Value::Int32(days)) => {
            let (y, m, d) = civil_from_days((*days).into());
            for (n, v) in [(1, y), (2, m), (3, d)] {
                put_key(n, 0, &mut message);
                put_varint(v as u64, &mut message);
            }
        }
        (Some(logical::TIME), Value::Int32(ms)) => {
            let ms = i64::from(*ms);
            let parts = [
                (1, ms / 3_600_000),
                (2, ms / 60_000 % 60),
                (3, ms / 1000 % 60),
                (4, ms % 1000 * 1_000_000),
            ];
            for (n, v) in parts {
                put_key(n, 0, &mut message);
                put_varint(v as u64, &mut message);
            }
        }
        (_, Value::Struct(s)) if schema.kind == SchemaType::Struct => {
            encode(schema, s, &mut message)?
        }
        (_, Value::String(s)) if !schema.parameters.contains_key(ENUM) => {
            message.extend_from_slice(s.as_bytes())
        }
        (_, Value::Bytes(b)) if schema.kind == SchemaType::Bytes => message.extend_from_slice(b),
        _ => {
            let wire = match schema.kind {
                SchemaType::Float32 => 5,
                SchemaType::Float64 => 1,
                _ => 0,
            };
            put_key(number, wire, out);
            return scalar(schema, value, out);
        }
    }
    put_len(number, &message, out);
    Ok(())
}

/// A scalar's payload (no key): varint, or little-endian fixed width.
fn scalar(schema: &Schema, value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match (schema.kind, value) {
        (SchemaType::Boolean, Value::Boolean(b)) => put_varint(u64::from(*b), out),
        (SchemaType::Int8, Value::Int8(v)) => put_varint(i64::from(*v) as u64, out),
        (SchemaType::Int16, Value::Int16(v)) => put_varint(i64::from(*v) as u64, out),
        (SchemaType::Int32, Value::Int32(v)) => put_varint(i64::from(*v) as u64, out),
        (SchemaType::Int64, Value::Int64(v)) => put_varint(*v as u64, out),
        (SchemaType::Float32, Value::Float32(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (SchemaType::Float64, Value::Float64(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (SchemaType::String, Value::String(sym)) if schema.parameters.contains_key(ENUM) => {
            let number: i32 = schema
                .parameters
                .get(&format!("{ENUM}.{sym}"))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    conversion(format!(
                        "{sym:?} is not a symbol of enum {}",
                        schema.parameters[ENUM]
                    ))
                })?;
            put_varint(i64::from(number) as u64, out)
        }
        _ => {
            return Err(conversion(format!(
                "Invalid type for {}: {}",
                schema.kind.name().to_ascii_uppercase(),
                java_class(value)
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in [-800_000, -1, 0, 59, 19_675, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn truncated_and_foreign_bytes_are_errors_not_panics() {
        for bad in [
            &[0x0A, 0x05, 1][..],
            &[0x08],
            &[0x0B],
            &[0xFF; 11],
            &[0x0D, 1, 2],
        ] {
            assert!(parse_fields(bad).is_err(), "{bad:?}");
        }
    }
}
