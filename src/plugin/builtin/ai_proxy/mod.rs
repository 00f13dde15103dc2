//! `ai-proxy` (priority 1040, access phase; APISIX's schema): the route's
//! requests go to one LLM provider instead of an upstream. The client's
//! protocol is detected from the path (`…/v1/messages`: Anthropic, else
//! OpenAI chat); the body is decoded into the canonical request, `options`
//! are applied, and the call itself happens after `before_proxy`, so
//! later plugins (Lua included) see and may change the decoded request.
//! The answer, streamed or not, is translated back to the client's
//! protocol; usage lands in the `llm_*` variables.

mod call;
pub mod pool;
mod stream;
pub mod target;

use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::llm::stats::LlmStats;
use crate::llm::{decode_request_with, protocol, ChatRequest, ClientProtocol, LlmError};
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
    /// How the client speaks.
    pub protocol: &'static dyn ClientProtocol,
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

/// Decode the client's request body for `target`: `options` set first
/// (they win over the client's fields, as in APISIX), then the protocol's
/// decoder, then `override.llm_options.max_tokens`.
pub fn decode_request(
    protocol: &dyn ClientProtocol,
    body: &[u8],
    target: &AiTarget,
) -> Result<ChatRequest, LlmError> {
    if body.len() > target.max_request_bytes {
        return Err(LlmError {
            status: 413,
            kind: crate::llm::ErrorKind::InvalidRequest,
            message: format!(
                "the request body is larger than max_req_body_size ({} bytes)",
                target.max_request_bytes
            ),
        });
    }
    let mut req = decode_request_with(protocol, body, &target.options)?;
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
        start_call(ctx, &self.pool, 0, None)
    }
}

/// Decode the client's request for instance `picked` of `pool` and leave
/// the call for after `before_proxy` (shared by `ai-proxy` and
/// `ai-proxy-multi`).
pub fn start_call(
    ctx: &mut Ctx,
    pool: &Arc<InstancePool>,
    picked: usize,
    hash_key: Option<Vec<u8>>,
) -> Step {
    let protocol = protocol::detect(&ctx.path);
    let target = &pool.instances[picked].target;
    let body = ctx
        .extensions
        .get::<RequestBody>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    match decode_request(protocol, &body, target) {
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
            });
            Step::Continue
        }
        Err(e) => Step::Respond(error_response(protocol, &e)),
    }
}
