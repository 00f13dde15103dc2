//! What the Admin API refuses before anything is stored, with APISIX's
//! messages: schema errors, unknown fields and plugins, references to items
//! that do not exist, oversized, malformed or ambiguous bodies, bad query
//! arguments.

use http::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{assert_bad_request, assert_error, assert_key_not_found, body_json, error_msg, start};
use crate::common::ADMIN_KEY;

fn upstream() -> Value {
    json!({"nodes": {"127.0.0.1:1980": 1}})
}

/// `PUT /apisix/admin{path}` with a chunked body (no Content-Length) of
/// `total` spaces, over a raw connection; returns the status and body.
async fn chunked_put(port: u16, path: &str, total: usize) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "PUT /apisix/admin{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: {ADMIN_KEY}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    // The server may answer and stop reading before everything is sent.
    while sent < total {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if s.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let mut part = [0u8; 4096];
    while let Ok(n) = s.read(&mut part).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&part[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
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
            json!({"uri": "/a", "plugins": {"ext-plugin-pre-req": {}}, "upstream": upstream()}),
        )
        .await;
    assert_bad_request(
        &gw,
        &r,
        "unknown plugin [ext-plugin-pre-req]",
        "unknown plugin",
    );

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
    let (status, body) = chunked_put(gw.admin_port, "/routes/1", 1_700_000).await;
    gw_assert!(
        gw,
        status == 400 && body.contains("greater than the maximum size 1572864"),
        "a chunked body over 1.5 MiB: expected 400 `...greater than the maximum size 1572864...`, got {status} {body:?}"
    );
    let dup = r#"{"uri":"/a","uri":"/b","upstream":{"nodes":{"127.0.0.1:1980":1}}}"#;
    let r = admin.raw(Method::PUT, "/routes/1", dup).await;
    assert_bad_request(&gw, &r, "invalid request body: ", "a repeated key");
    let nested = r#"{"uri":"/a","upstream":{"type":"roundrobin","nodes":{"127.0.0.1:1980":1},"type":"chash"}}"#;
    let r = admin.raw(Method::PUT, "/routes/1", nested).await;
    assert_bad_request(&gw, &r, "invalid request body: ", "a repeated nested key");
    let r = admin.raw(Method::PUT, "/routes/1", "").await;
    assert_error(&gw, &r, 400, "missing configurations", "PUT without a body");

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

    // PATCH needs a body.
    let r = admin
        .put("/routes/2", json!({"uri": "/b", "upstream": upstream()}))
        .await;
    assert_status!(gw, r, 201, "PUT /routes/2");
    let r = admin.raw(Method::PATCH, "/routes/2", "").await;
    assert_error(
        &gw,
        &r,
        400,
        "missing new configuration",
        "PATCH without a body",
    );

    // Nothing above was stored.
    assert_key_not_found(&gw, &admin.get("/routes/1").await, "GET /routes/1");
    assert_key_not_found(&gw, &admin.get("/upstreams/1").await, "GET /upstreams/1");
    assert_key_not_found(&gw, &admin.get("/services/1").await, "GET /services/1");
}
