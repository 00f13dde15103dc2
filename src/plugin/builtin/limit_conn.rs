//! `limit-conn` (priority 1003): at most `conn` concurrent requests per key,
//! plus `burst` more that are delayed by `default_conn_delay` seconds for
//! each `conn` already ahead of them; beyond that `rejected_code` (503) with
//! `{"error_msg": rejected_msg}` or nginx's status page. `key`/`key_type`
//! (var | var_combination) as in the other limit plugins.
//!
//! Counted in the access phase, released in the log phase (end of the
//! response body, or the client going away); if a request is abandoned
//! before its log phase the count is released when its context is dropped.
//! Local policy only: `policy: redis`/`redis-cluster`, `rules` and
//! variable `conn`/`burst` are refused. APISIX adapts the delay unit to
//! observed latency only within one request's limiter object, which it
//! discards, so the delay is always `default_conn_delay`-based here
//! (`only_use_default_delay` is accepted and has no further effect).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};

use super::limit_common::{counter_prefix, KeySpec, Rejection, Sharded};
use crate::plugin::{BuildEnv, Ctx, Decided, Plugin, PluginFactory, Step};

/// The factory.
pub struct LimitConnFactory;

fn counts() -> &'static Sharded<u64> {
    static C: OnceLock<Sharded<u64>> = OnceLock::new();
    C.get_or_init(|| Sharded::new(256 * 1024))
}

/// One counted request; released once, by the log phase or on drop.
#[derive(Debug)]
struct Held {
    key: String,
    released: AtomicBool,
}

impl Held {
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            counts().update_or_remove(&self.key, |c| {
                *c = c.saturating_sub(1);
                *c == 0
            });
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

/// The requests a context holds (one per limit-conn instance that counted it).
#[derive(Debug, Clone, Default)]
struct HeldList(Vec<Arc<Held>>);

/// The admission step: `Some(delay seconds)` when admitted (counted), `None`
/// when rejected (not counted).
fn admit(key: &str, max: u64, burst: u64, unit_delay: f64) -> Option<f64> {
    counts().with(
        key,
        || 0,
        |c| *c == 0,
        |c| {
            let conn = *c + 1;
            if conn > max.saturating_add(burst) {
                return None;
            }
            *c = conn;
            Some(match conn > max {
                true => unit_delay * ((conn - 1) / max) as f64,
                false => 0.0,
            })
        },
    )
}

struct LimitConn {
    max: u64,
    burst: u64,
    unit_delay: f64,
    key: KeySpec,
    prefix: String,
    rejection: Rejection,
}

impl PluginFactory for LimitConnFactory {
    fn name(&self) -> &'static str {
        "limit-conn"
    }
    fn priority(&self) -> i64 {
        1003
    }
    fn schema(&self) -> Value {
        let positive =
            json!({"oneOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "string"}]});
        let non_negative =
            json!({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]});
        json!({
            "type": "object",
            "properties": {
                "conn": positive,
                "burst": non_negative,
                "default_conn_delay": {"type": "number", "exclusiveMinimum": 0},
                "only_use_default_delay": {"type": "boolean", "default": false},
                "key": {"type": "string"},
                "key_type": {"type": "string", "enum": ["var", "var_combination"], "default": "var"},
                "policy": {"type": "string", "enum": ["redis", "redis-cluster", "local"], "default": "local"},
                "rejected_code": {"type": "integer", "minimum": 200, "maximum": 599, "default": 503},
                "rejected_msg": {"type": "string", "minLength": 1},
                "allow_degradation": {"type": "boolean", "default": false},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"conn": positive, "burst": non_negative, "key": {"type": "string"}},
                        "required": ["conn", "burst", "key"]
                    }
                }
            },
            "oneOf": [
                {"required": ["conn", "burst", "default_conn_delay", "key"]},
                {"required": ["default_conn_delay", "rules"]}
            ]
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        if let Some(p) = conf.get("policy").and_then(Value::as_str) {
            if p != "local" {
                return Err(format!(
                    "policy {p} is not supported yet by limit-conn: use local"
                ));
            }
        }
        if conf.get("rules").is_some() {
            return Err("rules are not supported yet: use conn, burst and key".into());
        }
        for k in ["conn", "burst"] {
            if conf.get(k).is_some_and(Value::is_string) {
                return Err(format!("{k} as a variable is not supported yet"));
            }
        }
        Ok(())
    }
    fn build(&self, conf: &Value, env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        self.check(conf, false)?;
        let int = |k: &str| conf.get(k).and_then(Value::as_u64);
        Ok(Arc::new(LimitConn {
            max: int("conn")
                .filter(|c| *c > 0)
                .ok_or("conn must be positive")?,
            burst: int("burst").unwrap_or(0),
            unit_delay: conf
                .get("default_conn_delay")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            key: KeySpec::from_conf(conf),
            prefix: counter_prefix(&env.holder, conf),
            rejection: Rejection::from_conf(conf),
        }))
    }
}

impl Plugin for LimitConn {
    fn access(&self, ctx: &mut Ctx) -> Step {
        let key = self.key.counter_key(&self.prefix, ctx);
        let Some(delay) = admit(&key, self.max, self.burst, self.unit_delay) else {
            return Step::Respond(self.rejection.respond());
        };
        let held = Arc::new(Held {
            key,
            released: AtomicBool::new(false),
        });
        match ctx.extensions.get_mut::<HeldList>() {
            Some(list) => list.0.push(held),
            None => {
                ctx.extensions.insert(HeldList(vec![held]));
            }
        }
        if delay >= 0.001 {
            let d = Duration::from_secs_f64(delay.min(3600.0));
            return Step::Wait(Box::pin(async move {
                tokio::time::sleep(d).await;
                Decided::default()
            }));
        }
        Step::Continue
    }

    fn log(&self, ctx: &Ctx) {
        if let Some(list) = ctx.extensions.get::<HeldList>() {
            for h in &list.0 {
                if h.key.starts_with(&self.prefix) {
                    h.release();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_delays_rejects_and_releases() {
        let k = "test:conn";
        assert_eq!(admit(k, 2, 1, 0.5), Some(0.0));
        assert_eq!(admit(k, 2, 1, 0.5), Some(0.0));
        assert_eq!(admit(k, 2, 1, 0.5), Some(0.5), "in the burst: delayed");
        assert_eq!(admit(k, 2, 1, 0.5), None, "beyond the burst");
        let held: Vec<Held> = (0..3)
            .map(|_| Held {
                key: k.into(),
                released: AtomicBool::new(false),
            })
            .collect();
        held[0].release();
        held[0].release();
        assert_eq!(admit(k, 2, 1, 0.5), Some(0.5), "one released once");
        drop(held);
        assert_eq!(admit(k, 2, 1, 0.5), Some(0.0), "dropped ones released");
    }
}
