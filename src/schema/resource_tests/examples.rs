//! Table-driven checks of every resource schema through the validator: the
//! bodies from APISIX's docs and strait's own tests must pass, each invalid
//! body must fail with a message naming the offending field, and defaults
//! must come out as APISIX fills them in.

use serde_json::{json, Value};

use super::super::{by_name, validator::Schema};
use super::invalid::invalid;
use super::valid::valid;

/// A certificate-sized string (the schema checks lengths, not PEM syntax).
pub fn cert() -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
        "A".repeat(128)
    )
}

/// A private-key-sized string.
pub fn key() -> String {
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
        "B".repeat(64)
    )
}

/// The compiled schema of `resource`.
pub fn compiled(resource: &str) -> Schema {
    let doc = by_name(resource).unwrap();
    Schema::compile(&doc).unwrap_or_else(|e| panic!("{resource} schema does not compile: {e}"))
}

#[test]
fn valid_examples_pass() {
    let mut failures = Vec::new();
    for (res, what, body) in valid() {
        if let Err(e) = compiled(res).validate(&body) {
            failures.push(format!("{res} / {what}: {e}\n  body: {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_examples_fail_naming_the_field() {
    let mut failures = Vec::new();
    for (res, body, needle) in invalid() {
        match compiled(res).validate(&body) {
            Ok(()) => failures.push(format!("{res}: accepted {body}")),
            Err(e) if !e.contains(needle) => failures.push(format!(
                "{res}: error lacks {needle:?}: {e}\n  body: {body}"
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Fill defaults into `body` for `res` and return it.
fn defaulted(res: &str, mut body: Value) -> Value {
    compiled(res)
        .validate_and_default(&mut body)
        .unwrap_or_else(|e| panic!("{res}: {e}"));
    body
}

#[test]
fn route_defaults_match_apisix() {
    let r = defaulted("route", json!({"uri": "/*", "upstream_id": 1}));
    assert_eq!(
        r,
        json!({"uri": "/*", "upstream_id": 1, "priority": 0, "status": 1})
    );
    let r = defaulted(
        "route",
        json!({"uri": "/*", "upstream": {"nodes": {"a:1": 1}}}),
    );
    assert_eq!(
        r["upstream"],
        json!({"nodes": {"a:1": 1}, "type": "roundrobin", "scheme": "http",
               "pass_host": "pass", "hash_on": "vars"})
    );
    // Given values are kept.
    let r = defaulted(
        "route",
        json!({"uri": "/*", "upstream_id": 1, "priority": 5, "status": 0}),
    );
    assert_eq!(
        (r["priority"].clone(), r["status"].clone()),
        (json!(5), json!(0))
    );
}

#[test]
fn upstream_defaults_match_apisix() {
    let u = defaulted(
        "upstream",
        json!({"nodes": [{"host": "a", "weight": 1}], "keepalive_pool": {}, "tls": {},
               "checks": {"active": {"healthy": {}, "unhealthy": {}},
                          "passive": {"healthy": {}, "unhealthy": {}}}}),
    );
    assert_eq!(u["type"], "roundrobin");
    assert_eq!(u["scheme"], "http");
    assert_eq!(u["pass_host"], "pass");
    assert_eq!(u["hash_on"], "vars");
    assert_eq!(u["nodes"][0]["priority"], 0);
    assert_eq!(
        u["keepalive_pool"],
        json!({"size": 320, "idle_timeout": 60, "requests": 1000})
    );
    assert_eq!(u["tls"], json!({"verify": false}));
    let a = &u["checks"]["active"];
    for (k, v) in [
        ("type", json!("http")),
        ("timeout", json!(1)),
        ("concurrency", json!(10)),
        ("http_method", json!("GET")),
        ("http_path", json!("/")),
        ("http_req_body", json!("")),
        ("https_verify_certificate", json!(true)),
    ] {
        assert_eq!(a[k], v, "checks.active.{k}");
    }
    assert!(a.get("host").is_none() && a.get("port").is_none() && a.get("req_headers").is_none());
    assert_eq!(
        a["healthy"],
        json!({"interval": 1, "http_statuses": [200, 302], "successes": 2})
    );
    assert_eq!(
        a["unhealthy"],
        json!({"interval": 1, "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
               "http_failures": 5, "tcp_failures": 2, "timeouts": 3})
    );
    let p = &u["checks"]["passive"];
    assert_eq!(p["type"], "http");
    assert_eq!(
        p["healthy"],
        json!({"http_statuses": [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
                                 302, 303, 304, 305, 306, 307, 308], "successes": 5})
    );
    assert_eq!(
        p["unhealthy"],
        json!({"http_statuses": [429, 500, 503], "tcp_failures": 2, "timeouts": 7, "http_failures": 5})
    );
    // Absent nested objects are not created.
    let u = defaulted("upstream", json!({"nodes": {"a:1": 1}}));
    assert!(
        u.get("keepalive_pool").is_none() && u.get("checks").is_none() && u.get("tls").is_none()
    );
}

#[test]
fn ssl_and_other_defaults_match_apisix() {
    let s = defaulted(
        "ssl",
        json!({"cert": cert(), "key": key(), "sni": "t.com", "client": {"ca": cert()}}),
    );
    assert_eq!(s["type"], "server");
    assert_eq!(s["status"], 1);
    assert_eq!(s["client"]["depth"], 1);
    let body = json!({"username": "jack", "plugins": {"key-auth": {"key": "k"}}});
    assert_eq!(defaulted("consumer", body.clone()), body);
    let body = json!({"id": "1", "plugins": {}});
    for res in [
        "consumer_group",
        "plugin_config",
        "global_rule",
        "credential",
    ] {
        assert_eq!(defaulted(res, body.clone()), body, "{res}");
    }
    let body = json!({"hosts": ["a.com"], "upstream_id": 1});
    assert_eq!(defaulted("service", body.clone()), body);
}

#[test]
fn defaulted_examples_still_validate() {
    for (res, what, body) in valid() {
        let filled = defaulted(res, body);
        if let Err(e) = compiled(res).validate(&filled) {
            panic!("{res} / {what}: defaults made it invalid: {e}");
        }
    }
}

#[test]
fn plugin_schema_with_meta_validates_meta() {
    let mut s = json!({"type": "object", "properties": {"key": {"type": "string"}}});
    super::super::resources::inject_plugin_meta(&mut s).unwrap();
    let schema = Schema::compile(&s).unwrap();
    for ok in [
        json!({"key": "a", "_meta": {"disable": true}}),
        json!({"_meta": {"error_response": "x", "priority": 5, "filter": [["arg_a", "==", "1"]], "pre_function": "return"}}),
        json!({"_meta": {"error_response": {"message": "x"}}}),
    ] {
        schema.validate(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for (bad, needle) in [
        (json!({"_meta": {"disable": "yes"}}), "disable"),
        (json!({"_meta": {"error_response": 1}}), "error_response"),
        (json!({"_meta": {"priority": 1.5}}), "priority"),
        (json!({"_meta": {"filter": {}}}), "filter"),
        (json!({"_meta": {"pre_function": 1}}), "pre_function"),
        (json!({"_meta": {"other": 1}}), "other"),
    ] {
        let e = schema.validate(&bad).unwrap_err();
        assert!(e.contains(needle), "{bad}: {e}");
    }
}

#[test]
#[ignore = "prints every invalid example's error for review"]
fn print_invalid_errors() {
    for (res, body, _) in invalid() {
        let e = compiled(res).validate(&body).unwrap_err();
        println!(
            "{res}: {}\n    => {e}",
            body.to_string().chars().take(140).collect::<String>()
        );
    }
}
