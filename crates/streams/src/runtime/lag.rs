//! Whether an input partition has records on the cluster that the
//! consumer has not handed over yet, from what librdkafka already knows
//! (no request): the high watermark of its last fetch response against
//! the application's position. The rdkafka crate reads the watermarks
//! only with a request to the broker (one round trip per question, too
//! slow to ask while records wait), so this calls librdkafka's cached
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
    let Ok(name) = CString::new(topic) else {
        return false;
    };
    let mut list = TopicPartitionList::with_capacity(1);
    list.add_partition(topic, partition);
    let (mut low, mut high) = (0i64, 0i64);
    let client = consumer.client().native_ptr();
    // SAFETY: the client pointer is live while `consumer` is borrowed;
    // the name outlives the call, which only reads it; low and high are
    // valid for writes; the list is owned by `list` for the call, which
    // writes offsets into its elements only.
    let (watermarks, position) = unsafe {
        (
            rdsys::rd_kafka_get_watermark_offsets(
                client,
                name.as_ptr(),
                partition,
                &mut low,
                &mut high,
            ),
            rdsys::rd_kafka_position(client, list.ptr()),
        )
    };
    if watermarks != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        || position != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        || high < 0
    {
        return false;
    }
    match list.elements().first().map(|e| e.offset()) {
        Some(Offset::Offset(at)) => at < high,
        _ => false,
    }
}
