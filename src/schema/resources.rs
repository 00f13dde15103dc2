//! JSON schemas of the resources stored under the etcd prefix, in the shapes
//! APISIX 3.x defines, and the pieces they share (ids, labels, hosts, client
//! addresses, timeouts, plugin maps).
//!
//! One schema per resource serves three readers: the Admin API checks writes
//! with it (and fills in its `default`s before writing to etcd), the data plane
//! checks what it reads from etcd, and `GET /apisix/admin/schema/{resource}`
//! returns it unchanged. Each schema is a self-contained document: nested
//! schemas (an inline upstream in a route) are embedded, never referenced.
//!
//! Where strait's runtime types are narrower than APISIX's schema (integer
//! widths, the one-year bound on durations, no unknown fields in nested
//! objects), the schema carries strait's bound, so that whatever the Admin API
//! accepts the data plane can also load.

mod consumer;
mod ssl;
mod upstream;

use serde_json::{json, Value};

pub use consumer::{consumer, consumer_group, credential, global_rule, plugin_config};
pub use ssl::{certificate, private_key, ssl};
pub use upstream::{
    chash_key, health_checker, health_checker_active, health_checker_passive, nodes, upstream,
};

/// Longest duration, in seconds, that strait accepts anywhere in a resource.
///
/// Mirrors `crate::config::resource::MAX_SECONDS`; written as an integer so
/// the served schema shows `31536000`, not `31536000.0`.
pub const MAX_SECONDS: u64 = 31_536_000;

/// The regular expression every host pattern (`host`, `hosts[]`, `sni`,
/// `upstream_host`, node hosts) must match: `*`, or an optional leading `*`
/// followed by name, IP-literal and port characters.
pub const HOST_PATTERN: &str = r"^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$";

/// The HTTP methods a route may list, in APISIX's order.
pub const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];

/// `$comment` value that marks a plugin schema as already carrying `_meta`;
/// clients of `GET /apisix/admin/plugins/{name}` see it.
pub const INJECTED_MARK: &str = "this is a mark for our injected plugin schema";

/// A resource id: 1–64 characters of `[a-zA-Z0-9-_.]`, or an integer ≥ 1.
pub fn id() -> Value {
    json!({
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[a-zA-Z0-9-_.]+$"},
            // Bounded above because strait holds numeric ids as i64.
            {"type": "integer", "minimum": 1, "maximum": i64::MAX}
        ]
    })
}

/// A display name: 1–256 characters.
pub fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 256})
}

/// A free-text description of at most 256 characters.
pub fn desc() -> Value {
    json!({"type": "string", "maxLength": 256})
}

/// One label value: 1–256 characters without whitespace.
pub fn label_value() -> Value {
    json!({
        "description": "label value",
        "type": "string",
        "pattern": r"^\S+$",
        "minLength": 1,
        "maxLength": 256
    })
}

/// `labels`: an object of string label values, any keys.
pub fn labels() -> Value {
    json!({
        "description": "labels for grouping and filtering the resource",
        "type": "object",
        "patternProperties": {".*": label_value()}
    })
}

/// `create_time` / `update_time`: Unix seconds, set by the Admin API.
pub fn timestamp() -> Value {
    json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX})
}

/// `timeout`: connect, send and read seconds, all three required, each > 0.
pub fn timeout() -> Value {
    let secs = || json!({"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SECONDS});
    json!({
        "type": "object",
        "properties": {"connect": secs(), "send": secs(), "read": secs()},
        "required": ["connect", "send", "read"],
        // strait's timeout type rejects unknown fields; APISIX's schema does not.
        "additionalProperties": false
    })
}

/// One host pattern (see [`HOST_PATTERN`]).
pub fn host() -> Value {
    json!({"type": "string", "pattern": HOST_PATTERN})
}

/// `hosts`: a non-empty array of distinct host patterns.
pub fn hosts() -> Value {
    json!({"type": "array", "items": host(), "minItems": 1, "uniqueItems": true})
}

/// The four accepted client address forms: IPv4, IPv4 CIDR, IPv6, IPv6 CIDR.
pub fn ip_forms() -> Value {
    let seg = "([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])";
    let v4 = format!(r"{seg}\.{seg}\.{seg}\.{seg}");
    // Loose on purpose (`:/8` passes); the data plane's address parser is exact.
    let v6 = "([a-fA-F0-9]{0,4}:){1,8}(:[a-fA-F0-9]{0,4}){0,8}([a-fA-F0-9]{0,4})?";
    json!([
        {"title": "IPv4", "type": "string", "format": "ipv4"},
        {"title": "IPv4/CIDR", "type": "string", "pattern": format!("^{v4}/([12]?[0-9]|3[0-2])$")},
        {"title": "IPv6", "type": "string", "format": "ipv6"},
        {"title": "IPv6/CIDR", "type": "string", "pattern": format!("^{v6}/[0-9]{{1,3}}$")}
    ])
}

/// One client address or CIDR (`remote_addr`, items of `remote_addrs`).
pub fn remote_addr() -> Value {
    json!({"description": "client address or CIDR", "type": "string", "anyOf": ip_forms()})
}

/// One HTTP method name.
pub fn method() -> Value {
    json!({"description": "HTTP method", "type": "string", "enum": METHODS})
}

/// `status`: 1 enabled (default), 0 disabled.
pub fn status() -> Value {
    json!({"type": "integer", "enum": [1, 0], "default": 1})
}

/// `script`: a plugin orchestration script (declared; strait rejects it semantically).
pub fn script() -> Value {
    json!({"type": "string", "minLength": 10, "maxLength": 102_400})
}

/// The `plugins` field: an object keyed by plugin name. Each value is checked
/// against that plugin's own schema, not here.
pub fn plugins_object() -> Value {
    json!({"type": "object"})
}

/// The `_meta` property schema added to every plugin's schema: per-plugin
/// `disable`, `error_response`, `priority`, `filter` and `pre_function`.
pub fn plugin_injected_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "disable": {"type": "boolean"},
            "error_response": {"oneOf": [{"type": "string"}, {"type": "object"}]},
            "priority": {
                "description": "overrides the plugin's execution priority",
                "type": "integer"
            },
            "filter": {
                "description": "expression deciding per request whether the plugin runs",
                "type": "array"
            },
            "pre_function": {
                "description": "code run before the plugin in each phase, given conf and ctx",
                "type": "string"
            }
        },
        "additionalProperties": false
    })
}

/// Add `properties._meta` and the [`INJECTED_MARK`] comment to a plugin's
/// schema, as APISIX does when it loads a plugin. A schema already marked is
/// left alone; one that declares its own `_meta` is refused.
pub fn inject_plugin_meta(schema: &mut Value) -> Result<(), String> {
    let Some(obj) = schema.as_object_mut() else {
        return Err("plugin schema must be a JSON object".into());
    };
    if obj.get("$comment").and_then(Value::as_str) == Some(INJECTED_MARK) {
        return Ok(());
    }
    let props = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("plugin schema `properties` must be an object")?;
    if props.contains_key("_meta") {
        return Err("found forbidden '_meta' field in the schema".into());
    }
    props.insert("_meta".into(), plugin_injected_schema());
    obj.insert("$comment".into(), json!(INJECTED_MARK));
    Ok(())
}

/// The bookkeeping properties most resources carry: `id`, `name`, `desc`,
/// `labels`, `create_time`, `update_time` (callers remove or override some).
fn metadata() -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), id());
    m.insert("name".into(), name());
    m.insert("desc".into(), desc());
    m.insert("labels".into(), labels());
    m.insert("create_time".into(), timestamp());
    m.insert("update_time".into(), timestamp());
    m
}

/// An object schema with `additionalProperties: false` whose properties are
/// `base` plus `own` (an object of property schemas).
fn closed_object(mut base: serde_json::Map<String, Value>, own: Value) -> Value {
    if let Value::Object(own) = own {
        base.extend(own);
    }
    json!({"type": "object", "properties": base, "additionalProperties": false})
}

/// Add keyword `key` to an object schema built by [`closed_object`].
fn with(mut schema: Value, key: &str, value: Value) -> Value {
    if let Value::Object(m) = &mut schema {
        m.insert(key.into(), value);
    }
    schema
}

/// A route: how requests are matched (uri/uris, hosts, methods, client
/// addresses, vars) and where they go (plugins, upstream, service).
pub fn route() -> Value {
    let uri_item = || json!({"type": "string", "minLength": 1, "maxLength": 4096});
    let schema = closed_object(
        metadata(),
        json!({
            "uri": uri_item(),
            // Item bounds are strait's: each entry is a path pattern like `uri`.
            "uris": {"type": "array", "items": uri_item(), "minItems": 1, "uniqueItems": true},
            "priority": {"type": "integer", "default": 0, "minimum": i64::MIN, "maximum": i64::MAX},
            "methods": {"type": "array", "items": method(), "uniqueItems": true},
            "host": host(),
            "hosts": hosts(),
            "remote_addr": remote_addr(),
            "remote_addrs": {
                "type": "array", "items": remote_addr(), "minItems": 1, "uniqueItems": true
            },
            "timeout": timeout(),
            "vars": {"description": "lua-resty-expr rules over request variables", "type": "array"},
            "filter_func": {"type": "string", "minLength": 10, "pattern": "^function"},
            "script": script(),
            "script_id": id(),
            "plugins": plugins_object(),
            "plugin_config_id": id(),
            "upstream": upstream(),
            "service_id": id(),
            "upstream_id": id(),
            "enable_websocket": {"description": "allow websocket upgrades", "type": "boolean"},
            "status": status()
        }),
    );
    let exclusive = |one: &str, many: &str| {
        json!({"oneOf": [
            {"not": {"anyOf": [{"required": [one]}, {"required": [many]}]}},
            {"required": [one]},
            {"required": [many]}
        ]})
    };
    let all_of = json!([
        {"oneOf": [{"required": ["uri"]}, {"required": ["uris"]}]},
        exclusive("host", "hosts"),
        exclusive("remote_addr", "remote_addrs")
    ]);
    // A route needs a path and something to do; the pairs keep APISIX's shape
    // (and so its error wording) rather than two separate anyOfs.
    let mut any_of = Vec::new();
    for path in ["uri", "uris"] {
        for target in ["plugins", "upstream", "upstream_id", "service_id"] {
            any_of.push(json!({"required": [target, path]}));
        }
    }
    for path in ["uri", "uris"] {
        any_of.push(json!({"required": ["script", path]}));
    }
    let schema = with(schema, "allOf", all_of);
    let schema = with(schema, "anyOf", Value::Array(any_of));
    with(
        schema,
        "not",
        json!({"anyOf": [
            {"required": ["script", "plugins"]},
            {"required": ["script", "plugin_config_id"]}
        ]}),
    )
}

/// A service: plugins, an upstream and hosts shared by the routes that name it.
pub fn service() -> Value {
    closed_object(
        metadata(),
        json!({
            "plugins": plugins_object(),
            "upstream": upstream(),
            "upstream_id": id(),
            "script": script(),
            "enable_websocket": {"description": "allow websocket upgrades", "type": "boolean"},
            "hosts": hosts()
        }),
    )
}
