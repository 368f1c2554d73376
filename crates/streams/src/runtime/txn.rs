//! Input offsets sent to a transaction with the application group's
//! generation (exactly-once).
//!
//! librdkafka fences a zombie through the consumer group metadata it sends
//! with TxnOffsetCommit (KIP-447): the broker refuses offsets from a member
//! whose generation is over. The rdkafka crate builds that metadata only
//! from a librdkafka consumer that is itself the group member, and ours is
//! not: the runtime joins with its own assignor (crates/kafka-client). So
//! this module makes the metadata from our member id and generation with
//! librdkafka's own constructor and calls
//! `rd_kafka_send_offsets_to_transaction` on the producer the rdkafka crate
//! made: the same C library, three calls it does not wrap.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::time::Duration;

use rdkafka::producer::Producer as _;
use rdkafka::TopicPartitionList;
use rdkafka_sys as rdsys;

use super::kafka::Producer;

/// Why the offsets were not added.
#[derive(Debug)]
pub(crate) struct TxnError {
    /// The Kafka error code (librdkafka's, which are Kafka's for broker
    /// errors such as ILLEGAL_GENERATION).
    pub code: i32,
    pub message: String,
    /// The transaction must be aborted (the producer itself is fine).
    pub requires_abort: bool,
    /// The producer is unusable (fenced by a newer instance).
    pub fatal: bool,
}

impl std::fmt::Display for TxnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Adds `offsets` (with their metadata) to the producer's open
/// transaction, committed for `group` by `member_id` in `generation`.
pub(crate) fn send_offsets(
    producer: &Producer,
    offsets: &TopicPartitionList,
    group: &str,
    generation: i32,
    member_id: &str,
    timeout: Duration,
) -> Result<(), TxnError> {
    let invalid = |what: &str| TxnError {
        code: -1,
        message: format!("{what} contains a NUL byte"),
        requires_abort: true,
        fatal: false,
    };
    let group = CString::new(group).map_err(|_| invalid("the group id"))?;
    let member = CString::new(member_id).map_err(|_| invalid("the member id"))?;
    let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: the strings outlive the constructor, which copies them; the
    // metadata is destroyed below and not used after; the producer and
    // list pointers are live for the call (borrowed), which copies what it
    // keeps; the returned error, when not null, is read and destroyed once.
    unsafe {
        let cgm = rdsys::rd_kafka_consumer_group_metadata_new_with_genid(
            group.as_ptr(),
            generation,
            member.as_ptr(),
            std::ptr::null(),
        );
        if cgm.is_null() {
            return Err(TxnError {
                code: -1,
                message: "librdkafka could not make the group metadata".into(),
                requires_abort: true,
                fatal: false,
            });
        }
        let error = rdsys::rd_kafka_send_offsets_to_transaction(
            producer.client().native_ptr(),
            offsets.ptr(),
            cgm,
            timeout_ms,
        );
        rdsys::rd_kafka_consumer_group_metadata_destroy(cgm);
        if error.is_null() {
            return Ok(());
        }
        let message = CStr::from_ptr(rdsys::rd_kafka_error_string(error))
            .to_string_lossy()
            .into_owned();
        let outcome = TxnError {
            code: rdsys::rd_kafka_error_code(error) as i32,
            message,
            requires_abort: rdsys::rd_kafka_error_txn_requires_abort(error) != 0,
            fatal: rdsys::rd_kafka_error_is_fatal(error) != 0,
        };
        rdsys::rd_kafka_error_destroy(error);
        Err(outcome)
    }
}
