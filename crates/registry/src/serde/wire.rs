//! The Confluent wire format: the few bytes in front of every serialized
//! key or value that name the schema it was written with. No I/O here.
//!
//! ```text
//! magic 0x00, schema id (4 bytes, big-endian, signed)     the classic form
//! magic 0x01, schema GUID (16 bytes)                       the newer form
//! then, for Protobuf only, the message indexes:
//!   count (zigzag varint), then each index (zigzag varint)
//!   — the common [0] (the file's first message) is written as a single 0
//! then the payload (Avro binary datum, JSON text, Protobuf message bytes)
//! ```
//!
//! Decoding borrows from the input and never panics: a short or foreign
//! buffer is a [`WireError`].

use std::fmt;

/// Magic byte of the classic header (4-byte schema id).
pub const MAGIC_ID: u8 = 0;
/// Magic byte of the newer header (16-byte schema GUID).
pub const MAGIC_GUID: u8 = 1;
/// Length of the classic header.
pub const ID_HEADER_LEN: usize = 5;
/// Length of the GUID header.
pub const GUID_HEADER_LEN: usize = 17;

/// How a serialized datum names its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaRef {
    /// The registry's numeric schema id (magic 0).
    Id(i32),
    /// The registry's schema GUID (magic 1), as its 16 raw bytes.
    Guid([u8; 16]),
}

impl fmt::Display for SchemaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaRef::Id(id) => write!(f, "schema id {id}"),
            SchemaRef::Guid(g) => write!(f, "schema guid {}", format_guid(g)),
        }
    }
}

/// The GUID in its usual 8-4-4-4-12 hex spelling (what the registry's REST
/// API takes).
pub fn format_guid(g: &[u8; 16]) -> String {
    let hex: String = g.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Why bytes are not in the wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty data: no schema registry header")]
    Empty,
    #[error(
        "unknown magic byte {0:#04x}: not schema registry framed data (expected 0x00 or 0x01)"
    )]
    BadMagic(u8),
    #[error("data too short for a schema registry header: {len} bytes, need {need}")]
    Short { len: usize, need: usize },
    #[error("bad Protobuf message indexes: {0}")]
    BadMessageIndexes(String),
}

/// Appends the classic header (magic 0 + big-endian id) to `out`.
pub fn encode_header(id: i32, out: &mut Vec<u8>) {
    out.push(MAGIC_ID);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Appends the GUID header (magic 1 + 16 bytes) to `out`.
pub fn encode_guid_header(guid: &[u8; 16], out: &mut Vec<u8>) {
    out.push(MAGIC_GUID);
    out.extend_from_slice(guid);
}

/// Splits `data` into the schema it names and the rest (for Protobuf, the
/// message indexes and the payload; for the others, the payload).
pub fn decode_header(data: &[u8]) -> Result<(SchemaRef, &[u8]), WireError> {
    let (&magic, rest) = data.split_first().ok_or(WireError::Empty)?;
    match magic {
        MAGIC_ID => {
            let id: [u8; 4] =
                rest.get(..4)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(WireError::Short {
                        len: data.len(),
                        need: ID_HEADER_LEN,
                    })?;
            Ok((SchemaRef::Id(i32::from_be_bytes(id)), &rest[4..]))
        }
        MAGIC_GUID => {
            let guid: [u8; 16] =
                rest.get(..16)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(WireError::Short {
                        len: data.len(),
                        need: GUID_HEADER_LEN,
                    })?;
            Ok((SchemaRef::Guid(guid), &rest[16..]))
        }
        other => Err(WireError::BadMagic(other)),
    }
}

/// Appends Protobuf message indexes: the path from the file's top-level
/// messages down to the message written (e.g. `[1, 0]` is the first nested
/// message of the file's second message). `[0]` (and `[]`) take one byte.
pub fn encode_message_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes.is_empty() || indexes == [0] {
        out.push(0);
        return;
    }
    write_zigzag(indexes.len() as i64, out);
    for &i in indexes {
        write_zigzag(i64::from(i), out);
    }
}

/// Reads Protobuf message indexes from the front of `data` (what follows the
/// header); returns them and the message bytes. A count of 0 means `[0]`.
pub fn decode_message_indexes(data: &[u8]) -> Result<(Vec<i32>, &[u8]), WireError> {
    let mut pos = 0;
    let count = read_zigzag(data, &mut pos)?;
    if count == 0 {
        return Ok((vec![0], &data[pos..]));
    }
    // Each index takes at least one byte: a larger count cannot be honest,
    // and must not size an allocation.
    if count < 0 || count as usize > data.len() - pos {
        return Err(WireError::BadMessageIndexes(format!(
            "count {count} does not fit in {} remaining bytes",
            data.len() - pos
        )));
    }
    let mut indexes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let i = read_zigzag(data, &mut pos)?;
        let i = i32::try_from(i)
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| WireError::BadMessageIndexes(format!("index {i} out of range")))?;
        indexes.push(i);
    }
    Ok((indexes, &data[pos..]))
}

fn write_zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn read_zigzag(data: &[u8], pos: &mut usize) -> Result<i64, WireError> {
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *data
            .get(*pos)
            .ok_or_else(|| WireError::BadMessageIndexes("truncated varint".into()))?;
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(WireError::BadMessageIndexes(
        "varint longer than 10 bytes".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_header_round_trips() {
        for id in [0, 1, 42, 0x0102_0304, i32::MAX, -1] {
            let mut buf = Vec::new();
            encode_header(id, &mut buf);
            buf.extend_from_slice(b"payload");
            assert_eq!(buf.len(), ID_HEADER_LEN + 7);
            let (r, rest) = decode_header(&buf).unwrap();
            assert_eq!(r, SchemaRef::Id(id));
            assert_eq!(rest, b"payload");
        }
    }

    #[test]
    fn id_is_big_endian_after_magic_zero() {
        let mut buf = Vec::new();
        encode_header(0x0102_0304, &mut buf);
        assert_eq!(buf, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn guid_header_round_trips() {
        let guid: [u8; 16] = std::array::from_fn(|i| i as u8 * 17);
        let mut buf = Vec::new();
        encode_guid_header(&guid, &mut buf);
        buf.push(9);
        let (r, rest) = decode_header(&buf).unwrap();
        assert_eq!(r, SchemaRef::Guid(guid));
        assert_eq!(rest, [9]);
        assert_eq!(format_guid(&guid), "00112233-4455-6677-8899-aabbccddeeff");
    }

    #[test]
    fn empty_payload_is_fine() {
        let (r, rest) = decode_header(&[0, 0, 0, 0, 7]).unwrap();
        assert_eq!(r, SchemaRef::Id(7));
        assert!(rest.is_empty());
    }

    #[test]
    fn bad_magic_is_refused() {
        assert_eq!(decode_header(b"{\"a\":1}"), Err(WireError::BadMagic(b'{')));
        assert_eq!(decode_header(&[2, 0, 0, 0, 1]), Err(WireError::BadMagic(2)));
    }

    #[test]
    fn short_buffers_are_refused() {
        assert_eq!(decode_header(&[]), Err(WireError::Empty));
        for len in 1..ID_HEADER_LEN {
            let buf = vec![0u8; len];
            assert_eq!(
                decode_header(&buf),
                Err(WireError::Short { len, need: 5 }),
                "{len} bytes"
            );
        }
        let mut guid = vec![1u8];
        guid.extend_from_slice(&[0; 15]);
        assert_eq!(
            decode_header(&guid),
            Err(WireError::Short { len: 16, need: 17 })
        );
    }

    #[test]
    fn message_index_zero_is_one_byte() {
        for idx in [&[][..], &[0][..]] {
            let mut buf = Vec::new();
            encode_message_indexes(idx, &mut buf);
            assert_eq!(buf, [0]);
        }
        let (idx, rest) = decode_message_indexes(&[0, 0x08, 0x96, 0x01]).unwrap();
        assert_eq!(idx, [0]);
        assert_eq!(rest, [0x08, 0x96, 0x01]);
    }

    #[test]
    fn message_indexes_round_trip() {
        for idx in [vec![1], vec![1, 0], vec![0, 2, 5], vec![300, 70000]] {
            let mut buf = Vec::new();
            encode_message_indexes(&idx, &mut buf);
            buf.extend_from_slice(b"msg");
            let (got, rest) = decode_message_indexes(&buf).unwrap();
            assert_eq!(got, idx);
            assert_eq!(rest, b"msg");
        }
        // Zigzag: [1, 0] is count 2 -> 4, 1 -> 2, 0 -> 0.
        let mut buf = Vec::new();
        encode_message_indexes(&[1, 0], &mut buf);
        assert_eq!(buf, [4, 2, 0]);
    }

    #[test]
    fn bad_message_indexes_are_refused() {
        // Truncated varint.
        assert!(decode_message_indexes(&[0x80]).is_err());
        assert!(decode_message_indexes(&[]).is_err());
        // Count larger than the bytes left.
        assert!(decode_message_indexes(&[20, 2]).is_err());
        // Negative count (zigzag 1 = -1) and negative index.
        assert!(decode_message_indexes(&[1]).is_err());
        assert!(decode_message_indexes(&[2, 1]).is_err());
        // Over-long varint.
        assert!(decode_message_indexes(&[0xff; 11]).is_err());
    }
}
