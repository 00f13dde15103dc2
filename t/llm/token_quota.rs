//! The shipped `ai-token-quota` Lua plugin: each consumer's tokens per
//! window, counted from the provider's usage figures after each answer
//! (complete or streamed), refused in a shape the OpenAI and Anthropic
//! SDKs read once spent.

use std::time::Duration;

use http::Method;
use serde_json::json;

use crate::common::mock_llm::MockLlm;
use crate::common::{request, Resp};
use crate::lua::{shipped_env, shipped_env_with};
use crate::plugins::Env;

/// Reads a quota counter (`GET /peek?key=<counter key>`), to wait for the
/// log phase of an answer to have counted it.
const PEEK: &str = r#"
local _M = { version = 0.1, priority = 0, schema = { type = "object" } }
function _M.access(conf, ctx)
    return 200, { used = ngx.shared["ai-token-quota"]:get(ctx.var.arg_key) or 0 }
end
return _M
"#;

async fn quota_env() -> (Env, tempfile::TempDir) {
    let (env, dir) = shipped_env_with(&[("quota-peek", PEEK)]).await;
    env.put(
        "/routes/peek",
        json!({"uri": "/peek", "upstream": env.upstream(), "plugins": {"quota-peek": {}}}),
    )
    .await;
    (env, dir)
}

/// Wait until counter `key` holds `used` tokens.
async fn counted(env: &Env, key: &str, used: u64) {
    let path = format!("/peek?key={}", key.replace('|', "%7C"));
    let seen = crate::common::wait_until(Duration::from_secs(5), || async {
        env.get(&path, &[]).await.json()["used"].as_u64() == Some(used)
    })
    .await;
    gw_assert!(env.gw, seen.is_some(), "{key} never reached {used} tokens");
}

async fn ask(env: &Env, key: &str, text: &str, stream: bool) -> Resp {
    ask_at(env, "/v1/chat/completions", key, text, stream).await
}

/// A chat completion at `path` as the consumer of `key`.
async fn ask_at(env: &Env, path: &str, key: &str, text: &str, stream: bool) -> Resp {
    let body = json!({"model": "m", "stream": stream,
                      "messages": [{"role": "user", "content": text}]});
    request(Method::POST, env.gw.url(path))
        .header("content-type", "application/json")
        .header("apikey", key)
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

fn remaining(r: &Resp) -> Option<&str> {
    r.header("x-ai-token-quota-remaining")
}

#[tokio::test]
async fn a_consumer_is_refused_once_its_tokens_are_spent() {
    let (env, _dir) = quota_env().await;
    let mock = MockLlm::start().await;
    for user in ["alice", "bob"] {
        env.put(
            &format!("/consumers/{user}"),
            json!({"username": user, "plugins": {"key-auth": {"key": format!("{user}-key")}}}),
        )
        .await;
    }
    env.put(
        "/routes/llm",
        json!({"uri": "/v1/chat/completions", "plugins": {
            "key-auth": {},
            "ai-proxy": {"provider": "openai-compatible", "auth": {},
                         "override": {"endpoint": mock.base()}},
            "ai-token-quota": {"limit": 20, "time_window": 60}}}),
    )
    .await;
    env.post_until("/v1/chat/completions", "{}", |r| r.status == 401)
        .await;

    // The mock counts prompt characters and answer words: "hello" costs
    // 5 + 2 = 7 tokens.
    let alice = "route:llm|consumer_name=alice";
    let r = ask(&env, "alice-key", "hello", false).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-ai-token-quota-limit"), Some("20"));
    assert_eq!(remaining(&r), Some("20"));
    counted(&env, alice, 7).await;
    let r = ask(&env, "alice-key", "hello", true).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(remaining(&r), Some("13"), "the complete answer was counted");
    counted(&env, alice, 14).await;
    let r = ask(&env, "alice-key", "hello", false).await;
    assert_eq!(remaining(&r), Some("6"), "the streamed answer was counted");
    counted(&env, alice, 21).await;
    let calls = mock.received().len();

    let r = ask(&env, "alice-key", "hello", false).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(remaining(&r), Some("0"));
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        r.json(),
        json!({"type": "error", "error": {"type": "rate_limit_error",
               "message": "token quota of 20 per 60 s exhausted"}})
    );
    assert_eq!(
        mock.received().len(),
        calls,
        "a refused request never reaches the provider"
    );

    // Another consumer has its own quota.
    let r = ask(&env, "bob-key", "hello", false).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(remaining(&r), Some("20"));
}

#[tokio::test]
async fn windows_end_and_groups_share_a_quota() {
    let (env, _dir) = quota_env().await;
    let mock = MockLlm::start().await;
    env.put(
        "/consumers/carol",
        json!({"username": "carol", "plugins": {"key-auth": {"key": "carol-key"}}}),
    )
    .await;
    for (id, uri) in [
        ("a", "/a/v1/chat/completions"),
        ("b", "/b/v1/chat/completions"),
    ] {
        env.put(
            &format!("/routes/{id}"),
            json!({"uri": uri, "plugins": {
                "key-auth": {},
                "ai-proxy": {"provider": "openai-compatible", "auth": {},
                             "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}},
                "ai-token-quota": {"limit": 5, "time_window": 2, "group": "shared",
                                   "count": "prompt_tokens"}}}),
        )
        .await;
    }
    env.post_until("/a/v1/chat/completions", "{}", |r| r.status == 401)
        .await;
    env.post_until("/b/v1/chat/completions", "{}", |r| r.status == 401)
        .await;
    let key = "group:shared|consumer_name=carol";
    // 5 prompt tokens on route a spend the group's quota on route b too.
    let r = ask_at(&env, "/a/v1/chat/completions", "carol-key", "hello", false).await;
    assert_eq!(r.status, 200, "{}", r.body);
    counted(&env, key, 5).await;
    let r = ask_at(&env, "/b/v1/chat/completions", "carol-key", "hello", false).await;
    assert_eq!(r.status, 429, "{}", r.body);
    // The window ends: the quota is back.
    let served = crate::common::wait_until(Duration::from_secs(5), || async {
        ask_at(&env, "/b/v1/chat/completions", "carol-key", "hello", false)
            .await
            .status
            == 200
    })
    .await;
    gw_assert!(env.gw, served.is_some(), "the quota never came back");
}

#[tokio::test]
async fn the_quota_schema_is_enforced_through_the_admin_api() {
    let (env, _dir) = shipped_env().await;
    let r = env
        .admin
        .put(
            "/routes/q",
            json!({"uri": "/q", "upstream": env.upstream(),
                   "plugins": {"ai-token-quota": {"limit": 0, "time_window": 60}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("limit"), "{}", r.body);
    let r = env
        .admin
        .put(
            "/routes/q",
            json!({"uri": "/q", "upstream": env.upstream(),
                   "plugins": {"ai-token-quota": {"limit": 10, "time_window": 60, "count": "cost"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("count"), "{}", r.body);
}
