//! Where an `ai-proxy` configuration sends requests: the provider adapter,
//! an upstream (pooled connections, TLS) for the provider's endpoint, the
//! path, the credentials, the model options and the timeouts.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

use crate::config::compiled::Timeouts;
use crate::config::resource::{ChecksConf, UpstreamConf};
use crate::llm::price::Price;
use crate::llm::provider::openai::embeddings::embeddings_path;
use crate::llm::{provider, Provider};
use crate::proxy::path::encode_component;
use crate::upstream::Upstream;

/// One provider endpoint with its settings.
pub struct AiTarget {
    /// The instance name (`ai-proxy-openai`), for logs, metrics and limits.
    pub instance: String,
    /// The wire format.
    pub provider: Arc<dyn Provider>,
    /// The endpoint's node.
    pub upstream: Arc<Upstream>,
    /// Path and query from `override.endpoint`, replacing the provider's.
    pub path_override: Option<String>,
    /// `auth.header`.
    pub auth_headers: Vec<(HeaderName, HeaderValue)>,
    /// `auth.query`, already encoded (`key=value&…`).
    pub auth_query: Option<String>,
    /// `options`: request fields set on every request (`model`, …).
    pub options: Map<String, Value>,
    /// `override.llm_options.max_tokens`.
    pub max_tokens: Option<u64>,
    /// `timeout` for connect, send and each read.
    pub timeouts: Timeouts,
    /// `max_req_body_size`.
    pub max_request_bytes: usize,
    /// `max_response_bytes`, for a complete (non-streamed) answer.
    pub max_response_bytes: usize,
    /// `price`: this instance's per-token prices, over the price table's.
    pub price: Option<Price>,
}

/// The adapter for `name`: a native provider, else a Lua provider.
fn provider_by_name(name: &str) -> Result<Arc<dyn Provider>, String> {
    if let Some(p) = provider::by_name(name).or_else(|| crate::plugin::lua::provider::by_name(name))
    {
        return Ok(p);
    }
    let lua = crate::plugin::lua::provider::names();
    Err(format!(
        "provider {name:?} is not supported: strait speaks {}{}",
        provider::NATIVE.join(", "),
        if lua.is_empty() {
            String::new()
        } else {
            format!(", and through Lua {}", lua.join(", "))
        }
    ))
}

/// Largest non-streamed answer read when `max_response_bytes` is unset.
const DEFAULT_MAX_RESPONSE: usize = 64 << 20;

impl AiTarget {
    /// Build from a configuration that passed the schema; `instance` names it.
    pub fn build(conf: &Value, instance: String) -> Result<AiTarget, String> {
        let name = conf.get("provider").and_then(Value::as_str).unwrap_or("");
        let provider = provider_by_name(name)?;
        let auth_headers = auth_headers(conf)?;
        let endpoint = conf.pointer("/override/endpoint").and_then(Value::as_str);
        let split = endpoint.map(split_endpoint).transpose()?;
        let path = split.as_ref().and_then(|(_, p)| p.as_deref());
        let provider = provider::for_config(provider, path, &auth_headers)?;
        let (base, path_override) = match split {
            Some(s) => s,
            None if provider.default_base().is_empty() => {
                return Err(format!("provider {name:?} needs override.endpoint"))
            }
            None => (provider.default_base().to_string(), None),
        };
        let uri: http::Uri = base
            .parse()
            .map_err(|e| format!("override.endpoint: {e}"))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().ok_or("override.endpoint: no host")?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let timeout_ms = conf
            .get("timeout")
            .and_then(Value::as_u64)
            .unwrap_or(30_000);
        let secs = timeout_ms as f64 / 1000.0;
        let node = crate::upstream::authority(host.trim_matches(['[', ']']), port);
        let up_conf: UpstreamConf = serde_json::from_value(json!({
            "type": "roundrobin",
            "nodes": {node: 1},
            "scheme": if https { "https" } else { "http" },
            "pass_host": "node",
            "retries": 0,
            "timeout": {"connect": secs, "send": secs, "read": secs},
            "tls": {"verify": conf.get("ssl_verify").and_then(Value::as_bool).unwrap_or(true)},
            "keepalive_pool": {
                "size": conf.get("keepalive_pool").and_then(Value::as_u64).unwrap_or(30),
                "idle_timeout": conf.get("keepalive_timeout").and_then(Value::as_u64).unwrap_or(60_000) as f64 / 1000.0,
            },
        }))
        .map_err(|e| format!("endpoint: {e}"))?;
        let mut up_conf = up_conf;
        if let Some(checks) = conf.get("checks") {
            up_conf.checks = Some(health_checks(checks, conf, https)?);
        }
        let upstream = Upstream::compile(&up_conf, &format!("{instance} endpoint"))?;
        let auth_query = conf
            .pointer("/auth/query")
            .and_then(Value::as_object)
            .map(encode_query)
            .filter(|q| !q.is_empty());
        let duration = Duration::from_millis(timeout_ms);
        Ok(AiTarget {
            instance,
            provider,
            upstream: Arc::new(upstream),
            path_override,
            auth_headers,
            auth_query,
            options: conf
                .get("options")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            max_tokens: conf
                .pointer("/override/llm_options/max_tokens")
                .and_then(Value::as_u64),
            timeouts: Timeouts {
                connect: duration,
                send: duration,
                read: duration,
            },
            max_request_bytes: conf
                .get("max_req_body_size")
                .and_then(Value::as_u64)
                .map_or(usize::MAX, |n| n as usize),
            max_response_bytes: conf
                .get("max_response_bytes")
                .and_then(Value::as_u64)
                .map_or(DEFAULT_MAX_RESPONSE, |n| n as usize),
            price: match conf.get("price") {
                Some(p) => {
                    Some(serde_json::from_value(p.clone()).map_err(|e| format!("price: {e}"))?)
                }
                None => None,
            },
        })
    }

    /// The path and query to send a chat built for `provider_path` to.
    pub fn path_and_query(&self, provider_path: &str) -> String {
        let path = self.path_override.as_deref().unwrap_or(provider_path);
        self.with_auth_query(path)
    }

    /// The path and query to send embeddings built for `provider_path`
    /// to: `override.endpoint`'s path with `/chat/completions` made
    /// `/embeddings` (its query kept: Azure's `api-version`); any other
    /// path is used as given, as APISIX does.
    pub fn embeddings_path_and_query(&self, provider_path: &str) -> String {
        let Some(pq) = self.path_override.as_deref() else {
            return self.with_auth_query(provider_path);
        };
        let path = match pq.split_once('?') {
            Some((p, q)) => format!("{}?{q}", embeddings_path(p)),
            None => embeddings_path(pq),
        };
        self.with_auth_query(&path)
    }

    fn with_auth_query(&self, path: &str) -> String {
        match &self.auth_query {
            Some(q) if path.contains('?') => format!("{path}&{q}"),
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        }
    }
}

/// An instance's `checks` as its endpoint's health checks: probes carry
/// the instance's credentials (`auth.header` as request headers,
/// `auth.query` on the path, as APISIX does), and an `https` endpoint is
/// probed over TLS unless `checks.active.type` says otherwise.
fn health_checks(checks: &Value, conf: &Value, https: bool) -> Result<ChecksConf, String> {
    let mut checks = checks.clone();
    let Some(active) = checks.get_mut("active").and_then(Value::as_object_mut) else {
        return Err("checks: `active` is required".into());
    };
    if https && !active.contains_key("type") {
        active.insert("type".into(), json!("https"));
    }
    if let Some(header) = conf.pointer("/auth/header").and_then(Value::as_object) {
        let lines = active
            .entry("req_headers")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or("checks.active.req_headers: expected an array")?;
        for (k, v) in header {
            lines.push(json!(format!("{k}: {}", v.as_str().unwrap_or_default())));
        }
    }
    if let Some(query) = conf.pointer("/auth/query").and_then(Value::as_object) {
        let path = active
            .get("http_path")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        active.insert(
            "http_path".into(),
            json!(format!("{path}{sep}{}", encode_query(query))),
        );
    }
    serde_json::from_value(checks).map_err(|e| format!("checks: {e}"))
}

/// `auth.query` as a query string (`key=value&…`).
fn encode_query(query: &Map<String, Value>) -> String {
    let args: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                encode_component(k),
                encode_component(v.as_str().unwrap_or_default())
            )
        })
        .collect();
    args.join("&")
}

/// `auth.header` as header names and values.
fn auth_headers(conf: &Value) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers = Vec::new();
    for (k, v) in conf
        .pointer("/auth/header")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("auth.header: {k}: {e}"))?;
        let value = HeaderValue::from_str(v.as_str().unwrap_or_default())
            .map_err(|e| format!("auth.header: {k}: {e}"))?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// `scheme://host[:port][/path[?query]]` → (`scheme://host[:port]`, path
/// and query when a path is given).
fn split_endpoint(endpoint: &str) -> Result<(String, Option<String>), String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("override.endpoint {endpoint:?}: {e}"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!(
            "override.endpoint {endpoint:?}: needs a scheme and a host (http://host:port/path)"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "override.endpoint {endpoint:?}: scheme must be http or https"
        ));
    }
    let path = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|pq| *pq != "/" && !pq.is_empty())
        .map(str::to_string);
    Ok((format!("{scheme}://{authority}"), path))
}
