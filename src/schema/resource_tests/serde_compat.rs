//! The schema must be at least as strict as the data plane's serde types:
//! whatever it accepts (after defaults) must deserialize, and values serde
//! refuses must be refused by the schema too. The serde types are read
//! straight from strait's sources.

use serde_json::{json, Value};

use super::examples::compiled;
use super::valid::valid;

mod types {
    pub use crate::config::resource::{
        RouteConf, ServiceConf, TimeoutConf, UpstreamConf, MAX_SECONDS,
    };
}

/// Deserialize `v` as the serde type of `res`; `None` for resources without one.
fn serde_parse(res: &str, v: &Value) -> Option<Result<(), String>> {
    let r = match res {
        "route" => serde_json::from_value::<types::RouteConf>(v.clone()).map(|_| ()),
        "service" => serde_json::from_value::<types::ServiceConf>(v.clone()).map(|_| ()),
        "upstream" => serde_json::from_value::<types::UpstreamConf>(v.clone()).map(|_| ()),
        _ => return None,
    };
    Some(r.map_err(|e| e.to_string()))
}

#[test]
fn everything_the_schema_accepts_deserializes() {
    let mut failures = Vec::new();
    for (res, what, mut body) in valid() {
        compiled(res).validate_and_default(&mut body).unwrap();
        if let Some(Err(e)) = serde_parse(res, &body) {
            failures.push(format!("{res} / {what}: {e}\n  body: {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Values strait's serde types (or its bounded-duration checks) refuse; the
/// schema must refuse each of them as well.
#[test]
fn what_serde_refuses_the_schema_refuses() {
    let cases: Vec<(&str, Value)> = vec![
        ("route", route(json!({"status": 256}))),
        (
            "route",
            route(json!({"timeout": {"connect": 1, "send": 1, "read": 1, "x": 1}})),
        ),
        ("route", route(json!({"labels": {"a": 1}}))),
        ("upstream", up(json!({"nodes": {"a:1": 4294967296u64}}))),
        (
            "upstream",
            up(json!({"nodes": [{"host": "a", "weight": 4294967296u64}]})),
        ),
        (
            "upstream",
            up(json!({"nodes": [{"host": "a", "weight": 1, "priority": 2147483648u64}]})),
        ),
        (
            "upstream",
            up(json!({"nodes": [{"host": "a", "weight": 1, "priority": -2147483649i64}]})),
        ),
        (
            "upstream",
            up(json!({"nodes": [{"host": "a", "weight": 1, "extra": 1}]})),
        ),
        ("upstream", up(json!({"retries": 4294967296u64}))),
        (
            "upstream",
            up(json!({"keepalive_pool": {"size": 4294967296u64}})),
        ),
        (
            "upstream",
            up(json!({"keepalive_pool": {"requests": 4294967296u64}})),
        ),
        ("upstream", up(json!({"keepalive_pool": {"other": 1}}))),
        ("upstream", up(json!({"tls": {"other": 1}}))),
        (
            "upstream",
            up(json!({"checks": {"active": {"concurrency": -1}}})),
        ),
        (
            "upstream",
            up(json!({"checks": {"active": {"concurrency": 4294967296u64}}})),
        ),
        ("upstream", up(json!({"checks": {"active": {"other": 1}}}))),
        (
            "upstream",
            up(json!({"checks": {"active": {}, "other": 1}})),
        ),
        (
            "upstream",
            up(json!({"checks": {"active": {"healthy": {"other": 1}}}})),
        ),
        (
            "upstream",
            up(json!({"checks": {"active": {}, "passive": {"unhealthy": {"other": 1}}}})),
        ),
    ];
    let failures = check_refused(cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Bounded durations are checked after deserializing, not by serde.
    let t: types::TimeoutConf =
        serde_json::from_value(json!({"connect": 1e19, "send": 1, "read": 1})).unwrap();
    assert!(t.check("timeout").is_err());
    assert!(compiled("route")
        .validate(&route(
            json!({"timeout": {"connect": 1e19, "send": 1, "read": 1}})
        ))
        .is_err());
    assert_eq!(
        types::MAX_SECONDS as u64,
        super::super::resources::MAX_SECONDS
    );
}

/// Cases where the schema and serde still disagree; see the report that came
/// with these schemas. Run with `cargo test -- --ignored`.
#[test]
#[ignore = "open: the validator compares bounds as f64; schema integers accept 1.0 where serde does not"]
fn known_gaps_between_schema_and_serde() {
    let cases: Vec<(&str, Value)> = vec![
        // `maximum: 9223372036854775807` is compared as f64, so 2^63 passes.
        ("route", route(json!({"id": 9223372036854775808u64}))),
        (
            "route",
            route(json!({"upstream_id": 9223372036854775808u64})),
        ),
        ("route", route(json!({"priority": 9223372036854775808u64}))),
        (
            "route",
            route(json!({"create_time": 9223372036854775808u64})),
        ),
        // `type: integer` accepts 1.0 (as APISIX does); serde's integer types do not.
        ("route", route(json!({"priority": 1.0}))),
        ("route", route(json!({"status": 1.0}))),
        ("route", route(json!({"upstream_id": 1.0}))),
        ("upstream", up(json!({"nodes": {"a:1": 1.0}}))),
        ("upstream", up(json!({"retries": 2.0}))),
    ];
    let failures = check_refused(cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn route(extra: Value) -> Value {
    merged(json!({"uri": "/a", "upstream_id": 1}), extra)
}

fn up(extra: Value) -> Value {
    merged(json!({"nodes": {"a:1": 1}}), extra)
}

fn merged(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// For each case serde must refuse, describe any the schema accepts (or that
/// serde in fact accepts, which would make the case meaningless).
fn check_refused(cases: Vec<(&str, Value)>) -> Vec<String> {
    let mut failures = Vec::new();
    for (res, body) in cases {
        if matches!(serde_parse(res, &body), Some(Ok(()))) {
            failures.push(format!(
                "{res}: serde accepts {body}; not a serde rejection"
            ));
        }
        if compiled(res).validate(&body).is_ok() {
            failures.push(format!("{res}: schema accepts what serde refuses: {body}"));
        }
    }
    failures
}
