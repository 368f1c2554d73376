//! Request decoding never panics or aborts, whatever the bytes.
//!
//! Valid frames of every implemented API and version are mutated (bit
//! flips, truncation, overwritten length fields) and fed to
//! `decode_request`; it must return, Ok or Err. The cargo-fuzz target in
//! fuzz/ explores the same function with coverage guidance; this test keeps
//! a deterministic slice of that in every test run.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::Rng;
use fjord_broker::api::SUPPORTED;
use fjord_broker::dispatch::decode_request;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

// Decoders allocate from wire-supplied counts; see huge_alloc.rs.
#[global_allocator]
static ALLOCATOR: fjord_broker::huge_alloc::HugeAwareAllocator =
    fjord_broker::huge_alloc::HugeAwareAllocator;

/// A valid frame (without the size prefix) for `api` at `version`, or None
/// when a default request cannot be encoded at that version.
fn valid_frame(api: ApiKey, version: i16) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(42)
        .with_client_id(Some(StrBytes::from_static_str("robustness")));
    header
        .encode(&mut buf, api.request_header_version(version))
        .ok()?;
    macro_rules! body {
        ($($k:ident => $t:ty),*) => {
            match api {
                $(ApiKey::$k => <$t>::default().encode(&mut buf, version).ok()?,)*
                _ => return None,
            }
        };
    }
    body!(
        ApiVersions => ApiVersionsRequest, Metadata => MetadataRequest, Produce => ProduceRequest,
        Fetch => FetchRequest, ListOffsets => ListOffsetsRequest, CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest, CreatePartitions => CreatePartitionsRequest,
        DeleteRecords => DeleteRecordsRequest, DescribeConfigs => DescribeConfigsRequest,
        AlterConfigs => AlterConfigsRequest, IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        DescribeCluster => DescribeClusterRequest, DescribeLogDirs => DescribeLogDirsRequest,
        InitProducerId => InitProducerIdRequest, FindCoordinator => FindCoordinatorRequest,
        JoinGroup => JoinGroupRequest, SyncGroup => SyncGroupRequest, Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest, OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest, OffsetDelete => OffsetDeleteRequest,
        DescribeGroups => DescribeGroupsRequest, ListGroups => ListGroupsRequest,
        DeleteGroups => DeleteGroupsRequest,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
        ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest, AddOffsetsToTxn => AddOffsetsToTxnRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest, EndTxn => EndTxnRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        ListTransactions => ListTransactionsRequest
    );
    Some(buf.freeze())
}

fn mutate(frame: &[u8], rng: &mut Rng) -> Bytes {
    let mut v = frame.to_vec();
    match rng.below(4) {
        0 => {
            let n = rng.below(v.len());
            v.truncate(n);
        }
        1 => {
            for _ in 0..=rng.below(4) {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            // Overwrite 4 bytes past the fixed prefix with a hostile length.
            let hostile = [i32::MAX, -1, i32::MIN, 0x7fff_fff0, 1 << 24][rng.below(5)];
            if v.len() > 12 {
                let i = 8 + rng.below(v.len() - 12);
                v[i..i + 4].copy_from_slice(&hostile.to_be_bytes());
            }
        }
        _ => {
            let extra: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            v.extend_from_slice(&extra);
        }
    }
    Bytes::from(v)
}

#[test]
fn every_valid_default_request_decodes() {
    let mut decoded = 0;
    for &(api, min, max) in SUPPORTED {
        for version in min..=max {
            if let Some(frame) = valid_frame(api, version) {
                assert!(
                    decode_request(frame).is_ok(),
                    "{api:?} v{version} should decode"
                );
                decoded += 1;
            }
        }
    }
    assert!(
        decoded > 50,
        "only {decoded} API versions could be exercised"
    );
    // Every advertised API must be in this file's list, or the mutation test
    // below would silently skip its decoder.
    for &(api, min, max) in SUPPORTED {
        assert!(
            (min..=max).any(|v| valid_frame(api, v).is_some()),
            "{api:?} is advertised but missing from valid_frame's list"
        );
    }
}

#[test]
fn mutated_requests_never_panic_or_abort() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let frames: Vec<Bytes> = SUPPORTED
        .iter()
        .flat_map(|&(api, min, max)| (min..=max).filter_map(move |v| valid_frame(api, v)))
        .collect();
    let mut refused = 0;
    for i in 0..20_000 {
        let base = &frames[i % frames.len()];
        if decode_request(mutate(base, &mut rng)).is_err() {
            refused += 1;
        }
    }
    // Sanity check that the mutations do reach the error paths.
    assert!(
        refused > 1_000,
        "only {refused} mutated frames were refused"
    );
}

// Regression: a 23-byte Metadata request claiming 2^31 topics made the
// decoder ask for ~150 GB up front and the allocation failure aborted the
// broker.
#[test]
fn array_count_of_two_billion_is_refused_not_fatal() {
    let mut frame = BytesMut::new();
    frame.put_i16(ApiKey::Metadata as i16);
    frame.put_i16(1);
    frame.put_i32(7);
    frame.put_i16(1);
    frame.put_u8(b'x');
    frame.put_i32(i32::MAX);
    assert!(decode_request(frame.freeze()).is_err());
}

#[test]
fn unknown_api_key_and_future_versions_are_refused() {
    let mut frame = BytesMut::new();
    frame.put_i16(999);
    frame.put_i16(0);
    frame.put_i32(1);
    assert!(decode_request(frame.freeze()).is_err());
    let produce_v99 = [0u8, 0, 0, 99, 0, 0, 0, 1, 0xff, 0xff];
    assert!(decode_request(Bytes::copy_from_slice(&produce_v99)).is_err());
    // KIP-511: an ApiVersions request from the future is answerable.
    let api_versions_v99 = [0u8, 18, 0, 99, 0, 0, 0, 5, 0, 0];
    assert!(matches!(
        decode_request(Bytes::copy_from_slice(&api_versions_v99)),
        Ok(fjord_broker::dispatch::Decoded::ApiVersionsTooNew { correlation_id: 5 })
    ));
}
