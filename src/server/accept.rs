//! Accepting and serving client connections: plain TCP (HTTP/1.1, plus
//! HTTP/2 with prior knowledge when `apisix.enable_http2` is on) or TLS
//! (HTTP/2 or HTTP/1.1 as ALPN decided). Each connection runs in its own
//! task; the handshake happens there too, so a slow client never holds up
//! the accept loop. On shutdown a connection finishes the request in flight
//! and closes (HTTP/2: GOAWAY, then the open streams finish).

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::proxy::ConnInfo;
use crate::tls::TlsTerminator;

/// How long a client may take to send a request head (nginx's
/// `client_header_timeout`).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Concurrent streams per HTTP/2 connection (nginx's
/// `http2_max_concurrent_streams`).
const H2_MAX_STREAMS: u32 = 128;

/// What a listener speaks.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Plain TCP; `h2c` also accepts HTTP/2 with prior knowledge.
    Plain {
        /// Serve HTTP/2 cleartext next to HTTP/1.1.
        h2c: bool,
    },
    /// TLS, then HTTP/2 or HTTP/1.1 by ALPN.
    Tls(Arc<TlsTerminator>),
}

/// The HTTP versions one connection is served with.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
    /// HTTP/1.1 unless the client opens with the HTTP/2 preface.
    Auto,
}

/// Accept connections on `listener` and serve each until shutdown.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    transport: Transport,
    graceful: Arc<ConnTracker>,
    mut shutdown: watch::Receiver<bool>,
    handler: F,
) where
    F: Fn(hyper::Request<Incoming>, ConnInfo) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<hyper::Response<crate::body::ProxyBody>, Infallible>>
        + Send
        + 'static,
{
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok().or(local).unwrap_or(remote);
        let guard = graceful.open();
        let handler = handler.clone();
        let stop = shutdown.clone();
        let transport = transport.clone();
        tokio::spawn(async move {
            match transport {
                Transport::Plain { h2c } => {
                    let info = ConnInfo {
                        remote,
                        local,
                        tls: None,
                    };
                    let protocol = if h2c { Protocol::Auto } else { Protocol::Http1 };
                    serve(stream, protocol, info, handler, stop).await;
                }
                Transport::Tls(terminator) => {
                    let Ok((tls, session)) = terminator.accept(stream).await else {
                        return;
                    };
                    let protocol = match tls.get_ref().1.alpn_protocol() {
                        Some(b"h2") => Protocol::Http2,
                        _ => Protocol::Http1,
                    };
                    let info = ConnInfo {
                        remote,
                        local,
                        tls: Some(session),
                    };
                    serve(tls, protocol, info, handler, stop).await;
                }
            }
            drop(guard);
        });
    }
}

/// Serve HTTP on one established connection until it ends or shutdown.
async fn serve<I, F, Fut>(
    io: I,
    protocol: Protocol,
    info: ConnInfo,
    handler: F,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(hyper::Request<Incoming>, ConnInfo) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<hyper::Response<crate::body::ProxyBody>, Infallible>>
        + Send
        + 'static,
{
    let remote = info.remote;
    let service = service_fn(move |req| handler(req, info.clone()));
    let io = TokioIo::new(io);
    let stopping = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // Each protocol's connection type differs; the drive is the same: run
    // until done, or on shutdown finish what is in flight and close.
    macro_rules! drive {
        ($conn:expr) => {{
            let mut conn = std::pin::pin!($conn);
            tokio::select! {
                r = conn.as_mut() => r.map_err(|e| e.to_string()),
                _ = stopping => {
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await.map_err(|e| e.to_string())
                }
            }
        }};
    }
    let result = match protocol {
        Protocol::Http1 => drive!(hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(io, service)
            .with_upgrades()),
        Protocol::Http2 => drive!(h2_builder().serve_connection(io, service)),
        Protocol::Auto => {
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(H2_MAX_STREAMS);
            drive!(builder.serve_connection_with_upgrades(io, service))
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %remote, "connection ended with error: {e}");
    }
}

fn h2_builder() -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS);
    b
}

/// Counts open connections so shutdown can wait for the last one.
#[derive(Debug, Default)]
pub struct ConnTracker {
    open: AtomicUsize,
    closed: Notify,
}

/// Decrements the tracker when a connection task ends.
pub struct ConnGuard(Arc<ConnTracker>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        crate::metrics::global()
            .active_connections
            .fetch_sub(1, Ordering::Relaxed);
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}

impl ConnTracker {
    /// Count a new connection until the guard drops.
    pub fn open(self: &Arc<Self>) -> ConnGuard {
        let m = crate::metrics::global();
        m.accepted_connections.fetch_add(1, Ordering::Relaxed);
        m.active_connections.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::AcqRel);
        ConnGuard(self.clone())
    }

    /// Wait until every connection has closed.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}
