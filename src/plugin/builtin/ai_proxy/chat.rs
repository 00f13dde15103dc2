//! A chat attempt on one instance: the (possibly changed) canonical
//! request built for the instance's provider, and its answer translated
//! back to the client's protocol, streamed event by event or complete.
//! Falling back to another instance moves the request from one
//! instance's `options` to the next one's.

use std::sync::Arc;

use http::{header, HeaderValue, Response};

use super::error_response;
use super::exchange::{exchange, read_answer, Failure};
use super::pool::Attempt;
use super::stream::TranslatingBody;
use super::target::AiTarget;
use crate::body::ProxyBody;
use crate::llm::model::Part;
use crate::llm::options::{apply_options, restore};
use crate::llm::stats::LlmStats;
use crate::llm::{ChatRequest, ClientProtocol};
use crate::plugin::ctx::RequestBody;
use crate::plugin::Ctx;
use crate::proxy::plugins::plugin_response;

/// One attempt on `target`: the answer, or the failure before any byte of
/// an answer reached the client.
pub(super) async fn send(
    ctx: &Ctx,
    target: &AiTarget,
    req: &Arc<ChatRequest>,
    protocol: &'static dyn ClientProtocol,
    stats: &Arc<LlmStats>,
    attempt: Attempt,
) -> Result<Response<ProxyBody>, Failure> {
    let out = match target.provider.build_request(req, protocol.name()) {
        Ok(o) => o,
        // The request cannot be built for this provider: not its fault.
        Err(e) => return Err(Failure::unsent(protocol, &e, attempt)),
    };
    let path = target.path_and_query(&out.path_and_query);
    let answer = exchange(ctx, target, out, path, protocol, attempt).await?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if req.stream {
        stats.set_pricing(target.provider.name(), &req.model, target.price);
        stats.answered(req.clone());
        let body = TranslatingBody::new(
            answer.body,
            target.provider.stream_decoder(),
            protocol.stream_encoder(req, created),
            stats.clone(),
            answer.attempt,
            answer.active,
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
    // Nothing reached the client yet if this fails: another instance may answer.
    let (bytes, attempt, active) = read_answer(answer, target.max_response_bytes, protocol).await?;
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
                None => record_output(stats, &answer.content),
            }
            let body = protocol.encode_response(&answer);
            plugin_response(crate::plugin::PluginResponse::json_body(
                http::StatusCode::OK,
                body,
            ))
        }
        Err(e) => plugin_response(error_response(protocol, &e)),
    };
    stats.add_overhead(translating.elapsed());
    Ok(answer)
}

/// An answer without usage: its text, counted once the request ends.
fn record_output(stats: &LlmStats, content: &[Part]) {
    for part in content {
        match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => stats.record_output(text),
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

/// Move `req` from instance `from`'s options to `to`'s: what only `from`
/// set goes back to the client's value, then `to`'s options apply.
pub(super) fn switch_options(
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
