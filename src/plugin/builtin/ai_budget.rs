//! `ai-budget` (strait's own, priority 1029): at most `budget` US dollars
//! of LLM spend per `time_window` seconds (windows aligned on Unix time:
//! 86400 is a UTC day) for each value of `key` (default the consumer's
//! name, else the client address), priced from the price table or the
//! instance's `price`. Checked before the call: a spent budget answers
//! `rejected_code` (429) in the client's protocol (a rate-limit error the
//! OpenAI and Anthropic SDKs recognise) with `Retry-After`; the request's
//! cost is added after it. `X-AI-Budget-Limit` and `X-AI-Budget-Remaining`
//! (USD) show where a key stands. `policy: redis` shares budgets between
//! gateways.
//!
//! Spend is counted per key and window length across every route (a
//! consumer's spend is theirs wherever it happened); each route compares
//! it with its own `budget`. `group` keeps a separate count for the routes
//! naming it.
//!
//! Requests whose model has no known price cost nothing here (with a
//! warning in the log): put a price on the instance to count them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::ai_proxy::{error_response, LlmCall};
use super::ai_rate_limiting::window::{self, Reserved, Slot};
use super::limit_common::{check_redis, redis_conf, redis_if_then, unix_ms, KeySpec};
use crate::llm::stats::LlmStats;
use crate::llm::{ErrorKind, LlmError};
use crate::plugin::redis::RedisPool;
use crate::plugin::{BuildEnv, Ctx, Decided, Plugin, PluginFactory, PluginResponse, Step};

/// Budgets are counted in millionths of a dollar.
const MICRO: f64 = 1e6;

/// The factory.
pub struct AiBudgetFactory;

enum Backend {
    Local,
    Redis(Arc<RedisPool>),
}

/// The budget and how a spent one is answered.
#[derive(Clone, Copy)]
struct Terms {
    limit_micro: u64,
    window_s: u64,
    code: StatusCode,
    allow_degradation: bool,
}

struct AiBudget {
    terms: Terms,
    key: KeySpec,
    prefix: String,
    backend: Backend,
}

/// The counters a request's cost goes to (a global rule and a route may
/// both have a budget; each counter is charged once).
#[derive(Clone, Default)]
struct Charged(Vec<(Slot, Arc<AtomicBool>)>);

impl PluginFactory for AiBudgetFactory {
    fn name(&self) -> &str {
        "ai-budget"
    }
    fn priority(&self) -> i64 {
        1029
    }
    fn schema(&self) -> Value {
        let (cond, then) = redis_if_then();
        let mut schema = json!({
            "type": "object",
            "encrypt_fields": ["redis_password"],
            "properties": {
                "budget": {"type": "number", "exclusiveMinimum": 0},
                "time_window": {"type": "integer", "minimum": 1},
                "key": {"type": "string", "default": "consumer_name"},
                "group": {"type": "string", "minLength": 1},
                "key_type": {"type": "string", "enum": ["var", "var_combination", "constant"], "default": "var"},
                "rejected_code": {"type": "integer", "minimum": 400, "maximum": 599, "default": 429},
                "policy": {"type": "string", "enum": ["local", "redis"], "default": "local"},
                "allow_degradation": {"type": "boolean", "default": false},
            },
            "required": ["budget", "time_window"],
            "if": cond,
            "then": then,
        });
        for (k, v) in super::limit_common::redis_properties() {
            schema["properties"][k] = v;
        }
        schema
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        check_redis(conf)
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        check_redis(conf)?;
        let budget = conf.get("budget").and_then(Value::as_f64).unwrap_or(0.0);
        let window_s = conf
            .get("time_window")
            .and_then(Value::as_u64)
            .unwrap_or(86_400);
        let mut keyed = conf.clone();
        if keyed.get("key").is_none() {
            keyed["key"] = json!("consumer_name");
        }
        Ok(Arc::new(AiBudget {
            terms: Terms {
                limit_micro: (budget * MICRO).round().max(1.0) as u64,
                window_s,
                code: conf
                    .get("rejected_code")
                    .and_then(Value::as_u64)
                    .and_then(|c| StatusCode::from_u16(c as u16).ok())
                    .unwrap_or(StatusCode::TOO_MANY_REQUESTS),
                allow_degradation: conf
                    .get("allow_degradation")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            key: KeySpec::from_conf(&keyed),
            prefix: match conf.get("group").and_then(Value::as_str) {
                Some(g) => format!("ai-budget:group:{g}:{window_s}"),
                None => format!("ai-budget:{window_s}"),
            },
            backend: match conf.get("policy").and_then(Value::as_str) {
                Some("redis") => Backend::Redis(RedisPool::shared(redis_conf(conf))),
                _ => Backend::Local,
            },
        }))
    }
}

fn usd(micro: u64) -> String {
    format!("{:.6}", micro as f64 / MICRO)
}

impl Terms {
    /// What a check found: headers, and the refusal when the budget is spent.
    fn decide(&self, protocol: &dyn crate::llm::ClientProtocol, r: Reserved) -> Decided {
        let limit = HeaderName::from_static("x-ai-budget-limit");
        let remaining = HeaderName::from_static("x-ai-budget-remaining");
        let header = |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("0"));
        match r {
            Reserved::Allowed {
                remaining: left, ..
            } => Decided {
                respond: None,
                response_headers: vec![
                    (limit, header(usd(self.limit_micro))),
                    (remaining, header(usd(left))),
                ],
            },
            Reserved::Rejected { reset } => {
                let err = LlmError {
                    status: self.code.as_u16(),
                    kind: ErrorKind::RateLimit,
                    message: format!(
                        "the budget of ${} per {} s is spent; it renews in {} s",
                        usd(self.limit_micro)
                            .trim_end_matches('0')
                            .trim_end_matches('.'),
                        self.window_s,
                        reset.ceil()
                    ),
                };
                let mut answer: PluginResponse = error_response(protocol, &err);
                answer.headers.insert(
                    http::header::RETRY_AFTER,
                    HeaderValue::from(reset.ceil() as u64),
                );
                Decided {
                    respond: Some(answer),
                    response_headers: vec![
                        (limit, header(usd(self.limit_micro))),
                        (remaining, HeaderValue::from_static("0")),
                    ],
                }
            }
        }
    }
}

impl Plugin for AiBudget {
    fn access(&self, ctx: &mut Ctx) -> Step {
        let Some(call) = ctx.extensions.get::<LlmCall>() else {
            return Step::Continue;
        };
        let protocol = call.protocol;
        let slot = Slot {
            key: self.key.counter_key(&self.prefix, ctx),
            limit: self.terms.limit_micro,
            window_s: self.terms.window_s,
        };
        let terms = self.terms;
        match ctx.extensions.get_mut::<Charged>() {
            Some(c) if c.0.iter().any(|(s, _)| s.key == slot.key) => {}
            Some(c) => c.0.push((slot.clone(), Arc::default())),
            None => {
                ctx.extensions
                    .insert(Charged(vec![(slot.clone(), Arc::default())]));
            }
        }
        match &self.backend {
            // Nothing is reserved: a call's cost is only known after it.
            Backend::Local => {
                let d = terms.decide(protocol, window::reserve_local(&slot, 0, unix_ms()));
                ctx.response_headers.extend(d.response_headers);
                match d.respond {
                    Some(r) => Step::Respond(r),
                    None => Step::Continue,
                }
            }
            Backend::Redis(pool) => {
                let pool = pool.clone();
                Step::Wait(Box::pin(async move {
                    match window::reserve_redis(&pool, &slot, 0).await {
                        Ok(r) => terms.decide(protocol, r),
                        Err(e) => {
                            tracing::error!("ai-budget: cannot read the budget: {e}");
                            Decided {
                                respond: (!terms.allow_degradation).then(|| {
                                    PluginResponse::json(
                                        StatusCode::INTERNAL_SERVER_ERROR,
                                        &json!({"error_msg": "failed to check the budget"}),
                                    )
                                }),
                                response_headers: Vec::new(),
                            }
                        }
                    }
                }))
            }
        }
    }

    fn log(&self, ctx: &Ctx) {
        let (Some(Charged(slots)), Some(stats)) = (
            ctx.extensions.get::<Charged>(),
            ctx.extensions.get::<Arc<LlmStats>>(),
        ) else {
            return;
        };
        let Some(cost) = stats.cost() else {
            if stats.usage().is_some() {
                tracing::warn!(
                    model = stats.model(),
                    "ai-budget: no price for this model; the request cost nothing"
                );
            }
            return;
        };
        // Rounded up (a tiny request still costs), ignoring float noise.
        let micro = (cost * MICRO * (1.0 - 1e-9)).ceil() as u64;
        if micro == 0 {
            return;
        }
        // This plugin's counter, unless another `ai-budget` of the request
        // sharing it charged it already.
        let own = format!("{}:", self.prefix);
        let Some((slot, charged)) = slots.iter().find(|(s, _)| s.key.starts_with(&own)) else {
            return;
        };
        if charged.swap(true, Ordering::Relaxed) {
            return;
        }
        match &self.backend {
            Backend::Local => {
                window::settle_local(slot, None, 0, micro, unix_ms());
            }
            Backend::Redis(pool) => {
                let (pool, slot) = (pool.clone(), slot.clone());
                tokio::spawn(async move {
                    if let Err(e) = window::settle_redis(&pool, &slot, None, 0, micro).await {
                        tracing::error!("ai-budget: cannot add a request's cost: {e}");
                    }
                });
            }
        }
    }
}
