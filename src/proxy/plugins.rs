//! The request pipeline when plugins apply (a global rule, or plugins on the
//! matched route, its plugin config, service or consumer):
//!
//! global `rewrite` → route `rewrite` (auth plugins find the consumer) →
//! consumer and consumer-group plugins merged in → global `access` → route
//! `access` → `before_proxy` → upstream → `header_filter` → `body_filter`
//! per chunk → `log` at the end of the body.
//!
//! Unmatched requests run the global rules' `rewrite` and `access`, then get
//! APISIX's 404. Any phase may answer instead of the upstream; that answer
//! still goes through the header filters and the log phase.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{resolve_upstream, ClientBody, ConnInfo, Proxy};
use crate::body::{full, ProxyBody};
use crate::config::compiled::Route;
use crate::config::Snapshot;
use crate::error::ProxyError;
use crate::plugin::body::{Finish, PluginBody};
use crate::plugin::builtin::ai_proxy::{self, LlmCall};
use crate::plugin::chain::{run_phase, Chain, Phase};
use crate::plugin::consumers::Consumer;
use crate::plugin::ctx::{RequestBody, RequestBodyChanged};
use crate::plugin::set::PluginSet;
use crate::plugin::{Ctx, PluginResponse};

/// The plugins of a matched route: its own, its plugin config's and its
/// service's (in that order of precedence).
pub fn route_chain(snap: &Snapshot, route: &Route) -> Chain {
    let pc = route
        .plugin_config_id
        .as_ref()
        .and_then(|id| snap.plugins.plugin_configs.get(id.as_str()))
        .map(|s| &**s);
    let svc = snap.service_of(route).map(|s| &*s.plugins);
    let mut sets: [&PluginSet; 3] = [&route.plugins; 3];
    let mut n = 0;
    for set in [Some(&*route.plugins), pc, svc].into_iter().flatten() {
        if !set.is_empty() {
            sets[n] = set;
            n += 1;
        }
    }
    if n == 0 {
        return Chain::default();
    }
    Chain::merge(&sets[..n])
}

/// The chain once `consumer` is known: Consumer > Consumer Group > Route >
/// Plugin Config > Service.
fn consumer_chain(snap: &Snapshot, route: &Route, consumer: &Consumer) -> Chain {
    let group = consumer
        .group_id
        .as_ref()
        .and_then(|g| snap.plugins.consumer_groups.get(g.as_ref()));
    let pc = route
        .plugin_config_id
        .as_ref()
        .and_then(|id| snap.plugins.plugin_configs.get(id.as_str()));
    let svc = snap.service_of(route).map(|s| &*s.plugins);
    let mut sets: Vec<&PluginSet> = vec![&consumer.plugins];
    if let Some(g) = group {
        sets.push(g);
    }
    sets.push(&route.plugins);
    if let Some(p) = pc {
        sets.push(p);
    }
    if let Some(s) = svc {
        sets.push(s);
    }
    Chain::merge(&sets)
}

/// Bytes of the request as received: request line, headers, declared body.
fn request_size(parts: &http::request::Parts) -> u64 {
    let target = parts.uri.path_and_query().map_or(1, |pq| pq.as_str().len());
    let line = parts.method.as_str().len() + target + 11;
    let headers: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let body = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    (line + headers + 2) as u64 + body
}

/// A plugin's answer as a response.
pub(crate) fn plugin_response(r: PluginResponse) -> Response<ProxyBody> {
    let mut resp = Response::new(full(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    resp
}

/// Header filters, response headers left by plugins, and the body wrapper
/// that runs body filters and the log phase.
fn finish(
    resp: Response<ProxyBody>,
    mut ctx: Box<Ctx>,
    global: Chain,
    chain: Chain,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    if let Some(a) = parts.extensions.get::<super::forward::UpstreamAnswer>() {
        ctx.upstream_addr = Some(a.authority.clone());
        ctx.upstream_node = Some(a.node.clone());
        ctx.upstream_latency = Some(a.latency);
    }
    for (k, v) in ctx.response_headers.drain(..) {
        parts.headers.append(k, v);
    }
    ctx.status = parts.status.as_u16();
    global.header_filter(&mut ctx, &mut parts);
    chain.header_filter(&mut ctx, &mut parts);
    ctx.status = parts.status.as_u16();
    if global.filters_body() || chain.filters_body() {
        // Body filters may change the length.
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    let body = PluginBody::new(body, Finish { ctx, global, chain }).boxed();
    Response::from_parts(parts, body)
}

/// Largest request body read for plugins that read it (APISIX's AI
/// plugins default to the same `max_req_body_size`).
const MAX_READ_BODY: usize = 64 << 20;

/// How long reading that body may take (nginx's `client_body_timeout`).
const READ_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Read the request body for plugins that read it (once; not for upgrade
/// requests, whose body is the upgraded stream).
async fn read_body(ctx: &mut Ctx, body: &mut ClientBody) -> Result<(), ProxyError> {
    if ctx.extensions.get::<RequestBody>().is_some()
        || ctx.req.headers.contains_key(header::UPGRADE)
    {
        return Ok(());
    }
    let ClientBody::Streaming(incoming) =
        std::mem::replace(body, ClientBody::Buffered(Bytes::new()))
    else {
        return Ok(());
    };
    let declared = ctx
        .req
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_READ_BODY) {
        return Err(ProxyError::PayloadTooLarge);
    }
    let limited = http_body_util::Limited::new(incoming, MAX_READ_BODY);
    let bytes = match tokio::time::timeout(READ_BODY_TIMEOUT, limited.collect()).await {
        Err(_) => {
            return Err(ProxyError::BadRequest(
                "timed out reading the request body".into(),
            ))
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ProxyError::PayloadTooLarge)
        }
        Ok(Err(e)) => {
            return Err(ProxyError::BadRequest(format!(
                "cannot read the request body: {e}"
            )))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    *body = ClientBody::Buffered(bytes.clone());
    ctx.extensions.insert(RequestBody(bytes));
    Ok(())
}

/// Serve a request through its plugins.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    proxy: &Proxy,
    snap: Arc<Snapshot>,
    route: Option<Arc<Route>>,
    mut chain: Chain,
    req: Request<Incoming>,
    path: String,
    host: Option<String>,
    conn: ConnInfo,
) -> Response<ProxyBody> {
    let (parts, body) = req.into_parts();
    let mut body = ClientBody::Streaming(body);
    let received = request_size(&parts);
    let mut ctx = Box::new(Ctx::new(parts, path, host, conn, snap.clone()));
    ctx.bytes_received = received;
    ctx.route = route.clone();
    let global = snap.plugins.global.clone();

    if global.reads_request_body() || chain.reads_request_body() {
        if let Err(e) = read_body(&mut ctx, &mut body).await {
            return finish(e.into_response(), ctx, global, chain);
        }
    }

    // rewrite
    let mut answer = global.run(Phase::Rewrite, &mut ctx).await;
    if answer.is_none() {
        answer = chain.run(Phase::Rewrite, &mut ctx).await;
    }
    // A consumer identified in rewrite brings its (and its group's) plugins,
    // whose rewrite phase runs now.
    if let (None, Some(c), Some(r)) = (&answer, ctx.consumer.clone(), &route) {
        let merged = consumer_chain(&snap, r, &c);
        let added: Vec<_> = merged
            .plugins
            .iter()
            .filter(|p| !chain.plugins.iter().any(|q| Arc::ptr_eq(p, q)))
            .cloned()
            .collect();
        chain = merged;
        if chain.reads_request_body() {
            if let Err(e) = read_body(&mut ctx, &mut body).await {
                return finish(e.into_response(), ctx, global, chain);
            }
        }
        answer = run_phase(&added, Phase::Rewrite, &mut ctx).await;
    }
    // access, before_proxy
    for phase in [Phase::Access, Phase::BeforeProxy] {
        if answer.is_none() {
            answer = global.run(phase, &mut ctx).await;
        }
        if answer.is_none() && route.is_some() {
            answer = chain.run(phase, &mut ctx).await;
        }
        if phase == Phase::Access && answer.is_none() && route.is_none() {
            // Global rules ran for an unmatched request: APISIX's 404.
            return finish(
                ProxyError::RouteNotFound.into_response(),
                ctx,
                global,
                chain,
            );
        }
    }
    if let Some(r) = answer {
        return finish(plugin_response(r), ctx, global, chain);
    }
    let Some(route) = route else {
        return finish(
            ProxyError::RouteNotFound.into_response(),
            ctx,
            global,
            chain,
        );
    };

    // An AI plugin takes the place of the upstream.
    if let Some(llm) = ctx.extensions.remove::<LlmCall>() {
        let resp = ai_proxy::call(&mut ctx, llm).await;
        return finish(resp, ctx, global, chain);
    }

    // upstream
    let upstream = match ctx.upstream_override.clone() {
        Some(u) => Ok(u),
        None => resolve_upstream(&snap, &route),
    };
    let result = match upstream {
        Ok(up) => {
            // The head goes upstream; the context keeps the request line for the log phase.
            let mut parts = std::mem::replace(&mut ctx.req, Request::new(()).into_parts().0);
            ctx.req.method = parts.method.clone();
            ctx.req.uri = parts.uri.clone();
            ctx.req.version = parts.version;
            if let Some(h) = ctx.req_host_override() {
                parts.headers.insert(header::HOST, h);
            }
            parts.extensions.insert(super::forward::ReportAnswer);
            if let Some(RequestBody(read)) = ctx.extensions.remove::<RequestBody>() {
                if ctx.extensions.remove::<RequestBodyChanged>().is_some() {
                    parts.headers.remove(header::TRANSFER_ENCODING);
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, read.len().into());
                }
                body = ClientBody::Buffered(read);
            }
            let req = Request::from_parts(parts, body);
            proxy
                .forward_to(
                    &snap,
                    &route,
                    &up,
                    req,
                    ctx.conn.clone(),
                    ctx.host.as_deref(),
                )
                .await
        }
        Err(e) => Err(e),
    };
    let resp = result.unwrap_or_else(|e| {
        e.log(Some(&route.meta.id));
        e.into_response()
    });
    finish(resp, ctx, global, chain)
}
