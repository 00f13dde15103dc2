//! Request bodies: a plugin that calls a body API gets the body read before
//! its chain runs; `ngx.req.set_body_data` replaces what goes upstream.

use http::Method;
use serde_json::json;

use super::lua_env;
use crate::common::request;

/// Written the way APISIX plugins are: `core.request.get_body`,
/// `core.json`, `ngx.req.set_body_data`, `return code, body`.
const ADD_FIELD: &str = r#"
local core = require("apisix.core")
local ngx = ngx

local schema = {
    type = "object",
    properties = {
        field = { type = "string", minLength = 1 },
        max_req_body_size = { type = "integer", minimum = 1, default = 1024 },
    },
    required = { "field" },
}

local _M = { version = 0.1, priority = 1000, name = "add-field", schema = schema }

function _M.check_schema(conf)
    return core.schema.check(schema, conf)
end

function _M.rewrite(conf, ctx)
    local body, err = core.request.get_body(conf.max_req_body_size, ctx)
    if not body then
        return 400, { message = "could not get body: " .. (err or "request body is empty") }
    end
    local data, derr = core.json.decode(body)
    if not data then
        return 400, { message = "could not parse JSON request body: " .. derr }
    end
    data[conf.field] = ngx.md5(body)
    ngx.req.set_body_data(core.json.encode(data))
end

return _M
"#;

#[tokio::test]
async fn body_is_read_changed_and_forwarded() {
    let (env, _dir) = lua_env(&[("add-field", ADD_FIELD)]).await;
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "upstream": env.upstream(),
               "plugins": {"add-field": {"field": "digest", "max_req_body_size": 64}}}),
    )
    .await;
    env.until("/echo", &[], 400).await;
    let body = r#"{"a":1}"#;
    let r = request(Method::POST, env.gw.url("/echo"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status, 200, "{}", r.body);
    let echoed = r.json();
    let sent: serde_json::Value =
        serde_json::from_str(echoed["body"].as_str().unwrap()).expect("JSON upstream body");
    assert_eq!(sent["a"], 1);
    assert_eq!(
        sent["digest"], "bb6cb5c68df4652941caf652a366f2d8",
        "ngx.md5 of the original body"
    );
    let len: usize = echoed["headers"]["content-length"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        len,
        echoed["body"].as_str().unwrap().len(),
        "Content-Length follows the new body"
    );

    // Not JSON → the plugin's own 400; too large → its size error.
    let r = request(Method::POST, env.gw.url("/echo"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("could not parse JSON request body"),
        "{}",
        r.body
    );
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(100));
    let r = request(Method::POST, env.gw.url("/echo"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("greater than the maximum size 64"),
        "{}",
        r.body
    );

    // check_schema runs through the Admin API.
    let bad = env
        .admin
        .put(
            "/routes/2",
            json!({"uri": "/x", "upstream": env.upstream(), "plugins": {"add-field": {}}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("field"), "{}", bad.body);
}

#[tokio::test]
async fn a_body_over_the_read_limit_is_refused_with_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (env, _dir) = lua_env(&[("add-field", ADD_FIELD)]).await;
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "upstream": env.upstream(), "plugins": {"add-field": {"field": "d"}}}),
    )
    .await;
    env.until("/echo", &[], 400).await;
    // 100 MB declared (over the 64 MiB a plugin may read): refused before
    // any of it is read, and the upstream never sees the request.
    let before = env.up.count_path("/echo");
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", env.gw.proxy_port))
        .await
        .expect("connect");
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n{",
    )
    .await
    .expect("write head");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("413 Request Entity Too Large"), "{answer}");
    assert_eq!(env.up.count_path("/echo"), before);
}
