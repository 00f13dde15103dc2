//! `serverless-pre-function`/`serverless-post-function`: refused unless the
//! operator allows them; when allowed, the functions run in their phase.

use serde_json::json;

use super::{lua_env, lua_env_with};

#[tokio::test]
async fn serverless_functions_are_refused_by_default() {
    let (env, _dir) = lua_env(&[]).await;
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "upstream": env.upstream(),
                   "plugins": {"serverless-pre-function": {"functions": ["return function() end"]}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("strait.lua.serverless"), "{}", r.body);
}

#[tokio::test]
async fn allowed_serverless_functions_run_in_their_phase() {
    let (env, _dir) = lua_env_with(&[], "    serverless: true\n").await;
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "upstream": env.upstream(), "plugins": {
            "serverless-pre-function": {"phase": "rewrite", "functions": [
                "return function(conf, ctx) ngx.req.set_header('X-Pre', ctx.var.uri) end",
                "local n = 0\nreturn function(conf, ctx)\n  n = n + 1\n  if ngx.req.get_headers()['x-stop'] then return 403, {stopped = true} end\nend",
                "return function() error('never reached when the second one answers') end",
            ]},
            "serverless-post-function": {"phase": "header_filter", "functions": [
                "return function(conf, ctx) ngx.header['X-Post'] = 'done' end",
            ]},
        }}),
    )
    .await;
    env.until("/echo", &[], 500).await;
    assert!(
        env.gw.log().contains("never reached"),
        "the third function runs when the second passes"
    );
    let r = env.get("/echo", &[("x-stop", "1")]).await;
    assert_eq!((r.status, r.json()), (403, json!({"stopped": true})));
    assert_eq!(
        r.header("x-post"),
        Some("done"),
        "header_filter runs on the plugin's answer too"
    );

    // Bad code is refused with APISIX's messages.
    for (code, msg) in [
        ("return function(", "failed to loadstring"),
        (
            "return 42",
            "only accept Lua function, the input code type is number",
        ),
        ("error('at load')", "pcall error"),
    ] {
        let r = env
            .admin
            .put(
                "/routes/2",
                json!({"uri": "/x", "upstream": env.upstream(),
                       "plugins": {"serverless-pre-function": {"functions": [code]}}}),
            )
            .await;
        assert_eq!(r.status, 400, "{code}: {}", r.body);
        assert!(r.body.contains(msg), "{code}: {}", r.body);
    }
}
