//! Keep-alive connection pool of one node (`keepalive_pool`: size,
//! idle_timeout, requests).
//!
//! A connection goes back to the pool only when its response body has been
//! read to the end, so a pooled connection is always free for the next
//! request. A request that could not be written on a pooled connection (the
//! node closed it while idle) is handed back unsent and retried on a fresh
//! connection, without counting as a failed attempt.
//!
//! The idle list is behind a `std::sync::Mutex` held only for a push or pop
//! (no await, no I/O inside), which is cheaper than any lock-free structure
//! would be at these sizes.
//!
//! gRPC nodes speak HTTP/2: one connection per node (and server name)
//! carries every request as its own stream, so instead of an idle list the
//! pool keeps that connection's sender and opens a new one when it closes.

use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::sign::CertifiedKey;

use super::connector::{connect, ClientTls, ConnectError, TlsMode};
use crate::body::ProxyBody;

/// Pool limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Idle connections kept.
    pub max_idle: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Requests served by one connection before it is closed.
    pub max_requests: u32,
}

struct IdleConn {
    sender: SendRequest<ProxyBody>,
    since: Instant,
    served: u32,
    /// The TLS server name the connection was opened with (None for plain TCP).
    sni: Option<Arc<str>>,
}

type IdleList = Mutex<Vec<IdleConn>>;

/// The HTTP/2 connection of a gRPC node, with the server name it was opened for.
type SharedH2 = Mutex<Option<(Option<Arc<str>>, http2::SendRequest<ProxyBody>)>>;

/// The pool of one node.
#[derive(Debug)]
pub struct Pool {
    host: String,
    port: u16,
    tls: TlsMode,
    /// Speak HTTP/2 (gRPC) instead of HTTP/1.1.
    http2: bool,
    settings: PoolSettings,
    idle: Arc<IdleList>,
    h2: SharedH2,
}

/// How a connection sends requests.
enum Sender {
    Http1(SendRequest<ProxyBody>),
    Http2(http2::SendRequest<ProxyBody>),
}

impl std::fmt::Debug for IdleConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleConn")
            .field("served", &self.served)
            .finish()
    }
}

/// A connection checked out of the pool for one request.
pub struct Conn {
    sender: Sender,
    served: u32,
    sni: Option<Arc<str>>,
    /// Whether it came from the idle list (a stale one may fail to send).
    pub reused: bool,
    home: Weak<IdleList>,
    settings: PoolSettings,
}

/// Why sending on a connection failed.
#[derive(Debug)]
pub enum SendError {
    /// The request was not written; it is handed back for another attempt.
    NotSent(Box<Request<ProxyBody>>, hyper::Error),
    /// The request may have reached the node.
    Failed(hyper::Error),
}

impl Pool {
    /// An empty pool for `host:port`; `http2` for gRPC nodes.
    pub fn new(host: String, port: u16, tls: TlsMode, http2: bool, settings: PoolSettings) -> Pool {
        Pool {
            host,
            port,
            tls,
            http2,
            settings,
            idle: Arc::new(Mutex::new(Vec::new())),
            h2: Mutex::new(None),
        }
    }

    /// The most recently used idle connection for `sni`, dropping expired ones.
    fn pop_idle(&self, sni: Option<&str>) -> Option<IdleConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let timeout = self.settings.idle_timeout;
        // One clock read for the whole list, not one per connection.
        let now = Instant::now();
        idle.retain(|c| now.saturating_duration_since(c.since) < timeout && !c.sender.is_closed());
        let pos = idle.iter().rposition(|c| c.sni.as_deref() == sni)?;
        Some(idle.swap_remove(pos))
    }

    /// Number of idle connections (for tests and metrics).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// An idle connection if one is usable, else a new one; `identity` is
    /// the client certificate a new TLS connection presents.
    pub async fn checkout(
        &self,
        connect_timeout: Duration,
        sni: Option<&str>,
        identity: Option<&Arc<CertifiedKey>>,
    ) -> Result<Conn, ConnectError> {
        let sni = self.sni_key(sni);
        if self.http2 {
            return self.checkout_h2(connect_timeout, sni, identity).await;
        }
        while let Some(mut c) = self.pop_idle(sni.as_deref()) {
            // Ready means the previous exchange is fully done and the socket is
            // open. A connection released at the end of its response becomes
            // ready within a scheduler tick; one still writing an abandoned
            // upload would not, so it is dropped instead of waited for.
            let ready = c.sender.is_ready()
                || matches!(
                    tokio::time::timeout(Duration::from_millis(20), c.sender.ready()).await,
                    Ok(Ok(()))
                );
            if ready {
                return Ok(Conn {
                    sender: Sender::Http1(c.sender),
                    served: c.served,
                    sni: c.sni,
                    reused: true,
                    home: Arc::downgrade(&self.idle),
                    settings: self.settings,
                });
            }
        }
        self.connect_new(connect_timeout, sni, identity, true).await
    }

    /// The node's HTTP/2 connection, opened when there is none (or it closed).
    async fn checkout_h2(
        &self,
        connect_timeout: Duration,
        sni: Option<Arc<str>>,
        identity: Option<&Arc<CertifiedKey>>,
    ) -> Result<Conn, ConnectError> {
        let open = {
            let shared = self.h2.lock().unwrap_or_else(|p| p.into_inner());
            shared
                .as_ref()
                .filter(|(name, s)| *name == sni && !s.is_closed())
                .map(|(_, s)| s.clone())
        };
        if let Some(sender) = open {
            return Ok(self.h2_conn(sender, sni, true));
        }
        self.connect_new(connect_timeout, sni, identity, true).await
    }

    fn h2_conn(
        &self,
        sender: http2::SendRequest<ProxyBody>,
        sni: Option<Arc<str>>,
        reused: bool,
    ) -> Conn {
        Conn {
            sender: Sender::Http2(sender),
            served: 0,
            sni,
            reused,
            home: Weak::new(),
            settings: self.settings,
        }
    }

    /// A new connection that is never returned to the pool (websocket upgrades).
    pub async fn connect_dedicated(
        &self,
        connect_timeout: Duration,
        sni: Option<&str>,
        identity: Option<&Arc<CertifiedKey>>,
    ) -> Result<Conn, ConnectError> {
        self.connect_new(connect_timeout, self.sni_key(sni), identity, false)
            .await
    }

    /// A new connection that goes back to the pool after use.
    pub async fn connect_fresh(
        &self,
        connect_timeout: Duration,
        sni: Option<&str>,
        identity: Option<&Arc<CertifiedKey>>,
    ) -> Result<Conn, ConnectError> {
        self.connect_new(connect_timeout, self.sni_key(sni), identity, true)
            .await
    }

    /// Plain connections ignore SNI; TLS ones are pooled per server name.
    fn sni_key(&self, sni: Option<&str>) -> Option<Arc<str>> {
        match self.tls {
            TlsMode::Plain => None,
            TlsMode::Tls { .. } => Some(Arc::from(sni.unwrap_or(&self.host))),
        }
    }

    async fn connect_new(
        &self,
        connect_timeout: Duration,
        sni: Option<Arc<str>>,
        identity: Option<&Arc<CertifiedKey>>,
        poolable: bool,
    ) -> Result<Conn, ConnectError> {
        let client = ClientTls {
            http2: self.http2,
            identity: identity.cloned(),
        };
        let stream = connect(
            &self.host,
            self.port,
            &self.tls,
            &client,
            sni.as_deref(),
            connect_timeout,
        )
        .await?;
        let handshake_failed = |e: hyper::Error| ConnectError::Tcp {
            addr: format!("{}:{}", self.host, self.port),
            source: std::io::Error::other(e),
        };
        if self.http2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(TokioIo::new(stream))
                .await
                .map_err(handshake_failed)?;
            tokio::spawn(async move {
                // Errors here surface on the streams that used the connection.
                let _ = conn.await;
            });
            if poolable {
                let mut shared = self.h2.lock().unwrap_or_else(|p| p.into_inner());
                *shared = Some((sni.clone(), sender.clone()));
            }
            return Ok(self.h2_conn(sender, sni, false));
        }
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(handshake_failed)?;
        tokio::spawn(async move {
            // Errors here surface on the request that used the connection.
            let _ = conn.with_upgrades().await;
        });
        Ok(Conn {
            sender: Sender::Http1(sender),
            served: 0,
            sni,
            reused: false,
            home: if poolable {
                Arc::downgrade(&self.idle)
            } else {
                Weak::new()
            },
            settings: self.settings,
        })
    }
}

impl Conn {
    /// Send `req`; on success the response body returns the connection to the pool when read to the end.
    pub async fn send(
        mut self,
        req: Request<ProxyBody>,
    ) -> Result<Response<PooledBody>, SendError> {
        let sent = match &mut self.sender {
            Sender::Http1(s) => s.try_send_request(req).await,
            Sender::Http2(s) => s.try_send_request(req).await,
        };
        match sent {
            Ok(resp) => {
                self.served += 1;
                let (parts, body) = resp.into_parts();
                let upgraded = parts.status == http::StatusCode::SWITCHING_PROTOCOLS;
                let mut conn = if upgraded { None } else { Some(self) };
                if body.is_end_stream() {
                    if let Some(c) = conn.take() {
                        c.release();
                    }
                }
                Ok(Response::from_parts(
                    parts,
                    PooledBody { inner: body, conn },
                ))
            }
            Err(mut e) => match e.take_message() {
                Some(req) => Err(SendError::NotSent(Box::new(req), e.into_error())),
                None => Err(SendError::Failed(e.into_error())),
            },
        }
    }

    /// Put the connection back into its pool if it may serve more requests
    /// (an HTTP/2 connection stays shared; there is nothing to put back).
    fn release(self) {
        let Sender::Http1(sender) = self.sender else {
            return;
        };
        if self.served >= self.settings.max_requests {
            return;
        }
        let Some(home) = self.home.upgrade() else {
            return;
        };
        let mut idle = home.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.settings.max_idle {
            idle.push(IdleConn {
                sender,
                since: Instant::now(),
                served: self.served,
                sni: self.sni,
            });
        }
    }
}

pin_project_lite::pin_project! {
    /// An upstream response body that returns its connection to the pool at the end.
    pub struct PooledBody {
        #[pin]
        inner: Incoming,
        conn: Option<Conn>,
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut this = self.project();
        let res = this.inner.as_mut().poll_frame(cx);
        match &res {
            // hyper's server stops polling once `is_end_stream` is true (a
            // Content-Length body fully read), so release on the last frame too.
            Poll::Ready(None) => {
                if let Some(c) = this.conn.take() {
                    c.release();
                }
            }
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => {
                if let Some(c) = this.conn.take() {
                    c.release();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                this.conn.take();
            }
            _ => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
