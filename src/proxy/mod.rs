//! The request pipeline: pin the snapshot, match a route, resolve its
//! upstream, forward (or upgrade to a websocket), and answer errors in
//! APISIX's JSON shape. Nothing here panics; every failure is a response.

pub mod completion;
pub mod forward;
pub mod headers;
pub mod ip_text;
pub mod path;
pub mod plugins;
pub mod request_vars;
pub mod websocket;

pub use crate::body::json_response;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{BoxError, ProxyBody};
use crate::config::compiled::{Route, Timeouts};
use crate::config::snapshot::{SharedSnapshot, Snapshot};
use crate::error::ProxyError;
use crate::upstream::{HashKey, Upstream};
use forward::{forward, ForwardRequest, OutgoingBody};
use request_vars::RequestVars;

/// A request body on its way upstream: still streaming from the client, or
/// read whole because a plugin reads it (and may have replaced it).
#[derive(Debug)]
pub enum ClientBody {
    /// As received, not read yet.
    Streaming(Incoming),
    /// Read (bounded) before the plugins ran.
    Buffered(Bytes),
}

/// Per-connection facts every request on it shares.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// What the TLS handshake established (None on plain connections).
    pub tls: Option<Arc<crate::tls::TlsSession>>,
}

/// Process-wide proxy state shared by all connections.
#[derive(Debug)]
pub struct Proxy {
    /// The published configuration.
    pub shared: Arc<SharedSnapshot>,
    /// Request bodies up to this size are buffered so they can be retried.
    pub retry_body_buffer_bytes: usize,
}

impl Proxy {
    /// Serve one request.
    pub async fn handle(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<ProxyBody> {
        let metrics = crate::metrics::global();
        metrics.http_requests.inc();
        let resp = self.serve(req, conn).await;
        metrics.count_response(resp.status());
        resp
    }

    /// Route the request and answer it (upstream, plugin or error).
    async fn serve(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<ProxyBody> {
        let snap = self.shared.load();
        let norm_path = path::normalize(req.uri().path());
        if let Some(tls) = &conn.tls {
            // An SSL object with `skip_mtls_uri_regex` lets clients without
            // a certificate through the handshake; only those URIs serve them.
            if tls.missing_client_cert(&norm_path) {
                return ProxyError::ClientCertRequired.into_response();
            }
        }
        let host = request_host(&req);
        let route = {
            let host = host.as_ref().map(RequestHost::as_str);
            let vars = RequestVars::new(&req, &norm_path, host, &conn);
            snap.router
                .find(host, &norm_path, |route: &Route, _params| {
                    route_accepts(route, &req, &vars, &conn)
                })
                .map(|m| m.route.clone())
        };
        let chain = route
            .as_deref()
            .map(|r| plugins::route_chain(&snap, r))
            .unwrap_or_default();
        if chain.is_empty() && snap.plugins.global.is_empty() {
            // No plugin anywhere: the direct path.
            let route_id = route.as_ref().map(|r| r.meta.id.clone());
            let result = match route {
                Some(route) => {
                    let req = req.map(ClientBody::Streaming);
                    self.forward_route(&snap, &route, req, conn, host).await
                }
                None => Err(ProxyError::RouteNotFound),
            };
            return result.unwrap_or_else(|e| {
                e.log(route_id.as_deref());
                e.into_response()
            });
        }
        let norm_path = norm_path.into_owned();
        let host = host.as_ref().map(|h| h.as_str().to_string());
        plugins::serve(self, snap, route, chain, req, norm_path, host, conn).await
    }

    /// Forward a matched request to its route's upstream (or websocket).
    async fn forward_route(
        &self,
        snap: &Snapshot,
        route: &Route,
        req: Request<ClientBody>,
        conn: ConnInfo,
        host: Option<RequestHost>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let upstream = resolve_upstream(snap, route)?;
        let host = host.as_ref().map(RequestHost::as_str);
        self.forward_to(snap, route, &upstream, req, conn, host)
            .await
    }

    /// Forward to `upstream`, upgrading to a websocket when asked and allowed.
    async fn forward_to(
        &self,
        snap: &Snapshot,
        route: &Route,
        upstream: &Arc<Upstream>,
        req: Request<ClientBody>,
        conn: ConnInfo,
        host: Option<&str>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let hash_key = if upstream.hash_key.is_some() {
            let norm_path = path::normalize(req.uri().path());
            let vars = RequestVars::new(&req, &norm_path, host, &conn);
            hash_key(upstream, &vars, req.headers(), &conn)
        } else {
            None
        };
        let timeouts = route
            .timeout
            .or(upstream.timeouts)
            .unwrap_or(Timeouts::DEFAULT);
        let client_cert = upstream
            .client_cert
            .resolve(&snap.tls.objects)
            .map_err(ProxyError::UpstreamFailed)?;
        // Only upgrade requests pay for the service lookup.
        let websocket_allowed = || {
            route
                .enable_websocket
                .or_else(|| snap.service_of(route).and_then(|s| s.enable_websocket))
                .unwrap_or(false)
        };
        if websocket::is_upgrade_request(&req) && websocket_allowed() {
            let (parts, body) = req.into_parts();
            let ClientBody::Streaming(body) = body else {
                // Plugins never read the body of an upgrade request.
                return Err(ProxyError::BadRequest(
                    "a websocket upgrade cannot carry a read body".into(),
                ));
            };
            let req = Request::from_parts(parts, body);
            return websocket::proxy(upstream, req, conn, host, timeouts, hash_key, client_cert)
                .await;
        }
        let send = SendOpts {
            timeouts,
            hash_key,
            client_cert,
        };
        self.forward_http(upstream, req, conn, host, send).await
    }

    async fn forward_http(
        &self,
        upstream: &Arc<Upstream>,
        req: Request<ClientBody>,
        conn: ConnInfo,
        host: Option<&str>,
        send: SendOpts,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let SendOpts {
            timeouts,
            hash_key,
            client_cert,
        } = send;
        let (mut parts, body) = req.into_parts();
        let client_host = client_host(&parts);
        let body = self.prepare_body(&parts, body, timeouts).await?;
        headers::strip_hop_by_hop(&mut parts.headers, false);
        headers::add_forwarded(
            &mut parts.headers,
            conn.remote.ip(),
            host,
            conn.local.port(),
            conn.tls.is_some(),
        );
        // hyper writes absolute-form URIs as given; upstreams expect origin-form.
        parts.uri = origin_form(&parts.uri);
        // An HTTP/2 client's request goes upstream as HTTP/1.1.
        parts.version = http::Version::HTTP_11;
        let resp = forward(
            upstream,
            ForwardRequest {
                parts,
                body,
                client_host,
                hash_key,
                timeouts,
                client_cert,
            },
        )
        .await?;
        let (mut parts, body) = resp.into_parts();
        headers::strip_hop_by_hop(&mut parts.headers, false);
        Ok(Response::from_parts(parts, body))
    }

    /// Buffer small bodies so a failed attempt can be retried; stream the rest.
    async fn prepare_body(
        &self,
        parts: &http::request::Parts,
        body: ClientBody,
        timeouts: Timeouts,
    ) -> Result<OutgoingBody, ProxyError> {
        use http_body::Body as _;
        let body = match body {
            ClientBody::Buffered(bytes) => return Ok(OutgoingBody::Replayable(bytes)),
            ClientBody::Streaming(body) => body,
        };
        if body.is_end_stream() {
            return Ok(OutgoingBody::Replayable(Bytes::new()));
        }
        let len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match len {
            Some(n) if n <= self.retry_body_buffer_bytes => {
                let collected =
                    tokio::time::timeout(timeouts.send.max(timeouts.read), body.collect())
                        .await
                        .map_err(|_| {
                            ProxyError::BadRequest("timed out reading the request body".into())
                        })?
                        .map_err(|e| {
                            ProxyError::BadRequest(format!("cannot read the request body: {e}"))
                        })?;
                Ok(OutgoingBody::Replayable(collected.to_bytes()))
            }
            _ => Ok(OutgoingBody::Streamed(Some(
                body.map_err(|e| -> BoxError { Box::new(e) }).boxed(),
            ))),
        }
    }
}

/// How a request goes upstream, worked out before its first attempt.
struct SendOpts {
    timeouts: Timeouts,
    hash_key: Option<Vec<u8>>,
    client_cert: Option<Arc<rustls::sign::CertifiedKey>>,
}

/// The Host the client asked for: its `Host` header, else the authority
/// of the request URI (HTTP/2's `:authority`, an absolute-form request).
fn client_host(parts: &http::request::Parts) -> Option<HeaderValue> {
    parts.headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

/// The request host without port, from `Host` or an absolute-form URI: a
/// view into the header's shared bytes, so no request copies it.
#[derive(Debug, Clone)]
pub struct RequestHost {
    value: HeaderValue,
    len: usize,
}

impl RequestHost {
    /// The host (`example.com`, `[::1]`).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.value.as_bytes()[..self.len]).unwrap_or_default()
    }
}

fn request_host(req: &Request<Incoming>) -> Option<RequestHost> {
    let value = match req.headers().get(header::HOST) {
        Some(v) => v.clone(),
        // Absolute-form request without Host (rare): copied.
        None => HeaderValue::from_str(req.uri().host()?).ok()?,
    };
    let raw = value.to_str().ok()?;
    let host = if raw.starts_with('[') {
        // `[::1]:9080` → `[::1]`
        match raw.find(']') {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        match raw.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => raw,
        }
    };
    let len = host.len();
    Some(RequestHost { value, len })
}

/// A route's own filters: methods, client address, `vars`.
fn route_accepts(
    route: &Route,
    req: &Request<Incoming>,
    vars: &RequestVars<'_>,
    conn: &ConnInfo,
) -> bool {
    if let Some(m) = &route.methods {
        if !m.contains(req.method()) {
            return false;
        }
    }
    if let Some(set) = &route.remote_addrs {
        if !set.contains(conn.remote.ip()) {
            return false;
        }
    }
    if let Some(expr) = &route.vars {
        if !expr.eval(vars) {
            return false;
        }
    }
    true
}

/// The upstream a route uses: inline, by id, or through its service.
pub(crate) fn resolve_upstream(
    snap: &Snapshot,
    route: &Route,
) -> Result<Arc<Upstream>, ProxyError> {
    if let Some(u) = &route.upstream {
        return Ok(u.clone());
    }
    if let Some(id) = &route.upstream_id {
        return snap.upstreams.get(id.as_str()).cloned().ok_or_else(|| {
            ProxyError::NoUpstream(format!(
                "upstream {id} of route {} not found",
                route.meta.id
            ))
        });
    }
    if let Some(sid) = &route.service_id {
        let svc = snap.services.get(sid.as_str()).ok_or_else(|| {
            ProxyError::NoUpstream(format!(
                "service {sid} of route {} not found",
                route.meta.id
            ))
        })?;
        if let Some(u) = &svc.upstream {
            return Ok(u.clone());
        }
        if let Some(id) = &svc.upstream_id {
            return snap.upstreams.get(id.as_str()).cloned().ok_or_else(|| {
                ProxyError::NoUpstream(format!("upstream {id} of service {sid} not found"))
            });
        }
    }
    Err(ProxyError::NoUpstream(format!(
        "missing upstream configuration in route {} or its service",
        route.meta.id
    )))
}

/// The `chash` key; when the configured source is missing, the client address (as APISIX).
fn hash_key(
    up: &Upstream,
    vars: &RequestVars<'_>,
    headers: &http::HeaderMap,
    conn: &ConnInfo,
) -> Option<Vec<u8>> {
    use crate::expr::VarLookup;
    let spec = up.hash_key.as_ref()?;
    let key: Option<Vec<u8>> = match spec {
        HashKey::Var(v) => vars.get(v).map(|s| s.as_bytes().to_vec()),
        HashKey::Header(h) => headers.get(h).map(|v| v.as_bytes().to_vec()),
        HashKey::Cookie(name) => request_vars::cookie(headers, name).map(|c| c.as_bytes().to_vec()),
        HashKey::Consumer => None,
        HashKey::Combination(list) => {
            let mut out = Vec::new();
            for v in list {
                if let Some(s) = vars.get(v) {
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Some(out)
        }
    };
    Some(key.unwrap_or_else(|| conn.remote.ip().to_string().into_bytes()))
}

/// Reduce a URI to path and query.
fn origin_form(uri: &http::Uri) -> http::Uri {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return uri.clone();
    }
    uri.path_and_query()
        .map(|pq| http::Uri::from(pq.clone()))
        .unwrap_or_else(|| http::Uri::from_static("/"))
}
