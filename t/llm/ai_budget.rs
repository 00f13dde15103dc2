//! `ai-budget`: a USD budget per consumer per window, checked before the
//! call and charged with each request's cost after it; a spent budget is a
//! 429 in the client's protocol with `Retry-After`.

use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::common::Resp;
use crate::plugins::Env;

const PATH: &str = "/v1/chat/completions";

async fn ask(env: &Env, path: &str, key: &str, body: &Value) -> Resp {
    super::post_json(env.gw.url(path), body.to_string(), &[("apikey", key)]).await
}

#[tokio::test]
async fn a_spent_budget_refuses_until_the_window_ends() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    for user in ["alice", "bob"] {
        env.put(
            &format!("/consumers/{user}"),
            json!({"username": user, "plugins": {"key-auth": {"key": format!("{user}-key")}}}),
        )
        .await;
    }
    // "hello" costs 5 prompt tokens at $0.001 and 2 completion tokens at $0.002: $0.009.
    let ai_proxy = json!({"provider": "openai-compatible", "auth": {},
        "override": {"endpoint": mock.base()},
        "price": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}});
    for (id, uri) in [("openai", PATH), ("anthropic", "/v1/messages")] {
        env.put(
            &format!("/routes/{id}"),
            json!({"uri": uri, "plugins": {"key-auth": {}, "ai-proxy": ai_proxy,
                   "ai-budget": {"budget": 0.02, "time_window": 3600}}}),
        )
        .await;
    }
    let hello =
        json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]});
    let first = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let r = ask(&env, PATH, "alice-key", &hello).await;
            if r.status != 404 || std::time::Instant::now() > deadline {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-ai-budget-limit"), Some("0.020000"));
    assert_eq!(first.header("x-ai-budget-remaining"), Some("0.020000"));
    // The cost is charged in the log phase, just after the answer.
    let remaining = |r: &Resp| r.header("x-ai-budget-remaining").map(str::to_string);
    let mut seen = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let r = ask(&env, PATH, "alice-key", &hello).await;
        seen.push((r.status, remaining(&r)));
        if r.status == 429 {
            let v = r.json();
            assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("budget of $0.02 per 3600 s is spent")),
                "{v}"
            );
            let retry: u64 = r
                .header("retry-after")
                .and_then(|s| s.parse().ok())
                .expect("retry-after");
            assert!((1..=3600).contains(&retry), "{retry}");
        }
    }
    assert_eq!(
        seen,
        [
            (200, Some("0.011000".to_string())),
            (200, Some("0.002000".to_string())),
            (429, Some("0".to_string())),
        ]
    );
    assert_eq!(
        mock.received().len(),
        3,
        "the refused call never reached the provider"
    );
    // Anthropic clients get Anthropic's error shape; bob has his own budget.
    let r = ask(&env, "/v1/messages", "alice-key", &hello).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let r = ask(&env, PATH, "bob-key", &hello).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
