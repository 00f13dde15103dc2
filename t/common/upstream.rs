//! Fake upstreams, in-process: a hyper 1 server on `127.0.0.1:0` run by one
//! accept task on the test's runtime (plus one task per connection).
//!
//! | path              | answer                                                    |
//! |-------------------|-----------------------------------------------------------|
//! | `/hello`          | `hello world`                                             |
//! | `/echo*`          | JSON `{method, uri, headers, body}` of what it received   |
//! | `/sse`            | `text/event-stream`, 5 events 200 ms apart, each flushed  |
//! | `/slow?ms=N`      | `slow` after N ms                                         |
//! | `/status/{code}`  | that status                                               |
//! | `/ws`             | websocket echo                                            |
//! | anything else     | its own port as text (`/server_port`, `/user/1`, ...)     |
//!
//! Every response carries `X-Upstream-Port`, so a test can tell which node
//! answered whatever the path. [`UpstreamOpts`] makes a node slow (a delay
//! before every answer) or failing (a fixed status for every path except
//! `/status/*`, which health probes can use). Requests are counted, in total
//! and per path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

type FakeBody = BoxBody<Bytes, Infallible>;

/// How a fake upstream misbehaves.
#[derive(Debug, Clone, Default)]
pub struct UpstreamOpts {
    /// Wait this long before answering any request.
    pub delay: Duration,
    /// Answer every request (except `/status/*`) with this status.
    pub fail_with: Option<u16>,
}

#[derive(Debug, Default)]
struct Stats {
    total: AtomicUsize,
    connections: AtomicUsize,
    by_path: Mutex<HashMap<String, usize>>,
}

struct State {
    port: u16,
    opts: UpstreamOpts,
    stats: Stats,
    stop: watch::Receiver<bool>,
}

/// A running fake upstream; stops when dropped.
pub struct Upstream {
    port: u16,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    /// One clone per live task (the accept loop and each connection).
    alive: Arc<()>,
}

impl Upstream {
    /// A well-behaved upstream.
    pub async fn start() -> Upstream {
        Upstream::start_with(UpstreamOpts::default()).await
    }

    /// An upstream with the given behaviour.
    pub async fn start_with(opts: UpstreamOpts) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a fake upstream");
        let port = listener.local_addr().expect("local addr").port();
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = Arc::new(State {
            port,
            opts,
            stats: Stats::default(),
            stop: stop_rx.clone(),
        });
        let st = state.clone();
        let mut stop_accept = stop_rx;
        let alive = Arc::new(());
        let accept_alive = alive.clone();
        tokio::spawn(async move {
            let _alive = accept_alive;
            loop {
                let stream = tokio::select! {
                    a = listener.accept() => match a {
                        Ok((s, _)) => s,
                        Err(_) => continue,
                    },
                    _ = stop_accept.wait_for(|s| *s) => return,
                };
                st.stats.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                let mut stop = st.stop.clone();
                let conn_alive = _alive.clone();
                tokio::spawn(async move {
                    let _alive = conn_alive;
                    let svc_state = st.clone();
                    let svc = service_fn(move |req| handle(req, svc_state.clone()));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades();
                    tokio::select! {
                        _ = conn => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                });
            }
        });
        Upstream {
            port,
            state,
            stop: stop_tx,
            alive,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`, as an upstream node address.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.stats.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far (all paths, health probes included).
    pub fn count(&self) -> usize {
        self.state.stats.total.load(Ordering::SeqCst)
    }

    /// Requests received so far for exactly this path (no query).
    pub fn count_path(&self, path: &str) -> usize {
        let m = self
            .state
            .stats
            .by_path
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.get(path).copied().unwrap_or(0)
    }

    /// Close the listener and every open connection, and wait until they are
    /// closed: once this returns, the port refuses connections.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.alive) > 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Sockets bound (never listening) for the life of the process: their ports stay closed.
static RESERVED: Mutex<Vec<tokio::net::TcpSocket>> = Mutex::new(Vec::new());

/// A loopback port with nothing listening on it: connections are refused.
///
/// The port stays bound by a socket that never listens, so no other process
/// (a parallel test's etcd or gateway) can take it.
pub fn closed_port() -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().expect("create a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind a closed port");
    let port = socket.local_addr().expect("local addr").port();
    RESERVED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(socket);
    port
}

fn text(status: u16, port: u16, body: impl Into<Bytes>) -> Response<FakeBody> {
    Response::builder()
        .status(status)
        .header("x-upstream-port", port)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(body.into()).boxed())
        .expect("valid response")
}

async fn handle(req: Request<Incoming>, st: Arc<State>) -> Result<Response<FakeBody>, Infallible> {
    let path = req.uri().path().to_string();
    st.stats.total.fetch_add(1, Ordering::SeqCst);
    *st.stats
        .by_path
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(path.clone())
        .or_default() += 1;
    if !st.opts.delay.is_zero() {
        tokio::time::sleep(st.opts.delay).await;
    }
    let port = st.port;
    if let Some(code) = path.strip_prefix("/status/") {
        let code = code.parse::<u16>().unwrap_or(400);
        return Ok(text(code, port, format!("status {code}")));
    }
    if let Some(code) = st.opts.fail_with {
        return Ok(text(code, port, "failing on purpose"));
    }
    Ok(match path.as_str() {
        "/hello" => text(200, port, "hello world"),
        p if p.starts_with("/echo") => echo(req, port).await,
        "/sse" => sse(port),
        "/slow" => {
            let ms = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(200, port, "slow")
        }
        "/ws" => websocket(req, port, st.stop.clone()),
        _ => text(200, port, port.to_string()),
    })
}

async fn echo(req: Request<Incoming>, port: u16) -> Response<FakeBody> {
    let (parts, body) = req.into_parts();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let joined = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        headers.insert(name.as_str().to_string(), joined.into());
    }
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut resp = text(200, port, json.to_string());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// A body fed chunk by chunk from a channel; each chunk is one frame, written as it comes.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// Number of events `/sse` sends.
pub const SSE_EVENTS: usize = 5;
/// Gap between two `/sse` events.
pub const SSE_GAP: Duration = Duration::from_millis(200);

fn sse(port: u16) -> Response<FakeBody> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        for i in 0..SSE_EVENTS {
            if i > 0 {
                tokio::time::sleep(SSE_GAP).await;
            }
            let event = format!("id: {i}\ndata: event {i}\n\n");
            if tx.send(Bytes::from(event)).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("x-upstream-port", port)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(ChannelBody(rx).boxed())
        .expect("valid response")
}

fn websocket(
    mut req: Request<Incoming>,
    port: u16,
    mut stop: watch::Receiver<bool>,
) -> Response<FakeBody> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let key = req.headers().get("sec-websocket-key").cloned();
    let Some(key) = key.filter(|_| upgrade) else {
        return text(400, port, "not a websocket upgrade");
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        loop {
            let msg = tokio::select! {
                m = ws.next() => m,
                _ = stop.wait_for(|s| *s) => return,
            };
            match msg {
                Some(Ok(m)) if m.is_text() || m.is_binary() => {
                    if ws.send(m).await.is_err() {
                        return;
                    }
                }
                Some(Ok(m)) if m.is_close() => return,
                Some(Ok(_)) => {}
                _ => return,
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("x-upstream-port", port)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Full::new(Bytes::new()).boxed())
        .expect("valid response")
}
