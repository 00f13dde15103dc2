//! The request pipeline: pin the snapshot, match a route, resolve its
//! upstream, forward (or upgrade to a websocket), and answer errors in
//! APISIX's JSON shape. Nothing here panics; every failure is a response.

pub mod completion;
pub mod forward;
pub mod headers;
pub mod path;
pub mod request_vars;
pub mod websocket;

pub use crate::body::json_response;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{BoxError, ProxyBody};
use crate::config::compiled::{Route, Timeouts};
use crate::config::snapshot::{SharedSnapshot, Snapshot};
use crate::error::ProxyError;
use crate::upstream::{HashKey, Upstream};
use forward::{forward, ForwardRequest, OutgoingBody};
use request_vars::RequestVars;

/// Per-connection facts every request on it shares.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
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
        let snap = self.shared.load();
        let mut route_id = None;
        let result = self
            .route_and_forward(&snap, req, conn, &mut route_id)
            .await;
        match result {
            Ok(resp) => resp,
            Err(e) => {
                e.log(route_id.as_deref());
                e.into_response()
            }
        }
    }

    async fn route_and_forward(
        &self,
        snap: &Snapshot,
        req: Request<Incoming>,
        conn: ConnInfo,
        route_id: &mut Option<Arc<str>>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let norm_path = path::normalize(req.uri().path());
        let host = request_host(&req);
        let vars = RequestVars::new(&req, &norm_path, host.as_deref(), conn);
        let matched = snap
            .router
            .find(host.as_deref(), &norm_path, |route: &Route, _params| {
                route_accepts(route, &req, &vars, conn)
            });
        let Some(matched) = matched else {
            return Err(ProxyError::RouteNotFound);
        };
        let route: Arc<Route> = matched.route.clone();
        *route_id = Some(route.meta.id.clone());
        let upstream = resolve_upstream(snap, &route)?;
        let hash_key = hash_key(&upstream, &vars, &req, conn);
        let timeouts = route
            .timeout
            .or(upstream.timeouts)
            .unwrap_or(Timeouts::DEFAULT);
        // Only upgrade requests pay for the service lookup.
        let websocket_allowed = || {
            route
                .enable_websocket
                .or_else(|| snap.service_of(&route).and_then(|s| s.enable_websocket))
                .unwrap_or(false)
        };
        if websocket::is_upgrade_request(&req) && websocket_allowed() {
            return websocket::proxy(&upstream, req, conn, host.as_deref(), timeouts, hash_key)
                .await;
        }
        self.forward_http(&upstream, req, conn, host.as_deref(), timeouts, hash_key)
            .await
    }

    async fn forward_http(
        &self,
        upstream: &Arc<Upstream>,
        req: Request<Incoming>,
        conn: ConnInfo,
        host: Option<&str>,
        timeouts: Timeouts,
        hash_key: Option<Vec<u8>>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let (mut parts, body) = req.into_parts();
        let client_host = parts.headers.get(header::HOST).cloned();
        let body = self.prepare_body(&parts, body, timeouts).await?;
        headers::strip_hop_by_hop(&mut parts.headers, false);
        headers::add_forwarded(
            &mut parts.headers,
            conn.remote.ip(),
            host,
            conn.local.port(),
        );
        // hyper writes absolute-form URIs as given; upstreams expect origin-form.
        parts.uri = origin_form(&parts.uri);
        let resp = forward(
            upstream,
            ForwardRequest {
                parts,
                body,
                client_host,
                hash_key,
                timeouts,
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
        body: Incoming,
        timeouts: Timeouts,
    ) -> Result<OutgoingBody, ProxyError> {
        use http_body::Body as _;
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

/// The request host without port, from `Host` or an absolute-form URI.
fn request_host(req: &Request<Incoming>) -> Option<String> {
    let raw = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())?;
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
    Some(host.to_string())
}

/// A route's own filters: methods, client address, `vars`.
fn route_accepts(
    route: &Route,
    req: &Request<Incoming>,
    vars: &RequestVars<'_>,
    conn: ConnInfo,
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
fn resolve_upstream(snap: &Snapshot, route: &Route) -> Result<Arc<Upstream>, ProxyError> {
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
    req: &Request<Incoming>,
    conn: ConnInfo,
) -> Option<Vec<u8>> {
    use crate::expr::VarLookup;
    let spec = up.hash_key.as_ref()?;
    let key: Option<Vec<u8>> = match spec {
        HashKey::Var(v) => vars.get(v).map(|s| s.as_bytes().to_vec()),
        HashKey::Header(h) => req.headers().get(h).map(|v| v.as_bytes().to_vec()),
        HashKey::Cookie(name) => {
            request_vars::cookie(req.headers(), name).map(|c| c.as_bytes().to_vec())
        }
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
