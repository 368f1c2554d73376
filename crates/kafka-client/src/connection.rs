//! One blocking connection to one broker.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::error::{error_name, Error, Result};

pub struct KafkaConnection {
    stream: TcpStream,
    next_correlation: i32,
    /// (api key, min version, max version) the broker supports.
    broker_versions: Vec<(i16, i16, i16)>,
}

/// The comma-separated entries of a bootstrap list.
fn bootstrap_addrs(bootstrap: &str) -> impl Iterator<Item = &str> {
    bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
}

impl KafkaConnection {
    /// Connects to the first reachable address of a bootstrap list and asks
    /// which API versions the broker speaks. No timeouts: for tools that talk
    /// to a broker they just started.
    pub fn connect(bootstrap: &str) -> Result<KafkaConnection> {
        let mut last_err = None;
        for addr in bootstrap_addrs(bootstrap) {
            match TcpStream::connect(addr) {
                Ok(stream) => return KafkaConnection::handshake(stream),
                Err(cause) => {
                    last_err = Some(Error::Connect {
                        addr: addr.to_string(),
                        cause,
                    })
                }
            }
        }
        Err(last_err.unwrap_or(Error::NoBootstrap))
    }

    /// Connects with a client's settings: refuses `security.protocol`
    /// values this client cannot speak (`settings` are librdkafka-style
    /// key/value pairs; the last one given for a key wins), and bounds the
    /// connect by `connect_timeout` and every response by `request_timeout`,
    /// so a stopped broker is reported instead of hanging.
    pub fn connect_with(
        bootstrap: &str,
        settings: &[(String, String)],
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<KafkaConnection> {
        let protocol = settings
            .iter()
            .rev()
            .find(|(k, _)| k == "security.protocol")
            .map(|(_, v)| v.as_str());
        if let Some(p) = protocol.filter(|p| !p.eq_ignore_ascii_case("plaintext")) {
            return Err(Error::UnsupportedSecurity(p.to_string()));
        }
        let mut last_err = None;
        for addr in bootstrap_addrs(bootstrap) {
            let resolved = match addr.to_socket_addrs() {
                Ok(resolved) => resolved,
                Err(cause) => {
                    last_err = Some(Error::Resolve {
                        addr: addr.to_string(),
                        cause,
                    });
                    continue;
                }
            };
            for sock in resolved {
                match TcpStream::connect_timeout(&sock, connect_timeout) {
                    Ok(stream) => {
                        let io = |cause| Error::Io {
                            what: "setting socket timeouts",
                            cause,
                        };
                        stream.set_read_timeout(Some(request_timeout)).map_err(io)?;
                        stream
                            .set_write_timeout(Some(request_timeout))
                            .map_err(io)?;
                        return KafkaConnection::handshake(stream).map_err(|e| Error::Handshake {
                            addr: addr.to_string(),
                            cause: Box::new(e),
                        });
                    }
                    Err(cause) => {
                        last_err = Some(Error::Connect {
                            addr: addr.to_string(),
                            cause,
                        })
                    }
                }
            }
        }
        Err(last_err.unwrap_or(Error::NoBootstrap))
    }

    /// Asks a freshly connected broker which API versions it speaks.
    fn handshake(stream: TcpStream) -> Result<KafkaConnection> {
        stream.set_nodelay(true).map_err(|cause| Error::Io {
            what: "setting TCP_NODELAY",
            cause,
        })?;
        let mut conn = KafkaConnection {
            stream,
            next_correlation: 1,
            broker_versions: Vec::new(),
        };
        let resp: ApiVersionsResponse = conn.call(0, &ApiVersionsRequest::default())?;
        if resp.error_code != 0 {
            return Err(Error::Broker(format!(
                "ApiVersions failed: {}",
                error_name(resp.error_code)
            )));
        }
        conn.broker_versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        Ok(conn)
    }

    /// The address of the broker at the other end.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.stream.peer_addr().ok()
    }

    /// Changes how long a response may take (None: forever).
    pub fn set_request_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let io = |cause| Error::Io {
            what: "setting socket timeouts",
            cause,
        };
        self.stream.set_read_timeout(timeout).map_err(io)?;
        self.stream.set_write_timeout(timeout).map_err(io)
    }

    /// The highest version of `R` both sides speak (we speak up to `ours`).
    pub fn version<R: Request>(&self, ours: i16) -> Result<i16> {
        let (_, min, max) = self
            .broker_versions
            .iter()
            .find(|(k, _, _)| *k == R::KEY)
            .ok_or_else(|| {
                Error::Unsupported(format!("the broker does not support API key {}", R::KEY))
            })?;
        let v = ours.min(*max).min(R::VERSIONS.max);
        if v < *min || v < R::VERSIONS.min {
            return Err(Error::Unsupported(format!(
                "no common version for API key {} (broker {min}..{max})",
                R::KEY
            )));
        }
        Ok(v)
    }

    /// Sends a request without waiting for its response.
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> Result<i32> {
        let correlation_id = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let api = ApiKey::try_from(R::KEY)
            .map_err(|_| Error::Unsupported(format!("unknown API key {}", R::KEY)))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord")));
        let codec = |cause: Box<dyn std::error::Error + Send + Sync>| Error::Codec {
            what: format!("encoding a request of API key {} v{version}", R::KEY),
            cause,
        };
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i32(0);
        header
            .encode(&mut buf, api.request_header_version(version))
            .map_err(|e| codec(e.into()))?;
        request
            .encode(&mut buf, version)
            .map_err(|e| codec(e.into()))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).map_err(|cause| Error::Io {
            what: "sending request",
            cause,
        })?;
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
            .map_err(|cause| Error::Io {
                what: "reading response size",
                cause,
            })?;
        let size = i32::from_be_bytes(size);
        if !(4..=1 << 30).contains(&size) {
            return Err(Error::Protocol(format!("response of absurd size {size}")));
        }
        let mut body = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut body)
            .map_err(|cause| Error::Io {
                what: "reading response",
                cause,
            })?;
        let mut body = Bytes::from(body);
        let codec = |cause: Box<dyn std::error::Error + Send + Sync>| Error::Codec {
            what: format!("decoding a response of API key {} v{version}", R::KEY),
            cause,
        };
        let header = ResponseHeader::decode(
            &mut body,
            <R::Response as HeaderVersion>::header_version(version),
        )
        .map_err(|e| codec(e.into()))?;
        if header.correlation_id != correlation_id {
            return Err(Error::Protocol(format!(
                "response for request {} arrived while waiting for {correlation_id}",
                header.correlation_id
            )));
        }
        let resp =
            <R::Response as Decodable>::decode(&mut body, version).map_err(|e| codec(e.into()))?;
        if body.has_remaining() {
            return Err(Error::Protocol(format!(
                "{} trailing bytes after the response",
                body.remaining()
            )));
        }
        Ok(resp)
    }

    /// Sends a request and waits for its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response> {
        let id = self.send(version, request)?;
        self.receive::<R>(version, id)
    }
}
