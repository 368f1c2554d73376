//! Field readers and writers shared by the internal topics' record layouts
//! (`__consumer_offsets` in `group::records`, `__transaction_state` in
//! `txn::records`). Both are Kafka's non-flexible big-endian encoding with
//! int16-length strings, so the primitives live once here; each layout maps
//! a [`FieldError`] into its own `RecordError` (whose message names the
//! topic).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A field that could not be read: the record was cut short or a string
/// was not UTF-8.
#[derive(Debug)]
pub(crate) struct FieldError(pub(crate) &'static str);

pub(crate) fn put_str(b: &mut BytesMut, s: &str) {
    // Kafka strings are at most i16::MAX bytes; longer input was refused
    // before it got here (ids, topic names and metadata are length-checked).
    let s = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    b.put_i16(s.len() as i16);
    b.put_slice(s);
}

pub(crate) fn put_nullable_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

pub(crate) fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

fn need(b: &[u8], n: usize) -> Result<(), FieldError> {
    if b.remaining() < n {
        return Err(FieldError("truncated"));
    }
    Ok(())
}

pub(crate) fn get_i8(b: &mut &[u8]) -> Result<i8, FieldError> {
    need(b, 1)?;
    Ok(b.get_i8())
}

pub(crate) fn get_i16(b: &mut &[u8]) -> Result<i16, FieldError> {
    need(b, 2)?;
    Ok(b.get_i16())
}

pub(crate) fn get_i32(b: &mut &[u8]) -> Result<i32, FieldError> {
    need(b, 4)?;
    Ok(b.get_i32())
}

pub(crate) fn get_i64(b: &mut &[u8]) -> Result<i64, FieldError> {
    need(b, 8)?;
    Ok(b.get_i64())
}

pub(crate) fn get_nullable_str(b: &mut &[u8]) -> Result<Option<String>, FieldError> {
    let len = get_i16(b)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    need(b, len)?;
    let s = String::from_utf8(b[..len].to_vec()).map_err(|_| FieldError("string is not UTF-8"))?;
    b.advance(len);
    Ok(Some(s))
}

/// A string; a null (negative length) reads as empty.
pub(crate) fn get_str(b: &mut &[u8]) -> Result<String, FieldError> {
    get_nullable_str(b).map(Option::unwrap_or_default)
}

/// Length-prefixed bytes; a null (negative length) reads as empty.
pub(crate) fn get_bytes(b: &mut &[u8]) -> Result<Bytes, FieldError> {
    let len = get_i32(b)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    let len = len as usize;
    need(b, len)?;
    let out = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Ok(out)
}
