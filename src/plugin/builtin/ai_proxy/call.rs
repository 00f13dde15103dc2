//! The provider call of an `ai-proxy` request, after `before_proxy`: the
//! (possibly changed) canonical request built for the provider, sent
//! through the endpoint's upstream, and the answer translated back.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;

use super::stream::TranslatingBody;
use super::{error_response, LlmCall, LlmRequest};
use crate::body::ProxyBody;
use crate::llm::stats::LlmStats;
use crate::llm::{ErrorKind, LlmError};
use crate::plugin::Ctx;
use crate::proxy::forward::{forward, ForwardRequest, OutgoingBody};
use crate::proxy::plugins::plugin_response;

/// Largest error body read from a provider.
const MAX_ERROR_BODY: usize = 1 << 20;

/// Client headers never sent to a provider: the gateway's own credentials,
/// cookies, and what strait sets itself.
fn forwarded(name: &header::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "accept-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
            | "proxy-authorization"
            | "authorization"
            | "x-api-key"
            | "api-key"
            | "cookie"
            | "content-type"
    )
}

/// Make the call; the response is in the client's protocol.
pub async fn call(ctx: &mut Ctx, llm: LlmCall) -> Response<ProxyBody> {
    let LlmCall { target, protocol } = llm;
    let Some(LlmRequest(req)) = ctx.extensions.remove::<LlmRequest>() else {
        let err = LlmError::invalid("the LLM request was removed by a plugin");
        return plugin_response(error_response(protocol, &err));
    };
    let stats = match ctx.extensions.get::<Arc<LlmStats>>() {
        Some(s) => s.clone(),
        None => {
            let s = Arc::new(LlmStats::new(req.model.clone(), req.stream));
            ctx.extensions.insert(s.clone());
            s
        }
    };
    stats.set_pricing(target.provider.name(), &req.model, target.price);
    let out = match target.provider.build_request(&req, protocol.name()) {
        Ok(o) => o,
        Err(e) => return plugin_response(error_response(protocol, &e)),
    };
    let mut headers = HeaderMap::with_capacity(ctx.req.headers.len() + 4);
    for (k, v) in ctx.req.headers.iter().filter(|(k, _)| forwarded(k)) {
        headers.append(k.clone(), v.clone());
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The adapter's headers (it may name another content type), then the credentials.
    for (k, v) in out.headers.iter().chain(target.auth_headers.iter()) {
        headers.insert(k.clone(), v.clone());
    }
    headers.insert(header::CONTENT_LENGTH, out.body.len().into());
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(target.path_and_query(&out.path_and_query));
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    let parts = match builder.body(()) {
        Ok(r) => r.into_parts().0,
        Err(e) => {
            let err = LlmError::invalid(format!("cannot build the provider request: {e}"));
            return plugin_response(error_response(protocol, &err));
        }
    };
    let sent = forward(
        &target.upstream,
        ForwardRequest {
            parts,
            body: OutgoingBody::Replayable(out.body),
            client_host: None,
            hash_key: None,
            timeouts: target.timeouts,
        },
    )
    .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let status = e.status().as_u16();
            let err = LlmError {
                status,
                kind: if status == 504 {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Provider
                },
                message: format!("{}: {e}", target.instance),
            };
            tracing::warn!(instance = %target.instance, error = %e, "LLM provider call failed");
            return plugin_response(error_response(protocol, &err));
        }
    };
    let (parts, body) = resp.into_parts();
    let status = parts.status;
    if status.as_u16() >= 400 {
        let bytes = read_limited(body, MAX_ERROR_BODY).await.unwrap_or_default();
        let err = target.provider.decode_error(status.as_u16(), &bytes);
        let mut answer = plugin_response(error_response(protocol, &err));
        if let Some(v) = parts.headers.get(header::RETRY_AFTER) {
            answer.headers_mut().insert(header::RETRY_AFTER, v.clone());
        } else if let Some(secs) = target.provider.retry_after(&bytes) {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        return answer;
    }
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if req.stream {
        let body = TranslatingBody::new(
            body,
            target.provider.stream_decoder(),
            protocol.stream_encoder(&req, created),
            stats,
        );
        let mut resp = Response::new(http_body_util::BodyExt::boxed(body));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return resp;
    }
    let bytes = match read_limited(body, target.max_response_bytes).await {
        Ok(b) => b,
        Err(msg) => {
            return plugin_response(error_response(protocol, &LlmError::provider(msg)));
        }
    };
    stats.first_token();
    match target.provider.decode_response(&bytes) {
        Ok(mut answer) => {
            if answer.created == 0 {
                answer.created = created;
            }
            stats.set_model(&answer.model);
            if let Some(u) = &answer.usage {
                stats.set_usage(u);
            }
            let body = protocol.encode_response(&answer);
            plugin_response(crate::plugin::PluginResponse::json(
                http::StatusCode::OK,
                &body,
            ))
        }
        Err(e) => plugin_response(error_response(protocol, &e)),
    }
}

async fn read_limited(mut body: ProxyBody, limit: usize) -> Result<Bytes, String> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("cannot read the provider's answer: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(format!(
                    "the provider's answer is larger than max_response_bytes ({limit} bytes)"
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
