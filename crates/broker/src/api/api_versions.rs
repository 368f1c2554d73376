//! ApiVersions: what this broker speaks. Also the KIP-511 fallback: a
//! client asking with a version we do not know gets a v0 response with
//! UNSUPPORTED_VERSION and our ranges, and retries with a version we have.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::api::SUPPORTED;
use crate::codec::{encode_response, Reply};

pub fn handle(_req: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// The KIP-511 answer to an ApiVersions request of a version we do not
/// implement: always encoded as v0, which every client can read.
pub fn unsupported_version_response(correlation_id: i32) -> Reply {
    let resp = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys());
    encode_response(correlation_id, 0, &resp)
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}
