//! The four Kafka record-batch codecs, for the few places that must look
//! inside a compressed batch: the cleaner, and the null-key check on
//! compacted topics. The produce and fetch paths of ordinary topics never
//! come here (see `batch.rs`: stored bytes are served as sent).
//!
//! Codec ids are Kafka's attribute bits 0-2: 1 gzip, 2 snappy, 3 lz4 (the
//! LZ4 *frame* format), 4 zstd. Snappy comes in two framings: the Java
//! client writes xerial's stream format (a magic header, then
//! length-prefixed raw blocks), librdkafka writes one raw snappy block.
//! Both are read; [`compress`] writes the one it is asked for, so a batch
//! rewritten by the cleaner keeps its producer's framing.
//!
//! Decompression is capped at [`MAX_DECOMPRESSED`] bytes: a small batch
//! must not be able to make the broker allocate gigabytes.

use std::io::{Read, Write};

use crate::error::{LogError, Result};

/// Largest decompressed records section accepted (256 MiB): far above any
/// batch a client sends (max.message.bytes applies to the compressed
/// size, and real ratios stay well below 100:1 at the 1 MiB default).
pub const MAX_DECOMPRESSED: usize = 256 << 20;

/// Kafka's codec ids (attributes & 0x07).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    /// `xerial`: the Java client's stream framing, else one raw block.
    Snappy {
        xerial: bool,
    },
    Lz4,
    Zstd,
}

/// The xerial snappy stream header: magic, then version 1 and minimum
/// compatible version 1 (big-endian i32 each).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial block, as the Java client writes them.
const XERIAL_BLOCK: usize = 32 * 1024;

impl Codec {
    /// The codec of attribute bits `id`, or an error for 5-7. For snappy
    /// the framing is not known from the id; it reads as raw until
    /// [`Codec::detect_snappy`] looks at the data.
    pub fn from_id(id: u8) -> Result<Codec> {
        Ok(match id {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy { xerial: false },
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => {
                return Err(LogError::corrupt(format!(
                    "unknown compression codec {other}"
                )))
            }
        })
    }

    /// The attribute bits for this codec.
    pub fn id(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy { .. } => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }

    /// For snappy, which framing `data` uses; other codecs unchanged.
    pub fn detect_snappy(self, data: &[u8]) -> Codec {
        match self {
            Codec::Snappy { .. } => Codec::Snappy {
                xerial: data.starts_with(&XERIAL_MAGIC),
            },
            other => other,
        }
    }
}

fn bad(codec: Codec, e: impl std::fmt::Display) -> LogError {
    LogError::corrupt(format!("cannot decompress {codec:?} records: {e}"))
}

/// Reads `r` to the end, failing past [`MAX_DECOMPRESSED`] bytes.
fn read_capped(codec: Codec, r: impl Read) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(codec, e))?;
    if out.len() > MAX_DECOMPRESSED {
        return Err(bad(codec, "more than 256 MiB decompressed"));
    }
    Ok(out)
}

fn snappy_raw(codec: Codec, block: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let n = snap::raw::decompress_len(block).map_err(|e| bad(codec, e))?;
    if out.len() + n > MAX_DECOMPRESSED {
        return Err(bad(codec, "more than 256 MiB decompressed"));
    }
    let start = out.len();
    out.resize(start + n, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| bad(codec, e))?;
    out.truncate(start + written);
    Ok(())
}

/// The records section of a batch compressed with `codec`, decompressed.
pub fn decompress(codec: Codec, data: &[u8]) -> Result<Vec<u8>> {
    match codec.detect_snappy(data) {
        Codec::None => Ok(data.to_vec()),
        // Multi-member: the Java GZIPInputStream reads concatenated members.
        Codec::Gzip => read_capped(codec, flate2::read::MultiGzDecoder::new(data)),
        Codec::Snappy { xerial: false } => {
            let mut out = Vec::new();
            snappy_raw(codec, data, &mut out)?;
            Ok(out)
        }
        Codec::Snappy { xerial: true } => {
            if data.len() < XERIAL_HEADER_LEN {
                return Err(bad(codec, "truncated xerial header"));
            }
            let mut out = Vec::new();
            let mut pos = XERIAL_HEADER_LEN;
            while pos < data.len() {
                let len = data
                    .get(pos..pos + 4)
                    .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
                    .ok_or_else(|| bad(codec, "truncated xerial block length"))?;
                pos += 4;
                let block = data
                    .get(pos..pos.saturating_add(len))
                    .ok_or_else(|| bad(codec, "xerial block past the end"))?;
                snappy_raw(codec, block, &mut out)?;
                pos += len;
            }
            Ok(out)
        }
        Codec::Lz4 => read_capped(codec, lz4_flex::frame::FrameDecoder::new(data)),
        Codec::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(data).map_err(|e| bad(codec, e))?;
            read_capped(codec, decoder)
        }
    }
}

/// `data` compressed with `codec`, in the form Kafka clients read: gzip
/// at the default level, snappy raw or xerial-framed in 32 KiB blocks, an
/// LZ4 frame of independent 64 KiB blocks without checksums (what the
/// Java client writes), zstd at level 3.
pub fn compress(codec: Codec, data: &[u8]) -> Result<Vec<u8>> {
    let fail = |e: &dyn std::fmt::Display| {
        LogError::corrupt(format!("cannot compress with {codec:?}: {e}"))
    };
    match codec {
        Codec::None => Ok(data.to_vec()),
        Codec::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(|e| fail(&e))?;
            enc.finish().map_err(|e| fail(&e))
        }
        Codec::Snappy { xerial: false } => snap::raw::Encoder::new()
            .compress_vec(data)
            .map_err(|e| fail(&e)),
        Codec::Snappy { xerial: true } => {
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK) {
                let block = enc.compress_vec(chunk).map_err(|e| fail(&e))?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Codec::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data).map_err(|e| fail(&e))?;
            enc.finish().map_err(|e| fail(&e))
        }
        Codec::Zstd => zstd::bulk::compress(data, 3).map_err(|e| fail(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Codec; 6] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy { xerial: false },
        Codec::Snappy { xerial: true },
        Codec::Lz4,
        Codec::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for codec in ALL {
            let packed = compress(codec, &data).unwrap();
            assert_eq!(decompress(codec, &packed).unwrap(), data, "{codec:?}");
            assert_eq!(
                Codec::from_id(codec.id()).unwrap().detect_snappy(&packed),
                codec
            );
            assert_eq!(
                decompress(codec, &compress(codec, b"").unwrap()).unwrap(),
                b""
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in ALL.into_iter().skip(1) {
            for junk in [
                &b""[..],
                b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01\xff\xff\xff\xff",
                b"hello world",
            ] {
                let _ = decompress(codec, junk);
            }
            assert!(
                decompress(codec, b"definitely not compressed").is_err(),
                "{codec:?}"
            );
        }
        assert!(Codec::from_id(5).is_err());
    }

    #[test]
    fn decompression_is_capped() {
        let zeros = vec![0u8; MAX_DECOMPRESSED + 1];
        let bomb = compress(Codec::Zstd, &zeros).unwrap();
        assert!(bomb.len() < 1 << 20);
        assert!(decompress(Codec::Zstd, &bomb).is_err());
    }
}
