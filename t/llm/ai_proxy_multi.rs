//! `ai-proxy-multi` through a running gateway to several mock providers:
//! priorities and weights, fallback on 429, 5xx and unreachable
//! instances (complete and streamed), cooldowns, health checks, `chash`
//! and the latency-aware `ewma`, and configuration errors.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::common::Resp;
use crate::plugins::Env;

const PATH: &str = "/v1/chat/completions";

/// An instance named `name` sending to `mock` with model `model`.
fn instance(name: &str, mock: &MockLlm, model: &str, priority: i64, weight: u64) -> Value {
    json!({
        "name": name,
        "provider": "openai-compatible",
        "priority": priority,
        "weight": weight,
        "auth": {"header": {"Authorization": format!("Bearer sk-{name}")}},
        "options": {"model": model},
        "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())},
    })
}

/// A route on [`PATH`] with `ai-proxy-multi` configured as `conf`, live.
async fn route(env: &Env, conf: Value, extra_plugins: Value) {
    let mut plugins = json!({"ai-proxy-multi": conf});
    for (k, v) in extra_plugins.as_object().into_iter().flatten() {
        plugins[k] = v.clone();
    }
    env.put(
        "/routes/multi",
        json!({"uri": PATH, "methods": ["POST"], "plugins": plugins}),
    )
    .await;
    env.post_until(PATH, "{}", |r| r.status != 404).await;
}

fn chat(text: &str) -> String {
    json!({"model": "client-model", "messages": [{"role": "user", "content": text}]}).to_string()
}

async fn ask(env: &Env, text: &str) -> Resp {
    env.post_json(PATH, &chat(text)).await
}

async fn ask_with(env: &Env, header: (&str, &str)) -> Resp {
    super::post_json(env.gw.url(PATH), chat("hi"), &[header]).await
}

/// Chat requests each mock received.
fn chats(mock: &MockLlm) -> usize {
    mock.received().len()
}

#[tokio::test]
async fn weights_split_traffic_within_the_highest_priority() {
    let env = Env::start().await;
    let (a, b, c) = (
        MockLlm::start().await,
        MockLlm::start().await,
        MockLlm::start().await,
    );
    route(
        &env,
        json!({"instances": [
            instance("a", &a, "model-a", 0, 3),
            instance("b", &b, "model-b", 0, 1),
            instance("c", &c, "model-c", -1, 5),
        ]}),
        json!({}),
    )
    .await;
    for _ in 0..40 {
        let r = ask(&env, "hi").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        (chats(&a), chats(&b), chats(&c)),
        (30, 10, 0),
        "3:1 within priority 0; priority -1 only when both are down"
    );
    let sent = &b.received()[0];
    assert_eq!(sent.headers["authorization"], "Bearer sk-b");
    assert_eq!(sent.body["model"], "model-b");
}

#[tokio::test]
async fn a_429_falls_back_and_cools_the_instance_down() {
    let env = Env::start().await;
    let (a, b) = (MockLlm::start().await, MockLlm::start().await);
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("llm.log");
    let mut primary = instance("primary", &a, "fail-429", 1, 1);
    primary["options"] = json!({"model": "fail-429", "temperature": 0.1, "seed": 3});
    route(
        &env,
        json!({"fallback_strategy": ["http_429"], "instances": [
            primary,
            instance("backup", &b, "gpt-4o", 0, 1),
        ]}),
        json!({"file-logger": {"path": log.display().to_string(), "batch_max_size": 1,
               "log_format": {"instance": "$picked_ai_instance_name", "model": "$llm_model",
                              "prompt": "$llm_prompt_tokens", "status": "$status"}}}),
    )
    .await;
    let r = ask(&env, "four").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["model"], "gpt-4o-0001", "answered by the backup");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: four");
    assert_eq!(chats(&a), 1);
    assert_eq!(chats(&b), 1);
    let to_backup = &b.received()[0].body;
    assert_eq!(to_backup["model"], "gpt-4o", "the backup's options apply");
    assert_eq!(a.received()[0].body["seed"], 3);
    assert!(
        to_backup.get("seed").is_none() && to_backup.get("temperature").is_none(),
        "the primary's options stay with the primary: {to_backup}"
    );
    // The primary answered 429 with Retry-After: 7; it is left alone.
    for _ in 0..4 {
        assert_eq!(ask(&env, "four").await.status, 200);
    }
    assert_eq!(chats(&a), 1, "cooling down");
    assert_eq!(chats(&b), 5);

    let answered_line = || {
        std::fs::read_to_string(&log).ok().and_then(|s| {
            s.lines()
                .find(|l| l.contains("\"200\""))
                .map(str::to_string)
        })
    };
    crate::common::wait_until(Duration::from_secs(5), || async {
        answered_line().is_some()
    })
    .await
    .expect("a log line");
    let entry: Value = serde_json::from_str(&answered_line().expect("line")).expect("json");
    assert_eq!(entry["instance"], "backup", "{entry}");
    assert_eq!(entry["model"], "gpt-4o-0001", "{entry}");
    assert_eq!(entry["prompt"], "4", "counted once: {entry}");
    assert_eq!(entry["status"], "200", "{entry}");
}

#[tokio::test]
async fn geminis_retry_info_cools_the_instance_down_like_retry_after() {
    let env = Env::start().await;
    let (a, b) = (MockLlm::start().await, MockLlm::start().await);
    // A Gemini instance answering 429 with `RetryInfo` 12s in its body and
    // no Retry-After header.
    let primary = json!({
        "name": "gemini", "provider": "gemini", "priority": 1, "weight": 1,
        "auth": {"header": {"x-goog-api-key": "k"}},
        "options": {"model": "fail-429-body"},
        "override": {"endpoint": a.base()},
    });
    route(
        &env,
        // Without a delay from the provider an instance would cool down 1 s.
        json!({"fallback_strategy": ["http_429"], "cooldown": {"duration": 1}, "instances": [
            primary,
            instance("backup", &b, "gpt-4o", 0, 1),
        ]}),
        json!({}),
    )
    .await;
    let r = ask(&env, "four").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((chats(&a), chats(&b)), (1, 1), "fell back to the backup");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..4 {
        assert_eq!(ask(&env, "four").await.status, 200);
    }
    assert_eq!(
        (chats(&a), chats(&b)),
        (1, 5),
        "the Gemini instance cools down for its RetryInfo delay (12 s), not the default"
    );
}

#[tokio::test]
async fn without_a_fallback_strategy_the_error_reaches_the_client_until_cooldown() {
    let env = Env::start().await;
    let (a, b) = (MockLlm::start().await, MockLlm::start().await);
    route(
        &env,
        json!({"cooldown": {"failures": 2, "duration": 30}, "instances": [
            instance("primary", &a, "fail-500", 1, 1),
            instance("backup", &b, "gpt-4o", 0, 1),
        ]}),
        json!({}),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(ask(&env, "hi").await.status);
    }
    assert_eq!(
        statuses,
        [500, 500, 200, 200],
        "two failures in a row cool the primary down"
    );
    assert_eq!(chats(&a), 2);
    assert_eq!(chats(&b), 2);
}

#[tokio::test]
async fn an_unreachable_instance_falls_back_on_http_5xx_within_max_retries() {
    let env = Env::start().await;
    let b = MockLlm::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dead = json!({
        "name": "dead", "provider": "openai-compatible", "priority": 1, "weight": 1,
        "auth": {}, "override": {"endpoint": format!("http://127.0.0.1:{closed}/v1/chat/completions")},
    });
    route(
        &env,
        json!({"fallback_strategy": "http_5xx", "instances": [dead.clone(), instance("backup", &b, "gpt-4o", 0, 1)]}),
        json!({}),
    )
    .await;
    let r = ask(&env, "hi").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(chats(&b), 1);

    // max_retries 0: the failure is the answer.
    route(
        &env,
        json!({"fallback_strategy": "http_5xx", "max_retries": 0,
               "instances": [dead, instance("backup", &b, "gpt-4o", 0, 1)]}),
        json!({}),
    )
    .await;
    let r = ask(&env, "hi").await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.json()["error"]["type"], "api_error", "{}", r.body);
    assert_eq!(chats(&b), 1);
}

#[tokio::test]
async fn a_stream_falls_back_before_its_first_byte() {
    let env = Env::start().await;
    let (a, b) = (MockLlm::start().await, MockLlm::start().await);
    route(
        &env,
        json!({"fallback_strategy": ["http_5xx"], "instances": [
            instance("primary", &a, "fail-500", 1, 1),
            instance("backup", &b, "gpt-4o", 0, 1),
        ]}),
        json!({}),
    )
    .await;
    let body = json!({"model": "m", "stream": true,
                      "messages": [{"role": "user", "content": "one two"}]});
    let r = env.post_json(PATH, &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text: String = r
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, "echo: one two");
    assert!(r.body.trim_end().ends_with("data: [DONE]"), "{}", r.body);
    assert_eq!((chats(&a), chats(&b)), (1, 1));
}

#[tokio::test]
async fn health_checks_take_an_instance_out_and_back() {
    let env = Env::start().await;
    let (a, b) = (MockLlm::start().await, MockLlm::start().await);
    let mut primary = instance("primary", &a, "model-a", 1, 1);
    primary["checks"] = json!({"active": {
        "http_path": "/health",
        "healthy": {"interval": 1, "successes": 1},
        "unhealthy": {"interval": 1, "http_failures": 1},
    }});
    route(
        &env,
        json!({"instances": [primary, instance("backup", &b, "model-b", 0, 1)]}),
        json!({}),
    )
    .await;
    let model = |r: Resp| r.json()["model"].as_str().unwrap_or("").to_string();
    assert_eq!(model(ask(&env, "hi").await), "model-a-0001");
    a.set_healthy(false);
    let moved = crate::common::wait_until(Duration::from_secs(10), || async {
        model(ask(&env, "hi").await) == "model-b-0001"
    })
    .await;
    assert!(moved.is_some(), "traffic never left the unhealthy instance");
    a.set_healthy(true);
    let back = crate::common::wait_until(Duration::from_secs(10), || async {
        model(ask(&env, "hi").await) == "model-a-0001"
    })
    .await;
    assert!(back.is_some(), "traffic never came back");
}

#[tokio::test]
async fn chash_keeps_each_key_on_one_instance() {
    let env = Env::start().await;
    let (a, b) = (MockLlm::start().await, MockLlm::start().await);
    route(
        &env,
        json!({"balancer": {"algorithm": "chash", "hash_on": "header", "key": "x-user"},
               "instances": [instance("a", &a, "model-a", 0, 1), instance("b", &b, "model-b", 0, 1)]}),
        json!({}),
    )
    .await;
    let mut seen = std::collections::BTreeMap::new();
    for round in 0..3 {
        for user in ["ann", "bob", "cy", "dee", "eve", "fay"] {
            let r = ask_with(&env, ("x-user", user)).await;
            let m = r.json()["model"].as_str().unwrap_or("").to_string();
            let first = seen.entry(user).or_insert_with(|| m.clone());
            assert_eq!(*first, m, "{user} moved in round {round}");
        }
    }
    assert_eq!(chats(&a) + chats(&b), 18);
}

#[tokio::test]
async fn ewma_prefers_the_instance_with_the_faster_first_token() {
    let env = Env::start().await;
    let (slow, fast) = (MockLlm::start().await, MockLlm::start().await);
    route(
        &env,
        json!({"balancer": {"algorithm": "ewma"}, "instances": [
            instance("slow", &slow, "slow-150", 0, 1),
            instance("fast", &fast, "fast", 0, 1),
        ]}),
        json!({}),
    )
    .await;
    for _ in 0..20 {
        assert_eq!(ask(&env, "hi").await.status, 200);
    }
    assert!(
        chats(&slow) <= 3 && chats(&fast) >= 17,
        "slow {} fast {}",
        chats(&slow),
        chats(&fast)
    );
}

#[tokio::test]
async fn a_single_instance_is_used_whatever_its_weight() {
    let env = Env::start().await;
    let a = MockLlm::start().await;
    route(
        &env,
        json!({"instances": [instance("only", &a, "model-a", 0, 0)]}),
        json!({}),
    )
    .await;
    let r = ask(&env, "hi").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(chats(&a), 1);
}

#[tokio::test]
async fn configuration_errors_name_the_instance_and_field() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    let put = |conf: Value| {
        let admin = &env.admin;
        async move {
            admin
                .put(
                    "/routes/bad",
                    json!({"uri": "/bad", "plugins": {"ai-proxy-multi": conf}}),
                )
                .await
        }
    };
    let ok = instance("a", &mock, "m", 0, 1);
    let cases = [
        (
            json!({"instances": [ok.clone(), ok.clone()]}),
            "\"a\" is used twice",
        ),
        (
            json!({"instances": [ok.clone(), {"name": "x", "provider": "nope", "weight": 1, "auth": {}}]}),
            "instances[1] (x): provider \"nope\" is not supported",
        ),
        (
            json!({"balancer": {"algorithm": "chash", "hash_on": "header"}, "instances": [ok.clone()]}),
            "key",
        ),
        (json!({"instances": []}), "instances"),
        (
            json!({"instances": [{"name": "w", "provider": "openai", "auth": {}}]}),
            "weight",
        ),
        (
            json!({"balancer": {"algorithm": "semantic"}, "instances": [ok.clone()]}),
            "algorithm",
        ),
    ];
    for (conf, needle) in cases {
        let r = put(conf.clone()).await;
        assert_eq!(r.status, 400, "{conf}: {}", r.body);
        let msg = r.json()["error_msg"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(needle), "{conf}: {msg}");
    }
}
