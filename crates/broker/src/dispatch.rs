//! Turns a request frame into a typed `Request` and routes it to its API
//! handler.
//!
//! A handler runs to completion for its first part (e.g. Produce appends to
//! the log, on the blocking pool) before the next request on the same
//! connection is dispatched, so requests take effect in the order they were
//! sent. What may wait (an fsync for acks=all, a long-polling fetch) is
//! returned as a future; the connection writes responses in request order.

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

/// Declares the `Request` enum with one variant per implemented API and the
/// decoder that fills it, so the list of APIs is written once.
macro_rules! requests {
    ($($api:ident => $req:ty),* $(,)?) => {
        /// A decoded request of an implemented API.
        pub enum Request {
            $($api($req),)*
        }

        fn decode_body(api: ApiKey, body: &mut Bytes, version: i16) -> Result<Request, FrameError> {
            match api {
                $(ApiKey::$api => Ok(Request::$api(codec::decode_body(body, version)?)),)*
                _ => Err(FrameError::UnknownApiKey(api as i16)),
            }
        }
    };
}

requests! {
    ApiVersions => ApiVersionsRequest,
    Metadata => MetadataRequest,
    Produce => ProduceRequest,
    Fetch => FetchRequest,
    ListOffsets => ListOffsetsRequest,
    CreateTopics => CreateTopicsRequest,
    DeleteTopics => DeleteTopicsRequest,
    CreatePartitions => CreatePartitionsRequest,
    DeleteRecords => DeleteRecordsRequest,
    DescribeConfigs => DescribeConfigsRequest,
    AlterConfigs => AlterConfigsRequest,
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
    DescribeCluster => DescribeClusterRequest,
    DescribeLogDirs => DescribeLogDirsRequest,
    InitProducerId => InitProducerIdRequest,
    FindCoordinator => FindCoordinatorRequest,
    JoinGroup => JoinGroupRequest,
    SyncGroup => SyncGroupRequest,
    Heartbeat => HeartbeatRequest,
    LeaveGroup => LeaveGroupRequest,
    OffsetCommit => OffsetCommitRequest,
    OffsetFetch => OffsetFetchRequest,
    OffsetDelete => OffsetDeleteRequest,
    DescribeGroups => DescribeGroupsRequest,
    ListGroups => ListGroupsRequest,
    DeleteGroups => DeleteGroupsRequest,
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
    ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
    AddPartitionsToTxn => AddPartitionsToTxnRequest,
    AddOffsetsToTxn => AddOffsetsToTxnRequest,
    TxnOffsetCommit => TxnOffsetCommitRequest,
    EndTxn => EndTxnRequest,
    DescribeTransactions => DescribeTransactionsRequest,
    ListTransactions => ListTransactionsRequest,
}

/// Who sent a request, as group members are described (DescribeGroups):
/// the header's client id and the peer's address in Kafka's "/ip" form.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub client_id: String,
    pub host: String,
}

/// The outcome of decoding a frame.
// Lives only between decoding and dispatch, on the stack: boxing the large
// variant would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Decoded {
    /// A request this broker implements, at a version it implements.
    Request {
        version: i16,
        correlation_id: i32,
        /// The header's client id ("" when null).
        client_id: String,
        request: Request,
    },
    /// An ApiVersions request of a version we do not know (KIP-511).
    ApiVersionsTooNew { correlation_id: i32 },
}

/// Decodes one request frame (the bytes after the size prefix). Pure: no
/// broker state, so it is what the fuzz target drives.
pub fn decode_request(frame: Bytes) -> Result<Decoded, FrameError> {
    let (key, version, correlation_id) = codec::peek_prefix(&frame)?;
    let api = ApiKey::try_from(key).map_err(|_| FrameError::UnknownApiKey(key))?;
    let Some((min, max)) = api::supported(api) else {
        return Err(FrameError::UnsupportedVersion { api, version });
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions {
            return Ok(Decoded::ApiVersionsTooNew { correlation_id });
        }
        return Err(FrameError::UnsupportedVersion { api, version });
    }
    let mut frame = codec::decode_header(frame, api, version)?;
    let request = decode_body(api, &mut frame.body, version)?;
    Ok(Decoded::Request {
        version,
        correlation_id: frame.header.correlation_id,
        client_id: frame
            .header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        request,
    })
}

/// Decodes and handles one request frame from an unknown peer.
pub async fn dispatch(broker: &Arc<Broker>, frame: Bytes) -> Result<ResponseFuture, FrameError> {
    dispatch_from(broker, frame, None).await
}

/// Decodes and handles one request frame that arrived from `peer`; returns
/// once the request has taken effect, with the future of its answer.
pub async fn dispatch_from(
    broker: &Arc<Broker>,
    frame: Bytes,
    peer: Option<std::net::SocketAddr>,
) -> Result<ResponseFuture, FrameError> {
    let (version, cid, client_id, request) = match decode_request(frame)? {
        Decoded::Request {
            version,
            correlation_id,
            client_id,
            request,
        } => (version, correlation_id, client_id, request),
        Decoded::ApiVersionsTooNew { correlation_id } => {
            return Ok(ready(api::api_versions::unsupported_version_response(
                correlation_id,
            )));
        }
    };
    let b = broker.as_ref();
    let reply = |resp: &dyn ErasedResponse| resp.encode(cid, version);
    let now = |r: Reply| Ok(ready(r));
    match request {
        Request::ApiVersions(r) => now(reply(&api::api_versions::handle(r))),
        Request::Metadata(r) => now(reply(&api::metadata::handle(b, r, version))),
        Request::ListOffsets(r) => {
            later(cid, version, api::list_offsets::handle(broker, r, version))
        }
        Request::CreateTopics(r) => now(reply(&api::create_topics::handle(b, r, version))),
        Request::DeleteTopics(r) => now(reply(&api::delete_topics::handle(b, r, version))),
        Request::CreatePartitions(r) => now(reply(&api::create_partitions::handle(b, r))),
        Request::DeleteRecords(r) => now(reply(&api::delete_records::handle(b, r))),
        Request::DescribeConfigs(r) => now(reply(&api::describe_configs::handle(b, r, version))),
        Request::AlterConfigs(r) => now(reply(&api::alter_configs::handle(b, r))),
        Request::IncrementalAlterConfigs(r) => {
            now(reply(&api::incremental_alter_configs::handle(b, r)))
        }
        Request::DescribeCluster(r) => now(reply(&api::describe_cluster::handle(b, r, version))),
        Request::DescribeLogDirs(r) => now(reply(&api::describe_log_dirs::handle(b, r))),
        Request::InitProducerId(r) => later(cid, version, api::init_producer_id::handle(broker, r)),
        Request::FindCoordinator(r) => now(reply(&api::find_coordinator::handle(b, r, version))),
        Request::Heartbeat(r) => now(reply(&api::heartbeat::handle(b, r))),
        Request::LeaveGroup(r) => now(reply(&api::leave_group::handle(b, r, version))),
        Request::OffsetFetch(r) => now(reply(&api::offset_fetch::handle(b, r, version))),
        Request::DescribeGroups(r) => now(reply(&api::describe_groups::handle(b, r, version))),
        Request::ListGroups(r) => now(reply(&api::list_groups::handle(b, r, version))),
        Request::ConsumerGroupHeartbeat(r) => {
            let client = ClientInfo {
                client_id,
                host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
            };
            later(
                cid,
                version,
                api::consumer_group_heartbeat::handle(b, r, &client),
            )
        }
        Request::ConsumerGroupDescribe(r) => {
            now(reply(&api::consumer_group_describe::handle(b, r)))
        }
        Request::AddPartitionsToTxn(r) => {
            later(cid, version, api::add_partitions_to_txn::handle(broker, r))
        }
        Request::AddOffsetsToTxn(r) => {
            later(cid, version, api::add_offsets_to_txn::handle(broker, r))
        }
        Request::TxnOffsetCommit(r) => {
            later(cid, version, api::txn_offset_commit::handle(broker, r))
        }
        Request::EndTxn(r) => later(cid, version, api::end_txn::handle(broker, r)),
        Request::DescribeTransactions(r) => now(reply(&api::describe_transactions::handle(b, r))),
        Request::ListTransactions(r) => now(reply(&api::list_transactions::handle(b, r, version))),
        Request::JoinGroup(r) => {
            let client = ClientInfo {
                client_id,
                host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
            };
            later(
                cid,
                version,
                api::join_group::handle(broker, r, version, &client),
            )
        }
        Request::SyncGroup(r) => later(cid, version, api::sync_group::handle(broker, r, version)),
        Request::OffsetCommit(r) => {
            later(cid, version, api::offset_commit::handle(broker, r, version))
        }
        Request::OffsetDelete(r) => later(cid, version, api::offset_delete::handle(broker, r)),
        Request::DeleteGroups(r) => later(cid, version, api::delete_groups::handle(broker, r)),
        Request::Produce(r) => {
            let pending = api::produce::handle(broker, r, version).await;
            Ok(Box::pin(async move {
                match pending.await {
                    Some(resp) => encode_response(cid, version, &resp),
                    None => Reply::Silent,
                }
            }))
        }
        Request::Fetch(r) => {
            let broker = broker.clone();
            Ok(Box::pin(async move {
                let resp = api::fetch::handle(broker, r, version).await;
                encode_response(cid, version, &resp)
            }))
        }
    }
}

/// A response that waits (a rebalance, an fsync), encoded when it is ready.
fn later<R>(
    cid: i32,
    version: i16,
    pending: impl Future<Output = R> + Send + 'static,
) -> Result<ResponseFuture, FrameError>
where
    R: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion,
{
    Ok(Box::pin(async move {
        encode_response(cid, version, &pending.await)
    }))
}

/// Lets `dispatch` encode any response type through one closure.
trait ErasedResponse {
    fn encode(&self, correlation_id: i32, version: i16) -> Reply;
}

impl<R: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion>
    ErasedResponse for R
{
    fn encode(&self, correlation_id: i32, version: i16) -> Reply {
        encode_response(correlation_id, version, self)
    }
}
