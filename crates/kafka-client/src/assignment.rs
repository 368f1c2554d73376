//! The consumer protocol's assignment bytes.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;

use crate::error::{Error, Result};

/// Decodes a member's assignment in the consumer protocol
/// (ConsumerProtocolAssignment v0-v3: an i16 version, then topic partitions
/// and user data). Newer versions only append fields, so a version above 3
/// is read as v3 and the rest ignored, as Kafka's own clients do.
pub fn decode_consumer_assignment(bytes: &[u8]) -> Result<ConsumerProtocolAssignment> {
    let mut buf = Bytes::copy_from_slice(bytes);
    if buf.remaining() < 2 {
        return Err(Error::Protocol(format!(
            "assignment of {} bytes is too short",
            bytes.len()
        )));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(Error::Protocol(format!(
            "assignment has negative version {version}"
        )));
    }
    if !lengths_fit(&buf) {
        return Err(Error::Protocol(format!(
            "cannot decode assignment v{version}: a length runs past its {} bytes",
            bytes.len()
        )));
    }
    ConsumerProtocolAssignment::decode(&mut buf, version.min(3))
        .map_err(|e| Error::Protocol(format!("cannot decode assignment v{version}: {e}")))
}

/// Whether every array and string length in a v0-v3 assignment body fits in
/// the bytes that follow it. The decoder allocates what a length claims, so
/// a hostile `0x7fffffff` must be refused before it is believed.
fn lengths_fit(body: &[u8]) -> bool {
    let mut b = body;
    let take = |n: usize, b: &mut &[u8]| -> Option<()> {
        if b.len() < n {
            return None;
        }
        *b = &b[n..];
        Some(())
    };
    let mut walk = || -> Option<()> {
        let topics = i32::from_be_bytes(b.get(..4)?.try_into().ok()?);
        take(4, &mut b)?;
        // Each topic needs at least a 2-byte name length and a 4-byte count.
        if topics > 0 && topics as usize > b.len() / 6 {
            return None;
        }
        for _ in 0..topics.max(0) {
            let name = i16::from_be_bytes(b.get(..2)?.try_into().ok()?);
            take(2 + name.max(0) as usize, &mut b)?;
            let partitions = i32::from_be_bytes(b.get(..4)?.try_into().ok()?);
            take(4, &mut b)?;
            take(4 * partitions.max(0) as usize, &mut b)?;
        }
        // User data: absent in a truncated v0, -1 when null.
        if let Some(len) = b.get(..4) {
            let len = i32::from_be_bytes(len.try_into().ok()?);
            take(4 + len.max(0) as usize, &mut b)?;
        }
        Some(())
    };
    walk().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encoded(version: i16, assignment: &ConsumerProtocolAssignment) -> Vec<u8> {
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        assignment.encode(&mut buf, version.min(3)).unwrap();
        buf.to_vec()
    }

    #[test]
    fn assignment_round_trips_at_every_version() {
        let assignment = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(vec![TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![0, 2])])
            .with_user_data(Some(Bytes::from_static(b"sticky")));
        for version in 0..=3 {
            let decoded = decode_consumer_assignment(&encoded(version, &assignment)).unwrap();
            assert_eq!(decoded, assignment, "v{version}");
        }
        // A future version with a field appended still yields the partitions.
        let mut future = encoded(4, &assignment);
        future.extend_from_slice(&[0, 0, 0, 7]);
        let decoded = decode_consumer_assignment(&future).unwrap();
        assert_eq!(decoded.assigned_partitions, assignment.assigned_partitions);
    }

    #[test]
    fn bad_assignments_are_errors_not_panics() {
        assert!(decode_consumer_assignment(&[]).is_err());
        assert!(decode_consumer_assignment(&[0]).is_err());
        assert!(decode_consumer_assignment(&[0xff, 0xff]).is_err());
        // v0 claiming a huge topic array it does not carry.
        assert!(decode_consumer_assignment(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_err());
    }
}
