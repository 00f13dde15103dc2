//! A small HTTP/1.1 client for requests through the gateway: one new
//! connection per request (so nothing is hidden by client-side pooling), an
//! optional `Host` header, extra headers, a body and a timeout. Transport
//! failures are returned as `Err(description)` so tests can count them.
//! [`Connection`] keeps one connection open for keep-alive tests.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What the client saw.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body as (lossy) UTF-8 text.
    pub body: String,
}

impl Resp {
    /// The `X-Upstream-Port` header every fake upstream sets: which node answered.
    pub fn upstream_port(&self) -> Option<u16> {
        self.headers
            .get("x-upstream-port")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("expected a JSON body, got {:?}: {e}", self.body))
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Req {
    method: Method,
    url: String,
    host: Option<String>,
    headers: Vec<(String, String)>,
    body: Bytes,
    timeout: Duration,
}

/// `GET url`.
pub fn get(url: impl Into<String>) -> Req {
    request(Method::GET, url)
}

/// Any method.
pub fn request(method: Method, url: impl Into<String>) -> Req {
    Req {
        method,
        url: url.into(),
        host: None,
        headers: Vec::new(),
        body: Bytes::new(),
        timeout: Duration::from_secs(10),
    }
}

impl Req {
    /// Send this `Host` header instead of the URL's authority.
    pub fn host(mut self, host: &str) -> Req {
        self.host = Some(host.to_string());
        self
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Set the body (sent with a Content-Length).
    pub fn body(mut self, body: impl Into<Bytes>) -> Req {
        self.body = body.into();
        self
    }

    /// Give up after `t` (connect + whole exchange); default 10 s.
    pub fn timeout(mut self, t: Duration) -> Req {
        self.timeout = t;
        self
    }

    /// Send and read the whole body.
    pub async fn send(self) -> Result<Resp, String> {
        let what = format!("{} {}", self.method, self.url);
        let limit = self.timeout;
        let work = async {
            let resp = self.exchange().await?;
            read_resp(resp).await
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r.map_err(|e: String| format!("{what}: {e}")),
            Err(_) => Err(format!("{what}: no complete response within {limit:?}")),
        }
    }

    /// Send and return as soon as the response head arrives; the body streams.
    pub async fn send_streaming(self) -> Result<Response<Incoming>, String> {
        let what = format!("{} {}", self.method, self.url);
        let limit = self.timeout;
        match tokio::time::timeout(limit, self.exchange()).await {
            Ok(r) => r.map_err(|e| format!("{what}: {e}")),
            Err(_) => Err(format!("{what}: no response head within {limit:?}")),
        }
    }

    async fn exchange(self) -> Result<Response<Incoming>, String> {
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| format!("bad url {}: {e}", self.url))?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("url {} has no authority", self.url))?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let stream = TcpStream::connect((authority.host(), port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut builder = Request::builder().method(self.method).uri(path).header(
            http::header::HOST,
            self.host.as_deref().unwrap_or(authority.as_str()),
        );
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder
            .body(Full::new(self.body))
            .map_err(|e| format!("building the request: {e}"))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| format!("exchange: {e}"))
    }
}

/// One kept-alive client connection, for several requests in a row.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

impl Connection {
    /// Connect to `127.0.0.1:port`.
    pub async fn open(port: u16) -> Result<Connection, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection {
            sender,
            authority: format!("127.0.0.1:{port}"),
        })
    }

    /// `GET path` on this connection, reading the whole body.
    pub async fn get(&mut self, path: &str) -> Result<Resp, String> {
        let work = async {
            self.sender
                .ready()
                .await
                .map_err(|e| format!("connection not reusable: {e}"))?;
            let req = Request::builder()
                .uri(path)
                .header(http::header::HOST, self.authority.as_str())
                .body(Full::new(Bytes::new()))
                .map_err(|e| format!("building the request: {e}"))?;
            let resp = self
                .sender
                .send_request(req)
                .await
                .map_err(|e| format!("exchange: {e}"))?;
            read_resp(resp).await
        };
        tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .unwrap_or_else(|_| Err(format!("GET {path}: no response within 10 s")))
    }
}

/// Read a whole response into a [`Resp`].
async fn read_resp(resp: http::Response<hyper::body::Incoming>) -> Result<Resp, String> {
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    Ok(Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
