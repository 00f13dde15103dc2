//! The shipped `ai-token-quota` Lua plugin: each consumer's tokens per
//! window, counted from the provider's usage figures after each answer
//! (complete or streamed), refused in a shape the OpenAI and Anthropic
//! SDKs read once spent.

use std::time::Duration;

use http::Method;
use serde_json::json;

use crate::common::mock_llm::MockLlm;
use crate::common::{request, Resp};
use crate::lua::shipped_env;
use crate::plugins::Env;

async fn ask(env: &Env, key: &str, text: &str, stream: bool) -> Resp {
    let body = json!({"model": "m", "stream": stream,
                      "messages": [{"role": "user", "content": text}]});
    let r = request(Method::POST, env.gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("apikey", key)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    // The answer's tokens are counted in the log phase, just after it ends.
    tokio::time::sleep(Duration::from_millis(150)).await;
    r
}

fn remaining(r: &Resp) -> Option<&str> {
    r.header("x-ai-token-quota-remaining")
}

#[tokio::test]
async fn a_consumer_is_refused_once_its_tokens_are_spent() {
    let (env, _dir) = shipped_env().await;
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
    let r = ask(&env, "alice-key", "hello", false).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-ai-token-quota-limit"), Some("20"));
    assert_eq!(remaining(&r), Some("20"));
    let r = ask(&env, "alice-key", "hello", true).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(remaining(&r), Some("13"), "the complete answer was counted");
    let r = ask(&env, "alice-key", "hello", false).await;
    assert_eq!(remaining(&r), Some("6"), "the streamed answer was counted");
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
