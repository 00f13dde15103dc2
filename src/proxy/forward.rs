//! Forwarding one request to an upstream: pick a node, send on a pooled
//! connection, retry on another node when allowed, feed passive health checks
//! and the balancer, and stream the response back.
//!
//! Retry policy (nginx's `proxy_next_upstream error timeout`, which APISIX
//! uses): a failed connect is always retried on the next node; a failure after
//! the request was written is retried only when the body could be replayed
//! (empty, or buffered because it was small). HTTP error statuses are passed
//! to the client, not retried.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;

use super::headers::upstream_host;
use crate::body::{full, IdleTimeoutBody, ProxyBody};
use crate::config::compiled::Timeouts;
use crate::error::ProxyError;
use crate::upstream::connector::ConnectError;
use crate::upstream::health::Outcome;
use crate::upstream::pool::SendError;
use crate::upstream::Upstream;

/// The request body, either replayable for retries or streamed once.
pub enum OutgoingBody {
    /// Fully buffered (or empty): every attempt gets a copy.
    Replayable(Bytes),
    /// Streamed: only the first attempt that writes it gets it.
    Streamed(Option<ProxyBody>),
}

impl OutgoingBody {
    fn for_attempt(&mut self) -> Option<ProxyBody> {
        match self {
            OutgoingBody::Replayable(b) => Some(full(b.clone())),
            OutgoingBody::Streamed(b) => b.take(),
        }
    }
    fn replayable(&self) -> bool {
        matches!(self, OutgoingBody::Replayable(_))
    }
    fn put_back(&mut self, body: ProxyBody) {
        if let OutgoingBody::Streamed(slot) = self {
            *slot = Some(body);
        }
    }
}

/// Everything one forward needs besides the upstream.
pub struct ForwardRequest {
    /// Request line and headers prepared for the upstream (Host is set per node).
    pub parts: http::request::Parts,
    /// The body.
    pub body: OutgoingBody,
    /// The client's Host header.
    pub client_host: Option<HeaderValue>,
    /// Key for `chash`.
    pub hash_key: Option<Vec<u8>>,
    /// Effective timeouts.
    pub timeouts: Timeouts,
}

/// Whether every node is unhealthy (then all are used, as APISIX does).
fn all_unhealthy(up: &Upstream) -> bool {
    up.health.is_some() && (0..up.nodes.len()).all(|i| !up.is_healthy(i))
}

/// Forward with retries; returns the upstream response with a streaming body.
pub async fn forward(
    up: &Arc<Upstream>,
    mut req: ForwardRequest,
) -> Result<Response<ProxyBody>, ProxyError> {
    if up.nodes.is_empty() {
        return Err(ProxyError::NoAvailableNode(up.label.clone()));
    }
    let started = Instant::now();
    let deadline = up.retry_timeout.map(|t| started + t);
    let max_attempts = up.max_attempts();
    let ignore_health = all_unhealthy(up);
    let mut tried = vec![false; up.nodes.len()];
    let mut last_error: Option<ProxyError> = None;
    let mut attempts = 0;
    // `read` bounds the wait for the response head once the request is written
    // (nginx's proxy_read_timeout). A buffered body is written at once; a
    // streamed one may need up to `send` more.
    let head_wait = if req.body.replayable() {
        req.timeouts.read
    } else {
        req.timeouts.send + req.timeouts.read
    };

    while attempts < max_attempts {
        if attempts > 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let available = |i: usize| !tried[i] && (ignore_health || up.is_healthy(i));
        let Some(idx) = up.balancer.pick(req.hash_key.as_deref(), &available) else {
            break;
        };
        tried[idx] = true;
        attempts += 1;
        let node = &up.nodes[idx];
        let Some(body) = req.body.for_attempt() else {
            break;
        };
        let mut upstream_req = Request::from_parts(req.parts.clone(), body);
        if let Some(h) = upstream_host(up, node, req.client_host.as_ref()) {
            upstream_req.headers_mut().insert(http::header::HOST, h);
        }
        let sni = upstream_req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| strip_port(h).to_string());

        up.balancer.on_start(idx);
        let t0 = Instant::now();
        let result = send_once(
            up,
            idx,
            upstream_req,
            sni.as_deref(),
            req.timeouts,
            head_wait,
        )
        .await;
        match result {
            Ok(resp) => {
                if let Some(h) = &up.health {
                    h.report_passive(
                        idx,
                        Outcome::Status(resp.status().as_u16()),
                        &node.authority,
                    );
                }
                let read = req.timeouts.read;
                let (parts, body) = resp.into_parts();
                // The request stays "active" for least_conn/ewma until its body ends.
                let body = CompletionBody {
                    inner: IdleTimeoutBody::new(body, read),
                    done: Some(Completion {
                        up: up.clone(),
                        node: idx,
                        started: t0,
                    }),
                };
                return Ok(Response::from_parts(parts, body.boxed()));
            }
            Err(mut failure) => {
                up.balancer.on_finish(idx, t0.elapsed(), true);
                if let Some(h) = &up.health {
                    h.report_passive(idx, failure.outcome(), &node.authority);
                }
                tracing::warn!(
                    upstream = %up.label,
                    node = %node.authority,
                    attempt = attempts,
                    "upstream attempt failed: {}",
                    failure.message()
                );
                let retry_allowed = failure.not_sent() || req.body.replayable();
                if let Some(body) = failure.returned_body() {
                    req.body.put_back(body);
                }
                last_error = Some(failure.into_error(&node.authority));
                if !retry_allowed {
                    break;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| ProxyError::NoAvailableNode(up.label.clone())))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map(|h| h.trim_start_matches('['))
            .unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// One failed attempt.
enum AttemptFailure {
    Connect(ConnectError),
    /// Not written; the body is handed back.
    NotSent(ProxyBody, hyper::Error),
    Exchange(hyper::Error),
    Timeout(Duration),
}

impl AttemptFailure {
    fn outcome(&self) -> Outcome {
        match self {
            AttemptFailure::Connect(ConnectError::Timeout { .. }) | AttemptFailure::Timeout(_) => {
                Outcome::Timeout
            }
            _ => Outcome::TcpFailure,
        }
    }
    fn not_sent(&self) -> bool {
        matches!(
            self,
            AttemptFailure::Connect(_) | AttemptFailure::NotSent(..)
        )
    }
    fn message(&self) -> String {
        match self {
            AttemptFailure::Connect(e) => e.to_string(),
            AttemptFailure::NotSent(_, e) | AttemptFailure::Exchange(e) => e.to_string(),
            AttemptFailure::Timeout(d) => format!("no response within {d:?}"),
        }
    }
    fn returned_body(&mut self) -> Option<ProxyBody> {
        match std::mem::replace(self, AttemptFailure::Timeout(Duration::ZERO)) {
            AttemptFailure::NotSent(body, e) => {
                *self = AttemptFailure::Exchange(e);
                Some(body)
            }
            other => {
                *self = other;
                None
            }
        }
    }
    fn into_error(self, node: &str) -> ProxyError {
        match self {
            AttemptFailure::Connect(ConnectError::Timeout { timeout, .. }) => {
                ProxyError::UpstreamTimeout(format!(
                    "upstream {node} connect timed out after {}s",
                    timeout.as_secs_f64()
                ))
            }
            AttemptFailure::Timeout(d) => ProxyError::UpstreamTimeout(format!(
                "upstream {node} did not respond within {}s",
                d.as_secs_f64()
            )),
            other => {
                ProxyError::UpstreamFailed(format!("upstream {node} failed: {}", other.message()))
            }
        }
    }
}

/// One attempt on node `idx`: checkout, send, wait for the response head.
async fn send_once(
    up: &Upstream,
    idx: usize,
    req: Request<ProxyBody>,
    sni: Option<&str>,
    timeouts: Timeouts,
    wait: Duration,
) -> Result<Response<crate::upstream::pool::PooledBody>, AttemptFailure> {
    let node = &up.nodes[idx];
    let conn = node
        .pool
        .checkout(timeouts.connect, sni)
        .await
        .map_err(AttemptFailure::Connect)?;
    let reused = conn.reused;
    let first = tokio::time::timeout(wait, conn.send(req)).await;
    match first {
        Err(_) => Err(AttemptFailure::Timeout(wait)),
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(SendError::Failed(e))) => Err(AttemptFailure::Exchange(e)),
        Ok(Err(SendError::NotSent(req, e))) => {
            let req = *req;
            if !reused {
                return Err(AttemptFailure::NotSent(req.into_body(), e));
            }
            // A pooled connection closed by the node while idle: retry once on a
            // fresh connection to the same node; this is not a node failure.
            let conn = node
                .pool
                .connect_dedicated(timeouts.connect, sni)
                .await
                .map_err(AttemptFailure::Connect)?;
            match tokio::time::timeout(wait, conn.send(req)).await {
                Err(_) => Err(AttemptFailure::Timeout(wait)),
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(SendError::Failed(e))) => Err(AttemptFailure::Exchange(e)),
                Ok(Err(SendError::NotSent(req, e))) => {
                    Err(AttemptFailure::NotSent((*req).into_body(), e))
                }
            }
        }
    }
}

/// Reports the end of a request to the balancer exactly once.
struct Completion {
    up: Arc<Upstream>,
    node: usize,
    started: Instant,
}

impl Completion {
    fn finish(self, failed: bool) {
        self.up
            .balancer
            .on_finish(self.node, self.started.elapsed(), failed);
    }
}

pin_project_lite::pin_project! {
    /// A response body that tells the balancer when the exchange is over
    /// (end of body, error, or the client going away).
    struct CompletionBody<B> {
        #[pin]
        inner: B,
        done: Option<Completion>,
    }

    impl<B> PinnedDrop for CompletionBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(c) = this.project().done.take() {
                c.finish(false);
            }
        }
    }
}

impl<B> http_body::Body for CompletionBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        match &res {
            Poll::Ready(None) => {
                if let Some(c) = this.done.take() {
                    c.finish(false);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(c) = this.done.take() {
                    c.finish(true);
                }
            }
            _ => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
