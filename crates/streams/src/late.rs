//! A late record as it goes to the late-data topic: unchanged (the bytes
//! it was read with, its headers kept) plus headers saying why, the same
//! for windowed aggregations and joins:
//!
//! | header | value |
//! |---|---|
//! | `fjord.late.window.start`, `fjord.late.window.end` | the window it missed, epoch ms |
//! | `fjord.late.stream.time` | stream time when it arrived |
//! | `fjord.late.by.ms` | how long after the window closed it arrived |
//! | `fjord.late.source.topic`, `.partition`, `.offset` | where it was read |

use bytes::Bytes;

use crate::error::Result;
use crate::format::Format;
use crate::record::{Header, Output, Record};
use crate::window::Window;

/// Why a record is late.
pub struct Lateness {
    pub window: Window,
    pub stream_time: i64,
    pub late_by_ms: i64,
}

/// `r` for `topic`, with the `fjord.late.*` headers. A record without its
/// source bytes (made by an earlier operator) is encoded with
/// `key_format` and JSON.
pub fn late_output(topic: &str, r: &Record, key_format: Format, why: &Lateness) -> Result<Output> {
    let (key, value, mut headers): (Option<Bytes>, Option<Bytes>, Vec<Header>) = match &r.source {
        Some(s) => (s.key.clone(), s.value.clone(), s.headers.clone()),
        None => (
            key_format.encode(&r.key)?,
            Format::Json.encode(&r.value)?,
            r.headers.clone(),
        ),
    };
    let mut h = |k: &str, v: String| headers.push((k.to_string(), Some(Bytes::from(v))));
    h("fjord.late.window.start", why.window.start.to_string());
    h("fjord.late.window.end", why.window.end.to_string());
    h("fjord.late.stream.time", why.stream_time.to_string());
    h("fjord.late.by.ms", why.late_by_ms.max(0).to_string());
    if let Some(s) = &r.source {
        h("fjord.late.source.topic", s.topic.to_string());
        h("fjord.late.source.partition", s.partition.to_string());
        h("fjord.late.source.offset", s.offset.to_string());
    }
    Ok(Output {
        topic: topic.to_string(),
        partition: None,
        key,
        value,
        timestamp: r.timestamp,
        headers,
    })
}
