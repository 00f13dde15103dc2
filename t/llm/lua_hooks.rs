//! Lua plugins on LLM traffic (`require("strait.llm")`): change the decoded
//! chat request before it is sent, read usage once the answer is known.

use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::lua::lua_env;

const SHAPER: &str = r#"
local core = require("apisix.core")
local llm = require("strait.llm")

local _M = { version = 0.1, priority = 1000, name = "llm-shaper",
             schema = { type = "object", properties = { cap = { type = "integer" } } } }

-- Runs after ai-proxy (1040) in the access phase: the request is decoded.
function _M.access(conf, ctx)
    local req = llm.get_request(ctx)
    if not req then
        return 500, { message = "no LLM request" }
    end
    if req.max_tokens == nil or req.max_tokens > conf.cap then
        req.max_tokens = conf.cap
    end
    table.insert(req.messages, 1, { role = "system", content = { { type = "text", text = "Be brief." } } })
    req.model = "shaped-" .. req.model
    llm.set_request(ctx, req)
    ctx.asked_model = ctx.var.request_llm_model
end

function _M.header_filter(conf, ctx)
    local usage = llm.usage(ctx)
    core.response.set_header("X-Tokens", usage.total_tokens)
    core.response.set_header("X-Asked", ctx.asked_model)
    core.response.set_header("X-Var-Prompt", ctx.var.llm_prompt_tokens)
    core.response.set_header("X-Cost", usage.cost)
end

return _M
"#;

#[tokio::test]
async fn a_lua_plugin_changes_the_decoded_request_and_reads_usage() {
    let (env, _dir) = lua_env(&[("llm-shaper", SHAPER)]).await;
    let mock = MockLlm::start().await;
    env.put(
        "/routes/llm",
        json!({"uri": "/v1/chat/completions", "plugins": {
            "ai-proxy": {"provider": "openai-compatible", "auth": {},
                         "override": {"endpoint": mock.base()},
                         "price": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}},
            "llm-shaper": {"cap": 50}}}),
    )
    .await;
    let body = json!({"model": "m", "max_tokens": 500,
                      "messages": [{"role": "user", "content": "count me"}]});
    let r = env
        .post_until("/v1/chat/completions", &body.to_string(), |r| {
            r.status != 404
        })
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent: Value = mock
        .received()
        .last()
        .expect("a provider call")
        .body
        .clone();
    assert_eq!(sent["model"], "shaped-m");
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "count me"}])
    );
    // "count me": 8 prompt tokens, "echo: count me": 3 completion tokens.
    assert_eq!(r.headers["x-tokens"], "11");
    assert_eq!(r.headers["x-var-prompt"], "8");
    assert_eq!(r.headers["x-asked"], "m");
    let cost: f64 = r
        .header("x-cost")
        .and_then(|c| c.parse().ok())
        .expect("a cost in USD");
    assert!((cost - (8.0 * 1e-6 + 3.0 * 2e-6)).abs() < 1e-12, "{cost}");
}

#[tokio::test]
async fn a_bad_request_from_lua_is_a_500_for_that_request_only() {
    const BROKEN: &str = r#"
local llm = require("strait.llm")
local _M = { version = 0.1, priority = 1000, name = "llm-broken", schema = { type = "object" } }
function _M.access(conf, ctx)
    llm.set_request(ctx, { messages = "not a list" })
end
return _M
"#;
    let (env, _dir) = lua_env(&[("llm-broken", BROKEN)]).await;
    let mock = MockLlm::start().await;
    env.put(
        "/routes/llm",
        json!({"uri": "/v1/chat/completions", "plugins": {
            "ai-proxy": {"provider": "openai-compatible", "auth": {},
                         "override": {"endpoint": mock.base()}},
            "llm-broken": {}}}),
    )
    .await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#;
    let r = env
        .post_until("/v1/chat/completions", body, |r| r.status != 404)
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(mock.received().is_empty(), "nothing reached the provider");
    let log = env.gw.log();
    assert!(log.contains("set_request: not a chat request"), "{log}");
}
