//! Websocket proxying for routes with `enable_websocket`: the upgrade request
//! goes to a node on a dedicated connection; on `101 Switching Protocols` both
//! sides are upgraded and bytes are copied in both directions until either
//! side closes.

use std::time::Instant;

use http::{header, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::headers;
use super::ConnInfo;
use crate::body::{empty, ProxyBody};
use crate::config::compiled::Timeouts;
use crate::error::ProxyError;
use crate::upstream::health::Outcome;
use crate::upstream::pool::SendError;
use crate::upstream::Upstream;

/// Whether the client asks to upgrade to a websocket.
pub fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let connection = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    upgrade && connection
}

/// Proxy an upgrade request; the tunnel runs in its own task.
pub async fn proxy(
    up: &Upstream,
    mut req: Request<Incoming>,
    conn: ConnInfo,
    host: Option<&str>,
    timeouts: Timeouts,
    hash_key: Option<Vec<u8>>,
    client_cert: Option<std::sync::Arc<rustls::sign::CertifiedKey>>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let client_upgrade = hyper::upgrade::on(&mut req);
    let (mut parts, _body) = req.into_parts();
    let client_host = parts.headers.get(header::HOST).cloned();
    headers::strip_hop_by_hop(&mut parts.headers, true);
    headers::add_forwarded(
        &mut parts.headers,
        conn.remote.ip(),
        host,
        conn.local.port(),
        conn.tls.is_some(),
    );
    parts.uri = super::origin_form(&parts.uri);

    let all_down = up.all_unhealthy();
    let available = |i: usize| up.usable(i, all_down);
    let idx = up
        .balancer
        .pick(hash_key.as_deref(), &available)
        .ok_or_else(|| ProxyError::NoAvailableNode(up.label.clone()))?;
    let node = &up.nodes[idx];
    let mut upstream_req = Request::from_parts(parts, empty());
    let host_header = headers::upstream_host(up, node, client_host.as_ref());
    let sni = super::forward::tls_server_name(up, node, host_header.as_ref());
    if let Some(h) = host_header {
        upstream_req.headers_mut().insert(header::HOST, h);
    }
    let started = Instant::now();
    up.balancer.on_start(idx);
    let upstream_conn = node
        .pool
        .connect_dedicated(timeouts.connect, sni.as_deref(), client_cert.as_ref())
        .await
        .map_err(|e| {
            up.balancer.on_finish(idx, started.elapsed(), true);
            if let Some(h) = &up.health {
                h.report_passive(idx, Outcome::TcpFailure, &node.authority);
            }
            ProxyError::UpstreamFailed(format!("upstream {} failed: {e}", node.authority))
        })?;
    // The upgrade request has no body: only the read timeout applies.
    let wait = timeouts.read;
    let mut resp = match tokio::time::timeout(wait, upstream_conn.send(upstream_req)).await {
        Err(_) => {
            up.balancer.on_finish(idx, started.elapsed(), true);
            return Err(ProxyError::UpstreamTimeout(format!(
                "upstream {} did not answer the websocket upgrade within {}s",
                node.authority,
                wait.as_secs_f64()
            )));
        }
        Ok(Err(SendError::Failed(e) | SendError::NotSent(_, e))) => {
            up.balancer.on_finish(idx, started.elapsed(), true);
            return Err(ProxyError::UpstreamFailed(format!(
                "upstream {} failed: {e}",
                node.authority
            )));
        }
        Ok(Ok(r)) => r,
    };
    up.balancer.on_finish(idx, started.elapsed(), false);
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The node refused the upgrade: relay its answer as a normal response.
        let (parts, body) = resp.into_parts();
        return Ok(Response::from_parts(
            parts,
            body.map_err(|e| e.into()).boxed(),
        ));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let authority = node.authority.clone();
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(node = %authority, "websocket upgrade failed: {e}");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(node = %authority, "websocket tunnel closed: {e}");
        }
    });
    let (parts, _) = resp.into_parts();
    Ok(Response::from_parts(parts, empty()))
}
