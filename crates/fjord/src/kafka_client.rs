//! A minimal blocking Kafka protocol client on kafka-protocol's `client`
//! feature, for what the rdkafka crate does not offer: sending pre-built
//! record batches (`fjord bench --client raw`, which measures the broker
//! rather than librdkafka's per-record cost), IncrementalAlterConfigs
//! (`fjord topic alter`), and decoding the consumer protocol's assignment
//! bytes (`fjord group describe`). Other admin gaps of the rdkafka crate
//! belong here too (DESIGN.md: one module).
//!
//! It speaks PLAINTEXT only: [`KafkaConnection::connect_client`] refuses
//! `-X security.protocol=SSL|SASL_*` with a clear message rather than
//! sending requests in the clear to a listener that expects TLS or SASL.
//!
//! One connection, requests pipelined: `send` writes a request and returns
//! its correlation id; `receive` reads the next response, which Kafka
//! guarantees arrive in request order.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, IncrementalAlterConfigsRequest, RequestHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::client::{ClientArgs, METADATA_TIMEOUT, REQUEST_TIMEOUT};

pub struct KafkaConnection {
    stream: TcpStream,
    next_correlation: i32,
    /// (api key, max version) the broker supports.
    broker_versions: Vec<(i16, i16, i16)>,
}

impl KafkaConnection {
    /// Connects to the first reachable address of a bootstrap list and asks
    /// which API versions the broker speaks.
    pub fn connect(bootstrap: &str) -> Result<KafkaConnection> {
        let mut last_err = None;
        for addr in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match TcpStream::connect(addr) {
                Ok(stream) => return KafkaConnection::handshake(stream),
                Err(e) => {
                    last_err =
                        Some(anyhow::Error::new(e).context(format!("cannot connect to {addr}")))
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no bootstrap server given")))
    }

    /// Connects for an admin command: honours `--bootstrap-servers`, refuses
    /// `-X` security settings this client cannot speak, and bounds the
    /// connect and every response by the CLI's usual timeouts so a stopped
    /// broker reports instead of hanging.
    pub fn connect_client(args: &ClientArgs) -> Result<KafkaConnection> {
        let protocol = args
            .client_config
            .iter()
            .rev()
            .find(|(k, _)| k == "security.protocol")
            .map(|(_, v)| v.as_str());
        if let Some(p) = protocol.filter(|p| !p.eq_ignore_ascii_case("plaintext")) {
            bail!(
                "this command uses Fjord's built-in Kafka client, which speaks only \
                 PLAINTEXT; security.protocol={p} is not supported by it yet"
            );
        }
        let mut last_err = None;
        for addr in args
            .bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            let resolved = match addr.to_socket_addrs() {
                Ok(resolved) => resolved,
                Err(e) => {
                    last_err =
                        Some(anyhow::Error::new(e).context(format!("cannot resolve {addr}")));
                    continue;
                }
            };
            for sock in resolved {
                match TcpStream::connect_timeout(&sock, METADATA_TIMEOUT) {
                    Ok(stream) => {
                        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
                        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
                        return KafkaConnection::handshake(stream)
                            .with_context(|| format!("talking to {addr}"));
                    }
                    Err(e) => {
                        last_err =
                            Some(anyhow::Error::new(e).context(format!("cannot connect to {addr}")))
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no bootstrap server given")))
    }

    /// Asks a freshly connected broker which API versions it speaks.
    fn handshake(stream: TcpStream) -> Result<KafkaConnection> {
        stream.set_nodelay(true)?;
        let mut conn = KafkaConnection {
            stream,
            next_correlation: 1,
            broker_versions: Vec::new(),
        };
        let resp: ApiVersionsResponse = conn.call(0, &ApiVersionsRequest::default())?;
        if resp.error_code != 0 {
            bail!("ApiVersions failed: {}", error_name(resp.error_code));
        }
        conn.broker_versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        Ok(conn)
    }

    /// The highest version of `R` both sides speak (we speak up to `ours`).
    pub fn version<R: Request>(&self, ours: i16) -> Result<i16> {
        let (_, min, max) = self
            .broker_versions
            .iter()
            .find(|(k, _, _)| *k == R::KEY)
            .with_context(|| format!("the broker does not support API key {}", R::KEY))?;
        let v = ours.min(*max).min(R::VERSIONS.max);
        if v < *min || v < R::VERSIONS.min {
            bail!(
                "no common version for API key {} (broker {min}..{max})",
                R::KEY
            );
        }
        Ok(v)
    }

    /// Sends a request without waiting for its response.
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> Result<i32> {
        let correlation_id = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let api =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown API key {}", R::KEY))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord")));
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i32(0);
        header.encode(&mut buf, api.request_header_version(version))?;
        request.encode(&mut buf, version)?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).context("sending request")?;
        Ok(correlation_id)
    }

    /// Reads the next response, which must answer `correlation_id`.
    pub fn receive<R: Request>(
        &mut self,
        version: i16,
        correlation_id: i32,
    ) -> Result<R::Response> {
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .context("reading response size")?;
        let size = i32::from_be_bytes(size);
        if !(4..=1 << 30).contains(&size) {
            bail!("response of absurd size {size}");
        }
        let mut body = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut body)
            .context("reading response")?;
        let mut body = Bytes::from(body);
        let header = kafka_protocol::messages::ResponseHeader::decode(
            &mut body,
            <R::Response as HeaderVersion>::header_version(version),
        )?;
        if header.correlation_id != correlation_id {
            bail!(
                "response for request {} arrived while waiting for {correlation_id}",
                header.correlation_id
            );
        }
        let resp = <R::Response as Decodable>::decode(&mut body, version)?;
        if body.has_remaining() {
            bail!("{} trailing bytes after the response", body.remaining());
        }
        Ok(resp)
    }

    /// Sends a request and waits for its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response> {
        let id = self.send(version, request)?;
        self.receive::<R>(version, id)
    }
}

/// A Kafka error code's name (`NON_EMPTY_GROUP`-style names are what users
/// search for), or the number when this library does not know it.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "no error".to_string(),
        Some(ResponseError::Unknown(code)) => format!("error code {code}"),
        Some(err) => format!("{err:?} ({code})"),
    }
}

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set the key on the resource (Kafka op SET, 0).
    Set(String, String),
    /// Remove the resource's own value so the default applies (op DELETE, 1).
    Delete(String),
}

/// Kafka's ConfigResource type for topics.
const RESOURCE_TOPIC: i8 = 2;

/// Applies `changes` to one topic's configs with IncrementalAlterConfigs
/// (Kafka 2.3+), which touches only the named keys. Any broker accepts it:
/// Kafka forwards it to the controller.
pub fn incremental_alter_topic_configs(
    conn: &mut KafkaConnection,
    topic: &str,
    changes: &[ConfigChange],
) -> Result<()> {
    let configs = changes
        .iter()
        .map(|change| match change {
            ConfigChange::Set(key, value) => AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.clone()))),
            ConfigChange::Delete(key) => AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(1)
                .with_value(None),
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(configs),
    ]);
    let version = conn
        .version::<IncrementalAlterConfigsRequest>(1)
        .context("the cluster does not support IncrementalAlterConfigs (Kafka 2.3+)")?;
    let response = conn.call(version, &request)?;
    let Some(result) = response.responses.first() else {
        bail!("IncrementalAlterConfigs returned no result for topic `{topic}`");
    };
    if result.error_code != 0 {
        match result.error_message.as_deref() {
            Some(msg) if !msg.is_empty() => bail!("{}: {msg}", error_name(result.error_code)),
            _ => bail!("{}", error_name(result.error_code)),
        }
    }
    Ok(())
}

/// Decodes a member's assignment in the consumer protocol
/// (ConsumerProtocolAssignment v0-v3: an i16 version, then topic partitions
/// and user data). Newer versions only append fields, so a version above 3
/// is read as v3 and the rest ignored, as Kafka's own clients do.
pub fn decode_consumer_assignment(bytes: &[u8]) -> Result<ConsumerProtocolAssignment> {
    let mut buf = Bytes::copy_from_slice(bytes);
    if buf.remaining() < 2 {
        bail!("assignment of {} bytes is too short", bytes.len());
    }
    let version = buf.get_i16();
    if version < 0 {
        bail!("assignment has negative version {version}");
    }
    ConsumerProtocolAssignment::decode(&mut buf, version.min(3))
        .map_err(|e| anyhow!("cannot decode assignment v{version}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::TopicName;

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

    #[test]
    fn error_names_are_readable() {
        assert_eq!(error_name(68), "NonEmptyGroup (68)");
        assert_eq!(error_name(-12345), "error code -12345");
    }
}
