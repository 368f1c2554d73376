//! Routes a request frame to its API handler and encodes the answer.
//!
//! A handler runs to completion for its synchronous part (e.g. Produce
//! appends to the log) before the next request on the same connection is
//! dispatched, so requests take effect in the order they were sent. What may
//! wait (an fsync for acks=all, a long-polling fetch) is returned as a future;
//! the connection writes responses in request order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;

use crate::api;
use crate::broker::Broker;
use crate::codec::{self, encode_response, FrameError, Reply};

/// A response still being produced.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

fn ready(reply: Reply) -> ResponseFuture {
    Box::pin(std::future::ready(reply))
}

/// Decodes and handles one request frame (the bytes after the size prefix).
pub fn dispatch(broker: &Arc<Broker>, frame: Bytes) -> Result<ResponseFuture, FrameError> {
    let (key, version, correlation_id) = codec::peek_prefix(&frame)?;
    let api = ApiKey::try_from(key).map_err(|_| FrameError::UnknownApiKey(key))?;
    let Some((min, max)) = api::supported(api) else {
        return Err(FrameError::UnsupportedVersion { api, version });
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions {
            return Ok(ready(api::api_versions::unsupported_version_response(
                correlation_id,
            )));
        }
        return Err(FrameError::UnsupportedVersion { api, version });
    }
    let mut frame = codec::decode_header(frame, api, version)?;
    let cid = frame.header.correlation_id;
    let body = &mut frame.body;

    // Handlers that answer at once.
    macro_rules! now {
        ($req:ty, $handler:expr) => {{
            let req: $req = codec::decode_body(body, version)?;
            #[allow(clippy::redundant_closure_call)]
            let resp = $handler(req);
            Ok(ready(encode_response(cid, version, &resp)))
        }};
    }
    let b = broker.as_ref();
    match api {
        ApiKey::ApiVersions => now!(ApiVersionsRequest, api::api_versions::handle),
        ApiKey::Metadata => now!(MetadataRequest, |r| api::metadata::handle(b, r, version)),
        ApiKey::ListOffsets => now!(ListOffsetsRequest, |r| api::list_offsets::handle(
            b, r, version
        )),
        ApiKey::CreateTopics => {
            now!(CreateTopicsRequest, |r| api::create_topics::handle(
                b, r, version
            ))
        }
        ApiKey::DeleteTopics => {
            now!(DeleteTopicsRequest, |r| api::delete_topics::handle(
                b, r, version
            ))
        }
        ApiKey::CreatePartitions => {
            now!(CreatePartitionsRequest, |r| api::create_partitions::handle(
                b, r
            ))
        }
        ApiKey::DeleteRecords => now!(DeleteRecordsRequest, |r| api::delete_records::handle(b, r)),
        ApiKey::DescribeConfigs => {
            now!(DescribeConfigsRequest, |r| api::describe_configs::handle(
                b, r, version
            ))
        }
        ApiKey::AlterConfigs => now!(AlterConfigsRequest, |r| api::alter_configs::handle(b, r)),
        ApiKey::IncrementalAlterConfigs => now!(IncrementalAlterConfigsRequest, |r| {
            api::incremental_alter_configs::handle(b, r)
        }),
        ApiKey::DescribeCluster => {
            now!(DescribeClusterRequest, |r| api::describe_cluster::handle(
                b, r, version
            ))
        }
        ApiKey::DescribeLogDirs => {
            now!(DescribeLogDirsRequest, |r| api::describe_log_dirs::handle(
                b, r
            ))
        }
        ApiKey::InitProducerId => {
            now!(InitProducerIdRequest, |r| api::init_producer_id::handle(
                b, r
            ))
        }
        ApiKey::Produce => {
            let req: ProduceRequest = codec::decode_body(body, version)?;
            let pending = api::produce::handle(broker, req, version);
            Ok(Box::pin(async move {
                match pending.await {
                    Some(resp) => encode_response(cid, version, &resp),
                    None => Reply::Silent,
                }
            }))
        }
        ApiKey::Fetch => {
            let req: FetchRequest = codec::decode_body(body, version)?;
            let broker = broker.clone();
            Ok(Box::pin(async move {
                let resp = api::fetch::handle(broker, req, version).await;
                encode_response(cid, version, &resp)
            }))
        }
        _ => Err(FrameError::UnsupportedVersion { api, version }),
    }
}
