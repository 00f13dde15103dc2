//! `ai-proxy` (priority 1040, access phase; APISIX's schema): the route's
//! requests go to one LLM provider instead of an upstream. What the client
//! asks for is detected from the path and body (`…/v1/messages`:
//! Anthropic; a body with `input` and no `messages`, or a path ending in
//! `/embeddings`: OpenAI embeddings; else OpenAI chat). A chat body is
//! decoded into the canonical request, `options` are applied, and the
//! call itself happens after `before_proxy`, so later plugins (Lua
//! included) see and may change the decoded request. The answer, streamed
//! or not, is translated back to the client's protocol; usage lands in the
//! `llm_*` variables. `GET …/v1/models` is answered here, from the
//! configuration (`models.rs`).

mod call;
mod chat;
pub mod embeddings;
mod exchange;
pub mod models;
pub mod pool;
mod stream;
pub mod target;

use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::llm::protocol::{self, Api};
use crate::llm::stats::LlmStats;
use crate::llm::{ChatRequest, ClientProtocol, ErrorKind, LlmError};
use crate::plugin::ctx::RequestBody;
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};
pub use call::call;
use pool::InstancePool;
use target::AiTarget;

/// The decoded request of an LLM call, which plugins may change before it is sent.
#[derive(Debug, Clone)]
pub struct LlmRequest(pub ChatRequest);

/// An LLM call waiting for the end of the `before_proxy` phase.
#[derive(Clone)]
pub struct LlmCall {
    /// The instances it may go to.
    pub pool: Arc<InstancePool>,
    /// The instance picked in the access phase (`picked_ai_instance_name`).
    pub picked: usize,
    /// The `chash` key, for picking a fallback instance.
    pub hash_key: Option<Vec<u8>>,
    /// How the client speaks (its errors' shape for embeddings).
    pub protocol: &'static dyn ClientProtocol,
    /// What the call does.
    pub kind: CallKind,
}

/// What an LLM call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A chat ([`LlmRequest`] holds the request).
    Chat,
    /// Embeddings ([`embeddings::EmbeddingsCall`] holds the request).
    Embeddings,
}

/// Whether an instance may take a request, set by `ai-rate-limiting` for
/// `ai-proxy-multi`'s `rate_limiting` fallback strategy.
#[derive(Clone)]
pub struct InstanceGate(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl InstanceGate {
    /// Whether instance `name` has quota left.
    pub fn admits(&self, name: &str) -> bool {
        (self.0)(name)
    }
}

/// The factory.
pub struct AiProxyFactory;

struct AiProxy {
    pool: Arc<InstancePool>,
}

/// The schema of `auth` (APISIX's: header and query maps of strings).
pub fn auth_schema() -> Value {
    let item =
        json!({"type": "object", "patternProperties": {"^[a-zA-Z0-9._-]+$": {"type": "string"}}});
    json!({
        "type": "object",
        "properties": {"header": item, "query": item},
        "additionalProperties": false,
    })
}

/// `override` (endpoint, llm_options.max_tokens).
pub fn override_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "endpoint": {"type": "string", "minLength": 1},
            "llm_options": {
                "type": "object",
                "properties": {"max_tokens": {"type": "integer", "minimum": 1}},
                "additionalProperties": false,
            },
        },
    })
}

impl PluginFactory for AiProxyFactory {
    fn name(&self) -> &str {
        "ai-proxy"
    }
    fn priority(&self) -> i64 {
        1040
    }
    fn schema(&self) -> Value {
        let mut schema = json!({
            "type": "object",
            "encrypt_fields": ["auth.header", "auth.query"],
            "properties": {
                // APISIX lists its providers in an enum; strait also takes the
                // Lua providers of the plugin directories, so `check` names
                // the ones it knows.
                "provider": {"type": "string", "minLength": 1},
                "auth": auth_schema(),
                "options": {
                    "type": "object",
                    "properties": {"model": {"type": "string"}},
                    "additionalProperties": true,
                },
                "override": override_schema(),
                // strait's own: per-token USD prices of this instance, over
                // the price table's (LiteLLM's field names).
                "price": price_schema(),
            },
            "required": ["provider", "auth"],
        });
        if let Some(p) = schema["properties"].as_object_mut() {
            p.extend(call_settings_schema());
        }
        schema
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        AiTarget::build(conf, String::new()).map(|_| ())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let provider = conf.get("provider").and_then(Value::as_str).unwrap_or("");
        let target = AiTarget::build(conf, format!("ai-proxy-{provider}"))?;
        Ok(Arc::new(AiProxy {
            pool: Arc::new(InstancePool::single(Arc::new(target))),
        }))
    }
}

/// The settings of the provider call, the same in `ai-proxy` and
/// `ai-proxy-multi` (whose instances inherit them).
pub fn call_settings_schema() -> Map<String, Value> {
    let v = json!({
        "logging": {
            "type": "object",
            "properties": {
                "summaries": {"type": "boolean", "default": false},
                "payloads": {"type": "boolean", "default": false},
            },
        },
        "timeout": {"type": "integer", "minimum": 1, "maximum": 600000, "default": 30000},
        "max_req_body_size": {"type": "integer", "minimum": 1, "default": 67108864},
        "max_stream_duration_ms": {"type": "integer", "minimum": 1},
        "max_response_bytes": {"type": "integer", "minimum": 1},
        "keepalive": {"type": "boolean", "default": true},
        "keepalive_timeout": {"type": "integer", "minimum": 1000, "default": 60000},
        "keepalive_pool": {"type": "integer", "minimum": 1, "default": 30},
        "streaming_flush_interval_ms": {"type": "integer", "minimum": 0, "default": 10},
        "ssl_verify": {"type": "boolean", "default": true},
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `price`: LiteLLM's per-token price fields.
pub fn price_schema() -> Value {
    let usd = json!({"type": "number", "minimum": 0});
    json!({
        "type": "object",
        "properties": {
            "input_cost_per_token": usd,
            "output_cost_per_token": usd,
            "cache_read_input_token_cost": usd,
            "cache_creation_input_token_cost": usd,
            "output_cost_per_reasoning_token": usd,
        },
        "required": ["input_cost_per_token", "output_cost_per_token"],
        "additionalProperties": false,
    })
}

/// Answer with `err` in the client's protocol.
pub fn error_response(protocol: &dyn ClientProtocol, err: &LlmError) -> PluginResponse {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_GATEWAY);
    PluginResponse::json(status, &protocol.encode_error(err))
}

/// Refuse a request body larger than `target`'s `max_req_body_size` (413).
pub fn check_size(ctx: &Ctx, target: &AiTarget) -> Result<(), LlmError> {
    let len = ctx.extensions.get::<RequestBody>().map_or(0, |b| b.0.len());
    if len > target.max_request_bytes {
        return Err(LlmError {
            status: 413,
            kind: ErrorKind::InvalidRequest,
            message: format!(
                "the request body is larger than max_req_body_size ({} bytes)",
                target.max_request_bytes
            ),
        });
    }
    Ok(())
}

/// The request body as a JSON object.
fn body_object(ctx: &Ctx) -> Result<Map<String, Value>, LlmError> {
    let body = ctx
        .extensions
        .get::<RequestBody>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| LlmError::invalid(format!("the request body is not JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(LlmError::invalid("the request body must be a JSON object")),
    }
}

/// Decode the client's chat request `obj` for `target`: `options` set
/// first (they win over the client's fields, as in APISIX), then the
/// protocol's decoder, then `override.llm_options.max_tokens`.
pub fn decode_request(
    protocol: &dyn ClientProtocol,
    mut obj: Map<String, Value>,
    target: &AiTarget,
) -> Result<ChatRequest, LlmError> {
    obj.extend(target.options.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut req = protocol.decode_object(obj)?;
    if let Some(n) = target.max_tokens {
        req.max_tokens = Some(n);
    }
    Ok(req)
}

impl Plugin for AiProxy {
    fn reads_request_body(&self) -> bool {
        true
    }

    fn access(&self, ctx: &mut Ctx) -> Step {
        if let Some(answer) = models::answer(ctx, &self.pool) {
            return Step::Respond(answer);
        }
        start_call(ctx, &self.pool, 0, None, &|_| true)
    }
}

/// Decode the client's request for instance `picked` of `pool` and leave
/// the call for after `before_proxy` (shared by `ai-proxy` and
/// `ai-proxy-multi`). An embeddings request goes to another instance
/// `admits` allows when `picked` has no embeddings API.
pub fn start_call(
    ctx: &mut Ctx,
    pool: &Arc<InstancePool>,
    picked: usize,
    hash_key: Option<Vec<u8>>,
    admits: &dyn Fn(usize) -> bool,
) -> Step {
    let protocol = protocol::detect(&ctx.path);
    let target = &pool.instances[picked].target;
    let obj = match check_size(ctx, target).and_then(|()| body_object(ctx)) {
        Ok(o) => o,
        Err(e) => return Step::Respond(error_response(protocol, &e)),
    };
    let protocol = match protocol::detect_api(&ctx.path, &obj) {
        Api::Chat(p) => p,
        Api::Embeddings => return embeddings::start(ctx, pool, picked, hash_key, admits, obj),
    };
    match decode_request(protocol, obj, target) {
        Ok(req) => {
            let stats = LlmStats::new(req.model.clone(), req.stream);
            ctx.extensions.insert(Arc::new(stats));
            ctx.extensions.insert(LlmRequest(req));
            // For later plugins (ai-rate-limiting's instance name).
            ctx.set_var("picked_ai_instance_name", target.instance.clone());
            ctx.extensions.insert(LlmCall {
                pool: pool.clone(),
                picked,
                hash_key,
                protocol,
                kind: CallKind::Chat,
            });
            Step::Continue
        }
        Err(e) => Step::Respond(error_response(protocol, &e)),
    }
}
