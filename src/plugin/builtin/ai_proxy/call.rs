//! The provider call of an AI request, after `before_proxy`: the (possibly
//! changed) canonical request built for the picked instance's provider,
//! sent through its endpoint's upstream, and the answer translated back.
//! A failure before the answer starts may go on to another instance
//! (`ai-proxy-multi`'s fallback); usage and price come from the attempt
//! that answered, so a retried request is counted once.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;

use super::pool::{retry_after, Attempt, Outcome};
use super::stream::TranslatingBody;
use super::target::AiTarget;
use super::{error_response, InstanceGate, LlmCall, LlmRequest};
use crate::body::ProxyBody;
use crate::llm::model::Part;
use crate::llm::options::{apply_options, restore};
use crate::llm::stats::LlmStats;
use crate::llm::{ChatRequest, ClientProtocol, ErrorKind, LlmError};
use crate::metrics::llm::ActiveCall;
use crate::plugin::ctx::RequestBody;
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

/// Make the call, falling back to other instances as the pool's policy
/// allows; the response is in the client's protocol.
pub async fn call(ctx: &mut Ctx, llm: LlmCall) -> Response<ProxyBody> {
    let LlmCall {
        pool,
        picked,
        hash_key,
        protocol,
    } = llm;
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
    // Everything before the first provider call is strait's own time.
    stats.add_overhead(ctx.started.elapsed());
    let mut req = Arc::new(req);
    let gate = if pool.fallback.rate_limiting {
        ctx.extensions.get::<InstanceGate>().cloned()
    } else {
        None
    };
    let mut tried = Vec::with_capacity(1);
    let mut index = picked;
    loop {
        tried.push(index);
        let attempt = Attempt::start(pool.clone(), index);
        let target = pool.instances[index].target.clone();
        let failure = match send(ctx, &target, &req, protocol, &stats, attempt).await {
            Ok(resp) => return resp,
            Err(f) => f,
        };
        let next = if pool
            .fallback
            .allows(failure.status, failure.elapsed, tried.len() - 1)
        {
            pool.pick(hash_key.as_deref(), &tried, &|i| {
                gate.as_ref()
                    .is_none_or(|g| g.admits(&pool.instances[i].target.instance))
            })
        } else {
            None
        };
        let Some(next) = next else {
            return failure.response;
        };
        let next_target = &pool.instances[next].target;
        tracing::warn!(
            failed = %target.instance,
            status = failure.status,
            next = %next_target.instance,
            "AI instance failed, falling back"
        );
        switch_options(ctx, protocol, Arc::make_mut(&mut req), &target, next_target);
        ctx.set_var("picked_ai_instance_name", next_target.instance.clone());
        index = next;
    }
}

/// Move `req` from instance `from`'s options to `to`'s: what only `from`
/// set goes back to the client's value, then `to`'s options apply.
fn switch_options(
    ctx: &Ctx,
    protocol: &dyn ClientProtocol,
    req: &mut ChatRequest,
    from: &AiTarget,
    to: &AiTarget,
) {
    let mut stale: Vec<&str> = from
        .options
        .keys()
        .filter(|k| !to.options.contains_key(*k))
        .map(String::as_str)
        .collect();
    if from.max_tokens.is_some() && to.max_tokens.is_none() {
        stale.push("max_tokens");
    }
    if !stale.is_empty() {
        let body = ctx.extensions.get::<RequestBody>().map(|b| b.0.clone());
        if let Some(Ok(client)) = body.map(|b| protocol.decode_request(&b)) {
            restore(req, &client, stale);
        }
    }
    apply_options(req, &to.options);
    if let Some(n) = to.max_tokens {
        req.max_tokens = Some(n);
    }
}

/// A failed attempt: the answer the client gets unless another instance
/// takes over, and what decides whether one may.
struct Failure {
    response: Response<ProxyBody>,
    /// The provider's status (502/504 when it could not be reached or timed out).
    status: u16,
    elapsed: std::time::Duration,
}

/// One attempt on `target`: the answer, or the failure before any byte of
/// an answer reached the client.
async fn send(
    ctx: &mut Ctx,
    target: &AiTarget,
    req: &Arc<ChatRequest>,
    protocol: &'static dyn ClientProtocol,
    stats: &Arc<LlmStats>,
    attempt: Attempt,
) -> Result<Response<ProxyBody>, Failure> {
    let out = match target.provider.build_request(req, protocol.name()) {
        Ok(o) => o,
        // The request cannot be built for this provider: not its fault.
        Err(e) => {
            let elapsed = attempt.elapsed();
            drop(attempt);
            return Err(Failure {
                response: plugin_response(error_response(protocol, &e)),
                status: e.status,
                elapsed,
            });
        }
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
            return Err(Failure {
                response: plugin_response(error_response(protocol, &err)),
                status: 400,
                elapsed: attempt.elapsed(),
            });
        }
    };
    let active = ActiveCall::start(ctx.route_id().unwrap_or_default(), &target.instance);
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
            let elapsed = attempt.elapsed();
            attempt.failed(Outcome::Unreachable);
            return Err(Failure {
                response: plugin_response(error_response(protocol, &err)),
                status,
                elapsed,
            });
        }
    };
    let (parts, body) = resp.into_parts();
    let status = parts.status;
    if status.as_u16() >= 400 {
        let bytes = read_limited(body, MAX_ERROR_BODY).await.unwrap_or_default();
        let err = target.provider.decode_error(status.as_u16(), &bytes);
        let mut answer = plugin_response(error_response(protocol, &err));
        let retry = parts.headers.get(header::RETRY_AFTER);
        if let Some(v) = retry {
            answer.headers_mut().insert(header::RETRY_AFTER, v.clone());
        } else if let Some(secs) = target.provider.retry_after(&bytes) {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        let elapsed = attempt.elapsed();
        attempt.failed(Outcome::Status(status.as_u16(), retry_after(retry)));
        return Err(Failure {
            response: answer,
            status: status.as_u16(),
            elapsed,
        });
    }
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if req.stream {
        stats.set_pricing(target.provider.name(), &req.model, target.price);
        stats.answered(req.clone());
        let body = TranslatingBody::new(
            body,
            target.provider.stream_decoder(),
            protocol.stream_encoder(req, created),
            stats.clone(),
            attempt,
            active,
        );
        let mut resp = Response::new(http_body_util::BodyExt::boxed(body));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(resp);
    }
    let bytes = match read_limited(body, target.max_response_bytes).await {
        Ok(b) => b,
        // Nothing reached the client yet: another instance may answer.
        Err(msg) => {
            let elapsed = attempt.elapsed();
            attempt.failed(Outcome::Unreachable);
            return Err(Failure {
                response: plugin_response(error_response(protocol, &LlmError::provider(msg))),
                status: 502,
                elapsed,
            });
        }
    };
    stats.set_pricing(target.provider.name(), &req.model, target.price);
    stats.answered(req.clone());
    stats.ended();
    stats.first_token();
    attempt.answered();
    drop(active);
    let translating = std::time::Instant::now();
    let answer = match target.provider.decode_response(&bytes) {
        Ok(mut answer) => {
            if answer.created == 0 {
                answer.created = created;
            }
            stats.set_model(&answer.model);
            match &answer.usage {
                Some(u) => stats.set_usage(u),
                None => {
                    for part in &answer.content {
                        match part {
                            Part::Text { text, .. } | Part::Thinking { text, .. } => {
                                stats.record_output(text)
                            }
                            Part::ToolCall {
                                name, arguments, ..
                            } => {
                                stats.record_output(name);
                                stats.record_output(arguments);
                            }
                            _ => {}
                        }
                    }
                }
            }
            let body = protocol.encode_response(&answer);
            plugin_response(crate::plugin::PluginResponse::json(
                http::StatusCode::OK,
                &body,
            ))
        }
        Err(e) => plugin_response(error_response(protocol, &e)),
    };
    stats.add_overhead(translating.elapsed());
    Ok(answer)
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
