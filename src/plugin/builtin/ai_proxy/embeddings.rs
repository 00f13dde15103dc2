//! Embeddings through `ai-proxy` and `ai-proxy-multi`: the client's
//! OpenAI embeddings request goes to an instance whose provider has an
//! embeddings API (others are skipped; with none, the client gets a 400
//! and no provider is called), with that instance's `options` set over
//! the client's fields (as for chats). The answer comes back in OpenAI's
//! shape; usage is the provider's, else the input counted (marked
//! estimated), and feeds the same `llm_*` variables, metrics, cost and
//! `ai-rate-limiting` as a chat (prompt tokens only). Falling back to
//! another instance decodes the client's request again with that
//! instance's options.

use std::sync::Arc;

use http::Response;
use serde_json::{Map, Value};

use super::exchange::{exchange, read_answer, Failure};
use super::pool::{Attempt, InstancePool};
use super::target::AiTarget;
use super::{check_size, error_response, CallKind, LlmCall};
use crate::body::ProxyBody;
use crate::llm::embedding::{self, EmbeddingRequest};
use crate::llm::protocol::openai_chat::OpenAiChat;
use crate::llm::protocol::openai_embeddings;
use crate::llm::stats::LlmStats;
use crate::llm::{ClientProtocol, ErrorKind, LlmError};
use crate::plugin::{Ctx, PluginResponse, Step};
use crate::proxy::plugins::plugin_response;

/// Embeddings answer in OpenAI's error shape.
pub const ERRORS: &dyn ClientProtocol = &OpenAiChat;

/// The embeddings request of a call, as the picked instance sends it.
#[derive(Debug, Clone)]
pub struct EmbeddingsCall {
    /// The client's request as it came (for another instance's options).
    pub client: Map<String, Value>,
    /// The request with the instance's options.
    pub req: EmbeddingRequest,
}

/// Whether `target`'s provider has an embeddings API.
pub fn supports(target: &AiTarget) -> bool {
    target.provider.embedder().is_some()
}

/// Decode `client` for instance `picked` of `pool`, moving to an
/// instance with embeddings (one `admits` allows) when `picked` has
/// none, and leave the call for after `before_proxy`.
pub(super) fn start(
    ctx: &mut Ctx,
    pool: &Arc<InstancePool>,
    picked: usize,
    hash_key: Option<Vec<u8>>,
    admits: &dyn Fn(usize) -> bool,
    client: Map<String, Value>,
) -> Step {
    let picked = if supports(&pool.instances[picked].target) {
        picked
    } else {
        let able = |i: usize| supports(&pool.instances[i].target);
        match pool.pick(hash_key.as_deref(), &[], &|i| able(i) && admits(i)) {
            Some(i) => i,
            None => return Step::Respond(no_instance(pool, &able)),
        }
    };
    let target = &pool.instances[picked].target;
    let req = match check_size(ctx, target).and_then(|()| decode(&client, target)) {
        Ok(r) => r,
        Err(e) => return Step::Respond(error_response(ERRORS, &e)),
    };
    ctx.extensions
        .insert(Arc::new(LlmStats::new(req.model.clone(), false)));
    ctx.extensions.insert(EmbeddingsCall { client, req });
    ctx.set_var("picked_ai_instance_name", target.instance.clone());
    ctx.extensions.insert(LlmCall {
        pool: pool.clone(),
        picked,
        hash_key,
        protocol: ERRORS,
        kind: CallKind::Embeddings,
    });
    Step::Continue
}

/// The answer when no instance may take embeddings: 400 when no provider
/// has them, 503 when those that do are out of quota.
fn no_instance(pool: &InstancePool, able: &dyn Fn(usize) -> bool) -> PluginResponse {
    let err = if (0..pool.instances.len()).any(able) {
        LlmError {
            status: 503,
            kind: ErrorKind::RateLimit,
            message: "no AI instance can take the request: every instance with embeddings \
                      has its quota used up"
                .into(),
        }
    } else {
        let mut names: Vec<&str> = pool
            .instances
            .iter()
            .map(|i| i.target.provider.name())
            .collect();
        names.sort_unstable();
        names.dedup();
        embedding::unsupported(&names.join("\", \""))
    };
    error_response(ERRORS, &err)
}

/// The client's request with `target`'s options set over it.
fn decode(client: &Map<String, Value>, target: &AiTarget) -> Result<EmbeddingRequest, LlmError> {
    let mut obj = client.clone();
    obj.extend(target.options.iter().map(|(k, v)| (k.clone(), v.clone())));
    openai_embeddings::decode(obj)
}

/// The request for the next instance `to`.
pub(super) fn switch(call: &mut EmbeddingsCall, to: &AiTarget) -> Result<(), LlmError> {
    call.req = decode(&call.client, to)?;
    Ok(())
}

/// One attempt on `target`: the answer, or the failure before it reached
/// the client.
pub(super) async fn send(
    ctx: &Ctx,
    target: &AiTarget,
    call: &EmbeddingsCall,
    stats: &Arc<LlmStats>,
    attempt: Attempt,
) -> Result<Response<ProxyBody>, Failure> {
    let req = &call.req;
    let Some(embedder) = target.provider.embedder() else {
        let err = embedding::unsupported(target.provider.name());
        return Err(Failure::unsent(ERRORS, &err, attempt));
    };
    let out = match embedder.build_embeddings(req) {
        Ok(o) => o,
        Err(e) => return Err(Failure::unsent(ERRORS, &e, attempt)),
    };
    let path = target.embeddings_path_and_query(&out.path_and_query);
    let answer = exchange(ctx, target, out, path, ERRORS, attempt).await?;
    let (bytes, attempt, active) = read_answer(answer, target.max_response_bytes, ERRORS).await?;
    stats.set_pricing(target.provider.name(), &req.model, target.price);
    stats.ended();
    stats.first_token();
    attempt.answered();
    drop(active);
    let translating = std::time::Instant::now();
    let answer = match embedder.decode_embeddings(req, &bytes) {
        Ok(mut answer) => {
            stats.set_model(&answer.model);
            stats.set_usage(&answer.settle_usage(req));
            let body = openai_embeddings::encode_response(&answer, &req.model);
            plugin_response(PluginResponse::json(http::StatusCode::OK, &body))
        }
        Err(e) => plugin_response(error_response(ERRORS, &e)),
    };
    stats.add_overhead(translating.elapsed());
    Ok(answer)
}
