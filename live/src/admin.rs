//! A small client of the server's HTTP endpoints (`/admin/state`, `/admin/groups`, `/metrics`),
//! for the load driver and the tests: HTTP/1.1 over one TCP connection per request.

use crate::hub::{GroupSpec, StateDump};
use callcore::GroupId;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest response read, in bytes.
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The URL is not `ws://host:port/...` or `http://host:port/...`.
    #[error("not a ws:// or http:// URL with a host and port: {0}")]
    Url(String),
    /// Connecting, writing or reading failed, or took longer than the limit.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered with another status than expected.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The body.
        body: String,
    },
    /// The body is not what was expected.
    #[error("unexpected body: {0}")]
    Body(String),
}

/// The admin endpoints of one server.
#[derive(Clone, Debug)]
pub struct Admin {
    host: String,
    token: Option<String>,
    time_ms_max: u64,
}

impl Admin {
    /// The server behind `url` (its WebSocket URL will do), with the admin `token`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, AdminError> {
        let rest = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| AdminError::Url(url.to_owned()))?;
        let host = rest.split('/').next().unwrap_or_default();
        if !host.contains(':') {
            return Err(AdminError::Url(url.to_owned()));
        }
        Ok(Self { host: host.to_owned(), token, time_ms_max: 60_000 })
    }

    /// The switchboard's state.
    pub async fn state(&self) -> Result<StateDump, AdminError> {
        let body = self.request("GET", "/admin/state", None, 200).await?;
        serde_json::from_str(&body).map_err(|e| AdminError::Body(e.to_string()))
    }

    /// The switchboard's state with only the calls that are not terminal.
    pub async fn open_state(&self) -> Result<StateDump, AdminError> {
        let body = self.request("GET", "/admin/state?calls=open", None, 200).await?;
        serde_json::from_str(&body).map_err(|e| AdminError::Body(e.to_string()))
    }

    /// Creates a group.
    pub async fn add_group(&self, spec: &GroupSpec) -> Result<GroupId, AdminError> {
        let json = serde_json::to_string(spec).map_err(|e| AdminError::Body(e.to_string()))?;
        let body = self.request("POST", "/admin/groups", Some(&json), 201).await?;
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| AdminError::Body(e.to_string()))?;
        let id = value["group"].as_u64().and_then(|g| u32::try_from(g).ok());
        id.map(GroupId).ok_or(AdminError::Body(body))
    }

    /// Registers users by UID (known ones keep their ids); their ids, in order.
    pub async fn add_users(&self, uids: &[String]) -> Result<Vec<callcore::UserId>, AdminError> {
        let json = serde_json::json!({ "uids": uids }).to_string();
        let body = self.request("POST", "/admin/users", Some(&json), 201).await?;
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| AdminError::Body(e.to_string()))?;
        serde_json::from_value(value["users"].clone()).map_err(|e| AdminError::Body(e.to_string()))
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, AdminError> {
        self.request("GET", "/metrics", None, 200).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        expected: u16,
    ) -> Result<String, AdminError> {
        let limit = Duration::from_millis(self.time_ms_max);
        let exchange = self.exchange(method, path, body);
        let response = tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "admin request"))??;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        let body = if chunked { dechunk(body) } else { body.to_owned() };
        if status != expected {
            return Err(AdminError::Status { status, body });
        }
        Ok(body)
    }

    async fn exchange(&self, method: &str, path: &str, body: Option<&str>) -> Result<String, AdminError> {
        let mut stream = tokio::net::TcpStream::connect(&self.host).await?;
        stream.set_nodelay(true)?;
        let auth = self.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let body = body.unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.host,
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut bytes = Vec::new();
        (&mut stream).take(RESPONSE_BYTES_MAX as u64).read_to_end(&mut bytes).await?;
        String::from_utf8(bytes).map_err(|e| AdminError::Body(e.to_string()))
    }
}

/// Decodes a chunked body (bounded by its length: each round consumes a chunk).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    for _ in 0..body.len() {
        let Some((size, rest)) = body.split_once("\r\n") else { break };
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// A sample's value in Prometheus text: the first line that starts with `name` followed by a
/// space (so `name` may include labels).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
}
