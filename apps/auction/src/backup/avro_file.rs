//! The backup file as an Avro object container file (OCF), the format any
//! Avro tool reads (fastavro, avro-tools, Spark, DuckDB).
//!
//! Layout (Avro spec, "Object Container Files"): the magic `Obj\x01`; the
//! metadata, an Avro `map<bytes>` holding `avro.schema` (the record schema
//! as JSON) and `avro.codec` (`null`: records are not compressed); a 16-byte
//! random sync marker; then blocks of (record count: long, data size: long,
//! data: the records' Avro binary encoding, the sync marker again).
//!
//! The framing is written here rather than through apache-avro's `Writer`:
//! the writer needs one block per consumed batch, built in memory and written
//! with one `write` before an fsync, and the reader must tell a torn last
//! block (cut off) from damage earlier in the file (an error) at exact byte
//! positions. apache-avro encodes and decodes the records themselves.
//!
//! Torn or damaged: a block that is incomplete, does not end with the
//! file's sync marker or does not decode is a torn tail when nothing was
//! written after it, which is what a crash mid-write leaves: no sync marker
//! follows its start but its own, at the end of the file. Any other sync
//! marker after it ends a later block, and the file is damaged.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::OnceLock;

use apache_avro::types::Value;
use apache_avro::Schema;

use super::{backup_err, BackupContents, BackupLine};
use crate::bid::Bid;
use crate::codec::BID_SCHEMA;
use crate::error::{AuctionError, Result};

/// The first four bytes of every object container file.
pub const MAGIC: [u8; 4] = *b"Obj\x01";
/// Length of the sync marker that ends the header and every block.
pub const SYNC_LEN: usize = 16;

/// The record schema of the backup file, with the JSON it is parsed from
/// (the JSON goes into the header as `avro.schema`).
pub struct BackupSchema {
    pub json: String,
    pub schema: Schema,
}

/// The backup record: the topic position (`partition`, `offset`) followed
/// by the bid's own fields, derived from [`BID_SCHEMA`] so the two never
/// drift apart (`bid_ts` keeps its timestamp-millis logical type).
pub fn backup_schema() -> &'static BackupSchema {
    static SCHEMA: OnceLock<BackupSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // BID_SCHEMA is a constant checked by the unit tests below: failing
        // here is a programming error, not bad input.
        let mut v: serde_json::Value =
            serde_json::from_str(BID_SCHEMA).expect("BID_SCHEMA is JSON");
        v["name"] = "BackupBid".into();
        v["doc"] =
            "One bid of the topic `bids`, with the partition and offset it had there.".into();
        let fields = v["fields"].as_array_mut().expect("BID_SCHEMA has fields");
        fields.insert(
            0,
            serde_json::json!({"name": "partition", "type": "int", "doc": "Partition of `bids`"}),
        );
        fields.insert(
            1,
            serde_json::json!({"name": "offset", "type": "long", "doc": "Offset in the partition"}),
        );
        let json = v.to_string();
        let schema = Schema::parse_str(&json).expect("the backup schema parses");
        BackupSchema { json, schema }
    })
}

/// What the header says: the writer's schema and the sync marker, and
/// where the first block starts.
#[derive(Debug, Clone)]
pub struct Header {
    pub schema: Schema,
    pub sync: [u8; SYNC_LEN],
    pub len: u64,
}

/// Appends a zig-zag varint `long` (the Avro encoding of int and long).
fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// The header of a new file holding `schema_json`, codec null.
pub fn header_bytes(schema_json: &str, sync: &[u8; SYNC_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(schema_json.len() + 64);
    out.extend_from_slice(&MAGIC);
    put_long(&mut out, 2); // one map block of two entries
    put_bytes(&mut out, b"avro.schema");
    put_bytes(&mut out, schema_json.as_bytes());
    put_bytes(&mut out, b"avro.codec");
    put_bytes(&mut out, b"null");
    put_long(&mut out, 0); // end of the map
    out.extend_from_slice(sync);
    out
}

/// A fresh random sync marker (a v4 UUID's 16 bytes: 122 random bits, far
/// more than a marker needs to never occur inside the data by chance).
pub fn new_sync() -> [u8; SYNC_LEN] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn to_value(l: &BackupLine) -> Value {
    Value::Record(vec![
        ("partition".into(), Value::Int(l.partition)),
        ("offset".into(), Value::Long(l.offset)),
        ("id".into(), Value::String(l.bid.id.clone())),
        ("item".into(), Value::String(l.bid.item.clone())),
        ("name".into(), Value::String(l.bid.name.clone())),
        ("price".into(), Value::Long(l.bid.price)),
        ("bid_ts".into(), Value::TimestampMillis(l.bid.bid_ts)),
    ])
}

/// Appends one block holding `lines` to `out`.
pub fn encode_block(
    lines: &[BackupLine],
    schema: &Schema,
    sync: &[u8; SYNC_LEN],
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut data = Vec::with_capacity(lines.len() * 96);
    for l in lines {
        let datum = apache_avro::to_avro_datum(schema, to_value(l))
            .map_err(|e| AuctionError::Codec(format!("cannot encode a backup record: {e}")))?;
        data.extend_from_slice(&datum);
    }
    put_long(out, lines.len() as i64);
    put_long(out, data.len() as i64);
    out.extend_from_slice(&data);
    out.extend_from_slice(sync);
    Ok(())
}

/// Reads a record written with any schema that has the backup's fields
/// (looked up by name, so a reordered schema reads too).
fn from_value(v: Value) -> std::result::Result<BackupLine, String> {
    let Value::Record(fields) = v else {
        return Err("a record is not an Avro record".into());
    };
    let (mut partition, mut offset, mut price, mut bid_ts) = (None, None, None, None);
    let (mut id, mut item, mut name) = (None, None, None);
    for (field, value) in fields {
        let long = match value {
            Value::Int(i) => Some(i64::from(i)),
            Value::Long(l) | Value::TimestampMillis(l) => Some(l),
            _ => None,
        };
        let text = match &value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        match field.as_str() {
            "partition" => partition = long.and_then(|l| i32::try_from(l).ok()),
            "offset" => offset = long,
            "price" => price = long,
            "bid_ts" => bid_ts = long,
            "id" => id = text,
            "item" => item = text,
            "name" => name = text,
            _ => {}
        }
    }
    let missing = |f: &str| format!("a record has no {f} of the right type");
    Ok(BackupLine {
        partition: partition.ok_or_else(|| missing("int partition"))?,
        offset: offset.ok_or_else(|| missing("long offset"))?,
        bid: Bid {
            id: id.ok_or_else(|| missing("string id"))?,
            item: item.ok_or_else(|| missing("string item"))?,
            name: name.ok_or_else(|| missing("string name"))?,
            price: price.ok_or_else(|| missing("long price"))?,
            bid_ts: bid_ts.ok_or_else(|| missing("timestamp bid_ts"))?,
        },
    })
}

/// Why a piece of the file could not be read.
enum Bad {
    /// The file ends inside it.
    Short,
    /// Its bytes are wrong.
    Malformed(String),
}

impl From<std::io::Error> for Bad {
    fn from(e: std::io::Error) -> Bad {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Bad::Short,
            _ => Bad::Malformed(e.to_string()),
        }
    }
}

/// Reads the file front to back, counting the bytes consumed.
struct Cursor<R> {
    inner: R,
    pos: u64,
    /// The file's length: declared sizes past it mean the file is short.
    total: u64,
}

impl<R: Read> Cursor<R> {
    fn exact(&mut self, buf: &mut [u8]) -> std::result::Result<(), Bad> {
        self.inner.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn long(&mut self) -> std::result::Result<i64, Bad> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let mut b = [0u8; 1];
            self.exact(&mut b)?;
            n |= u64::from(b[0] & 0x7f) << (7 * i);
            if b[0] & 0x80 == 0 {
                return Ok((n >> 1) as i64 ^ -((n & 1) as i64));
            }
        }
        Err(Bad::Malformed("a varint longer than 10 bytes".into()))
    }

    /// `len` bytes, refusing lengths that are negative or run past the end
    /// of the file before allocating them.
    fn bytes(&mut self, len: i64) -> std::result::Result<Vec<u8>, Bad> {
        let len = u64::try_from(len).map_err(|_| Bad::Malformed(format!("length {len}")))?;
        if len > self.total - self.pos {
            return Err(Bad::Short);
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf)?;
        Ok(buf)
    }
}

/// The header, or why it cannot be read. `Bad::Short` means a torn header.
fn read_header<R: Read>(c: &mut Cursor<R>) -> std::result::Result<Header, Bad> {
    let mut magic = [0u8; 4];
    let got = c.inner.read(&mut magic)?;
    if magic[..got] != MAGIC[..got] {
        return Err(Bad::Malformed(
            "not an Avro object container file (it does not start with Obj\\x01)".into(),
        ));
    }
    c.pos += got as u64;
    if got < MAGIC.len() {
        c.exact(&mut magic[got..])?;
        if magic != MAGIC {
            return Err(Bad::Malformed("not an Avro object container file".into()));
        }
    }
    let (mut schema, mut codec) = (None, None);
    loop {
        let mut count = c.long()?;
        if count == 0 {
            break;
        }
        if count < 0 {
            // A negative count is followed by the block's size in bytes.
            count = -count;
            c.long()?;
        }
        for _ in 0..count {
            let key_len = c.long()?;
            let key = c.bytes(key_len)?;
            let value_len = c.long()?;
            let value = c.bytes(value_len)?;
            match key.as_slice() {
                b"avro.schema" => schema = Some(value),
                b"avro.codec" => codec = Some(value),
                _ => {}
            }
        }
    }
    let mut sync = [0u8; SYNC_LEN];
    c.exact(&mut sync)?;
    let codec = codec.unwrap_or_else(|| b"null".to_vec());
    if codec != b"null" {
        return Err(Bad::Malformed(format!(
            "its codec is `{}`; fjord reads and writes only `null`",
            String::from_utf8_lossy(&codec)
        )));
    }
    let schema = schema.ok_or_else(|| Bad::Malformed("its header has no avro.schema".into()))?;
    let schema = std::str::from_utf8(&schema)
        .map_err(|e| e.to_string())
        .and_then(|s| Schema::parse_str(s).map_err(|e| e.to_string()))
        .map_err(|e| Bad::Malformed(format!("its avro.schema does not parse: {e}")))?;
    Ok(Header {
        schema,
        sync,
        len: c.pos,
    })
}

/// One block's records. `framed_end` is set to where the block says it
/// ends as soon as its sizes are read.
fn read_block<R: Read>(
    c: &mut Cursor<R>,
    header: &Header,
    framed_end: &mut Option<u64>,
) -> std::result::Result<Vec<BackupLine>, Bad> {
    let count = c.long()?;
    let size = c.long()?;
    if count < 0 {
        return Err(Bad::Malformed(format!("a record count of {count}")));
    }
    *framed_end = u64::try_from(size)
        .ok()
        .map(|size| c.pos.saturating_add(size).saturating_add(SYNC_LEN as u64));
    let data = c.bytes(size)?;
    let mut sync = [0u8; SYNC_LEN];
    c.exact(&mut sync)?;
    if sync != header.sync {
        return Err(Bad::Malformed(
            "it does not end with the sync marker".into(),
        ));
    }
    let mut reader = data.as_slice();
    let mut lines = Vec::with_capacity(count.min(100_000) as usize);
    for n in 0..count {
        let value = apache_avro::from_avro_datum(&header.schema, &mut reader, None)
            .map_err(|e| Bad::Malformed(format!("record {n} does not decode: {e}")))?;
        lines.push(from_value(value).map_err(Bad::Malformed)?);
    }
    if !reader.is_empty() {
        return Err(Bad::Malformed(format!(
            "{} bytes follow its {count} records",
            reader.len()
        )));
    }
    Ok(lines)
}

/// Where `sync` first occurs in the file at or after `from`.
fn find_sync(path: &Path, from: u64, sync: &[u8; SYNC_LEN]) -> Result<Option<u64>> {
    let read_err = |source| AuctionError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    file.seek(SeekFrom::Start(from)).map_err(read_err)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(read_err)?;
    Ok(tail
        .windows(SYNC_LEN)
        .position(|w| w == sync)
        .map(|i| from + i as u64))
}

/// Reads an object container file (missing: empty, no header). A torn
/// tail (the last block incomplete or not ending with the sync marker) is
/// reported in `torn_bytes`; damage before the last block is an error. A
/// torn header (a crash while creating the file) comes back as no header,
/// no records and every byte torn.
pub fn read(path: &Path) -> Result<(BackupContents, Option<Header>)> {
    let read_err = |source| AuctionError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((BackupContents::default(), None))
        }
        Err(source) => return Err(read_err(source)),
    };
    let total = file.metadata().map_err(read_err)?.len();
    let mut c = Cursor {
        inner: BufReader::with_capacity(256 * 1024, file),
        pos: 0,
        total,
    };
    let header = match read_header(&mut c) {
        Ok(h) => h,
        Err(Bad::Short) => {
            let contents = BackupContents {
                torn_bytes: total,
                ..BackupContents::default()
            };
            return Ok((contents, None));
        }
        Err(Bad::Malformed(why)) => return Err(backup_err(path, why)),
    };
    let mut contents = BackupContents {
        good_len: header.len,
        ..BackupContents::default()
    };
    let mut block_no = 0u64;
    while c.pos < total {
        block_no += 1;
        let start = c.pos;
        let mut framed_end = None;
        match read_block(&mut c, &header, &mut framed_end) {
            Ok(lines) => {
                contents.lines.extend(lines);
                contents.good_len = c.pos;
            }
            Err(bad) => {
                // A torn write is a prefix of one block: it holds no sync
                // marker, or only its own at the very end of the file (the
                // whole block reached the file, some of its data did not).
                // Any other sync marker ends a block written after it.
                let torn = match find_sync(path, start, &header.sync)? {
                    None => true,
                    Some(at) => at + SYNC_LEN as u64 == total && framed_end == Some(total),
                };
                if !torn {
                    let why = match bad {
                        Bad::Short => "its sizes run past a later block".to_string(),
                        Bad::Malformed(why) => why,
                    };
                    return Err(backup_err(
                        path,
                        format!(
                            "block {block_no} (at byte {start}) is damaged: {why}; later blocks \
                             follow it, so this is not a torn write and the file is left as it is"
                        ),
                    ));
                }
                break; // the last block, torn by a crash mid-write
            }
        }
    }
    contents.torn_bytes = total - contents.good_len;
    Ok((contents, Some(header)))
}

#[cfg(test)]
#[path = "avro_file_tests.rs"]
mod tests;
