//! `ai-rate-limiting` (priority 1030; APISIX's schema): token limits for the
//! AI instance `ai-proxy`/`ai-proxy-multi` picked (`picked_ai_instance_name`).
//!
//! - `instances[{name, limit, time_window}]` limit one instance; `limit` and
//!   `time_window` limit every other instance (one shared counter); `rules[
//!   {count, time_window, key, header_prefix}]` instead limit each value of
//!   `key` (`$consumer_name`, `$remote_addr`, …), as APISIX does.
//! - `limit_strategy` counts `total_tokens` (default), `prompt_tokens` or
//!   `completion_tokens`.
//! - Unlike APISIX, which checks before the call and counts after it (so a
//!   burst of concurrent requests all pass), a request **reserves** an
//!   estimate before the call (a quick prompt estimate plus its
//!   `max_tokens`) and settles with the real usage afterwards; see
//!   [`window`]. An answer without usage is counted with strait's
//!   tokenizer; a failed call gives its reservation back.
//! - Over the limit: `rejected_code` (503) with `rejected_msg`; headers
//!   `X-AI-RateLimit-{Limit,Remaining,Reset}-<instance>` (or
//!   `X-AI-<header_prefix>-RateLimit-*` for rules) when
//!   `show_limit_quota_header`.
//! - With `ai-proxy-multi`'s `rate_limiting` fallback strategy, instances
//!   whose quota is used up are not picked ([`InstanceGate`]).
//! - `policy: redis` shares counters between gateways; Redis unreachable:
//!   `allow_degradation` lets requests through, else 500.
//!
//! Not supported (refused when configured): `limit_strategy: expression`
//! (`cost_expr`), limits given as variables, `redis-cluster` and
//! `redis-sentinel`.

pub mod window;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::ai_proxy::embeddings::EmbeddingsCall;
use super::ai_proxy::{InstanceGate, LlmRequest};
use super::limit_common::{
    check_redis, counter_prefix, lua_number, redis_conf, redis_if_then, unix_ms, Rejection,
};
use super::var_template::VarTemplate;
use crate::llm::estimate::{quick_embedding_tokens, quick_prompt_tokens};
use crate::llm::stats::LlmStats;
use crate::llm::Usage;
use crate::plugin::redis::RedisPool;
use crate::plugin::{BuildEnv, Ctx, Decided, Plugin, PluginFactory, PluginResponse, Step};
use window::{Reserved, Slot};

/// The factory.
pub struct AiRateLimitingFactory;

/// What is counted.
#[derive(Debug, Clone, Copy)]
enum Strategy {
    Total,
    Prompt,
    Completion,
}

impl Strategy {
    fn of(self, u: &Usage) -> u64 {
        match self {
            Strategy::Total => u.total_tokens(),
            Strategy::Prompt => u.prompt_tokens,
            Strategy::Completion => u.completion_tokens,
        }
    }

    /// Tokens reserved before a call whose prompt is about `prompt`
    /// tokens and whose answer may take `completion`.
    fn estimate(self, prompt: u64, completion: u64) -> u64 {
        let n = match self {
            Strategy::Total => prompt.saturating_add(completion),
            Strategy::Prompt => prompt,
            Strategy::Completion => completion,
        };
        n.max(1)
    }

    /// Tokens reserved before the call of `ctx` (embeddings generate none).
    fn estimate_call(self, ctx: &Ctx) -> u64 {
        if let Some(r) = ctx.extensions.get::<LlmRequest>() {
            return self.estimate(quick_prompt_tokens(&r.0), r.0.max_tokens.unwrap_or(0));
        }
        match ctx.extensions.get::<EmbeddingsCall>() {
            Some(c) => self.estimate(quick_embedding_tokens(&c.req.input), 0),
            None => 1,
        }
    }
}

/// A limit and the names of its headers.
struct Limit {
    limit: u64,
    window_s: u64,
    /// None when the names are not valid header names (an instance name
    /// with a space): the limit still applies, without headers.
    headers: Option<[HeaderName; 3]>,
}

impl Limit {
    fn new(limit: u64, window_s: u64, names: [String; 3]) -> Limit {
        Limit {
            limit,
            window_s,
            headers: header_names(&names),
        }
    }
}

fn header_names(names: &[String; 3]) -> Option<[HeaderName; 3]> {
    let h = |n: &str| HeaderName::from_bytes(n.as_bytes()).ok();
    Some([h(&names[0])?, h(&names[1])?, h(&names[2])?])
}

/// A `rules` entry.
struct Rule {
    key: VarTemplate,
    limit: Limit,
}

enum Backend {
    Local,
    Redis(Arc<RedisPool>),
}

/// One reservation of a request.
#[derive(Debug, Clone)]
struct Held {
    slot: Slot,
    /// The window it was taken in.
    window: u64,
    amount: u64,
    /// The instance whose limit this is (None for rules).
    instance: Option<String>,
}

/// The reservations of a request, filled in by the access phase (after a
/// Redis round trip, hence the cell) and settled by the log phase.
#[derive(Default)]
struct Reservations(OnceLock<Vec<Held>>);

/// Every `ai-rate-limiting` of a request (a global rule and a route may
/// both have one), by counter prefix.
#[derive(Clone, Default)]
struct ReservationBook(Vec<(String, Arc<Reservations>)>);

struct Inner {
    prefix: String,
    strategy: Strategy,
    instances: HashMap<String, Limit>,
    /// Headers of instances without their own limit are named per request.
    global: Option<(u64, u64)>,
    rules: Vec<Rule>,
    show_headers: bool,
    rejection: Rejection,
    allow_degradation: bool,
    backend: Backend,
    /// Counters known to be used up, until the end of their window (Unix
    /// ms): what [`InstanceGate`] reads, as Redis cannot be asked in a
    /// balancer's pick.
    exhausted: super::limit_common::Sharded<f64>,
}

/// The plugin, and the gate it hands `ai-proxy-multi` (built once).
struct AiRateLimiting(Arc<Inner>, InstanceGate);

fn amount(v: Option<&Value>, field: &str) -> Result<Option<u64>, String> {
    match v {
        None => Ok(None),
        Some(Value::String(_)) => Err(format!("{field} as a variable is not supported yet")),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| format!("{field} must be a positive integer")),
    }
}

impl PluginFactory for AiRateLimitingFactory {
    fn name(&self) -> &str {
        "ai-rate-limiting"
    }
    fn priority(&self) -> i64 {
        1030
    }
    fn schema(&self) -> Value {
        let amount = json!({"oneOf": [
            {"type": "integer", "exclusiveMinimum": 0},
            {"type": "string"}
        ]});
        let (cond, then) = redis_if_then();
        let mut schema = json!({
            "type": "object",
            "encrypt_fields": ["redis_password"],
            "properties": {
                "limit": amount,
                "time_window": amount,
                "show_limit_quota_header": {"type": "boolean", "default": true},
                "limit_strategy": {
                    "type": "string",
                    "enum": ["total_tokens", "prompt_tokens", "completion_tokens", "expression"],
                    "default": "total_tokens",
                },
                "cost_expr": {"type": "string", "minLength": 1},
                "instances": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "limit": amount,
                            "time_window": amount,
                        },
                        "required": ["name", "limit", "time_window"],
                    },
                },
                "rejected_code": {"type": "integer", "minimum": 200, "maximum": 599, "default": 503},
                "rejected_msg": {"type": "string", "minLength": 1},
                "policy": {"type": "string", "enum": ["local", "redis", "redis-cluster", "redis-sentinel"], "default": "local"},
                "allow_degradation": {"type": "boolean", "default": false},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "count": amount,
                            "time_window": amount,
                            "key": {"type": "string"},
                            "header_prefix": {"type": "string"},
                        },
                        "required": ["count", "time_window", "key"],
                    },
                },
            },
            "dependencies": {"limit": ["time_window"], "time_window": ["limit"]},
            // As APISIX: rules, or instance and shared limits, not both.
            "oneOf": [
                {"anyOf": [{"required": ["limit", "time_window"]}, {"required": ["instances"]}]},
                {"required": ["rules"]},
            ],
            "if": cond,
            "then": then,
        });
        for (k, v) in super::limit_common::redis_properties() {
            schema["properties"][k] = v;
        }
        schema
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        build(conf, "check").map(|_| ())
    }
    fn build(&self, conf: &Value, env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        let inner = Arc::new(build(conf, &env.holder)?);
        let gated = inner.clone();
        let gate = InstanceGate(Arc::new(move |name| gated.admits(name)));
        Ok(Arc::new(AiRateLimiting(inner, gate)))
    }
}

fn build(conf: &Value, holder: &str) -> Result<Inner, String> {
    let strategy = match conf.get("limit_strategy").and_then(Value::as_str) {
        None | Some("total_tokens") => Strategy::Total,
        Some("prompt_tokens") => Strategy::Prompt,
        Some("completion_tokens") => Strategy::Completion,
        Some(other) => {
            return Err(format!(
                "limit_strategy {other:?} (cost_expr) is not supported yet: use total_tokens, prompt_tokens or completion_tokens"
            ))
        }
    };
    if matches!(
        conf.get("policy").and_then(Value::as_str),
        Some("redis-cluster" | "redis-sentinel")
    ) {
        return Err("policy: only local and redis are supported".into());
    }
    check_redis(conf)?;
    let mut instances = HashMap::new();
    for (i, inst) in conf
        .get("instances")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = inst.get("name").and_then(Value::as_str).unwrap_or("");
        let field = |f: &str| format!("instances[{i}].{f}");
        let limit = amount(inst.get("limit"), &field("limit"))?.unwrap_or(1);
        let window = amount(inst.get("time_window"), &field("time_window"))?.unwrap_or(1);
        instances.insert(
            name.to_string(),
            Limit::new(limit, window, instance_headers(name)),
        );
    }
    let global = match (
        amount(conf.get("limit"), "limit")?,
        amount(conf.get("time_window"), "time_window")?,
    ) {
        (Some(l), Some(w)) => Some((l, w)),
        _ => None,
    };
    let mut rules = Vec::new();
    for (i, r) in conf
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = |f: &str| format!("rules[{i}].{f}");
        let count = amount(r.get("count"), &field("count"))?.unwrap_or(1);
        let window = amount(r.get("time_window"), &field("time_window"))?.unwrap_or(1);
        let prefix = r
            .get("header_prefix")
            .and_then(Value::as_str)
            .map_or_else(|| (i + 1).to_string(), str::to_string);
        let names = ["Limit", "Remaining", "Reset"].map(|k| format!("X-AI-{prefix}-RateLimit-{k}"));
        rules.push(Rule {
            key: VarTemplate::new(r.get("key").and_then(Value::as_str).unwrap_or("")),
            limit: Limit::new(count, window, names),
        });
    }
    Ok(Inner {
        prefix: counter_prefix(holder, conf),
        strategy,
        instances,
        global,
        rules,
        show_headers: conf
            .get("show_limit_quota_header")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        rejection: Rejection::from_conf(conf),
        allow_degradation: conf
            .get("allow_degradation")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        backend: match conf.get("policy").and_then(Value::as_str) {
            Some("redis") => Backend::Redis(RedisPool::shared(redis_conf(conf))),
            _ => Backend::Local,
        },
        exhausted: super::limit_common::Sharded::new(4096),
    })
}

fn instance_headers(name: &str) -> [String; 3] {
    ["Limit", "Remaining", "Reset"].map(|k| format!("X-AI-RateLimit-{k}-{name}"))
}

/// A counter to reserve in, with its header names.
struct Wanted {
    slot: Slot,
    headers: Option<[HeaderName; 3]>,
    instance: Option<String>,
}

impl Inner {
    /// The counter of instance `name` and its header names, if it is limited.
    fn instance_slot(&self, name: &str) -> Option<(Slot, Option<[HeaderName; 3]>)> {
        if let Some(l) = self.instances.get(name) {
            let slot = Slot {
                key: format!("{}:instance:{name}", self.prefix),
                limit: l.limit,
                window_s: l.window_s,
            };
            return Some((slot, l.headers.clone()));
        }
        let (limit, window_s) = self.global?;
        let headers = header_names(&instance_headers(name));
        Some((
            Slot {
                key: format!("{}:global", self.prefix),
                limit,
                window_s,
            },
            headers,
        ))
    }

    /// The counters this request reserves in: the rules', else its instance's.
    fn wanted(&self, ctx: &Ctx, instance: &str) -> Vec<Wanted> {
        if !self.rules.is_empty() {
            return self
                .rules
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let (key, found) = r.key.render(ctx);
                    // A key that resolves to nothing does not limit (as APISIX).
                    (found > 0 && !key.is_empty()).then(|| Wanted {
                        slot: Slot {
                            key: format!("{}:rule{i}:{key}", self.prefix),
                            limit: r.limit.limit,
                            window_s: r.limit.window_s,
                        },
                        headers: r.limit.headers.clone(),
                        instance: None,
                    })
                })
                .collect();
        }
        self.instance_slot(instance)
            .map(|(slot, headers)| Wanted {
                slot,
                headers,
                instance: Some(instance.to_string()),
            })
            .into_iter()
            .collect()
    }

    /// Whether the counter of instance `name` may take a request, as far
    /// as this gateway knows.
    fn admits(&self, name: &str) -> bool {
        let Some((slot, _)) = self.instance_slot(name) else {
            return true;
        };
        let now = unix_ms();
        !self.exhausted.with(
            &slot.key,
            || 0.0,
            |until| *until <= now,
            |until| *until > now,
        )
    }

    /// Keep the used-up hint of `slot` in step with its count: set until
    /// the window ends once the count reaches the limit, else cleared.
    fn mark(&self, slot: &Slot, count: u64, reset: f64) {
        if count >= slot.limit {
            let now = unix_ms();
            let until = now + reset * 1000.0;
            self.exhausted
                .with(&slot.key, || until, |u| *u <= now, |u| *u = until);
        } else {
            self.exhausted.update_or_remove(&slot.key, |_| true);
        }
    }

    /// The hint after a reservation.
    fn note(&self, slot: &Slot, reserved: &Reserved) {
        match *reserved {
            Reserved::Rejected { reset } => self.mark(slot, slot.limit, reset),
            Reserved::Allowed {
                remaining, reset, ..
            } => self.mark(slot, slot.limit - remaining.min(slot.limit), reset),
        }
    }

    /// Settle `reserved` tokens taken in `window` (None: none taken) with `used`.
    fn settle_local(&self, slot: &Slot, window: Option<u64>, reserved: u64, used: u64) {
        let (count, reset) = window::settle_local(slot, window, reserved, used, unix_ms());
        self.mark(slot, count, reset);
    }
}

/// The quota headers of one counter.
fn quota_headers(
    names: &[HeaderName; 3],
    limit: u64,
    r: &Reserved,
) -> [(HeaderName, HeaderValue); 3] {
    let (remaining, reset) = match *r {
        Reserved::Allowed {
            remaining, reset, ..
        } => (remaining, reset),
        Reserved::Rejected { reset } => (0, reset),
    };
    let reset = (reset * 100.0).floor() / 100.0;
    [
        (names[0].clone(), HeaderValue::from(limit)),
        (names[1].clone(), HeaderValue::from(remaining)),
        (
            names[2].clone(),
            HeaderValue::from_str(&lua_number(reset)).unwrap_or(HeaderValue::from_static("0")),
        ),
    ]
}

/// What the reservations of one request came to.
fn decide(inner: &Inner, wanted: &[Wanted], results: &[Reserved]) -> (Decided, Vec<Held>) {
    let mut headers = Vec::new();
    let mut held = Vec::new();
    let mut rejected = false;
    for (w, r) in wanted.iter().zip(results) {
        if let (true, Some(names)) = (inner.show_headers, &w.headers) {
            headers.extend(quota_headers(names, w.slot.limit, r));
        }
        match *r {
            Reserved::Allowed { window, .. } => held.push((w, window)),
            Reserved::Rejected { .. } => rejected = true,
        }
    }
    let held = held
        .into_iter()
        .map(|(w, window)| Held {
            slot: w.slot.clone(),
            window,
            amount: 0,
            instance: w.instance.clone(),
        })
        .collect();
    (
        Decided {
            respond: rejected.then(|| inner.rejection.respond()),
            response_headers: headers,
        },
        held,
    )
}

impl Plugin for AiRateLimiting {
    fn rewrite(&self, ctx: &mut Ctx) -> Step {
        ctx.extensions.insert(self.1.clone());
        Step::Continue
    }

    fn access(&self, ctx: &mut Ctx) -> Step {
        let inner = &self.0;
        let Some(instance) = ctx
            .plugin_var("picked_ai_instance_name")
            .map(str::to_string)
        else {
            return Step::Continue;
        };
        let wanted = inner.wanted(ctx, &instance);
        if wanted.is_empty() {
            return Step::Continue;
        }
        let amount = inner.strategy.estimate_call(ctx);
        // Never more than a whole window (a client's max_tokens is its own
        // business, not a reason to lock everyone else out).
        let amount_in = move |slot: &Slot| amount.min(slot.limit).max(1);
        let cell = Arc::new(Reservations::default());
        match ctx.extensions.get_mut::<ReservationBook>() {
            Some(book) => book.0.push((inner.prefix.clone(), cell.clone())),
            None => {
                ctx.extensions
                    .insert(ReservationBook(vec![(inner.prefix.clone(), cell.clone())]));
            }
        }
        match &inner.backend {
            Backend::Local => {
                let now = unix_ms();
                let results: Vec<Reserved> = wanted
                    .iter()
                    .map(|w| {
                        let r = window::reserve_local(&w.slot, amount_in(&w.slot), now);
                        inner.note(&w.slot, &r);
                        r
                    })
                    .collect();
                let (decided, mut held) = decide(inner, &wanted, &results);
                for h in &mut held {
                    h.amount = amount_in(&h.slot);
                }
                if decided.respond.is_some() {
                    // All or nothing: give back what was taken.
                    for h in &held {
                        inner.settle_local(&h.slot, Some(h.window), h.amount, 0);
                    }
                    held.clear();
                }
                let _ = cell.0.set(held);
                ctx.response_headers.extend(decided.response_headers);
                match decided.respond {
                    Some(r) => Step::Respond(r),
                    None => Step::Continue,
                }
            }
            Backend::Redis(pool) => {
                let pool = pool.clone();
                let inner = inner.clone();
                Step::Wait(Box::pin(async move {
                    let mut results = Vec::with_capacity(wanted.len());
                    for w in &wanted {
                        match window::reserve_redis(&pool, &w.slot, amount_in(&w.slot)).await {
                            Ok(r) => {
                                inner.note(&w.slot, &r);
                                results.push(r);
                            }
                            Err(e) => {
                                tracing::error!("ai-rate-limiting: failed to limit tokens: {e}");
                                // Give back what this request took so far.
                                for (w, r) in wanted.iter().zip(&results) {
                                    if let Reserved::Allowed { window, .. } = r {
                                        let _ = window::settle_redis(
                                            &pool,
                                            &w.slot,
                                            Some(*window),
                                            amount_in(&w.slot),
                                            0,
                                        )
                                        .await;
                                    }
                                }
                                return Decided {
                                    respond: (!inner.allow_degradation).then(|| {
                                        PluginResponse::json(
                                            StatusCode::INTERNAL_SERVER_ERROR,
                                            &json!({"error_msg": "failed to limit count"}),
                                        )
                                    }),
                                    response_headers: Vec::new(),
                                };
                            }
                        }
                    }
                    let (decided, mut held) = decide(&inner, &wanted, &results);
                    for h in &mut held {
                        h.amount = amount_in(&h.slot);
                    }
                    if decided.respond.is_some() {
                        for h in &held {
                            let _ =
                                window::settle_redis(&pool, &h.slot, Some(h.window), h.amount, 0)
                                    .await;
                        }
                        held.clear();
                    }
                    let _ = cell.0.set(held);
                    decided
                }))
            }
        }
    }

    fn log(&self, ctx: &Ctx) {
        let inner = &self.0;
        let Some(book) = ctx.extensions.get::<ReservationBook>() else {
            return;
        };
        let Some((_, cell)) = book.0.iter().find(|(p, _)| *p == inner.prefix) else {
            return;
        };
        let Some(held) = cell.0.get() else { return };
        if held.is_empty() {
            return;
        }
        // No usage (the call failed before any answer): the reservation goes back.
        let used = ctx
            .extensions
            .get::<Arc<LlmStats>>()
            .and_then(|s| s.usage())
            .map_or(0, |u| inner.strategy.of(&u));
        // A fallback may have moved the request to another instance: its
        // reservation goes back and the usage counts on the one that answered.
        let answered_by = ctx.plugin_var("picked_ai_instance_name").unwrap_or("");
        let mut settle: Vec<(Slot, Option<u64>, u64, u64)> = Vec::with_capacity(held.len() + 1);
        for h in held {
            match &h.instance {
                Some(name) if name != answered_by => {
                    settle.push((h.slot.clone(), Some(h.window), h.amount, 0));
                    if let Some((slot, _)) = inner.instance_slot(answered_by) {
                        settle.push((slot, None, 0, used));
                    }
                }
                _ => settle.push((h.slot.clone(), Some(h.window), h.amount, used)),
            }
        }
        match &inner.backend {
            Backend::Local => {
                for (slot, window, reserved, used) in settle {
                    inner.settle_local(&slot, window, reserved, used);
                }
            }
            Backend::Redis(pool) => {
                let pool = pool.clone();
                let inner = inner.clone();
                tokio::spawn(async move {
                    for (slot, window, reserved, used) in settle {
                        match window::settle_redis(&pool, &slot, window, reserved, used).await {
                            Ok(Some((count, reset))) => inner.mark(&slot, count, reset),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::error!("ai-rate-limiting: failed to count tokens: {e}")
                            }
                        }
                    }
                });
            }
        }
    }
}
