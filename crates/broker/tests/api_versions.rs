//! ApiVersions: the advertised list is exactly what the broker implements,
//! and the KIP-511 fallback for versions it does not know.

mod common;

use bytes::{Buf, BufMut, BytesMut};
use common::TestBroker;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, StrBytes};

/// Error code 35.
const UNSUPPORTED_VERSION: i16 = 35;

fn advertised(resp: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    let mut v: Vec<_> = resp
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    v.sort();
    v
}

fn supported() -> Vec<(i16, i16, i16)> {
    let mut v: Vec<_> = fjord_broker::api::SUPPORTED
        .iter()
        .map(|&(k, min, max)| (k as i16, min, max))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn advertised_list_is_exactly_supported() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    for version in [0, 1, 2, 3, 4] {
        let resp = c
            .send(
                version,
                ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("tests"))
                    .with_client_software_version(StrBytes::from_static_str("1")),
            )
            .await;
        assert_eq!(resp.error_code, 0, "v{version}");
        assert_eq!(advertised(&resp), supported(), "v{version}");
    }
}

#[tokio::test]
async fn flexible_v3_request_is_answered() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let resp = c
        .send(
            3,
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("librdkafka"))
                .with_client_software_version(StrBytes::from_static_str("2.12.0")),
        )
        .await;
    assert_eq!(resp.error_code, 0);
    assert!(!resp.api_keys.is_empty());
    // The connection stays usable afterwards.
    let again = c.send(3, ApiVersionsRequest::default()).await;
    assert_eq!(again.error_code, 0);
}

/// KIP-511: a version the broker does not know gets a v0 response with
/// UNSUPPORTED_VERSION and the broker's ranges, so the client can retry.
#[tokio::test]
async fn unknown_version_gets_v0_unsupported_version_with_list() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    // Version 99 cannot be encoded by the codec, so the frame is built by
    // hand: header v2 (flexible, as a newer client would send) and a body
    // the broker cannot know the layout of.
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    frame.put_i16(18); // ApiVersions
    frame.put_i16(99);
    frame.put_i32(4242); // correlation id
    frame.put_i16(5);
    frame.put_slice(b"tests");
    frame.put_u8(0); // header tagged fields
    frame.put_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    c.write_raw(&frame).await;

    let mut body = c.read_frame().await;
    // Response header v0 (ApiVersions responses never use the flexible header).
    let header = ResponseHeader::decode(&mut body, 0).unwrap();
    assert_eq!(header.correlation_id, 4242);
    let resp = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert!(!body.has_remaining(), "the response is exactly a v0 body");
    assert_eq!(resp.error_code, UNSUPPORTED_VERSION);
    assert_eq!(advertised(&resp), supported());

    // The client then retries at a version it got back, on the same connection.
    let retry = c.send(3, ApiVersionsRequest::default()).await;
    assert_eq!(retry.error_code, 0);
}
