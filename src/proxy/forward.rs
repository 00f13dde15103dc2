//! Forwarding one request to an upstream: pick a node, take a pooled
//! connection, send, retry on another node when allowed, feed passive health
//! checks and the balancer, and stream the response back.
//!
//! Retry policy (nginx's `proxy_next_upstream error timeout`, which APISIX
//! uses): a failed connect is retried on the next node for every request,
//! since nothing was sent. Once a request was written, it is retried only if
//! its method is idempotent and its body could be replayed (empty, or buffered
//! because it was small). HTTP error statuses are passed to the client, never
//! retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;

use super::completion::{Completion, CompletionBody};
use super::headers::upstream_host;
use crate::body::{empty, full, IdleTimeoutBody, ProxyBody};
use crate::config::compiled::Timeouts;
use crate::error::ProxyError;
use crate::upstream::connector::{ConnectError, TlsMode};
use crate::upstream::health::Outcome;
use crate::upstream::pool::{Conn, PooledBody, SendError};
use crate::upstream::{Node, Upstream};
use rustls::sign::CertifiedKey;

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
            // An empty body boxes a zero-sized value: no allocation.
            OutgoingBody::Replayable(b) if b.is_empty() => Some(empty()),
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
    /// The client certificate for TLS nodes (upstream mTLS), resolved by the caller.
    pub client_cert: Option<Arc<CertifiedKey>>,
}

/// Asks [`forward`] to attach an [`UpstreamAnswer`] to the response (a
/// request extension set by the plugin pipeline; the plain path skips the
/// two allocations an extension costs).
#[derive(Debug, Clone, Copy)]
pub struct ReportAnswer;

/// Which node answered a proxied request and how long its response head
/// took (attached to the response's extensions for the log phase).
#[derive(Debug, Clone)]
pub struct UpstreamAnswer {
    /// The node's host (IP or name).
    pub node: Arc<str>,
    /// `host:port`.
    pub authority: Arc<str>,
    /// Time from the attempt's start to the response head.
    pub latency: std::time::Duration,
}

/// Nodes already tried by this request (a bit set; upstreams rarely exceed 64 nodes).
struct Tried {
    small: u64,
    large: Vec<bool>,
}

impl Tried {
    fn new(n: usize) -> Tried {
        Tried {
            small: 0,
            large: if n > 64 { vec![false; n] } else { Vec::new() },
        }
    }
    fn contains(&self, i: usize) -> bool {
        if self.large.is_empty() {
            i < 64 && self.small & (1 << i) != 0
        } else {
            self.large.get(i).copied().unwrap_or(true)
        }
    }
    fn insert(&mut self, i: usize) {
        if self.large.is_empty() {
            if i < 64 {
                self.small |= 1 << i;
            }
        } else if let Some(slot) = self.large.get_mut(i) {
            *slot = true;
        }
    }
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The TLS server name for a node: the Host sent upstream when it is a valid
/// name, else the node's own host (never fails the request over a bad Host).
pub(super) fn tls_server_name(
    up: &Upstream,
    node: &Node,
    host: Option<&HeaderValue>,
) -> Option<String> {
    if up.tls == TlsMode::Plain {
        return None;
    }
    let from_host = host
        .and_then(|h| h.to_str().ok())
        .map(strip_port)
        .filter(|h| rustls::pki_types::ServerName::try_from(*h).is_ok());
    Some(from_host.unwrap_or(&node.host).to_string())
}

/// Forward with retries; returns the upstream response with a streaming body.
pub async fn forward(
    up: &Arc<Upstream>,
    req: ForwardRequest,
) -> Result<Response<ProxyBody>, ProxyError> {
    let ForwardRequest {
        parts,
        mut body,
        client_host,
        hash_key,
        timeouts,
        client_cert,
    } = req;
    if up.nodes.is_empty() {
        return Err(ProxyError::NoAvailableNode(up.label.clone()));
    }
    let started = Instant::now();
    let deadline = up.retry_timeout.and_then(|t| started.checked_add(t));
    let max_attempts = up.max_attempts();
    let all_down = up.all_unhealthy();
    let idempotent = is_idempotent(&parts.method);
    let report_answer = parts.extensions.get::<ReportAnswer>().is_some();
    let mut parts = Some(parts);
    let mut tried = Tried::new(up.nodes.len());
    let mut last_error: Option<ProxyError> = None;
    let mut attempts = 0;
    // `read` bounds the wait for the response head once the request is written
    // (nginx's proxy_read_timeout). A buffered body is written at once; a
    // streamed one may need up to `send` more.
    let head_wait = if body.replayable() {
        timeouts.read
    } else {
        timeouts.send.saturating_add(timeouts.read)
    };

    while attempts < max_attempts {
        if attempts > 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let available = |i: usize| !tried.contains(i) && up.usable(i, all_down);
        let Some(idx) = up.balancer.pick(hash_key.as_deref(), &available) else {
            break;
        };
        tried.insert(idx);
        attempts += 1;
        let node = &up.nodes[idx];
        let host = upstream_host(up, node, client_host.as_ref());
        let sni = tls_server_name(up, node, host.as_ref());
        up.balancer.on_start(idx);
        let t0 = Instant::now();

        // Connect first: a failed connect leaves the body untouched, so even a
        // streamed body can go to the next node.
        let conn = match node
            .pool
            .checkout(timeouts.connect, sni.as_deref(), client_cert.as_ref())
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let failure = AttemptFailure::Connect(e, None);
                note_failure(up, idx, t0, attempts, &failure, true);
                last_error = Some(failure.into_error());
                continue;
            }
        };
        let retry_after_send = idempotent && body.replayable() && attempts < max_attempts;
        let (Some(request_body), Some(request_parts)) = (
            body.for_attempt(),
            if retry_after_send {
                parts.clone()
            } else {
                parts.take()
            },
        ) else {
            break;
        };
        let mut upstream_req = Request::from_parts(request_parts, request_body);
        if up.grpc {
            as_grpc_request(&mut upstream_req, up, host.as_ref());
        } else if let Some(h) = host {
            upstream_req.headers_mut().insert(http::header::HOST, h);
        }
        let target = Target {
            node,
            sni: sni.as_deref(),
            client_cert: client_cert.as_ref(),
        };
        match exchange(&target, conn, upstream_req, &timeouts, head_wait).await {
            Ok(resp) => {
                if let Some(h) = &up.health {
                    h.report_passive(
                        idx,
                        Outcome::Status(resp.status().as_u16()),
                        &node.authority,
                    );
                }
                let (mut resp_parts, resp_body) = resp.into_parts();
                if report_answer {
                    // For the log phase (metrics, loggers): who answered, how fast.
                    resp_parts.extensions.insert(UpstreamAnswer {
                        node: node.host.clone(),
                        authority: node.authority.clone(),
                        latency: t0.elapsed(),
                    });
                }
                let body = CompletionBody::new(
                    IdleTimeoutBody::new(resp_body, timeouts.read),
                    Completion {
                        up: up.clone(),
                        node: idx,
                        started: t0,
                    },
                );
                return Ok(Response::from_parts(resp_parts, body.boxed()));
            }
            Err(mut failure) => {
                let node_at_fault = !failure.stale_keepalive();
                note_failure(up, idx, t0, attempts, &failure, node_at_fault);
                let not_sent = failure.not_sent();
                if let Some(unsent) = failure.take_request() {
                    let (p, b) = unsent.into_parts();
                    parts = Some(p);
                    body.put_back(b);
                }
                last_error = Some(failure.into_error());
                if !(not_sent || retry_after_send) {
                    break;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| ProxyError::NoAvailableNode(up.label.clone())))
}

/// Record a failed attempt with the balancer, the health checker and the log.
fn note_failure(
    up: &Upstream,
    idx: usize,
    t0: Instant,
    attempt: usize,
    failure: &AttemptFailure,
    node_at_fault: bool,
) {
    let node = &up.nodes[idx];
    up.balancer.on_finish(idx, t0.elapsed(), true);
    if node_at_fault {
        if let Some(h) = &up.health {
            h.report_passive(idx, failure.outcome(), &node.authority);
        }
    }
    tracing::warn!(
        upstream = %up.label,
        node = %node.authority,
        attempt,
        "upstream attempt failed: {}",
        failure.message()
    );
}

/// Shape a request for a gRPC node (HTTP/2): the Host becomes the
/// `:authority` of an absolute URI, and `te: trailers` is sent as gRPC
/// servers expect (nginx's `grpc_pass` does the same).
fn as_grpc_request(req: &mut Request<ProxyBody>, up: &Upstream, host: Option<&HeaderValue>) {
    let scheme = if up.tls == TlsMode::Plain {
        "http"
    } else {
        "https"
    };
    let authority = host.and_then(|h| h.to_str().ok()).unwrap_or_default();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if let Ok(uri) = format!("{scheme}://{authority}{pq}").parse() {
        *req.uri_mut() = uri;
    }
    *req.version_mut() = http::Version::HTTP_2;
    let headers = req.headers_mut();
    headers.remove(http::header::HOST);
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// One failed attempt.
enum AttemptFailure {
    /// No connection; the request (if one was built) is handed back whole.
    Connect(ConnectError, Option<Box<Request<ProxyBody>>>),
    /// Not written; the request is handed back whole.
    NotSent(Option<Box<Request<ProxyBody>>>, hyper::Error),
    /// Failed after (part of) the request may have been written.
    Exchange {
        error: hyper::Error,
        stale: bool,
    },
    Timeout(Duration),
}

impl AttemptFailure {
    fn outcome(&self) -> Outcome {
        match self {
            AttemptFailure::Connect(ConnectError::Timeout { .. }, _)
            | AttemptFailure::Timeout(_) => Outcome::Timeout,
            _ => Outcome::TcpFailure,
        }
    }
    fn not_sent(&self) -> bool {
        matches!(
            self,
            AttemptFailure::Connect(..) | AttemptFailure::NotSent(..)
        )
    }
    /// A reused keep-alive connection the node had already closed: not the node's fault.
    fn stale_keepalive(&self) -> bool {
        matches!(self, AttemptFailure::Exchange { stale: true, .. })
    }
    fn take_request(&mut self) -> Option<Request<ProxyBody>> {
        match self {
            AttemptFailure::NotSent(req, _) | AttemptFailure::Connect(_, req) => {
                req.take().map(|r| *r)
            }
            _ => None,
        }
    }
    fn message(&self) -> String {
        match self {
            AttemptFailure::Connect(e, _) => e.to_string(),
            AttemptFailure::NotSent(_, e) | AttemptFailure::Exchange { error: e, .. } => {
                e.to_string()
            }
            AttemptFailure::Timeout(d) => format!("no response within {}s", d.as_secs_f64()),
        }
    }
    /// What the client is told: the cause, without internal addresses (those are logged).
    fn into_error(self) -> ProxyError {
        match self {
            AttemptFailure::Connect(ConnectError::Timeout { timeout, .. }, _) => {
                ProxyError::UpstreamTimeout(format!(
                    "upstream connect timed out after {}s",
                    timeout.as_secs_f64()
                ))
            }
            AttemptFailure::Connect(ConnectError::Resolve { .. }, _) => {
                ProxyError::UpstreamFailed("cannot resolve the upstream host".into())
            }
            AttemptFailure::Connect(ConnectError::Tls { .. }, _) => {
                ProxyError::UpstreamFailed("TLS handshake with the upstream failed".into())
            }
            AttemptFailure::Connect(ConnectError::Tcp { source, .. }, _) => {
                ProxyError::UpstreamFailed(format!(
                    "failed to connect to upstream: {}",
                    io_cause(&source)
                ))
            }
            AttemptFailure::Timeout(d) => ProxyError::UpstreamTimeout(format!(
                "upstream did not respond within {}s",
                d.as_secs_f64()
            )),
            AttemptFailure::NotSent(..) | AttemptFailure::Exchange { .. } => {
                ProxyError::UpstreamFailed(
                    "upstream closed the connection or sent an invalid response".into(),
                )
            }
        }
    }
}

fn io_cause(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused",
        std::io::ErrorKind::ConnectionReset => "connection reset",
        std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
            "host unreachable"
        }
        std::io::ErrorKind::AddrNotAvailable => "no local address available",
        _ => "connection error",
    }
}

/// The node of an attempt and how a new connection to it is opened.
struct Target<'a> {
    node: &'a Node,
    sni: Option<&'a str>,
    client_cert: Option<&'a Arc<CertifiedKey>>,
}

/// Send on `conn` and wait for the response head. A request the node never
/// read on a reused connection (closed while idle) is re-sent once on a fresh
/// connection to the same node.
async fn exchange(
    target: &Target<'_>,
    conn: Conn,
    req: Request<ProxyBody>,
    timeouts: &Timeouts,
    wait: Duration,
) -> Result<Response<PooledBody>, AttemptFailure> {
    let reused = conn.reused;
    match tokio::time::timeout(wait, conn.send(req)).await {
        Err(_) => Err(AttemptFailure::Timeout(wait)),
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(SendError::Failed(e))) => Err(AttemptFailure::Exchange {
            stale: reused && e.is_incomplete_message(),
            error: e,
        }),
        Ok(Err(SendError::NotSent(req, e))) if !reused => {
            Err(AttemptFailure::NotSent(Some(req), e))
        }
        Ok(Err(SendError::NotSent(req, _))) => {
            let fresh = match target
                .node
                .pool
                .connect_fresh(timeouts.connect, target.sni, target.client_cert)
                .await
            {
                Ok(c) => c,
                Err(e) => return Err(AttemptFailure::Connect(e, Some(req))),
            };
            match tokio::time::timeout(wait, fresh.send(*req)).await {
                Err(_) => Err(AttemptFailure::Timeout(wait)),
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(SendError::Failed(e))) => Err(AttemptFailure::Exchange {
                    error: e,
                    stale: false,
                }),
                Ok(Err(SendError::NotSent(req, e))) => Err(AttemptFailure::NotSent(Some(req), e)),
            }
        }
    }
}
