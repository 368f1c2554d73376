//! Builders for valid v2 RecordBatches, for this crate's tests and for the
//! broker's. Written from the Kafka protocol description: uncompressed
//! records, zigzag varints, CRC-32C over attributes..end. And `Garbage`,
//! the invalid input that decoders must refuse without panicking.

use crate::batch::{put_varlong, BatchHeader, BATCH_HEADER_LEN};

use crate::compression::Codec;

/// Pseudo-random bytes (xorshift64) for tests that feed decoders garbage:
/// the same seed gives the same bytes on every run.
pub struct Garbage(pub u64);

impl Garbage {
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
}

/// One record; None is a null key or value.
#[derive(Debug, Clone)]
struct TestRecord {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Builds one uncompressed v2 RecordBatch.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    attributes: i16,
    codec: Codec,
    records: Vec<TestRecord>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder::new()
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &Option<Vec<u8>>) {
    match b {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

impl BatchBuilder {
    /// A non-idempotent batch (producerId -1) with no records yet.
    pub fn new() -> BatchBuilder {
        BatchBuilder {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            attributes: 0,
            codec: Codec::None,
            records: Vec::new(),
        }
    }

    /// Idempotent producer metadata.
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Raw attributes (compression bits, transactional, ...). The records
    /// are still written uncompressed; the log never looks inside.
    pub fn attributes(mut self, attributes: i16) -> Self {
        self.attributes = attributes;
        self
    }

    /// Marks the batch transactional (attributes bit 4), as a producer
    /// with a transactional.id writes inside a transaction.
    pub fn transactional(mut self) -> Self {
        self.attributes |= 0x10;
        self
    }

    /// Marks the batch a control batch (attributes bit 5). Only the broker
    /// writes real ones (`fjord_log::txn::encode_marker`); this is for
    /// tests that check a client's control batch is refused.
    pub fn control(mut self) -> Self {
        self.attributes |= 0x20;
        self
    }

    /// Adds a record with a key (empty means null) and a value.
    pub fn record(self, key: &[u8], value: &[u8], timestamp: i64) -> Self {
        let key = (!key.is_empty()).then_some(key);
        self.keyed(key, Some(value), timestamp)
    }

    /// Adds a record; None is a null key, or a null value (a tombstone).
    pub fn keyed(mut self, key: Option<&[u8]>, value: Option<&[u8]>, timestamp: i64) -> Self {
        self.records.push(TestRecord {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            timestamp,
            headers: Vec::new(),
        });
        self
    }

    /// Adds a header to the last record added.
    pub fn header(mut self, key: &[u8], value: Option<&[u8]>) -> Self {
        let last = self.records.last_mut().expect("header() after a record");
        last.headers.push((key.to_vec(), value.map(<[u8]>::to_vec)));
        self
    }

    /// Compresses the records with `codec`, as a client would. Written
    /// straight on the codec crates, independently of the log's own
    /// `compression` module, so tests check one against the other.
    pub fn compressed(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The encoded batch, baseOffset 0, with a correct CRC.
    pub fn build(&self) -> Vec<u8> {
        assert!(!self.records.is_empty(), "a batch needs a record");
        let base_ts = self.records[0].timestamp;
        let max_ts = self
            .records
            .iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(base_ts);
        let mut body = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            let mut rec = vec![0u8]; // attributes
            put_varlong(&mut rec, r.timestamp - base_ts);
            put_varlong(&mut rec, i as i64);
            put_bytes(&mut rec, &r.key);
            put_bytes(&mut rec, &r.value);
            put_varlong(&mut rec, r.headers.len() as i64);
            for (k, v) in &r.headers {
                put_bytes(&mut rec, &Some(k.clone()));
                put_bytes(&mut rec, v);
            }
            put_varlong(&mut body, rec.len() as i64);
            body.extend_from_slice(&rec);
        }
        let body = client_compress(self.codec, &body);
        let attributes = (self.attributes & !0x07) | self.codec.id() as i16;
        let n = self.records.len() as i32;
        let mut b = Vec::with_capacity(BATCH_HEADER_LEN + body.len());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((BATCH_HEADER_LEN - 12 + body.len()) as i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch, set by the log
        b.push(2);
        b.extend_from_slice(&[0; 4]); // crc, below
        b.extend_from_slice(&attributes.to_be_bytes());
        b.extend_from_slice(&(n - 1).to_be_bytes());
        b.extend_from_slice(&base_ts.to_be_bytes());
        b.extend_from_slice(&max_ts.to_be_bytes());
        b.extend_from_slice(&self.producer_id.to_be_bytes());
        b.extend_from_slice(&self.producer_epoch.to_be_bytes());
        b.extend_from_slice(&self.base_sequence.to_be_bytes());
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(&body);
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }
}

/// `body` compressed the way clients do it, straight on the codec crates.
fn client_compress(codec: Codec, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match codec {
        Codec::None => body.to_vec(),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).expect("gzip");
            e.finish().expect("gzip")
        }
        // librdkafka: one raw block.
        Codec::Snappy { xerial: false } => snap::raw::Encoder::new()
            .compress_vec(body)
            .expect("snappy"),
        // The Java client: xerial's header, then length-prefixed blocks
        // (small ones here, so a batch spans several).
        Codec::Snappy { xerial: true } => {
            let mut out = vec![
                0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ];
            for chunk in body.chunks(100) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .expect("snappy");
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Codec::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(body).expect("lz4");
            e.finish().expect("lz4")
        }
        Codec::Zstd => zstd::encode_all(body, 1).expect("zstd"),
    }
}

/// (offset, key, value) of every record in stored bytes (any number of
/// batches, any codec), decoded with the log's own record parser.
pub type KeyedRecord = (crate::Offset, Option<Vec<u8>>, Option<Vec<u8>>);

/// Decodes every record of `bytes`; panics on anything malformed.
pub fn decode_records(bytes: &[u8]) -> Vec<KeyedRecord> {
    let mut out = Vec::new();
    for (h, b) in split_batches(bytes) {
        h.verify_crc(&b).expect("stored batch CRC");
        let (_, section) = crate::records::records_section(&h, &b).expect("records section");
        for r in crate::records::parse_records(&section, h.records_count).expect("records") {
            out.push((
                r.offset(&h),
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
            ));
        }
    }
    out
}

/// A one-record batch with `value`, timestamp `ts`.
pub fn simple_batch(value: &[u8], ts: i64) -> Vec<u8> {
    BatchBuilder::new().record(b"", value, ts).build()
}

/// An idempotent batch of `count` records starting at sequence `seq`.
pub fn idempotent_batch(pid: i64, epoch: i16, seq: i32, count: usize, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new().producer(pid, epoch, seq);
    for i in 0..count {
        b = b.record(b"", format!("p{pid}-s{}", seq as usize + i).as_bytes(), ts);
    }
    b.build()
}

/// A transactional batch of `count` records starting at sequence `seq`.
pub fn txn_batch(pid: i64, epoch: i16, seq: i32, count: usize, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new()
        .producer(pid, epoch, seq)
        .transactional();
    for i in 0..count {
        b = b.record(b"", format!("t{pid}-s{}", seq as usize + i).as_bytes(), ts);
    }
    b.build()
}

/// Splits stored bytes into (header, batch bytes); stops at a short tail.
pub fn split_batches(mut bytes: &[u8]) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while let Ok(h) = BatchHeader::parse(bytes) {
        if h.total_len() > bytes.len() {
            break;
        }
        out.push((h, bytes[..h.total_len()].to_vec()));
        bytes = &bytes[h.total_len()..];
    }
    out
}

/// The values of an uncompressed batch built by [`BatchBuilder`].
pub fn record_values(batch: &[u8]) -> Vec<Vec<u8>> {
    fn varlong(b: &[u8], pos: &mut usize) -> i64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*pos];
            *pos += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return ((v >> 1) as i64) ^ -((v & 1) as i64);
            }
            shift += 7;
        }
    }
    let h = BatchHeader::parse(batch).expect("batch header");
    let mut pos = BATCH_HEADER_LEN;
    let mut out = Vec::new();
    for _ in 0..h.records_count {
        let len = varlong(batch, &mut pos);
        let next = pos + len as usize;
        pos += 1;
        varlong(batch, &mut pos);
        varlong(batch, &mut pos);
        let klen = varlong(batch, &mut pos);
        pos += klen.max(0) as usize;
        let vlen = varlong(batch, &mut pos);
        out.push(batch[pos..pos + vlen.max(0) as usize].to_vec());
        pos = next;
    }
    out
}

/// CRC-32C, for tests that patch a batch and need a valid checksum again.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}
