//! RecordBatch v2 header view (skeleton).
use crate::error::Result;
use crate::Offset;

/// Bytes in a v2 RecordBatch header, up to and including recordsCount.
pub const BATCH_HEADER_LEN: usize = 61;

/// How a batch's timestamps were assigned (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The fixed-size header of a v2 RecordBatch, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: Offset,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    pub fn parse(_buf: &[u8]) -> Result<BatchHeader> {
        todo!()
    }
    pub fn verify_crc(&self, _batch: &[u8]) -> Result<()> {
        todo!()
    }
    pub fn is_transactional(&self) -> bool {
        todo!()
    }
    pub fn is_control(&self) -> bool {
        todo!()
    }
    pub fn compression(&self) -> u8 {
        todo!()
    }
    pub fn timestamp_type(&self) -> TimestampType {
        todo!()
    }
}
