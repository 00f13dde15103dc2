//! The log entry the logger plugins send, in APISIX's default shape
//! (`request`, `response`, `upstream`, `route_id`, `service_id`,
//! `consumer`, `client_ip`, `start_time`, `latency`, …). Request and
//! response headers are captured by the loggers in `before_proxy` and
//! `header_filter` (the request head itself goes upstream).

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::plugin::Ctx;

/// Request headers kept for the log entry.
#[derive(Clone)]
pub struct LoggedRequestHeaders(pub HeaderMap);

/// Response headers kept for the log entry.
#[derive(Clone)]
pub struct LoggedResponseHeaders(pub HeaderMap);

fn headers_json(h: &HeaderMap) -> Value {
    let mut m = Map::new();
    for (k, v) in h {
        m.insert(
            k.as_str().to_string(),
            Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        );
    }
    Value::Object(m)
}

/// An entry in a custom `log_format` (`{"host": "$host", "route": "$route_id"}`):
/// strings starting with `$` are request variables (null when absent), other
/// values are copied.
pub fn formatted(ctx: &Ctx, format: &Map<String, Value>) -> Value {
    use crate::expr::{VarLookup, VarName};
    let mut out = Map::new();
    for (k, v) in format {
        let value = match v.as_str().and_then(|s| s.strip_prefix('$')) {
            Some(var) => ctx
                .get(&VarName::parse(var))
                .map_or(Value::Null, |s| Value::String(s.into_owned())),
            None => v.clone(),
        };
        out.insert(k.clone(), value);
    }
    Value::Object(out)
}

/// The entry for a finished request: `log_format` from the plugin's own
/// configuration, else from its metadata, else APISIX's default shape.
pub fn entry_for(ctx: &Ctx, plugin: &str, own_format: Option<&Map<String, Value>>) -> Value {
    if let Some(f) = own_format {
        return formatted(ctx, f);
    }
    match ctx
        .plugin_metadata(plugin)
        .and_then(|m| m.get("log_format"))
        .and_then(Value::as_object)
    {
        Some(f) => formatted(ctx, f),
        None => entry(ctx),
    }
}

/// Build the entry for a finished request.
pub fn entry(ctx: &Ctx) -> Value {
    let latency_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
    let upstream_ms = ctx.upstream_latency.map(|d| d.as_secs_f64() * 1000.0);
    let start_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 - latency_ms)
        .unwrap_or_default();
    let req_headers = ctx
        .extensions
        .get::<LoggedRequestHeaders>()
        .map(|h| headers_json(&h.0))
        .unwrap_or_else(|| json!({}));
    let resp_headers = ctx
        .extensions
        .get::<LoggedResponseHeaders>()
        .map(|h| headers_json(&h.0))
        .unwrap_or_else(|| json!({}));
    let host = ctx.host.clone().unwrap_or_default();
    let uri = ctx
        .req
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut e = json!({
        "request": {
            "url": format!("http://{host}:{}{uri}", ctx.conn.local.port()),
            "uri": uri,
            "method": ctx.req.method.as_str(),
            "headers": req_headers,
            "querystring": ctx.req.uri.query().unwrap_or_default(),
            "size": ctx.bytes_received,
        },
        "response": {
            "status": ctx.status,
            "headers": resp_headers,
            "size": ctx.bytes_sent,
        },
        "server": {"hostname": hostname(), "version": env!("CARGO_PKG_VERSION")},
        "client_ip": ctx.conn.remote.ip().to_string(),
        "start_time": start_ms.round() as i64,
        "latency": latency_ms,
        "apisix_latency": upstream_ms.map_or(latency_ms, |u| (latency_ms - u).max(0.0)),
    });
    if let Some(m) = e.as_object_mut() {
        if let Some(u) = &ctx.upstream_addr {
            m.insert("upstream".into(), Value::String(u.to_string()));
        }
        if let Some(u) = upstream_ms {
            m.insert("upstream_latency".into(), json!(u));
        }
        if let Some(r) = ctx.route_id() {
            m.insert("route_id".into(), Value::String(r.to_string()));
        }
        if let Some(s) = ctx.service_id() {
            m.insert("service_id".into(), Value::String(s.to_string()));
        }
        if let Some(c) = ctx.consumer_name() {
            m.insert("consumer".into(), json!({ "username": c }));
        }
    }
    e
}

fn hostname() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    })
    .clone()
}
