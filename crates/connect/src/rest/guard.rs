//! Refuses requests that name another host in `Host` or `Origin`. A
//! browser page on another site can send requests to 127.0.0.1:8083 (a
//! form post, or a DNS name rebound to 127.0.0.1); those carry that site
//! in `Origin` or `Host`, and are answered 403 before any handler runs.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error;

/// The names this listener may be called by.
#[derive(Clone, Debug)]
pub struct Allowed {
    /// None: bound to a wildcard address; any host name is accepted (the
    /// user chose to serve the network), Origin is still checked against
    /// Host.
    hosts: Option<Vec<String>>,
}

impl Allowed {
    pub fn for_listener(listen: SocketAddr) -> Allowed {
        if listen.ip().is_unspecified() {
            return Allowed { hosts: None };
        }
        let port = listen.port();
        let mut hosts = vec![match listen {
            SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
            SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
        }];
        if listen.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
            hosts.push(format!("127.0.0.1:{port}"));
            hosts.push(format!("[::1]:{port}"));
        }
        Allowed { hosts: Some(hosts) }
    }

    fn host_ok(&self, host: &str) -> bool {
        match &self.hosts {
            None => true,
            Some(hosts) => hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
        }
    }
}

pub async fn check(State(allowed): State<Allowed>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !allowed.host_ok(&host) {
        return error(
            StatusCode::FORBIDDEN,
            &format!("Host '{host}' is not this worker's address; refused"),
        );
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if !origin_host.eq_ignore_ascii_case(&host) || !allowed.host_ok(origin_host) {
            return error(
                StatusCode::FORBIDDEN,
                &format!("Origin '{origin}' may not call this API; refused"),
            );
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_listener_answers_to_its_loopback_names_only() {
        let a = Allowed::for_listener("127.0.0.1:8083".parse().unwrap());
        assert!(a.host_ok("127.0.0.1:8083"));
        assert!(a.host_ok("localhost:8083"));
        assert!(!a.host_ok("evil.example:8083"));
        assert!(!a.host_ok("localhost:9999"));
        assert!(Allowed::for_listener("0.0.0.0:8083".parse().unwrap()).host_ok("anything:1"));
    }
}
