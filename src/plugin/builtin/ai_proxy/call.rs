//! The provider call of an AI request, after `before_proxy`: an attempt
//! on the picked instance (a chat, `chat.rs`, or embeddings,
//! `embeddings.rs`), and on a failure before the answer starts, attempts
//! on other instances as `ai-proxy-multi`'s fallback policy allows. Usage
//! and price come from the attempt that answered, so a retried request is
//! counted once.

use std::sync::Arc;

use http::Response;

use super::embeddings::{self, EmbeddingsCall};
use super::target::AiTarget;
use super::{chat, error_response, CallKind, InstanceGate, LlmCall, LlmRequest};
use crate::body::ProxyBody;
use crate::llm::stats::LlmStats;
use crate::llm::{ChatRequest, ClientProtocol, LlmError};
use crate::plugin::Ctx;
use crate::proxy::plugins::plugin_response;

use super::exchange::Failure;
use super::pool::Attempt;

/// What the attempts send.
enum Job {
    Chat(Arc<ChatRequest>),
    Embeddings(EmbeddingsCall),
}

impl Job {
    /// The request `kind` left in `ctx` by the access phase.
    fn take(ctx: &mut Ctx, kind: CallKind) -> Option<Job> {
        match kind {
            CallKind::Chat => ctx
                .extensions
                .remove::<LlmRequest>()
                .map(|r| Job::Chat(Arc::new(r.0))),
            CallKind::Embeddings => ctx
                .extensions
                .get::<EmbeddingsCall>()
                .cloned()
                .map(Job::Embeddings),
        }
    }

    fn model(&self) -> &str {
        match self {
            Job::Chat(r) => &r.model,
            Job::Embeddings(c) => &c.req.model,
        }
    }

    /// Whether instance `target` can take it at all.
    fn fits(&self, target: &AiTarget) -> bool {
        match self {
            Job::Chat(_) => true,
            Job::Embeddings(_) => embeddings::supports(target),
        }
    }

    async fn send(
        &self,
        ctx: &Ctx,
        target: &AiTarget,
        protocol: &'static dyn ClientProtocol,
        stats: &Arc<LlmStats>,
        attempt: Attempt,
    ) -> Result<Response<ProxyBody>, Failure> {
        match self {
            Job::Chat(req) => chat::send(ctx, target, req, protocol, stats, attempt).await,
            Job::Embeddings(call) => embeddings::send(ctx, target, call, stats, attempt).await,
        }
    }

    /// Move the request from instance `from` to `to`.
    fn switch(
        &mut self,
        ctx: &Ctx,
        protocol: &dyn ClientProtocol,
        from: &AiTarget,
        to: &AiTarget,
    ) -> Result<(), LlmError> {
        match self {
            Job::Chat(req) => {
                chat::switch_options(ctx, protocol, Arc::make_mut(req), from, to);
                Ok(())
            }
            Job::Embeddings(call) => embeddings::switch(call, to),
        }
    }
}

/// Make the call, falling back to other instances as the pool's policy
/// allows; the response is in the client's protocol.
pub async fn call(ctx: &mut Ctx, llm: LlmCall) -> Response<ProxyBody> {
    let LlmCall {
        pool,
        picked,
        hash_key,
        protocol,
        kind,
    } = llm;
    let Some(mut job) = Job::take(ctx, kind) else {
        let err = LlmError::invalid("the LLM request was removed by a plugin");
        return plugin_response(error_response(protocol, &err));
    };
    let stats = match ctx.extensions.get::<Arc<LlmStats>>() {
        Some(s) => s.clone(),
        None => {
            let stream = matches!(&job, Job::Chat(r) if r.stream);
            let s = Arc::new(LlmStats::new(job.model().to_string(), stream));
            ctx.extensions.insert(s.clone());
            s
        }
    };
    // Everything before the first provider call is strait's own time.
    stats.add_overhead(ctx.started.elapsed());
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
        let failure = match job.send(ctx, &target, protocol, &stats, attempt).await {
            Ok(resp) => return resp,
            Err(f) => f,
        };
        let next = if pool
            .fallback
            .allows(failure.status, failure.elapsed, tried.len() - 1)
        {
            pool.pick(hash_key.as_deref(), &tried, &|i| {
                let next = &pool.instances[i].target;
                job.fits(next) && gate.as_ref().is_none_or(|g| g.admits(&next.instance))
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
        if let Err(e) = job.switch(ctx, protocol, &target, next_target) {
            // The next instance's options make the request invalid.
            return plugin_response(error_response(protocol, &e));
        }
        ctx.set_var("picked_ai_instance_name", next_target.instance.clone());
        index = next;
    }
}
