//! `limit-req` (priority 1001, access phase): a leaky bucket per key that
//! drains `rate` requests per second and holds up to `burst` excess
//! requests. A request within the burst is delayed (asynchronously) until
//! its turn, or passes at once with `nodelay`; beyond the burst it gets
//! `rejected_code` (503) with `{"error_msg": rejected_msg}` or nginx's status
//! page. `key`/`key_type` (var | var_combination) as in `limit-count`.
//!
//! `policy: local` keeps buckets in process-wide sharded state; `policy:
//! redis` runs one atomic script per request (state `excess`/`last` in a
//! hash with a TTL), so gateways on one Redis share buckets. Redis down:
//! `allow_degradation` passes the request, otherwise 500.
//! `redis-cluster` is not supported (refused by the schema).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use super::limit_common::{
    check_redis, counter_prefix, now_ms, redis_conf, redis_if_then, status_page, unix_ms, KeySpec,
    Rejection, Sharded,
};
use crate::plugin::redis::{RedisPool, Reply, Script};
use crate::plugin::{BuildEnv, Ctx, Decided, Plugin, PluginFactory, Step};

/// The factory.
pub struct LimitReqFactory;

/// Bucket state: excess in thousandths of a request, last update in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    excess: f64,
    last: Option<f64>,
}

/// The outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leak {
    /// Go on after this many seconds.
    Delay(f64),
    /// Over the burst.
    Rejected,
}

/// The leaky bucket step (rate and burst in thousandths, times in ms).
fn leak(b: &mut Bucket, rate: f64, burst: f64, now: f64) -> Leak {
    let excess = match b.last {
        Some(last) => {
            let e = (b.excess - rate * (now - last).abs() / 1000.0 + 1000.0).max(0.0);
            if e > burst {
                return Leak::Rejected;
            }
            e
        }
        None => 0.0,
    };
    b.excess = excess;
    b.last = Some(now);
    Leak::Delay(excess / rate)
}

fn buckets() -> &'static Sharded<Bucket> {
    static B: OnceLock<Sharded<Bucket>> = OnceLock::new();
    B.get_or_init(|| Sharded::new(256 * 1024))
}

/// The bucket step in Redis: `{allowed (0|1), excess}`.
const SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local st = redis.call('hmget', KEYS[1], 'excess', 'last')
local excess = 0
if st[1] and st[2] then
    excess = math.max(tonumber(st[1]) - rate * math.abs(now - tonumber(st[2])) / 1000 + 1000, 0)
    if excess > burst then
        return {0, tostring(excess)}
    end
end
redis.call('hset', KEYS[1], 'excess', excess, 'last', now)
redis.call('expire', KEYS[1], ARGV[4])
return {1, tostring(excess)}
";

fn script() -> &'static Script {
    static S: OnceLock<Script> = OnceLock::new();
    S.get_or_init(|| Script::new(SCRIPT))
}

struct LimitReq {
    rate: f64,
    burst: f64,
    key: KeySpec,
    prefix: String,
    rejection: Rejection,
    nodelay: bool,
    allow_degradation: bool,
    redis: Option<Arc<RedisPool>>,
}

impl PluginFactory for LimitReqFactory {
    fn name(&self) -> &'static str {
        "limit-req"
    }
    fn priority(&self) -> i64 {
        1001
    }
    fn schema(&self) -> Value {
        let (cond, then) = redis_if_then();
        json!({
            "type": "object",
            "encrypt_fields": ["redis_password"],
            "properties": {
                "rate": {"type": "number", "exclusiveMinimum": 0},
                "burst": {"type": "number", "minimum": 0},
                "key": {"type": "string"},
                "key_type": {"type": "string", "enum": ["var", "var_combination"], "default": "var"},
                "policy": {"type": "string", "enum": ["redis", "local"], "default": "local"},
                "rejected_code": {"type": "integer", "minimum": 200, "maximum": 599, "default": 503},
                "rejected_msg": {"type": "string", "minLength": 1},
                "nodelay": {"type": "boolean", "default": false},
                "allow_degradation": {"type": "boolean", "default": false}
            },
            "required": ["rate", "burst", "key"],
            "if": cond,
            "then": then
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        check_redis(conf)
    }
    fn build(&self, conf: &Value, env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        check_redis(conf)?;
        let num = |k: &str| conf.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let rate = num("rate");
        if !(rate > 0.0 && rate.is_finite()) {
            return Err("rate must be a positive number".into());
        }
        let flag = |k: &str| conf.get(k).and_then(Value::as_bool).unwrap_or(false);
        Ok(Arc::new(LimitReq {
            rate: rate * 1000.0,
            burst: num("burst").max(0.0) * 1000.0,
            key: KeySpec::from_conf(conf),
            prefix: counter_prefix(&env.holder, conf),
            rejection: Rejection::from_conf(conf),
            nodelay: flag("nodelay"),
            allow_degradation: flag("allow_degradation"),
            redis: (conf.get("policy").and_then(Value::as_str) == Some("redis"))
                .then(|| RedisPool::shared(redis_conf(conf))),
        }))
    }
}

impl LimitReq {
    fn outcome(&self, leak: Leak) -> Decided {
        Decided {
            respond: (leak == Leak::Rejected).then(|| self.rejection.respond()),
            response_headers: Vec::new(),
        }
    }
}

/// Sleep for a delay worth waiting (APISIX ignores less than a millisecond).
fn delay_of(leak: Leak, nodelay: bool) -> Option<Duration> {
    match leak {
        Leak::Delay(d) if d >= 0.001 && !nodelay => Some(Duration::from_secs_f64(d.min(3600.0))),
        _ => None,
    }
}

impl Plugin for LimitReq {
    fn access(&self, ctx: &mut Ctx) -> Step {
        let key = self.key.counter_key(&self.prefix, ctx);
        let Some(pool) = self.redis.clone() else {
            let now = now_ms();
            let (rate, burst) = (self.rate, self.burst);
            let drained = move |b: &Bucket| {
                b.last
                    .is_none_or(|l| rate * (now - l).abs() / 1000.0 >= b.excess + 1000.0)
            };
            let leak = buckets().with(
                &key,
                || Bucket {
                    excess: 0.0,
                    last: None,
                },
                drained,
                |b| leak(b, rate, burst, now),
            );
            if leak == Leak::Rejected {
                return Step::Respond(self.rejection.respond());
            }
            return match delay_of(leak, self.nodelay) {
                Some(d) => Step::Wait(Box::pin(async move {
                    tokio::time::sleep(d).await;
                    Decided::default()
                })),
                None => Step::Continue,
            };
        };
        let rate = self.rate;
        let burst = self.burst;
        let nodelay = self.nodelay;
        let degrade = self.allow_degradation;
        let rejected_answer = self.outcome(Leak::Rejected);
        Step::Wait(Box::pin(async move {
            let key = format!("limit_req:{key}");
            let ttl = ((burst / rate).ceil() as i64 + 1).to_string();
            let args = [
                rate.to_string(),
                burst.to_string(),
                format!("{:.0}", unix_ms()),
                ttl,
            ];
            let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let reply = pool.eval(script(), &[key.as_bytes()], &argv).await;
            let leak = reply.map_err(|e| e.to_string()).and_then(|r| {
                redis_leak(&r, rate).ok_or_else(|| format!("unexpected reply {r:?}"))
            });
            match leak {
                Ok(Leak::Rejected) => rejected_answer,
                Ok(l) => {
                    if let Some(d) = delay_of(l, nodelay) {
                        tokio::time::sleep(d).await;
                    }
                    Decided::default()
                }
                Err(e) => {
                    tracing::error!("limit-req: failed to limit req: {e}");
                    Decided {
                        respond: (!degrade).then(|| status_page(StatusCode::INTERNAL_SERVER_ERROR)),
                        response_headers: Vec::new(),
                    }
                }
            }
        }))
    }
}

fn redis_leak(reply: &Reply, rate: f64) -> Option<Leak> {
    let Reply::Array(Some(items)) = reply else {
        return None;
    };
    let allowed = items.first()?.as_i64()?;
    let excess = items.get(1)?.as_f64()?;
    Some(match allowed {
        0 => Leak::Rejected,
        _ => Leak::Delay(excess / rate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_delays_then_rejects_then_drains() {
        // rate 1/s, burst 1.
        let (rate, burst) = (1000.0, 1000.0);
        let mut b = Bucket {
            excess: 0.0,
            last: None,
        };
        assert_eq!(leak(&mut b, rate, burst, 0.0), Leak::Delay(0.0));
        assert_eq!(leak(&mut b, rate, burst, 0.0), Leak::Delay(1.0));
        assert_eq!(leak(&mut b, rate, burst, 0.0), Leak::Rejected);
        assert_eq!(leak(&mut b, rate, burst, 2000.0), Leak::Delay(0.0));
        assert_eq!(
            delay_of(Leak::Delay(1.0), false),
            Some(Duration::from_secs(1))
        );
        assert_eq!(delay_of(Leak::Delay(1.0), true), None);
        assert_eq!(delay_of(Leak::Delay(0.0005), false), None);
    }

    #[test]
    fn redis_replies() {
        let r = Reply::Array(Some(vec![
            Reply::Int(1),
            Reply::Bulk(Some(b"500".to_vec())),
        ]));
        assert_eq!(redis_leak(&r, 1000.0), Some(Leak::Delay(0.5)));
        let r = Reply::Array(Some(vec![
            Reply::Int(0),
            Reply::Bulk(Some(b"2000".to_vec())),
        ]));
        assert_eq!(redis_leak(&r, 1000.0), Some(Leak::Rejected));
    }
}
