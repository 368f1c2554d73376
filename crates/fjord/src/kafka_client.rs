//! A minimal blocking Kafka protocol client on kafka-protocol's `client`
//! feature, for what librdkafka does not offer: sending pre-built record
//! batches (`fjord bench --client raw`, which measures the broker rather
//! than librdkafka's per-record cost). Other admin gaps of the rdkafka crate
//! belong here too (DESIGN.md: one module).
//!
//! One connection, requests pipelined: `send` writes a request and returns
//! its correlation id; `receive` reads the next response, which Kafka
//! guarantees arrive in request order.

use std::io::{Read, Write};
use std::net::TcpStream;

use anyhow::{bail, Context, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

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
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    let mut conn = KafkaConnection {
                        stream,
                        next_correlation: 1,
                        broker_versions: Vec::new(),
                    };
                    let resp: ApiVersionsResponse = conn.call(0, &ApiVersionsRequest::default())?;
                    if resp.error_code != 0 {
                        bail!("ApiVersions failed with error code {}", resp.error_code);
                    }
                    conn.broker_versions = resp
                        .api_keys
                        .iter()
                        .map(|k| (k.api_key, k.min_version, k.max_version))
                        .collect();
                    return Ok(conn);
                }
                Err(e) => {
                    last_err =
                        Some(anyhow::Error::new(e).context(format!("cannot connect to {addr}")))
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("no bootstrap server given")))
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
