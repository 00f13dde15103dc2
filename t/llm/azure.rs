//! `ai-proxy` with `azure-openai`, through a running gateway to a mock
//! answering like Azure OpenAI on a deployment URL: the `api-key` header
//! and `api-version` reach it, the body names no model, Azure's content
//! filter annotations do not disturb complete or streamed answers, and the
//! Admin API refuses configurations without a usable endpoint.

use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::plugins::Env;

/// The `data:` payloads of an SSE body, parsed (without `[DONE]`).
fn sse_json(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event JSON"))
        .collect()
}

#[tokio::test]
async fn azure_openai_deployments_answer_complete_and_streamed() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    let endpoint = format!(
        "{}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
        mock.base()
    );
    env.put(
        "/routes/azure",
        json!({"uris": ["/v1/chat/completions", "/v1/messages"], "plugins": {"ai-proxy": {
            "provider": "azure-openai",
            "auth": {"header": {"api-key": "azure-secret"}},
            "override": {"endpoint": endpoint, "llm_options": {"max_tokens": 99}}}}}),
    )
    .await;
    env.post_until("/v1/chat/completions", "{}", |r| r.status != 404)
        .await;

    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello there"}]});
    let r = crate::common::request(http::Method::POST, env.gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("api-key", "the-clients-own-key")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.received().last().cloned().expect("Azure got it");
    assert_eq!(
        sent.uri,
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        sent.headers["api-key"], "azure-secret",
        "the configured key, never the client's"
    );
    assert_eq!(
        sent.body,
        json!({"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 99}),
        "no model: the deployment decides"
    );
    let answer = r.json();
    assert_eq!(answer["model"], "gpt4o-prod-0001");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "echo: hello there"
    );
    assert_eq!(answer["usage"]["total_tokens"], 14);
    assert!(
        answer.get("prompt_filter_results").is_none(),
        "Azure's annotations are not passed on: {answer}"
    );

    // Streamed to an OpenAI client: Azure's leading annotation chunk (empty
    // id and model) does not blank the answer's id.
    let mut body = body;
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let chunks = sse_json(&r.body);
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == "chatcmpl-mock" && c["model"] == "gpt4o-prod-0001"),
        "{}",
        r.body
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: hello there");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 3);
    assert!(mock.received().last().unwrap().body["stream_options"]["include_usage"] == true);

    // Streamed to an Anthropic client.
    let body = json!({"model": "claude-ish", "max_tokens": 50, "stream": true,
                      "messages": [{"role": "user", "content": "one two"}]});
    let r = env.post_json("/v1/messages", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = sse_json(&r.body);
    assert_eq!(events[0]["type"], "message_start", "{}", r.body);
    assert_eq!(events[0]["message"]["id"], "chatcmpl-mock");
    assert_eq!(events[0]["message"]["model"], "gpt4o-prod-0001");
    let text: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "echo: one two");
    assert_eq!(events.last().unwrap()["type"], "message_stop");
    assert!(mock.received().last().unwrap().body.get("model").is_none());
}

#[tokio::test]
async fn azure_configurations_need_an_endpoint_with_an_api_version() {
    let env = Env::start().await;
    let put = |conf: Value| {
        let admin = &env.admin;
        async move {
            admin
                .put(
                    "/routes/azure",
                    json!({"uri": "/x", "plugins": {"ai-proxy": conf}}),
                )
                .await
        }
    };
    let r = put(json!({"provider": "azure-openai", "auth": {"header": {"api-key": "k"}}})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("provider \\\"azure-openai\\\" needs override.endpoint"),
        "{}",
        r.body
    );

    let r = put(json!({"provider": "azure-openai", "auth": {"header": {"api-key": "k"}},
        "override": {"endpoint": "https://res.openai.azure.com/openai/deployments/d/chat/completions"}}))
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("needs the api-version query parameter"),
        "{}",
        r.body
    );

    let r = put(json!({"provider": "azure-openai", "auth": {"header": {"api-key": "k"}},
        "override": {"endpoint": "https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"}}))
    .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
}
