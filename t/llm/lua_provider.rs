//! Provider adapters written in Lua (`ai-providers/*.lua`): the shipped
//! Ollama adapter against a mock speaking Ollama's native `/api/chat`, for
//! OpenAI and Anthropic clients, complete and streamed; and how a broken or
//! reloaded adapter file behaves.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::lua::{shipped_env, write_plugin};
use crate::plugins::Env;

/// Routes `/v1/chat/completions` and `/v1/messages` through `ai-proxy` to
/// `provider` at `mock`, live.
async fn route(env: &Env, mock: &MockLlm, provider: &str) {
    env.put(
        "/routes/ollama",
        json!({"uris": ["/v1/chat/completions", "/v1/messages"], "plugins": {"ai-proxy": {
            "provider": provider, "auth": {},
            "override": {"endpoint": mock.base()}}}}),
    )
    .await;
    env.post_until("/v1/chat/completions", "{}", |r| r.status != 404)
        .await;
}

fn chat(model: &str, content: Value) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

/// The `data:` payloads of an SSE body, parsed (without `[DONE]`).
fn sse_json(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event JSON"))
        .collect()
}

#[tokio::test]
async fn the_ollama_adapter_serves_openai_clients() {
    let (env, _dir) = shipped_env().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, "ollama").await;

    // A complete answer, with an image and sampling settings.
    let mut body = chat(
        "llama3.2",
        json!([{"type": "text", "text": "what is this"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]),
    );
    body["max_tokens"] = json!(50);
    body["temperature"] = json!(0.2);
    body["stop"] = json!(["END"]);
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock
        .received()
        .last()
        .cloned()
        .expect("the mock got the request");
    assert_eq!(sent.uri, "/api/chat");
    assert_eq!(
        sent.body,
        json!({"model": "llama3.2", "stream": false,
               "messages": [{"role": "user", "content": "what is this", "images": ["aGVsbG8="]}],
               "options": {"num_predict": 50, "temperature": 0.2, "stop": ["END"]}})
    );
    let answer = r.json();
    assert_eq!(answer["object"], "chat.completion");
    assert!(
        answer["id"].as_str().unwrap().starts_with("ollama-"),
        "{answer}"
    );
    assert_eq!(answer["model"], "llama3.2");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "echo: what is this [1 images]"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let usage = &answer["usage"];
    assert_eq!(
        (
            &usage["prompt_tokens"],
            &usage["completion_tokens"],
            &usage["total_tokens"]
        ),
        (&json!(12), &json!(6), &json!(18)),
        "Ollama's prompt_eval_count and eval_count"
    );

    // A stream: Ollama's NDJSON lines become OpenAI chunks.
    let mut body = chat("llama3.2", json!("one two"));
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.ends_with("data: [DONE]\n\n"), "{}", r.body);
    assert_eq!(mock.received().last().unwrap().body["stream"], true);
    let chunks = sse_json(&r.body);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: one two");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"),
        "{}",
        r.body
    );
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(
        (&usage["prompt_tokens"], &usage["completion_tokens"]),
        (&json!(7), &json!(3))
    );

    // Tool calls, complete and streamed.
    let mut body = chat("tool-caller", json!("weather in Paris?"));
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        mock.received().last().unwrap().body["tools"][0]["function"]["name"],
        "get_weather"
    );
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);
    body["stream"] = json!(true);
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    let chunks = sse_json(&r.body);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "get_weather", "{}", r.body);
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));

    // A failure Ollama reports mid-stream ends the client's stream with an error.
    let mut body = chat("fail-mid-stream", json!("a b c"));
    body["stream"] = json!(true);
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200);
    let chunks = sse_json(&r.body);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo:", "what came before the failure: {}", r.body);
    assert_eq!(
        chunks.last().unwrap()["error"]["message"],
        "an error was encountered while running the model",
        "{}",
        r.body
    );
    assert!(!r.body.contains("[DONE]"), "{}", r.body);

    // Ollama's error answers reach the client in its shape.
    let r = env
        .post_json(
            "/v1/chat/completions",
            &chat("missing", json!("hi")).to_string(),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        r.json()["error"]["message"],
        "model \"missing\" not found, try pulling it first"
    );

    // An image Ollama cannot take is the client's 400, with the reason.
    let body = chat(
        "llama3.2",
        json!([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]),
    );
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Ollama takes images as data: URIs only"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn the_ollama_adapter_serves_anthropic_clients_with_thinking() {
    let (env, _dir) = shipped_env().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, "ollama").await;
    let body = json!({"model": "qwen3", "max_tokens": 100, "system": "Be brief.",
                      "thinking": {"type": "enabled", "budget_tokens": 1024},
                      "messages": [{"role": "user", "content": "why"}]});
    let r = env.post_json("/v1/messages", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.received().last().cloned().expect("request").body;
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "why"}])
    );
    assert_eq!(sent["think"], true);
    let answer = r.json();
    assert_eq!(answer["type"], "message");
    assert_eq!(
        answer["content"],
        json!([{"type": "thinking", "thinking": "thinking about why", "signature": ""},
               {"type": "text", "text": "echo: why"}])
    );
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(answer["usage"]["input_tokens"], 3);
    assert_eq!(answer["usage"]["output_tokens"], 2);

    let mut body = body;
    body["stream"] = json!(true);
    let r = env.post_json("/v1/messages", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = sse_json(&r.body);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"), "{}", r.body);
    assert_eq!(kinds.last(), Some(&"message_stop"), "{}", r.body);
    let text: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "echo: why");
    let thinking: String = events
        .iter()
        .filter_map(|e| e["delta"]["thinking"].as_str())
        .collect();
    assert_eq!(thinking, "thinking about why");
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .expect("message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 2);

    // A tool round trip: each tool result becomes a `tool` message named by
    // its tool, the text after them a user message.
    let body = json!({"model": "qwen3", "max_tokens": 100, "messages": [
        {"role": "user", "content": "weather and time?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "noon"},
            {"type": "text", "text": "thanks"}]}]});
    let r = env.post_json("/v1/messages", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        mock.received().last().unwrap().body["messages"],
        json!([
            {"role": "user", "content": "weather and time?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"name": "get_time", "arguments": {}}}]},
            {"role": "tool", "tool_name": "get_weather", "content": "sunny"},
            {"role": "tool", "tool_name": "get_time", "content": "noon"},
            {"role": "user", "content": "thanks"}])
    );
}

const FLAKY: &str = r#"
local core = require("apisix.core")
return {
    stream_format = "sse",
    build_request = function(req)
        if req.model == "explode" then
            error("adapter bug")
        end
        if req.model == "loop" then
            while true do end
        end
        return { path = "/v1/chat/completions",
                 headers = { ["content-type"] = "application/json; charset=utf-8" },
                 body = { model = req.model, messages = {{ role = "user", content = "x" }} } }
    end,
    decode_response = function(body)
        local a = core.json.decode(body)
        return { id = a.id, model = a.model, content = {{ type = "text", text = "v1: " .. a.choices[1].message.content }},
                 stop_reason = "end_turn" }
    end,
    decode_stream = function(data, state) return {} end,
}
"#;

#[tokio::test]
async fn a_failing_adapter_answers_500_and_a_reload_takes_effect() {
    let (env, dir) = shipped_env().await;
    write_plugin(dir.path(), "ai-providers/flaky", FLAKY);
    let reload = env.admin.put("/plugins/reload", json!({})).await;
    assert_eq!(reload.status, 200, "{}", reload.body);
    let mock = MockLlm::start().await;
    route(&env, &mock, "flaky").await;

    let ok = chat("m", json!("hi")).to_string();
    let r = env.post_json("/v1/chat/completions", &ok).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "v1: echo: x");
    assert_eq!(
        mock.received().last().unwrap().headers["content-type"],
        "application/json; charset=utf-8",
        "the adapter's content type is sent"
    );

    for model in ["explode", "loop"] {
        let r = env
            .post_json(
                "/v1/chat/completions",
                &chat(model, json!("hi")).to_string(),
            )
            .await;
        assert_eq!(r.status, 500, "{model}: {}", r.body);
        assert_eq!(
            r.json()["error"]["message"],
            "the Lua provider adapter \"flaky\" failed"
        );
    }
    let log = env.gw.log_tail(200);
    assert!(
        log.contains("adapter bug"),
        "the log names the error: {log}"
    );
    // The process is fine: the next request is answered.
    let r = env.post_json("/v1/chat/completions", &ok).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A new version applies to the configured route without touching it;
    // a version that does not load keeps the previous one in service.
    write_plugin(
        dir.path(),
        "ai-providers/flaky",
        &FLAKY.replace("v1: ", "v2: "),
    );
    let r = env
        .post_until("/v1/chat/completions", &ok, |r| r.body.contains("v2: "))
        .await;
    assert_eq!(r.status, 200);
    write_plugin(dir.path(), "ai-providers/flaky", "return {");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = env.post_json("/v1/chat/completions", &ok).await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "v2: echo: x");
    assert!(
        env.gw.log_tail(200).contains("Lua provider not loaded"),
        "the failed load is logged"
    );
}

#[tokio::test]
async fn an_unknown_provider_is_refused_with_the_known_ones() {
    let (env, _dir) = shipped_env().await;
    let r = env
        .admin
        .put(
            "/routes/x",
            json!({"uri": "/x", "plugins": {"ai-proxy": {"provider": "nope", "auth": {}}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.json()["error_msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("provider \"nope\" is not supported: strait speaks openai,")
            && msg.contains("and through Lua ollama"),
        "{msg}"
    );
}
