//! What librdkafka already knows of an input partition, without a
//! request: the high watermark of its last fetch response, and the
//! application's position. The rdkafka crate reads watermarks only with a
//! request to the broker (one round trip per question, too slow to ask
//! while records wait), so this calls librdkafka's cached
//! `rd_kafka_get_watermark_offsets` and `rd_kafka_position` directly.
//!
//! The position counts the transaction markers it passed (librdkafka
//! moves it over them), so a partition read to its end has no lag.
//! Records of a transaction still open count as lag: they come when it
//! commits.
#![allow(unsafe_code)]

use std::ffi::CString;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use rdkafka_sys as rdsys;

/// True when `topic`/`partition` is known to have unfetched records;
/// false when it is read to its end or nothing is known yet.
pub(crate) fn has_unfetched(consumer: &BaseConsumer, topic: &str, partition: i32) -> bool {
    match (
        high_watermark(consumer, topic, partition),
        position(consumer, topic, partition),
    ) {
        (Some(high), Some(at)) => at < high,
        _ => false,
    }
}

/// The next offset the application would be handed from this partition
/// (past any transaction markers already read), if known.
pub(crate) fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    let mut list = TopicPartitionList::with_capacity(1);
    list.add_partition(topic, partition);
    // SAFETY: the client pointer is live while `consumer` is borrowed; the
    // list is owned by `list` for the call, which writes offsets into its
    // elements only.
    let error = unsafe { rdsys::rd_kafka_position(consumer.client().native_ptr(), list.ptr()) };
    if error != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    match list.elements().first()?.offset() {
        Offset::Offset(at) => Some(at),
        _ => None,
    }
}

/// The partition's high watermark in the last fetch response, if any.
fn high_watermark(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    let name = CString::new(topic).ok()?;
    let (mut low, mut high) = (0i64, 0i64);
    // SAFETY: the client pointer is live while `consumer` is borrowed; the
    // name outlives the call, which only reads it; low and high are valid
    // for writes.
    let error = unsafe {
        rdsys::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            name.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
