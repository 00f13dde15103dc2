//! Every phase of a Lua plugin, `return code, body`, `ctx` kept between
//! phases, and the plugin's schema through the Admin API.

use serde_json::json;

use super::lua_env;

const PHASES: &str = r#"
local core = require("apisix.core")
local _M = {
    version = 0.1,
    priority = 500,
    name = "phases",
    schema = {
        type = "object",
        properties = {
            tag = { type = "string", default = "none" },
            deny = { type = "boolean", default = false },
        },
    },
}

function _M.rewrite(conf, ctx)
    ctx.seen = { "rewrite" }
    core.request.set_header(ctx, "X-Lua-Tag", conf.tag)
end

function _M.access(conf, ctx)
    if conf.deny and not core.request.header(ctx, "X-Allow") then
        return 403, { message = "denied by lua", uri = ctx.var.uri }
    end
    if core.request.header(ctx, "X-Text") then
        return 418, "short and stout"
    end
    table.insert(ctx.seen, "access")
    ngx.req.set_header("X-Method", ngx.req.get_method())
end

function _M.header_filter(conf, ctx)
    table.insert(ctx.seen, "header_filter")
    core.response.set_header("X-Phases", table.concat(ctx.seen, ","))
    ngx.header["X-Upstream-Status"] = tostring(ngx.status)
end

function _M.body_filter(conf, ctx)
    local chunk = ngx.arg[1]
    if chunk and ctx.var.uri == "/hello" then
        ngx.arg[1] = string.upper(chunk)
    end
end

function _M.log(conf, ctx)
    core.log.warn("lua log phase saw ", #ctx.seen, " phases for ", ctx.var.uri)
end

return _M
"#;

#[tokio::test]
async fn every_phase_runs_and_return_code_ends_the_chain() {
    let (env, _dir) = lua_env(&[("phases", PHASES)]).await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(), "plugins": {"phases": {"tag": "t1"}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "upstream": env.upstream(), "plugins": {"phases": {"deny": true}}}),
    )
    .await;

    // rewrite + access change the request, header_filter and body_filter the response.
    let r = env.until("/hello", &[], 200).await;
    assert_eq!(
        r.header("x-phases"),
        Some("rewrite,access,header_filter"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("x-upstream-status"), Some("200"));
    assert_eq!(
        r.body.trim_end(),
        "HELLO WORLD",
        "body_filter upper-cases the body"
    );

    // return code, table → JSON body; the upstream is not called.
    let before = env.up.count_path("/echo");
    let r = env.until("/echo", &[], 403).await;
    assert_eq!(
        r.json(),
        json!({"message": "denied by lua", "uri": "/echo"})
    );
    assert_eq!(env.up.count_path("/echo"), before);
    // return code, string → that body.
    let r = env.get("/echo", &[("X-Allow", "1"), ("X-Text", "1")]).await;
    assert_eq!((r.status, r.body.as_str()), (418, "short and stout"));
    // The request headers set in rewrite/access reach the upstream.
    let r = env.get("/echo", &[("X-Allow", "1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.body.to_lowercase();
    let echoed: serde_json::Value = serde_json::from_str(&body).expect("echo json");
    assert_eq!(
        echoed["headers"]["x-lua-tag"], "none",
        "schema default filled: {body}"
    );
    assert_eq!(echoed["headers"]["x-method"], "get");
    assert!(
        env.gw
            .log()
            .contains("lua log phase saw 3 phases for /hello"),
        "{}",
        env.gw.log_tail(20)
    );
}

#[tokio::test]
async fn lua_plugins_are_listed_validated_and_their_schema_served() {
    let (env, _dir) = lua_env(&[("phases", PHASES)]).await;
    let list = env.admin.get("/plugins/list").await;
    assert!(
        list.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "phases"),
        "{}",
        list.body
    );
    let schema = env.admin.get("/plugins/phases").await;
    assert_eq!(schema.status, 200);
    assert_eq!(
        schema.json()["properties"]["tag"]["type"],
        "string",
        "{}",
        schema.body
    );
    assert!(schema.json()["properties"]["_meta"].is_object());

    let bad = env
        .admin
        .put(
            "/routes/9",
            json!({"uri": "/x", "upstream": env.upstream(), "plugins": {"phases": {"tag": 5}}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body.contains("phases") && bad.body.contains("tag"),
        "{}",
        bad.body
    );
}
