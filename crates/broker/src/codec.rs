//! The wire edge: Kafka frames in, typed requests out, and typed responses
//! back to bytes. Message codecs come from the `kafka-protocol` crate; this
//! module only frames them and guards the decoder against hostile input.
//!
//! Nothing here does I/O: the connection loop hands in whole frames.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

/// Why a frame could not be turned into a request. Any of these closes the
/// connection it arrived on (and only that one), after a log line.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} v{version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("cannot decode {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
}

/// A request frame whose header has been decoded; the body is decoded by
/// the dispatcher once it knows the type.
pub struct RequestFrame {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub header: RequestHeader,
    pub body: Bytes,
}

/// The fields every request starts with, readable before anything is known
/// about the API: key, version and correlation id (needed to answer even a
/// request we cannot decode, as KIP-511 requires for ApiVersions).
pub fn peek_prefix(frame: &[u8]) -> Result<(i16, i16, i32), FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::TooShort(frame.len()));
    }
    let mut b = &frame[..8];
    Ok((b.get_i16(), b.get_i16(), b.get_i32()))
}

/// Decodes the request header of a frame whose API and version the caller
/// already accepted.
pub fn decode_header(
    frame: Bytes,
    api_key: ApiKey,
    api_version: i16,
) -> Result<RequestFrame, FrameError> {
    let header_version = api_key.request_header_version(api_version);
    let mut body = frame;
    let header = guarded("request header", || {
        RequestHeader::decode(&mut body, header_version)
    })?;
    Ok(RequestFrame {
        api_key,
        api_version,
        header,
        body,
    })
}

/// Decodes a request body. The decoder is run under `catch_unwind` so that a
/// panic on malformed input (a bug in the codec) costs one connection, not
/// the process.
pub fn decode_body<T: Decodable>(body: &mut Bytes, version: i16) -> Result<T, FrameError> {
    guarded(std::any::type_name::<T>(), || T::decode(body, version))
}

fn guarded<T, E: std::fmt::Display>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, FrameError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(FrameError::Malformed {
            what,
            reason: e.to_string(),
        }),
        Err(_) => Err(FrameError::Malformed {
            what,
            reason: "decoder panicked".to_string(),
        }),
    }
}

/// What a connection does with a handled request.
pub enum Reply {
    /// Send this complete response frame.
    Send(Bytes),
    /// Send nothing (Produce with acks=0).
    Silent,
    /// Close the connection: the response could not be encoded.
    Close,
}

/// Encodes a complete response frame: size prefix, header, body. A response
/// that cannot be encoded for its version is a broker bug; it is logged and
/// the connection closed, since the client would otherwise wait forever.
pub fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Reply {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0); // size, patched below
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = R::header_version(version);
    let encoded = header
        .encode(&mut buf, header_version)
        .and_then(|_| body.encode(&mut buf, version));
    if let Err(e) = encoded {
        tracing::error!(response = std::any::type_name::<R>(), version, error = %e, "cannot encode response");
        return Reply::Close;
    }
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Reply::Send(buf.freeze())
}
