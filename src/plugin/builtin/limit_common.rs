//! What the limit plugins (`limit-count`, `limit-req`, `limit-conn`) share:
//! the limit key from `key_type`/`key` (falling back to the client address
//! when the key is empty, as APISIX does), the counter-key prefix that ties a
//! counter to one plugin configuration on one resource, the rejection
//! response (`rejected_msg` → `{"error_msg": …}`, otherwise nginx's status
//! page), the Redis schema properties and connection settings, and a sharded
//! map for local counters.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use super::var_template::VarTemplate;
use crate::expr::{VarLookup, VarName};
use crate::plugin::redis::RedisConf;
use crate::plugin::{Ctx, PluginResponse};

/// How the limit key is derived from a request.
#[derive(Debug, Clone)]
pub enum KeySpec {
    /// One variable (`remote_addr`, `http_x_api_key`, `consumer_name`, …).
    Var(VarName),
    /// A `$var` template; absent when no reference resolved.
    Combination(VarTemplate),
    /// The same key for every request.
    Constant(String),
}

impl KeySpec {
    /// From the `key_type` and `key` fields.
    pub fn from_conf(conf: &Value) -> KeySpec {
        let key = conf
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("remote_addr");
        match conf.get("key_type").and_then(Value::as_str) {
            Some("var_combination") => KeySpec::Combination(VarTemplate::new(key)),
            Some("constant") => KeySpec::Constant(key.to_string()),
            _ => KeySpec::Var(VarName::parse(key)),
        }
    }

    /// The counter key of this request: `prefix:` and the resolved key (the
    /// client address when it is absent), built in one string.
    pub fn counter_key(&self, prefix: &str, ctx: &Ctx) -> String {
        let mut key = String::with_capacity(prefix.len() + 48);
        key.push_str(prefix);
        key.push(':');
        // As APISIX: an absent value (not an empty one) falls back.
        let found: Option<Cow<'_, str>> = match self {
            KeySpec::Var(VarName::RemoteAddr) => None,
            KeySpec::Var(v) => ctx.get(v),
            KeySpec::Combination(t) => match t.render(ctx) {
                (_, 0) => None,
                (s, _) => Some(Cow::Owned(s)),
            },
            KeySpec::Constant(c) => Some(Cow::Borrowed(c.as_str())),
        };
        if let Some(found) = &found {
            key.push_str(found);
        }
        if found.is_none() {
            // Also the common `remote_addr` key, written without a copy.
            crate::proxy::ip_text::push_ip(&mut key, ctx.conn.remote.ip());
        }
        key
    }
}

/// The prefix of every counter key of one plugin configuration on one
/// resource: counters survive unrelated configuration changes and restart
/// when the plugin's own configuration changes. Deterministic, so gateways
/// sharing a Redis share counters.
pub fn counter_prefix(holder: &str, conf: &Value) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    canonical(conf).hash(&mut h);
    format!("{}:{:016x}", holder.replace(' ', "/"), h.0)
}

/// A JSON text with object keys sorted (whatever the map's order).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// FNV-1a: stable across processes and versions, unlike `DefaultHasher`.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The answer when a request is over the limit.
/// The answer a limit plugin gives over its limit: `rejected_code`
/// (default 503) with `rejected_msg`, as configured.
#[derive(Debug, Clone)]
pub struct Rejection {
    code: u16,
    msg: Option<String>,
}

impl Rejection {
    /// From a configuration that passed the plugin's schema.
    pub fn from_conf(conf: &Value) -> Rejection {
        Rejection {
            code: conf
                .get("rejected_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(503),
            msg: conf
                .get("rejected_msg")
                .and_then(Value::as_str)
                .map(String::from),
        }
    }

    /// The response.
    pub fn respond(&self) -> PluginResponse {
        rejected(self.code, self.msg.as_deref())
    }
}

fn rejected(code: u16, msg: Option<&str>) -> PluginResponse {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    match msg {
        Some(m) => PluginResponse::json(status, &json!({ "error_msg": m })),
        None => status_page(status),
    }
}

/// nginx's built-in page for a bare status exit (`core.response.exit(503)`).
pub fn status_page(status: StatusCode) -> PluginResponse {
    let reason = match status.as_u16() {
        401 => "Authorization Required",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => status.canonical_reason().unwrap_or(""),
    };
    if status.as_u16() < 300 || reason.is_empty() {
        return PluginResponse::text(status, "");
    }
    let title = format!("{} {reason}", status.as_u16());
    let mut r = PluginResponse::text(
        status,
        format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
        ),
    );
    r.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html"),
    );
    r
}

/// The properties APISIX adds when `policy` is `redis`
/// (`apisix/utils/redis-schema.lua`); `redis_ssl` is accepted only as `false`.
pub fn redis_properties() -> Map<String, Value> {
    let v = json!({
        "redis_host": {"type": "string", "minLength": 2},
        "redis_port": {"type": "integer", "minimum": 1, "default": 6379},
        "redis_username": {"type": "string", "minLength": 1},
        "redis_password": {"type": "string", "minLength": 0},
        "redis_database": {"type": "integer", "minimum": 0, "default": 0},
        "redis_timeout": {"type": "integer", "minimum": 1, "default": 1000},
        "redis_ssl": {"type": "boolean", "default": false},
        "redis_ssl_verify": {"type": "boolean", "default": false},
        "redis_keepalive_timeout": {"type": "integer", "minimum": 1000, "default": 10000},
        "redis_keepalive_pool": {"type": "integer", "minimum": 1, "default": 100}
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `if policy == redis then {redis properties, required redis_host}`, plus a
/// plain `else` for the local policy; `redis-cluster` and `redis-sentinel`
/// are refused by the `policy` enum.
pub fn redis_if_then() -> (Value, Value) {
    (
        // `required`: this validator fills defaults after validating, so an
        // absent `policy` (default `local`) must not satisfy the condition.
        json!({"properties": {"policy": {"enum": ["redis"]}}, "required": ["policy"]}),
        json!({"properties": redis_properties(), "required": ["redis_host"]}),
    )
}

/// Reject what the schema cannot express: TLS towards Redis.
pub fn check_redis(conf: &Value) -> Result<(), String> {
    if conf.get("policy").and_then(Value::as_str) == Some("redis")
        && conf.get("redis_ssl").and_then(Value::as_bool) == Some(true)
    {
        return Err("redis_ssl is not supported yet: use a plain connection".into());
    }
    Ok(())
}

/// Connection settings from a `policy: redis` configuration.
pub fn redis_conf(conf: &Value) -> RedisConf {
    let int = |k: &str, d: u64| conf.get(k).and_then(Value::as_u64).unwrap_or(d);
    let text = |k: &str| {
        conf.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    RedisConf {
        host: text("redis_host").unwrap_or_else(|| "127.0.0.1".into()),
        port: u16::try_from(int("redis_port", 6379)).unwrap_or(6379),
        username: text("redis_username"),
        password: text("redis_password"),
        database: int("redis_database", 0),
        timeout: Duration::from_millis(int("redis_timeout", 1000).max(1)),
        max_idle: usize::try_from(int("redis_keepalive_pool", 100)).unwrap_or(100),
    }
}

/// A number of seconds as Lua prints it in a header after rounding to
/// hundredths (`60`, `59.87`, `0.5`). Integer arithmetic: float formatting
/// would cost more than the rest of the rate limit.
pub fn lua_number(v: f64) -> String {
    let cents = (v * 100.0).round();
    if !cents.is_finite() || cents.abs() >= 1e17 {
        return format!("{v}");
    }
    let cents = cents as i64;
    let mut out = String::with_capacity(24);
    if cents < 0 {
        out.push('-');
    }
    let (whole, frac) = (cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
    push_digits(&mut out, whole);
    if frac != 0 {
        out.push('.');
        out.push(char::from(b'0' + (frac / 10) as u8));
        if frac % 10 != 0 {
            out.push(char::from(b'0' + (frac % 10) as u8));
        }
    }
    out
}

/// Append the decimal digits of `n`.
fn push_digits(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&b| char::from(b)));
}

const SHARDS: usize = 64;

/// A map split into independently locked shards: requests for different keys
/// rarely meet on a lock, and each critical section is a few instructions.
/// Each shard holds at most `cap` entries; `sweep` drops the stale ones.
pub struct Sharded<V> {
    shards: Vec<Mutex<HashMap<String, V>>>,
    cap: usize,
}

impl<V> Sharded<V> {
    /// A map of at most about `cap` entries in total.
    pub fn new(cap: usize) -> Sharded<V> {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            cap: (cap / SHARDS).max(16),
        }
    }

    /// Run `f` on the entry of `key` (created with `init`). When a shard is
    /// full, entries for which `stale` holds are dropped first, then (still
    /// full) the one `f` would create is not kept beyond this call.
    pub fn with<R>(
        &self,
        key: &str,
        init: impl FnOnce() -> V,
        stale: impl Fn(&V) -> bool,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let mut map = self.shard(key);
        if let Some(v) = map.get_mut(key) {
            return f(v);
        }
        if map.len() >= self.cap {
            map.retain(|_, v| !stale(v));
        }
        let mut v = init();
        let r = f(&mut v);
        if map.len() < self.cap {
            map.insert(key.to_string(), v);
        } else {
            tracing::warn!(
                "limit counters full ({} keys per shard); key not tracked",
                self.cap
            );
        }
        r
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(key.as_bytes());
        self.shards[(h.0 as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on an existing entry; it is removed when `f` returns true.
    pub fn update_or_remove(&self, key: &str, f: impl FnOnce(&mut V) -> bool) {
        let mut map = self.shard(key);
        if let Some(v) = map.get_mut(key) {
            if f(v) {
                map.remove(key);
            }
        }
    }

    /// Entries in all shards.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

/// Milliseconds on a process-wide monotonic clock.
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// Milliseconds since the Unix epoch (shared across gateways through Redis).
pub fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_lua() {
        assert_eq!(lua_number(60.0), "60");
        assert_eq!(lua_number(59.87), "59.87");
        assert_eq!(lua_number(0.5), "0.5");
        assert_eq!(lua_number(59.9), "59.9");
        assert_eq!(lua_number(0.05), "0.05");
        assert_eq!(lua_number(-1.25), "-1.25");
        assert_eq!(lua_number(1234567.0), "1234567");
        assert_eq!(lua_number(10.1), "10.1");
    }

    #[test]
    fn prefix_ignores_key_order() {
        let a = json!({"count": 1, "time_window": 2});
        let b: Value = serde_json::from_str(r#"{"time_window": 2, "count": 1}"#).unwrap();
        assert_eq!(counter_prefix("route 1", &a), counter_prefix("route 1", &b));
        assert_ne!(counter_prefix("route 1", &a), counter_prefix("route 2", &a));
        assert!(counter_prefix("route 1", &a).starts_with("route/1:"));
    }

    #[test]
    fn rejection_bodies() {
        let r = rejected(503, None);
        assert!(String::from_utf8_lossy(&r.body).contains("503 Service Temporarily Unavailable"));
        let r = rejected(429, Some("slow down"));
        assert_eq!(r.status, 429);
        assert_eq!(&r.body[..], b"{\"error_msg\":\"slow down\"}\n");
    }

    #[test]
    fn sharded_map_is_bounded() {
        let m: Sharded<u64> = Sharded::new(SHARDS * 16);
        for i in 0..10_000 {
            m.with(&format!("k{i}"), || 1, |v| *v == 1, |v| *v);
        }
        assert!(m.len() <= SHARDS * 16);
        m.with("x", || 5, |_| false, |v| *v += 1);
        m.update_or_remove("x", |v| *v == 6);
        assert_eq!(m.with("x", || 0, |_| false, |v| *v), 0);
    }
}
