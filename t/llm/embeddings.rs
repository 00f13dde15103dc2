//! OpenAI embeddings through `ai-proxy` and `ai-proxy-multi`, a running
//! gateway and the mock providers: the path and body each provider gets
//! (OpenAI, OpenAI-compatible, Azure deployments, Gemini native and
//! OpenAI-compatible), what the client reads back (base64 untouched or
//! written from Gemini's floats), Anthropic refused without a call,
//! fallback from a rate-limited instance, and usage in the access log,
//! metrics and `ai-rate-limiting`.
//!
//! The mock's vectors are `[characters of the input, its index, 0.5]`
//! and its `prompt_tokens` the characters of all inputs
//! (`t/common/mock_embeddings.rs`).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::mock_embeddings::base64_vector;
use crate::common::mock_llm::MockLlm;
use crate::common::{get, Resp};
use crate::plugins::Env;

const PATH: &str = "/v1/embeddings";

/// A route on `uri` with `plugins`, live.
async fn route(env: &Env, id: &str, uri: &str, plugins: Value) {
    env.put(
        &format!("/routes/{id}"),
        json!({"uri": uri, "plugins": plugins}),
    )
    .await;
    env.post_until(uri, "{}", |r| r.status != 404).await;
}

async fn embed(env: &Env, uri: &str, body: Value) -> Resp {
    super::post_json(
        env.gw.url(uri),
        body.to_string(),
        &[("authorization", "Bearer client-key")],
    )
    .await
}

/// The floats of an OpenAI base64 vector.
fn floats(b64: &Value) -> Vec<f32> {
    let bytes = B64
        .decode(b64.as_str().expect("a base64 vector"))
        .expect("base64");
    bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[tokio::test]
async fn openai_shaped_providers_get_the_embeddings_path() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    // `openai` with a bare endpoint: its own /v1/embeddings.
    route(
        &env,
        "openai",
        "/oa/v1/embeddings",
        json!({"ai-proxy": {"provider": "openai",
            "auth": {"header": {"Authorization": "Bearer sk-provider"}},
            "options": {"model": "text-embedding-3-small"},
            "override": {"endpoint": mock.base()}}}),
    )
    .await;
    let r = embed(
        &env,
        "/oa/v1/embeddings",
        json!({"model": "client-choice", "input": ["hello", "hi"], "user": "u-1", "stream": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"object": "list", "model": "text-embedding-3-small-0001",
               "data": [{"object": "embedding", "index": 0, "embedding": [5.0, 0.0, 0.5]},
                        {"object": "embedding", "index": 1, "embedding": [2.0, 1.0, 0.5]}],
               "usage": {"prompt_tokens": 7, "total_tokens": 7}})
    );
    let sent = mock
        .received()
        .last()
        .cloned()
        .expect("the provider got it");
    assert_eq!(sent.uri, "/v1/embeddings");
    assert_eq!(
        sent.body,
        json!({"model": "text-embedding-3-small", "input": ["hello", "hi"], "user": "u-1"}),
        "options.model wins, stream is dropped"
    );
    assert_eq!(sent.headers["authorization"], "Bearer sk-provider");

    // Base64 passes through untouched, token ids and dimensions too.
    let r = embed(
        &env,
        "/oa/v1/embeddings",
        json!({"input": [[1, 2, 3]], "encoding_format": "base64", "dimensions": 4}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let vector = &r.json()["data"][0]["embedding"];
    assert_eq!(vector, &json!(base64_vector(&[3.0, 0.0, 0.5, 0.5])));
    let sent = mock.received().last().unwrap().body.clone();
    assert_eq!(sent["encoding_format"], "base64");
    assert_eq!(sent["dimensions"], 4);

    // `openai-compatible` with a chat endpoint: /chat/completions becomes /embeddings.
    route(
        &env,
        "compat",
        "/compat/embeddings",
        json!({"ai-proxy": {"provider": "openai-compatible",
            "auth": {"query": {"key": "k 1"}},
            "override": {"endpoint": format!("{}/api/v1/chat/completions", mock.base())}}}),
    )
    .await;
    let r = embed(
        &env,
        "/compat/embeddings",
        json!({"model": "m", "input": "one"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"][0]["embedding"], json!([3.0, 0.0, 0.5]));
    assert_eq!(
        mock.received().last().unwrap().uri,
        "/api/v1/embeddings?key=k%201"
    );

    // The client's mistakes and the provider's errors in OpenAI's shape.
    let r = embed(
        &env,
        "/compat/embeddings",
        json!({"model": "m", "input": []}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["error"],
        json!({"message": "`input` must not be empty", "type": "invalid_request_error",
               "param": null, "code": null})
    );
    let r = embed(
        &env,
        "/compat/embeddings",
        json!({"model": "fail-429", "input": "x"}),
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(r.json()["error"]["message"], "Rate limit reached");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn azure_embeddings_go_to_the_deployment() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        "azure",
        PATH,
        json!({"ai-proxy": {"provider": "azure-openai",
            "auth": {"header": {"api-key": "azure-secret"}},
            "override": {"endpoint": format!(
                "{}/openai/deployments/embed-prod/chat/completions?api-version=2024-10-21",
                mock.base())}}}),
    )
    .await;
    let r = embed(
        &env,
        PATH,
        json!({"model": "text-embedding-3-small", "input": "hello"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["model"], "embed-prod-0001", "the deployment answers");
    assert_eq!(v["data"][0]["embedding"], json!([5.0, 0.0, 0.5]));
    let sent = mock.received().last().cloned().expect("Azure got it");
    assert_eq!(
        sent.uri,
        "/openai/deployments/embed-prod/embeddings?api-version=2024-10-21"
    );
    assert_eq!(sent.headers["api-key"], "azure-secret");
    assert_eq!(
        sent.body,
        json!({"input": "hello"}),
        "the deployment names the model"
    );
}

#[tokio::test]
async fn gemini_embeds_through_batch_embed_contents() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        "gemini",
        PATH,
        json!({"ai-proxy": {"provider": "gemini",
            "auth": {"header": {"x-goog-api-key": "g-key"}},
            "options": {"model": "gemini-embedding-001"},
            "override": {"endpoint": mock.base()}}}),
    )
    .await;
    let r = embed(
        &env,
        PATH,
        json!({"input": ["hello world", "hi"], "dimensions": 4}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.received().last().cloned().expect("Gemini got it");
    assert_eq!(
        sent.uri,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(sent.headers["x-goog-api-key"], "g-key");
    let request = |text: &str| {
        json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": text}]},
               "outputDimensionality": 4})
    };
    assert_eq!(
        sent.body,
        json!({"requests": [request("hello world"), request("hi")]})
    );
    // Gemini reports no usage: strait counts the input (o200k: 2 + 1 tokens).
    assert_eq!(
        r.json(),
        json!({"object": "list", "model": "gemini-embedding-001",
               "data": [{"object": "embedding", "index": 0, "embedding": [11.0, 0.0, 0.5, 0.5]},
                        {"object": "embedding", "index": 1, "embedding": [2.0, 1.0, 0.5, 0.5]}],
               "usage": {"prompt_tokens": 3, "total_tokens": 3}})
    );

    // Base64 asked for: Gemini's floats written as OpenAI writes them.
    let r = embed(
        &env,
        PATH,
        json!({"input": "hey", "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(floats(&r.json()["data"][0]["embedding"]), [3.0, 0.0, 0.5]);

    // Token ids cannot be sent to Gemini, which is not called.
    let before = mock.received().len();
    let r = embed(&env, PATH, json!({"input": [1, 2]})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("embeds text only"),
        "{}",
        r.body
    );
    assert_eq!(mock.received().len(), before);

    // A configuration written for APISIX's gemini (a bearer key) uses
    // Gemini's OpenAI-compatible endpoint.
    route(
        &env,
        "gemini-openai",
        "/g/v1/embeddings",
        json!({"ai-proxy": {"provider": "gemini",
            "auth": {"header": {"Authorization": "Bearer g-key"}},
            "options": {"model": "gemini-embedding-001"},
            "override": {"endpoint": mock.base()}}}),
    )
    .await;
    let r = embed(&env, "/g/v1/embeddings", json!({"input": "hey"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        mock.received().last().unwrap().uri,
        "/v1beta/openai/embeddings"
    );
    assert_eq!(
        r.json()["usage"]["prompt_tokens"],
        3,
        "the provider's usage"
    );
}

#[tokio::test]
async fn anthropic_has_no_embeddings_and_is_not_called() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        "anthropic",
        PATH,
        json!({"ai-proxy": {"provider": "anthropic",
            "auth": {"header": {"x-api-key": "sk-ant"}},
            "override": {"endpoint": mock.base()}}}),
    )
    .await;
    let before = mock.received().len();
    let r = embed(&env, PATH, json!({"model": "claude", "input": "hello"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("provider \"anthropic\" has no embeddings API"),
        "{}",
        r.body
    );
    assert_eq!(mock.received().len(), before, "no call to Anthropic");

    // ai-proxy-multi sends embeddings past an Anthropic instance, even a
    // preferred one, to one that has them.
    let (claude, openai) = (MockLlm::start().await, MockLlm::start().await);
    route(
        &env,
        "multi",
        "/multi/v1/embeddings",
        json!({"ai-proxy-multi": {"instances": [
            {"name": "claude", "provider": "anthropic", "priority": 1, "weight": 1,
             "auth": {"header": {"x-api-key": "k"}}, "override": {"endpoint": claude.base()}},
            {"name": "openai", "provider": "openai", "priority": 0, "weight": 1,
             "auth": {"header": {"Authorization": "Bearer k"}},
             "options": {"model": "text-embedding-3-small"},
             "override": {"endpoint": openai.base()}},
        ]}}),
    )
    .await;
    let r = embed(&env, "/multi/v1/embeddings", json!({"input": "hello"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["model"], "text-embedding-3-small-0001");
    assert_eq!(claude.received().len(), 0);
}

#[tokio::test]
async fn ai_proxy_multi_falls_back_from_a_rate_limited_instance() {
    let env = Env::start().await;
    let (busy, spare) = (MockLlm::start().await, MockLlm::start().await);
    let instance = |name: &str, mock: &MockLlm, model: &str, priority: i64| {
        json!({"name": name, "provider": "openai", "priority": priority, "weight": 1,
               "auth": {"header": {"Authorization": format!("Bearer sk-{name}")}},
               "options": {"model": model},
               "override": {"endpoint": mock.base()}})
    };
    route(
        &env,
        "multi",
        PATH,
        json!({"ai-proxy-multi": {"fallback_strategy": ["http_429"], "instances": [
            instance("busy", &busy, "fail-429", 1),
            instance("spare", &spare, "text-embedding-3-large", 0),
        ]}}),
    )
    .await;
    let r = embed(&env, PATH, json!({"input": "hello", "dimensions": 2})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["model"], "text-embedding-3-large-0001");
    assert_eq!(r.json()["data"][0]["embedding"], json!([5.0, 0.0]));
    assert_eq!(busy.received().len(), 1);
    let sent = spare.received().last().cloned().expect("the spare got it");
    assert_eq!(
        sent.body["model"], "text-embedding-3-large",
        "its own options"
    );
    assert_eq!(sent.body["dimensions"], 2, "the client's fields kept");
    assert_eq!(sent.headers["authorization"], "Bearer sk-spare");

    // The busy instance cools down for its Retry-After: not tried again.
    let r = embed(&env, PATH, json!({"input": "again"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(busy.received().len(), 1);
    assert_eq!(spare.received().len(), 2);
}

#[tokio::test]
async fn embeddings_usage_reaches_logs_metrics_and_rate_limits() {
    let prices = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/model_prices.json");
    let env = Env::start_with(|o| {
        o.extra_yaml(&format!(
            "  llm:\n    price_table: {:?}\n",
            prices.display().to_string()
        ))
    })
    .await;
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("llm.log");
    let instance = "ai-proxy-openai";
    route(
        &env,
        "embed",
        PATH,
        json!({
            "ai-proxy": {"provider": "openai", "auth": {},
                         "override": {"endpoint": mock.base()}},
            "prometheus": {},
            "ai-rate-limiting": {"limit_strategy": "prompt_tokens", "rejected_code": 429,
                                 "instances": [{"name": instance, "limit": 20, "time_window": 60}]},
            "file-logger": {"path": log.display().to_string(), "batch_max_size": 1, "log_format": {
                "type": "$request_type", "asked": "$request_llm_model", "model": "$llm_model",
                "prompt": "$llm_prompt_tokens", "completion": "$llm_completion_tokens",
                "total": "$llm_total_tokens", "estimated": "$llm_usage_estimated",
                "cost": "$llm_cost"}}}),
    )
    .await;
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "ai_chat")
            .collect::<Vec<_>>()
    };

    // 12 characters: 12 prompt tokens from the provider, priced as input.
    let r = embed(
        &env,
        PATH,
        json!({"model": "text-embedding-3-small", "input": ["hello", "friend!"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let remaining = format!("x-ai-ratelimit-remaining-{instance}");
    crate::common::wait_until(Duration::from_secs(5), || async { lines().len() == 1 })
        .await
        .expect("a log line");
    let entry = lines()[0].clone();
    assert_eq!(
        (
            &entry["type"],
            &entry["model"],
            &entry["prompt"],
            &entry["completion"],
            &entry["total"],
            &entry["estimated"]
        ),
        (
            &json!("ai_chat"),
            &json!("text-embedding-3-small-0001"),
            &json!("12"),
            &json!("0"),
            &json!("12"),
            &json!("false")
        ),
        "{entry}"
    );
    let cost: f64 = entry["cost"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .expect("cost");
    assert!((cost - 12.0 * 2e-8).abs() < 1e-15, "{entry}");

    // No usage from the provider: counted with strait's tokenizer, marked.
    let r = embed(
        &env,
        PATH,
        json!({"model": "no-usage", "input": "hello world"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["usage"],
        json!({"prompt_tokens": 2, "total_tokens": 2})
    );
    crate::common::wait_until(Duration::from_secs(5), || async { lines().len() == 2 })
        .await
        .expect("a second log line");
    let entry = lines()[1].clone();
    assert_eq!(
        (&entry["prompt"], &entry["estimated"]),
        (&json!("2"), &json!("true"))
    );

    // 14 of the 20 prompt tokens are spent; the next 8-character input
    // brings the window over, and the one after is refused.
    let r = embed(&env, PATH, json!({"model": "m", "input": "12345678"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header(&remaining), Some("4"), "{:?}", r.headers);
    let r = embed(&env, PATH, json!({"model": "m", "input": "x"})).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header(&remaining), Some("0"));

    let metrics = get(env.gw.metrics_url())
        .send()
        .await
        .expect("metrics")
        .body;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("apisix_llm_prompt_tokens{")
                && l.contains("request_llm_model=\"text-embedding-3-small\"")
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.ends_with(" 12"), "{line}");
}
