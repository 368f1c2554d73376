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
    ConsumerProtocolAssignment::decode(&mut buf, version.min(3))
        .map_err(|e| Error::Protocol(format!("cannot decode assignment v{version}: {e}")))
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
