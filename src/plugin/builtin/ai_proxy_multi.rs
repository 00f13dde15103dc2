//! `ai-proxy-multi` (priority 1041, access phase; APISIX's schema): like
//! `ai-proxy`, over several provider instances. Instances are grouped by
//! `priority` (highest first) and balanced by `weight` within a group
//! (`balancer.algorithm` `roundrobin` or `chash`, or strait's latency-aware
//! `ewma` over time to first token). Instances whose health `checks` fail,
//! or which cool down after a 429 (for its `Retry-After`) or repeated
//! failures (strait's `cooldown`), are skipped while others are usable. A
//! failure before the answer starts goes on to another instance as
//! `fallback_strategy`, `fallback_http_statuses`, `max_retries` and
//! `retry_on_failure_within_ms` allow. Embeddings go to the instances
//! whose provider has an embeddings API; `GET …/v1/models` lists the
//! instances' models.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::ai_proxy::pool::{CooldownPolicy, FallbackPolicy, InstancePool};
use super::ai_proxy::target::AiTarget;
use super::ai_proxy::{
    auth_schema, call_settings_schema, models, override_schema, price_schema, start_call,
};
use crate::config::resource::HashOn;
use crate::expr::VarLookup;
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, Step};
use crate::upstream::balancer::Algorithm;
use crate::upstream::HashKey;

/// The factory.
pub struct AiProxyMultiFactory;

struct AiProxyMulti {
    pool: Arc<InstancePool>,
}

fn instance_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "provider": {"type": "string", "minLength": 1},
            "priority": {"type": "integer", "default": 0},
            "weight": {"type": "integer", "minimum": 0},
            "auth": auth_schema(),
            "options": {
                "type": "object",
                "properties": {"model": {"type": "string"}},
                "additionalProperties": true,
            },
            "override": override_schema(),
            "checks": {
                "type": "object",
                "properties": {"active": crate::schema::resources::health_checker_active()},
                "required": ["active"],
            },
            "timeout": {"type": "integer", "minimum": 1, "maximum": 600000},
            "price": price_schema(),
        },
        "required": ["name", "provider", "auth", "weight"],
    })
}

impl PluginFactory for AiProxyMultiFactory {
    fn name(&self) -> &str {
        "ai-proxy-multi"
    }
    fn priority(&self) -> i64 {
        1041
    }
    fn schema(&self) -> Value {
        let mut schema = json!({
            "type": "object",
            "encrypt_fields": ["instances.auth.header", "instances.auth.query"],
            "properties": {
                "balancer": {
                    "type": "object",
                    "properties": {
                        // APISIX also has `semantic` (embedding similarity),
                        // which strait does not offer; `ewma` is strait's.
                        "algorithm": {"type": "string", "enum": ["roundrobin", "chash", "ewma"], "default": "roundrobin"},
                        "hash_on": {
                            "type": "string",
                            "enum": ["vars", "header", "cookie", "consumer", "vars_combinations"],
                            "default": "vars",
                        },
                        "key": {"type": "string"},
                    },
                    "default": {"algorithm": "roundrobin"},
                },
                "instances": {"type": "array", "minItems": 1, "items": instance_schema()},
                "fallback_strategy": {
                    "anyOf": [
                        {"type": "string", "enum": ["instance_health_and_rate_limiting", "http_429", "http_5xx"]},
                        {"type": "array", "items": {"type": "string", "enum": ["rate_limiting", "http_429", "http_5xx"]}},
                    ],
                },
                "fallback_http_statuses": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": true,
                    "items": {"type": "integer", "minimum": 400, "maximum": 599},
                },
                "max_retries": {"type": "integer", "minimum": 0},
                "retry_on_failure_within_ms": {"type": "integer", "minimum": 1},
                // strait's own: when an instance is left alone for a while.
                "cooldown": {
                    "type": "object",
                    "properties": {
                        "duration": {"type": "number", "minimum": 0, "maximum": 86400, "default": 5},
                        "max_duration": {"type": "number", "minimum": 0, "maximum": 86400, "default": 300},
                        "failures": {"type": "integer", "minimum": 0, "default": 3},
                    },
                    "additionalProperties": false,
                },
            },
            "required": ["instances"],
        });
        if let Some(p) = schema["properties"].as_object_mut() {
            p.extend(call_settings_schema());
        }
        schema
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        build_pool(conf).map(|_| ())
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        Ok(Arc::new(AiProxyMulti {
            pool: Arc::new(build_pool(conf)?),
        }))
    }
}

/// The instances, their balancer and the fallback and cooldown policies.
fn build_pool(conf: &Value) -> Result<InstancePool, String> {
    let list = conf
        .get("instances")
        .and_then(Value::as_array)
        .ok_or("instances: required")?;
    let mut targets = Vec::with_capacity(list.len());
    for (i, inst) in list.iter().enumerate() {
        let name = inst.get("name").and_then(Value::as_str).unwrap_or("");
        if list[..i]
            .iter()
            .any(|o| o.get("name").and_then(Value::as_str) == Some(name))
        {
            return Err(format!("instances[{i}].name: {name:?} is used twice"));
        }
        // The call settings are every instance's (an instance may set its own).
        let mut merged: Map<String, Value> = call_settings_schema()
            .keys()
            .filter_map(|f| conf.get(f).map(|v| (f.clone(), v.clone())))
            .collect();
        if let Some(obj) = inst.as_object() {
            merged.extend(obj.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let target = AiTarget::build(&Value::Object(merged), name.to_string())
            .map_err(|e| format!("instances[{i}] ({name}): {e}"))?;
        let weight = inst.get("weight").and_then(Value::as_u64).unwrap_or(0);
        let priority = inst.get("priority").and_then(Value::as_i64).unwrap_or(0);
        targets.push((
            Arc::new(target),
            weight.min(u32::MAX as u64) as u32,
            priority.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        ));
    }
    match targets.as_mut_slice() {
        // A single instance is used whatever its weight (as APISIX does).
        [(_, w, _)] => *w = (*w).max(1),
        all if all.iter().all(|(_, w, _)| *w == 0) => {
            return Err("instances: every weight is 0, no instance would be picked".into())
        }
        _ => {}
    }
    let balancer = conf.get("balancer");
    let algorithm_name = balancer
        .and_then(|b| b.get("algorithm"))
        .and_then(Value::as_str)
        .unwrap_or("roundrobin");
    let algorithm = Algorithm::from_name(algorithm_name)
        .ok_or_else(|| format!("balancer.algorithm: {algorithm_name:?} is not supported"))?;
    let hash_key = if algorithm == Algorithm::Chash {
        let hash_on: HashOn = serde_json::from_value(
            balancer
                .and_then(|b| b.get("hash_on"))
                .cloned()
                .unwrap_or(json!("vars")),
        )
        .map_err(|e| format!("balancer.hash_on: {e}"))?;
        let key = balancer.and_then(|b| b.get("key")).and_then(Value::as_str);
        Some(
            crate::upstream::compile_hash_key(hash_on, key)
                .map_err(|e| format!("balancer: {e}"))?,
        )
    } else {
        None
    };
    Ok(InstancePool::new(
        targets,
        algorithm,
        hash_key,
        fallback_policy(conf),
        cooldown_policy(conf),
    ))
}

fn fallback_policy(conf: &Value) -> FallbackPolicy {
    let mut p = FallbackPolicy {
        statuses: conf
            .get("fallback_http_statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_u64().map(|n| n as u16))
            .collect(),
        max_retries: conf
            .get("max_retries")
            .and_then(Value::as_u64)
            .map(|n| n as usize),
        within: conf
            .get("retry_on_failure_within_ms")
            .and_then(Value::as_u64)
            .map(Duration::from_millis),
        ..Default::default()
    };
    let names: Vec<&str> = match conf.get("fallback_strategy") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for name in names {
        match name {
            "http_429" => p.http_429 = true,
            "http_5xx" => p.http_5xx = true,
            "rate_limiting" | "instance_health_and_rate_limiting" => p.rate_limiting = true,
            _ => {}
        }
    }
    p
}

fn cooldown_policy(conf: &Value) -> CooldownPolicy {
    let d = CooldownPolicy::default();
    let c = conf.get("cooldown");
    let secs = |field: &str, default: Duration| {
        c.and_then(|c| c.get(field))
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(default, |s| Duration::from_secs_f64(s.min(86_400.0)))
    };
    CooldownPolicy {
        duration: secs("duration", d.duration),
        max: secs("max_duration", d.max),
        failures: c
            .and_then(|c| c.get("failures"))
            .and_then(Value::as_u64)
            .map_or(d.failures, |n| n.min(u32::MAX as u64) as u32),
    }
}

/// The `chash` key of this request; the client address when the
/// configured source is missing (as APISIX does).
fn hash_key(ctx: &Ctx, spec: &HashKey) -> Vec<u8> {
    let key: Option<Vec<u8>> = match spec {
        HashKey::Var(v) => ctx.get(v).map(|s| s.as_bytes().to_vec()),
        HashKey::Header(h) => ctx.req.headers.get(h).map(|v| v.as_bytes().to_vec()),
        HashKey::Cookie(name) => crate::proxy::request_vars::cookie(&ctx.req.headers, name)
            .map(|c| c.as_bytes().to_vec()),
        HashKey::Consumer => ctx.consumer_name().map(|c| c.as_bytes().to_vec()),
        HashKey::Combination(list) => {
            let mut out = Vec::new();
            for v in list {
                if let Some(s) = ctx.get(v) {
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Some(out)
        }
    };
    key.unwrap_or_else(|| ctx.conn.remote.ip().to_string().into_bytes())
}

impl Plugin for AiProxyMulti {
    fn reads_request_body(&self) -> bool {
        true
    }

    fn access(&self, ctx: &mut Ctx) -> Step {
        if let Some(answer) = models::answer(ctx, &self.pool) {
            return Step::Respond(answer);
        }
        let key = self.pool.hash_key.as_ref().map(|spec| hash_key(ctx, spec));
        let gate = if self.pool.fallback.rate_limiting {
            ctx.extensions
                .get::<super::ai_proxy::InstanceGate>()
                .cloned()
        } else {
            None
        };
        let admits = |i: usize| {
            gate.as_ref()
                .is_none_or(|g| g.admits(&self.pool.instances[i].target.instance))
        };
        match self.pool.pick(key.as_deref(), &[], &admits) {
            Some(picked) => start_call(ctx, &self.pool, picked, key, &admits),
            None => {
                let err = crate::llm::LlmError {
                    status: 503,
                    kind: crate::llm::ErrorKind::RateLimit,
                    message:
                        "no AI instance can take the request: every instance's quota is used up"
                            .into(),
                };
                Step::Respond(super::ai_proxy::error_response(
                    crate::llm::protocol::detect(&ctx.path),
                    &err,
                ))
            }
        }
    }
}
