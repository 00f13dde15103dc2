//! The upstream schema (standalone and embedded in routes and services): node
//! forms, balancer, retries, timeouts, TLS, keep-alive pool and the active and
//! passive health checks with their defaults.
//!
//! Nested objects are closed (`additionalProperties: false`) because strait's
//! upstream types reject unknown fields; APISIX leaves most of them open.

use serde_json::{json, Value};

use super::{closed_object, host, id, metadata, method, timeout, with, MAX_SECONDS};

/// An integer that fits strait's `u32` fields, at least `min`.
fn u32_from(min: u32) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": u32::MAX})
}

/// A non-negative number of seconds, at most [`MAX_SECONDS`].
fn seconds() -> Value {
    json!({"type": "number", "minimum": 0, "maximum": MAX_SECONDS})
}

/// A health-check counter: an integer in `min..=254`, default `default`.
fn counter(min: u32, default: u32) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": 254, "default": default})
}

/// A list of HTTP statuses (200–599, distinct, at least one), default `default`.
fn statuses(default: &[u16]) -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "integer", "minimum": 200, "maximum": 599},
        "uniqueItems": true,
        "default": default
    })
}

/// Probe interval in seconds (default 1). APISIX takes whole seconds ≥ 1;
/// strait also accepts fractions down to 10 ms (a superset, so APISIX
/// configurations keep working).
fn interval() -> Value {
    json!({"type": "number", "minimum": 0.01, "maximum": MAX_SECONDS, "default": 1})
}

/// `http`, `https` or `tcp` (default `http`).
fn check_type() -> Value {
    json!({"type": "string", "enum": ["http", "https", "tcp"], "default": "http"})
}

/// A closed object schema with the given properties.
fn object(properties: Value) -> Value {
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

/// `checks.active`: probes sent by the gateway, with lua-resty-healthcheck's
/// defaults as APISIX wires them.
pub fn health_checker_active() -> Value {
    let mut http_method = method();
    if let Value::Object(m) = &mut http_method {
        m.insert("default".into(), json!("GET"));
        m.remove("description");
    }
    object(json!({
        "type": check_type(),
        // Bounded by strait's duration limit; APISIX sets no bounds.
        "timeout": {"type": "number", "minimum": 0, "maximum": MAX_SECONDS, "default": 1},
        "concurrency": {"type": "integer", "minimum": 0, "maximum": u32::MAX, "default": 10},
        "host": host(),
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "http_method": http_method,
        "http_path": {"type": "string", "default": "/"},
        "http_req_body": {"type": "string", "default": ""},
        "https_verify_certificate": {"type": "boolean", "default": true},
        "healthy": object(json!({
            "interval": interval(),
            "http_statuses": statuses(&[200, 302]),
            "successes": counter(1, 2)
        })),
        "unhealthy": object(json!({
            "interval": interval(),
            "http_statuses": statuses(&[429, 404, 500, 501, 502, 503, 504, 505]),
            "http_failures": counter(1, 5),
            "tcp_failures": counter(1, 2),
            "timeouts": counter(1, 3)
        })),
        "req_headers": {"type": "array", "minItems": 1, "items": {"type": "string"}}
    }))
}

/// `checks.passive`: judging nodes by the responses to proxied requests.
pub fn health_checker_passive() -> Value {
    object(json!({
        "type": check_type(),
        "healthy": object(json!({
            "http_statuses": statuses(&[
                200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305,
                306, 307, 308
            ]),
            "successes": counter(0, 5)
        })),
        "unhealthy": object(json!({
            "http_statuses": statuses(&[429, 500, 503]),
            "tcp_failures": counter(0, 2),
            "timeouts": counter(0, 7),
            "http_failures": counter(0, 5)
        }))
    }))
}

/// `checks`: `active` is required; `passive` may be added to it.
pub fn health_checker() -> Value {
    let schema = object(json!({
        "active": health_checker_active(),
        "passive": health_checker_passive()
    }));
    with(
        schema,
        "anyOf",
        json!([{"required": ["active"]}, {"required": ["active", "passive"]}]),
    )
}

/// `nodes`: `{"host:port": weight}` or `[{host, port, weight, priority, metadata}]`.
pub fn nodes() -> Value {
    let weight = || {
        let mut w = u32_from(0);
        if let Value::Object(m) = &mut w {
            m.insert("description".into(), json!("node weight"));
        }
        w
    };
    let node = with(
        object(json!({
            "host": host(),
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "weight": weight(),
            "priority": {
                "description": "node tier; higher tiers are used first",
                "type": "integer",
                "minimum": i32::MIN,
                "maximum": i32::MAX,
                "default": 0
            },
            "metadata": {"type": "object"}
        })),
        "required",
        json!(["host", "weight"]),
    );
    json!({
        "anyOf": [
            {"type": "object", "patternProperties": {".*": weight()}},
            {"type": "array", "items": node}
        ]
    })
}

/// An upstream: where requests go and how nodes are picked, retried, timed
/// out, health-checked and connected to.
pub fn upstream() -> Value {
    let schema = closed_object(
        metadata(),
        json!({
            "nodes": nodes(),
            "retries": u32_from(0),
            "retry_timeout": seconds(),
            "timeout": timeout(),
            "tls": tls(),
            "keepalive_pool": object(json!({
                "size": with(u32_from(1), "default", json!(320)),
                "idle_timeout": with(seconds(), "default", json!(60)),
                "requests": with(u32_from(1), "default", json!(1000))
            })),
            "type": {
                "description": "load-balancing algorithm",
                "type": "string",
                "default": "roundrobin"
            },
            "checks": health_checker(),
            "hash_on": {
                "type": "string",
                "default": "vars",
                "enum": ["vars", "header", "cookie", "consumer", "vars_combinations"]
            },
            "key": {"description": "what chash hashes, read according to hash_on", "type": "string"},
            "scheme": {
                "description": "protocol towards the nodes",
                "default": "http",
                "enum": ["grpc", "grpcs", "http", "https", "tcp", "tls", "udp", "kafka"]
            },
            "discovery_type": {"type": "string"},
            "discovery_args": {
                "type": "object",
                "properties": {
                    "namespace_id": {"type": "string"},
                    "group_name": {"type": "string"}
                }
            },
            "pass_host": {
                "description": "which Host header the nodes receive",
                "type": "string",
                "enum": ["pass", "node", "rewrite"],
                "default": "pass"
            },
            "upstream_host": host(),
            "service_name": {"type": "string", "minLength": 1, "maxLength": 256}
        }),
    );
    with(
        schema,
        "oneOf",
        json!([{"required": ["nodes"]}, {"required": ["service_name", "discovery_type"]}]),
    )
}

/// `tls`: client certificate (inline pair, or an SSL object id) and verification.
fn tls() -> Value {
    let schema = object(json!({
        "client_cert_id": id(),
        "client_cert": super::certificate(),
        "client_key": super::private_key(),
        "verify": {
            "description": "verify the upstream's certificate",
            "type": "boolean",
            "default": false
        }
    }));
    with(
        schema,
        "dependencies",
        json!({
            "client_cert": {"required": ["client_key"]},
            "client_key": {"required": ["client_cert"]},
            "client_cert_id": {"not": {"required": ["client_cert", "client_key"]}}
        }),
    )
}

/// The schema the `key` of a `chash` upstream must match for `hash_on`, or
/// `None` when the key is not checked (`consumer`, unknown values).
///
/// Used by the upstream's semantic check, not by the resource schema itself.
pub fn chash_key(hash_on: &str) -> Option<Value> {
    match hash_on {
        "vars" => Some(json!({
            "type": "string",
            "pattern": concat!(
                "^((uri|server_name|server_addr|request_uri|remote_port",
                "|remote_addr|query_string|host|hostname|mqtt_client_id)",
                "|arg_[0-9a-zA-z_-]+)$"
            )
        })),
        "header" | "cookie" => Some(json!({"type": "string", "pattern": "^[a-zA-Z0-9-_]+$"})),
        "vars_combinations" => Some(json!({"type": "string"})),
        _ => None,
    }
}
