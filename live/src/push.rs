//! Where the server hands the pushes the switchboard emits (contract version 2: ringing offline
//! devices). A push is not a message to a connected device: the server gives it to a
//! [`PushSender`], the bridge to a push service (APNs, FCM). Two ship here: [`LogSender`] writes
//! each push to the log, and [`WebhookSender`] POSTs each one as JSON to a URL, in order, from a
//! bounded queue. A push may be delayed or lost; nothing in the model waits for it.

use callcore::push::Push;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Pushes waiting for the webhook; more are dropped (and counted) rather than buffered without
/// bound.
pub const PUSH_QUEUE_LEN: usize = 1024;
/// How long one POST may take, in milliseconds (connect, send, and read the status).
pub const PUSH_POST_TIMEOUT_MS: u64 = 5_000;

/// The bridge from the switchboard to a push service.
pub trait PushSender: Send + Sync + std::fmt::Debug + 'static {
    /// Hands one push over. Called from the task that owns the switchboard: it must not block.
    fn send(&self, push: &Push);
}

/// Writes each push to the log (`tracing`, target `push`): for development, and for a
/// deployment without a push service.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSender;

impl PushSender for LogSender {
    fn send(&self, push: &Push) {
        tracing::info!(target: "push", to = %push.to, session = %push.session, kind = %push.kind, "push");
    }
}

/// What a [`WebhookSender`] did so far.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Pushes the webhook answered with a 2xx status.
    pub delivered: AtomicU64,
    /// Pushes whose POST failed (no connection, a timeout, a status other than 2xx).
    pub failed: AtomicU64,
    /// Pushes dropped because [`PUSH_QUEUE_LEN`] were already waiting.
    pub dropped: AtomicU64,
}

/// Why a webhook cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL does not parse, or is not `http://host[:port]/path`.
    #[error("webhook URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
}

/// POSTs each push as JSON (callcore's `Push`: `{"to":{"user":U,"index":I},"session":S,
/// "kind":{"push":"ring"}}`, or `"kind":{"push":"cancel","reason":"answered_elsewhere"}`) to a
/// plain-HTTP URL, one at a time in the order they were emitted, from a queue of at most
/// [`PUSH_QUEUE_LEN`]. A failed POST is logged and counted, not retried: the model already
/// allows a push to be lost.
#[derive(Debug)]
pub struct WebhookSender {
    queue: mpsc::Sender<Push>,
    stats: Arc<WebhookStats>,
}

impl WebhookSender {
    /// Starts the task that POSTs to `url` (on the current tokio runtime).
    pub fn start(url: &str) -> Result<Self, WebhookError> {
        let bad = |reason: &str| WebhookError::Url { url: url.to_owned(), reason: reason.to_owned() };
        let uri: Uri = url.parse().map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// is supported (put a TLS proxy in front for https)"));
        }
        if uri.host().is_none() {
            return Err(bad("no host"));
        }
        let (queue, mut rx) = mpsc::channel::<Push>(PUSH_QUEUE_LEN);
        let stats = Arc::new(WebhookStats::default());
        let task_stats = stats.clone();
        tokio::spawn(async move {
            while let Some(push) = rx.recv().await {
                let timeout = Duration::from_millis(PUSH_POST_TIMEOUT_MS);
                match tokio::time::timeout(timeout, post(&uri, &push)).await {
                    Ok(Ok(status)) if (200..300).contains(&status) => {
                        task_stats.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    outcome => {
                        task_stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(target: "push", ?outcome, to = %push.to, "webhook POST failed");
                    }
                }
            }
        });
        Ok(Self { queue, stats })
    }

    /// The counters.
    pub fn stats(&self) -> &WebhookStats {
        &self.stats
    }
}

impl PushSender for WebhookSender {
    fn send(&self, push: &Push) {
        if self.queue.try_send(*push).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "push", to = %push.to, "webhook queue full: push dropped");
        }
    }
}

/// One POST of `push` as JSON to `uri`, on a connection of its own; the response's status.
async fn post(uri: &Uri, push: &Push) -> Result<u16, String> {
    let host = uri.host().ok_or("no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let body = serde_json::to_vec(push).map_err(|e| e.to_string())?;
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    // Read the body to its end so that the connection closes cleanly.
    let _ = response.into_body().collect().await;
    Ok(status)
}
