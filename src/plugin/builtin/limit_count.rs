//! `limit-count` (priority 1002, access phase): at most `count` requests per
//! `time_window` seconds for each key (`key_type` var | var_combination |
//! constant, `key` default `remote_addr`; an empty key falls back to the
//! client address). Over the limit: `rejected_code` (503) with
//! `{"error_msg": rejected_msg}` or nginx's status page. With
//! `show_limit_quota_header` (default true) every answer carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
//! (seconds left in the window; names from the plugin metadata).
//!
//! `policy: local` keeps fixed windows in process-wide sharded counters;
//! `policy: redis` runs one atomic script per request so gateways sharing a
//! Redis share the limit. Redis unreachable: `allow_degradation` lets the
//! request through, otherwise 500 `{"error_msg":"failed to limit count"}`.
//! `group` shares one counter between every route using that group.
//! Not supported (refused when configured): `window_type: sliding`, `rules`,
//! `count`/`time_window` given as variables, `redis-cluster`/`redis-sentinel`,
//! `redis_ssl`, delayed sync (`sync_interval`).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::limit_common::{
    check_redis, counter_prefix, lua_number, now_ms, redis_conf, redis_if_then, KeySpec, Rejection,
    Sharded,
};
use crate::plugin::redis::{RedisPool, Script};
use crate::plugin::{BuildEnv, Ctx, Decided, Plugin, PluginFactory, PluginResponse, Step};

/// The factory.
pub struct LimitCountFactory;

/// Fixed-window counter state (local policy).
struct Window {
    reset_at_ms: f64,
    count: u64,
}

fn local_windows() -> &'static Sharded<Window> {
    static WINDOWS: OnceLock<Sharded<Window>> = OnceLock::new();
    WINDOWS.get_or_init(|| Sharded::new(256 * 1024))
}

/// The counter script: create the key with its TTL on first use, then add.
/// Returns the count and the milliseconds left in the window.
const SCRIPT: &str = r"
local left = redis.call('pttl', KEYS[1])
if left < 0 then
    redis.call('set', KEYS[1], ARGV[3], 'EX', ARGV[2])
    return {tonumber(ARGV[3]), tonumber(ARGV[2]) * 1000}
end
return {redis.call('incrby', KEYS[1], ARGV[3]), left}
";

fn script() -> &'static Script {
    static S: OnceLock<Script> = OnceLock::new();
    S.get_or_init(|| Script::new(SCRIPT))
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Counted {
    /// Allowed; requests left and seconds until the window resets.
    Allowed { remaining: u64, reset: f64 },
    /// Over the limit; seconds until the window resets.
    Rejected { reset: f64 },
}

/// Count one request against a fixed window in the local counters.
fn count_local(key: &str, limit: u64, window_s: u64, now: f64) -> Counted {
    let window_ms = window_s as f64 * 1000.0;
    local_windows().with(
        key,
        || Window {
            reset_at_ms: now + window_ms,
            count: 0,
        },
        |w| w.reset_at_ms <= now,
        |w| {
            if w.reset_at_ms <= now {
                w.reset_at_ms = now + window_ms;
                w.count = 0;
            }
            w.count = w.count.saturating_add(1);
            let reset = ((w.reset_at_ms - now) / 1000.0).max(0.0);
            match limit.checked_sub(w.count) {
                Some(remaining) => Counted::Allowed { remaining, reset },
                None => Counted::Rejected { reset },
            }
        },
    )
}

enum Backend {
    Local,
    Redis(Arc<RedisPool>),
}

struct Headers {
    limit: HeaderName,
    remaining: HeaderName,
    reset: HeaderName,
    /// The limit's value (the same on every answer).
    limit_value: HeaderValue,
}

impl Headers {
    /// The quota headers, named by the plugin metadata (`limit_header`,
    /// `remaining_header`, `reset_header`) or APISIX's defaults.
    fn named(meta: Option<&Value>, limit: u64) -> Headers {
        let name = |k: &str, d: &'static str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .and_then(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                .unwrap_or(HeaderName::from_static(d))
        };
        Headers {
            limit: name("limit_header", "x-ratelimit-limit"),
            remaining: name("remaining_header", "x-ratelimit-remaining"),
            reset: name("reset_header", "x-ratelimit-reset"),
            limit_value: HeaderValue::from(limit),
        }
    }
}

struct LimitCount {
    count: u64,
    window: u64,
    key: KeySpec,
    prefix: String,
    rejection: Rejection,
    allow_degradation: bool,
    headers: Option<Arc<Headers>>,
    backend: Backend,
}

impl PluginFactory for LimitCountFactory {
    fn name(&self) -> &'static str {
        "limit-count"
    }
    fn priority(&self) -> i64 {
        1002
    }
    fn schema(&self) -> Value {
        let amount = json!({"oneOf": [
            {"type": "integer", "exclusiveMinimum": 0},
            {"type": "string"}
        ]});
        let (cond, then) = redis_if_then();
        json!({
            "type": "object",
            "encrypt_fields": ["redis_password"],
            "properties": {
                "count": amount,
                "time_window": amount,
                "window_type": {"type": "string", "enum": ["fixed", "sliding"], "default": "fixed"},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "count": amount,
                            "time_window": amount,
                            "key": {"type": "string"},
                            "header_prefix": {"type": "string"}
                        },
                        "required": ["count", "time_window", "key"]
                    }
                },
                "group": {"type": "string"},
                "key": {"type": "string", "default": "remote_addr"},
                "key_type": {"type": "string", "enum": ["var", "var_combination", "constant"], "default": "var"},
                "rejected_code": {"type": "integer", "minimum": 200, "maximum": 599, "default": 503},
                "rejected_msg": {"type": "string", "minLength": 1},
                "policy": {"type": "string", "enum": ["local", "redis"], "default": "local"},
                "allow_degradation": {"type": "boolean", "default": false},
                "show_limit_quota_header": {"type": "boolean", "default": true},
                "sync_interval": {"type": "number", "default": -1}
            },
            "oneOf": [
                {"required": ["count", "time_window"]},
                {"required": ["rules"]}
            ],
            "if": cond,
            "then": then
        })
    }
    fn metadata_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "properties": {
                "limit_header": {"type": "string", "default": "X-RateLimit-Limit"},
                "remaining_header": {"type": "string", "default": "X-RateLimit-Remaining"},
                "reset_header": {"type": "string", "default": "X-RateLimit-Reset"}
            }
        }))
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        if conf.get("rules").is_some() {
            return Err("rules are not supported yet: use count and time_window".into());
        }
        for k in ["count", "time_window"] {
            if conf.get(k).is_some_and(Value::is_string) {
                return Err(format!("{k} as a variable is not supported yet"));
            }
        }
        if conf.get("window_type").and_then(Value::as_str) == Some("sliding") {
            return Err("window_type sliding is not supported yet".into());
        }
        if conf
            .get("sync_interval")
            .and_then(Value::as_f64)
            .is_some_and(|v| v != -1.0)
        {
            return Err("sync_interval (delayed sync) is not supported yet".into());
        }
        check_redis(conf)
    }
    fn build(&self, conf: &Value, env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        self.check(conf, false)?;
        let num = |k: &str| {
            conf.get(k)
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{k} must be a positive integer"))
        };
        let count = num("count")?;
        let show = conf
            .get("show_limit_quota_header")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let headers = show.then(|| Arc::new(Headers::named(None, count)));
        let prefix = match conf.get("group").and_then(Value::as_str) {
            Some(g) => format!("group/{g}"),
            None => counter_prefix(&env.holder, conf),
        };
        let backend = match conf.get("policy").and_then(Value::as_str) {
            Some("redis") => Backend::Redis(RedisPool::shared(redis_conf(conf))),
            _ => Backend::Local,
        };
        Ok(Arc::new(LimitCount {
            count,
            window: num("time_window")?,
            key: KeySpec::from_conf(conf),
            prefix,
            rejection: Rejection::from_conf(conf),
            allow_degradation: conf
                .get("allow_degradation")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            headers,
            backend,
        }))
    }
}

/// The quota headers for an outcome.
fn quota_headers(h: &Headers, counted: Counted) -> Vec<(HeaderName, HeaderValue)> {
    let (remaining, reset) = match counted {
        Counted::Allowed { remaining, reset } => (remaining, reset),
        Counted::Rejected { reset } => (0, reset),
    };
    let reset = (reset * 100.0).floor() / 100.0;
    let mut out = Vec::with_capacity(3);
    out.push((h.limit.clone(), h.limit_value.clone()));
    out.push((h.remaining.clone(), HeaderValue::from(remaining)));
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(lua_number(reset))) {
        out.push((h.reset.clone(), v));
    }
    out
}

/// What a counted request turns into.
fn decide(counted: Counted, headers: Option<&Headers>, rejection: &Rejection) -> Decided {
    Decided {
        respond: matches!(counted, Counted::Rejected { .. }).then(|| rejection.respond()),
        response_headers: headers
            .map(|h| quota_headers(h, counted))
            .unwrap_or_default(),
    }
}

impl LimitCount {
    /// The quota headers under the names the plugin metadata gives, when
    /// headers are shown and metadata exists (read per request: metadata
    /// changes without the routes using it).
    fn renamed_headers(&self, ctx: &Ctx) -> Option<Headers> {
        self.headers.as_ref()?;
        let meta = ctx.plugin_metadata("limit-count")?;
        Some(Headers::named(Some(meta), self.count))
    }
}

impl Plugin for LimitCount {
    fn access(&self, ctx: &mut Ctx) -> Step {
        let key = self.key.counter_key(&self.prefix, ctx);
        match &self.backend {
            Backend::Local => {
                let counted = count_local(&key, self.count, self.window, now_ms());
                let renamed = self.renamed_headers(ctx);
                let d = decide(
                    counted,
                    renamed.as_ref().or(self.headers.as_deref()),
                    &self.rejection,
                );
                if ctx.response_headers.is_empty() {
                    ctx.response_headers = d.response_headers;
                } else {
                    ctx.response_headers.extend(d.response_headers);
                }
                match d.respond {
                    Some(r) => Step::Respond(r),
                    None => Step::Continue,
                }
            }
            Backend::Redis(pool) => {
                let pool = pool.clone();
                let (limit, window) = (self.count, self.window);
                let headers = self
                    .renamed_headers(ctx)
                    .map(Arc::new)
                    .or_else(|| self.headers.clone());
                let rejection = self.rejection.clone();
                let degrade = self.allow_degradation;
                Step::Wait(Box::pin(async move {
                    let key = format!("plugin-limit-count:v1:{key}");
                    let (w, one) = (window.to_string(), "1");
                    let reply = pool
                        .eval(
                            script(),
                            &[key.as_bytes()],
                            &[limit.to_string().as_bytes(), w.as_bytes(), one.as_bytes()],
                        )
                        .await;
                    let counted = reply.map_err(|e| e.to_string()).and_then(|r| {
                        redis_counted(&r, limit).ok_or_else(|| format!("unexpected reply {r:?}"))
                    });
                    match counted {
                        Ok(c) => decide(c, headers.as_deref(), &rejection),
                        Err(e) => {
                            tracing::error!("limit-count: failed to limit count: {e}");
                            Decided {
                                respond: (!degrade).then(|| {
                                    PluginResponse::json(
                                        StatusCode::INTERNAL_SERVER_ERROR,
                                        &json!({"error_msg": "failed to limit count"}),
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
}

/// `{count, ms left}` from the script.
fn redis_counted(reply: &crate::plugin::redis::Reply, limit: u64) -> Option<Counted> {
    let crate::plugin::redis::Reply::Array(Some(items)) = reply else {
        return None;
    };
    let used = items.first()?.as_i64()?;
    let reset = items.get(1)?.as_f64()? / 1000.0;
    Some(
        match u64::try_from(used).ok().and_then(|u| limit.checked_sub(u)) {
            Some(remaining) => Counted::Allowed { remaining, reset },
            None => Counted::Rejected { reset },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::redis::Reply;

    #[test]
    fn fixed_window_counts_and_resets() {
        let k = "test:fixed";
        assert_eq!(
            count_local(k, 2, 60, 1000.0),
            Counted::Allowed {
                remaining: 1,
                reset: 60.0
            }
        );
        assert_eq!(
            count_local(k, 2, 60, 2000.0),
            Counted::Allowed {
                remaining: 0,
                reset: 59.0
            }
        );
        assert_eq!(
            count_local(k, 2, 60, 3000.0),
            Counted::Rejected { reset: 58.0 }
        );
        // The next window starts fresh.
        assert_eq!(
            count_local(k, 2, 60, 61_000.0),
            Counted::Allowed {
                remaining: 1,
                reset: 60.0
            }
        );
    }

    #[test]
    fn headers_and_rejection() {
        let h = Headers {
            limit: HeaderName::from_static("x-ratelimit-limit"),
            remaining: HeaderName::from_static("x-ratelimit-remaining"),
            reset: HeaderName::from_static("x-ratelimit-reset"),
            limit_value: HeaderValue::from(3u64),
        };
        let rejection = Rejection::from_conf(&json!({"rejected_code": 429}));
        let d = decide(Counted::Rejected { reset: 12.345 }, Some(&h), &rejection);
        assert_eq!(d.respond.map(|r| r.status.as_u16()), Some(429));
        let values: Vec<&str> = d
            .response_headers
            .iter()
            .map(|(_, v)| v.to_str().unwrap())
            .collect();
        assert_eq!(values, ["3", "0", "12.34"]);
    }

    #[test]
    fn redis_replies() {
        let r = Reply::Array(Some(vec![Reply::Int(4), Reply::Int(59_870)]));
        assert_eq!(
            redis_counted(&r, 3),
            Some(Counted::Rejected { reset: 59.87 })
        );
        let r = Reply::Array(Some(vec![
            Reply::Bulk(Some(b"1".to_vec())),
            Reply::Int(60_000),
        ]));
        assert_eq!(
            redis_counted(&r, 3),
            Some(Counted::Allowed {
                remaining: 2,
                reset: 60.0
            })
        );
        assert_eq!(redis_counted(&Reply::Int(1), 3), None);
    }

    #[test]
    fn schema_refuses_unsupported() {
        let f = LimitCountFactory;
        assert!(f
            .check(
                &json!({"count": 1, "time_window": 1, "window_type": "sliding"}),
                false
            )
            .is_err());
        assert!(f
            .check(
                &json!({"count": 1, "time_window": 1, "policy": "redis", "redis_ssl": true}),
                false
            )
            .is_err());
        assert!(f
            .check(&json!({"count": 1, "time_window": 1}), false)
            .is_ok());
    }
}
