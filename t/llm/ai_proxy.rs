//! `ai-proxy` through a running gateway to a mock OpenAI-format provider:
//! what the provider receives, what the client gets (complete and
//! streamed), provider errors in the client's shape, and the `llm_*`
//! variables loggers see.

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::common::{request, Resp};
use crate::plugins::Env;

async fn post(env: &Env, path: &str, body: Value, auth: Option<&str>) -> Resp {
    let mut r = request(Method::POST, env.gw.url(path)).header("content-type", "application/json");
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    r.body(body.to_string()).send().await.expect("request")
}

/// A route `/v1/chat/completions` with `ai-proxy` to `mock`, live.
async fn route(env: &Env, mock: &MockLlm, extra: Value) {
    let mut conf = json!({
        "provider": "openai-compatible",
        "auth": {"header": {"Authorization": "Bearer sk-provider"}},
        "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        conf[k] = v.clone();
    }
    env.put(
        "/routes/llm",
        json!({"uri": "/v1/chat/completions", "methods": ["POST"], "plugins": {"ai-proxy": conf}}),
    )
    .await;
    env.post_until("/v1/chat/completions", "{}", |r| r.status != 404)
        .await;
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn a_chat_completion_goes_to_the_provider_and_back() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        &mock,
        json!({"options": {"model": "served-model", "temperature": 0.5},
               "auth": {"header": {"Authorization": "Bearer sk-provider"},
                        "query": {"api key": "a b&c"}}}),
    )
    .await;
    let before = mock.received().len();

    let r = post(
        &env,
        "/v1/chat/completions",
        chat("client-model", "hello there"),
        Some("Bearer gateway-key"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 11);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 14);
    assert_eq!(v["model"], "served-model-0001");

    let got = mock.received();
    let sent = &got[before];
    assert_eq!(
        sent.uri, "/v1/chat/completions?api%20key=a%20b%26c",
        "auth.query, encoded"
    );
    assert_eq!(
        sent.body["model"], "served-model",
        "options.model wins over the client's"
    );
    assert_eq!(sent.body["temperature"], 0.5);
    assert_eq!(
        sent.headers["authorization"], "Bearer sk-provider",
        "the provider gets the configured key, never the client's"
    );
}

#[tokio::test]
async fn a_stream_is_translated_chunk_by_chunk_with_usage_when_asked() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, json!({})).await;
    let mut body = chat("m", "one two");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = post(&env, "/v1/chat/completions", body.clone(), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "text/event-stream");
    let events: Vec<&str> = r
        .body
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk JSON"))
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: one two");
    let usage = &chunks.last().expect("usage chunk")["usage"];
    assert_eq!(chunks.last().unwrap()["choices"], json!([]));
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(7), Some(3))
    );
    assert!(
        mock.received().last().unwrap().body["stream_options"]["include_usage"] == true,
        "the provider is always asked for usage"
    );

    // Without include_usage the client gets no usage chunk (the provider is still asked).
    body.as_object_mut().unwrap().remove("stream_options");
    let r = post(&env, "/v1/chat/completions", body, None).await;
    assert!(!r.body.contains("\"usage\""), "{}", r.body);
    assert!(r.body.ends_with("data: [DONE]\n\n"));
    assert!(mock.received().last().unwrap().body["stream_options"]["include_usage"] == true);
}

#[tokio::test]
async fn provider_errors_reach_the_client_in_its_protocol() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, json!({"max_req_body_size": 2000})).await;

    let r = post(
        &env,
        "/v1/chat/completions",
        chat("m", &"x".repeat(2000)),
        None,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_req_body_size (2000 bytes)"));

    let r = post(&env, "/v1/chat/completions", chat("fail-429", "x"), None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(r.json()["error"]["message"], "Rate limit reached");

    let r = post(&env, "/v1/chat/completions", chat("fail-500", "x"), None).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["message"], "The server had an error");

    let r = post(
        &env,
        "/v1/chat/completions",
        json!({"model": "m", "messages": "hi"}),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "`messages` must be an array");
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    // A stream that breaks mid-way ends with an error event, not [DONE].
    let mut body = chat("break-mid-stream", "a b c");
    body["stream"] = json!(true);
    let r = post(&env, "/v1/chat/completions", body, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("\"error\""), "{}", r.body);
    assert!(!r.body.contains("[DONE]"), "{}", r.body);
}

#[tokio::test]
async fn a_complete_answer_over_max_response_bytes_is_a_502_and_a_stream_is_not_cut() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, json!({"max_response_bytes": 400})).await;
    let r = post(&env, "/v1/chat/completions", chat("m", "short"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: short");

    // The mock echoes the input: 30 words of 10 letters make an answer of
    // more than 400 bytes, which is refused rather than read on.
    let long = vec!["abcdefghij"; 30].join(" ");
    let r = post(&env, "/v1/chat/completions", chat("m", &long), None).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(
        r.json()["error"]["message"],
        "the provider's answer is larger than max_response_bytes (400 bytes)",
        "{}",
        r.body
    );

    // The limit is for answers read whole: a stream passes as it goes.
    let mut body = chat("m", &long);
    body["stream"] = json!(true);
    let r = post(&env, "/v1/chat/completions", body, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text: String = r
        .body
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(text, format!("echo: {long}"));
}

#[tokio::test]
async fn an_unreachable_provider_is_a_502_in_the_clients_shape() {
    let env = Env::start().await;
    env.put(
        "/routes/llm",
        json!({"uri": "/v1/chat/completions", "plugins": {"ai-proxy": {
            "provider": "openai-compatible", "auth": {},
            "override": {"endpoint": format!("http://127.0.0.1:{}", crate::common::closed_port())}}}}),
    )
    .await;
    let r = env
        .post_until("/v1/chat/completions", &chat("m", "x").to_string(), |r| {
            r.status == 502
        })
        .await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("ai-proxy-openai-compatible"),
        "{}",
        r.body
    );
    // Configuration errors are refused with the reason.
    let r = env
        .admin
        .put("/routes/bad", json!({"uri": "/x", "plugins": {"ai-proxy": {"provider": "openai-compatible", "auth": {}}}}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("needs override.endpoint"), "{}", r.body);
}

#[tokio::test]
async fn loggers_see_the_llm_variables() {
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
    env.put(
        "/routes/llm",
        json!({"uri": "/v1/chat/completions", "plugins": {
            "ai-proxy": {"provider": "openai-compatible", "auth": {},
                         "override": {"endpoint": mock.base()}},
            "file-logger": {"path": log.display().to_string(), "batch_max_size": 1, "log_format": {
                "type": "$request_type", "asked": "$request_llm_model", "model": "$llm_model",
                "prompt": "$llm_prompt_tokens", "completion": "$llm_completion_tokens",
                "total": "$llm_total_tokens", "ttft": "$llm_time_to_first_token",
                "cost": "$llm_cost"}}}}),
    )
    .await;
    let mut body = chat("gpt-4o-mini", "four");
    body["stream"] = json!(true);
    env.post_until("/v1/chat/completions", &body.to_string(), |r| {
        r.status == 200
    })
    .await;
    let read = || {
        std::fs::read_to_string(&log)
            .ok()
            .and_then(|s| s.lines().last().map(str::to_string))
            .and_then(|l| serde_json::from_str::<Value>(&l).ok())
    };
    crate::common::wait_until(Duration::from_secs(5), || async { read().is_some() })
        .await
        .expect("a log line");
    let entry = read().expect("log entry");
    assert_eq!(entry["type"], "ai_stream");
    assert_eq!(entry["asked"], "gpt-4o-mini");
    assert_eq!(entry["model"], "gpt-4o-mini-0001");
    assert_eq!(
        entry["prompt"], "4",
        "usage the client did not ask for is still counted"
    );
    assert_eq!(entry["completion"], "2");
    assert_eq!(entry["total"], "6");
    // Priced from conf/model_prices.json: the answering model is unknown
    // there, the model sent is not (0.15 $/M input, 0.60 $/M output).
    let cost: f64 = entry["cost"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .expect("cost");
    assert!(
        (cost - (4.0 * 0.15e-6 + 2.0 * 0.6e-6)).abs() < 1e-12,
        "{entry}"
    );
    assert!(
        entry["ttft"]
            .as_str()
            .is_some_and(|t| t.parse::<u64>().is_ok()),
        "{entry}"
    );
}
