//! What the Admin API refuses before anything is stored, with APISIX's
//! messages: schema errors, unknown fields and plugins, references to items
//! that do not exist, oversized, malformed or ambiguous bodies, bad query
//! arguments.

use http::Method;
use serde_json::{json, Value};

use super::{assert_bad_request, assert_error, assert_key_not_found, body_json, error_msg, start};

fn upstream() -> Value {
    json!({"nodes": {"127.0.0.1:1980": 1}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_writes_are_refused_with_apisix_messages() {
    let (_etcd, gw, admin) = start().await;

    // Schema errors are prefixed and name the field.
    let r = admin
        .put("/routes/1", json!({"uri": 1, "upstream": upstream()}))
        .await;
    gw_assert!(
        gw,
        r.status == 400
            && error_msg(&r).starts_with("invalid configuration: ")
            && error_msg(&r).contains("\"uri\""),
        "uri of the wrong type: expected 400 `invalid configuration: ...\"uri\"...`, got {} {}",
        r.status,
        r.body
    );
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/a", "urii": "/b", "upstream": upstream()}),
        )
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "invalid configuration: additional properties forbidden, found urii",
        "unknown field",
    );
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/a", "host": "a.com", "hosts": ["b.com"], "upstream": upstream()}),
        )
        .await;
    assert_bad_request(&gw, &r, "invalid configuration: ", "host and hosts");
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/a", "methods": ["GETT"], "upstream": upstream()}),
        )
        .await;
    assert_bad_request(&gw, &r, "\"methods\"", "unknown method");
    let r = admin
        .put(
            "/upstreams/1",
            json!({"nodes": {"127.0.0.1:1980": 1}, "type": 5}),
        )
        .await;
    assert_bad_request(&gw, &r, "invalid configuration: ", "upstream type a number");

    // References to items that do not exist.
    let r = admin
        .put("/routes/1", json!({"uri": "/a", "upstream_id": 99}))
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "failed to fetch upstream info by upstream id [99], response code: 404",
        "dangling upstream_id",
    );
    let r = admin
        .put("/routes/1", json!({"uri": "/a", "service_id": "99"}))
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "failed to fetch service info by service id [99], response code: 404",
        "dangling service_id",
    );
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/a", "plugin_config_id": 99, "upstream": upstream()}),
        )
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "failed to fetch plugin config info by plugin config id [99], response code: 404",
        "dangling plugin_config_id",
    );
    let r = admin.put("/services/1", json!({"upstream_id": "99"})).await;
    assert_error(
        &gw,
        &r,
        400,
        "failed to fetch upstream info by upstream id [99], response code: 404",
        "service with a dangling upstream_id",
    );

    // Plugins strait does not have.
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/a", "plugins": {"key-auth": {}}, "upstream": upstream()}),
        )
        .await;
    assert_bad_request(&gw, &r, "unknown plugin [key-auth]", "unknown plugin");

    // Bodies: too large, not JSON, a repeated key.
    let big = format!(
        r#"{{"uri":"/a","desc":"{}","upstream":{{"nodes":{{"127.0.0.1:1980":1}}}}}}"#,
        "x".repeat(1_600_000)
    );
    let r = admin.raw(Method::PUT, "/routes/1", big).await;
    assert_bad_request(
        &gw,
        &r,
        "greater than the maximum size 1572864",
        "a body over 1.5 MiB",
    );
    let r = admin.raw(Method::PUT, "/routes/1", r#"{"uri":"#).await;
    let b = body_json(&r);
    gw_assert!(
        gw,
        r.status == 400
            && error_msg(&r).starts_with("invalid request body: ")
            && b["req_body"] == r#"{"uri":"#,
        "malformed JSON: expected 400 `invalid request body: ...` echoing the body, got {} {}",
        r.status,
        r.body
    );
    let dup = r#"{"uri":"/a","uri":"/b","upstream":{"nodes":{"127.0.0.1:1980":1}}}"#;
    let r = admin.raw(Method::PUT, "/routes/1", dup).await;
    assert_bad_request(&gw, &r, "invalid request body: ", "a repeated key");

    // Query arguments.
    let r = admin
        .put(
            "/routes/1?ttl=abc",
            json!({"uri": "/a", "upstream": upstream()}),
        )
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "invalid argument ttl: should be a number",
        "?ttl=abc",
    );

    // Nothing above was stored.
    assert_key_not_found(&gw, &admin.get("/routes/1").await, "GET /routes/1");
    assert_key_not_found(&gw, &admin.get("/upstreams/1").await, "GET /upstreams/1");
    assert_key_not_found(&gw, &admin.get("/services/1").await, "GET /services/1");
}
