//! `ai-proxy` with the native `gemini` provider, through a running gateway
//! to a mock speaking Gemini's `generateContent` wire format: what Gemini
//! receives (path, key, contents), what OpenAI and Anthropic clients get
//! (complete and streamed), a tool call round trip, Gemini's errors in the
//! client's protocol, and configurations refused by the Admin API.

use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::plugins::Env;

/// Routes `/v1/chat/completions` and `/v1/messages` through `ai-proxy` to
/// Gemini at `mock` with `auth`, live.
async fn route(env: &Env, mock: &MockLlm, auth: Value) {
    env.put(
        "/routes/gemini",
        json!({"uris": ["/v1/chat/completions", "/v1/messages"], "plugins": {"ai-proxy": {
            "provider": "gemini", "auth": auth,
            "override": {"endpoint": mock.base()}}}}),
    )
    .await;
    env.post_until("/v1/chat/completions", "{}", |r| r.status != 404)
        .await;
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The `data:` payloads of an SSE body, parsed (without `[DONE]`).
fn sse_json(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event JSON"))
        .collect()
}

fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn openai_clients_reach_gemini_complete_and_streamed() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        &mock,
        json!({"header": {"x-goog-api-key": "AIza-test"}}),
    )
    .await;

    let mut body = chat("gemini-2.5-flash", "hello there");
    body["messages"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({"role": "system", "content": "Be brief."}));
    body["max_tokens"] = json!(64);
    body["temperature"] = json!(0.3);
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.received().last().cloned().expect("Gemini got it");
    assert_eq!(sent.uri, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(sent.headers["x-goog-api-key"], "AIza-test");
    assert_eq!(
        sent.body,
        json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
               "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
               "generationConfig": {"maxOutputTokens": 64, "temperature": 0.3}})
    );
    let answer = r.json();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["id"], "mock-gemini-1");
    assert_eq!(answer["model"], "gemini-2.5-flash-001");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "echo: hello there"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        (
            &answer["usage"]["prompt_tokens"],
            &answer["usage"]["completion_tokens"],
            &answer["usage"]["total_tokens"]
        ),
        (&json!(11), &json!(3), &json!(14))
    );

    // Streamed: Gemini's SSE chunks become chat.completion.chunk events.
    let mut body = streamed(chat("gemini-2.5-flash", "one two"));
    body["stream_options"] = json!({"include_usage": true});
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "text/event-stream");
    assert_eq!(
        mock.received().last().unwrap().uri,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert!(r.body.ends_with("data: [DONE]\n\n"), "{}", r.body);
    let chunks = sse_json(&r.body);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: one two");
    assert!(
        chunks.iter().all(|c| c["id"] == "mock-gemini-1"),
        "{}",
        r.body
    );
    assert_eq!(
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect::<Vec<_>>(),
        ["stop"]
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        (
            &last["usage"]["prompt_tokens"],
            &last["usage"]["completion_tokens"]
        ),
        (&json!(7), &json!(3)),
        "the last usage Gemini reported"
    );
}

#[tokio::test]
async fn anthropic_clients_reach_gemini_with_thinking() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, json!({"query": {"key": "AIza-q"}})).await;
    let body = json!({"model": "gemini-2.5-pro", "max_tokens": 2000, "system": "Be brief.",
                      "thinking": {"type": "enabled", "budget_tokens": 1024},
                      "messages": [{"role": "user", "content": "why"}]});
    let r = env.post_json("/v1/messages", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.received().last().cloned().expect("request");
    assert_eq!(
        sent.uri,
        "/v1beta/models/gemini-2.5-pro:generateContent?key=AIza-q"
    );
    assert_eq!(
        sent.body["generationConfig"],
        json!({"maxOutputTokens": 2000,
               "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}})
    );
    let answer = r.json();
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["model"], "gemini-2.5-pro-001");
    assert_eq!(
        answer["content"],
        json!([{"type": "thinking", "thinking": "thinking about why", "signature": ""},
               {"type": "text", "text": "echo: why"}])
    );
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(answer["usage"]["input_tokens"], 3);
    assert_eq!(
        answer["usage"]["output_tokens"], 5,
        "2 answer + 3 thought tokens"
    );

    let r = env
        .post_json("/v1/messages", &streamed(body).to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        mock.received().last().unwrap().uri,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=AIza-q"
    );
    let events = sse_json(&r.body);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"), "{}", r.body);
    assert_eq!(kinds.last(), Some(&"message_stop"), "{}", r.body);
    assert_eq!(events[0]["message"]["id"], "mock-gemini-1");
    let field = |f: &str| -> String {
        events
            .iter()
            .filter_map(|e| e["delta"][f].as_str())
            .collect()
    };
    assert_eq!(field("thinking"), "thinking about why");
    assert_eq!(field("text"), "echo: why");
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .expect("message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
    assert_eq!(delta["usage"]["input_tokens"], 3);
}

#[tokio::test]
async fn a_tool_call_round_trip_through_gemini() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, json!({"header": {"x-goog-api-key": "k"}})).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "additionalProperties": false,
                       "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let mut body = chat("tool-caller", "weather in Paris?");
    body["tools"] = tools.clone();
    body["tool_choice"] = json!("required");
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.received().last().cloned().unwrap().body;
    assert_eq!(
        sent["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "parameters":
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]),
        "additionalProperties is not sent to Gemini"
    );
    assert_eq!(
        sent["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = choice["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);
    let id = call["id"].as_str().unwrap().to_string();
    assert_eq!(
        id, "call_0__sig_c2lnLTE",
        "Gemini's thought signature rides in the id"
    );

    // Streamed, the call comes whole: start and arguments at index 0.
    let r = env
        .post_json("/v1/chat/completions", &streamed(body.clone()).to_string())
        .await;
    let chunks = sse_json(&r.body);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["id"], id.as_str(), "{}", r.body);
    assert!(calls.iter().all(|c| c["index"] == 0));
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));

    // The client runs the tool and sends the result back.
    body["messages"] = json!([
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "sunny"}]);
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.received().last().cloned().unwrap().body;
    assert_eq!(
        sent["contents"],
        json!([
            {"role": "user", "parts": [{"text": "weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                         "thoughtSignature": "c2lnLTE="}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                             "response": {"output": "sunny"}}}]}])
    );
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        r#"result: [{"name":"get_weather","response":{"output":"sunny"}}]"#
    );

    // An Anthropic client: tool_use out, tool_result back in.
    let body = json!({"model": "tool-caller", "max_tokens": 100,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "weather?"}]});
    let r = env.post_json("/v1/messages", &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["stop_reason"], "tool_use");
    let tool_use = answer["content"][0].clone();
    assert_eq!(
        tool_use,
        json!({"type": "tool_use", "id": id, "name": "get_weather", "input": {"city": "Paris"}})
    );
    let mut next = body.clone();
    next["messages"] = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [tool_use]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "{\"temp\":21}"}]}]);
    let r = env.post_json("/v1/messages", &next.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["content"][0]["text"],
        r#"result: [{"name":"get_weather","response":{"temp":21}}]"#
    );
}

#[tokio::test]
async fn gemini_errors_reach_the_client_in_its_protocol() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(&env, &mock, json!({"header": {"x-goog-api-key": "k"}})).await;

    let r = env
        .post_json("/v1/chat/completions", &chat("fail-429", "x").to_string())
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(
        r.json()["error"]["message"],
        "Resource has been exhausted (e.g. check quota)."
    );

    // Gemini's RetryInfo becomes Retry-After when the header is missing.
    let anthropic = json!({"model": "fail-429-body", "max_tokens": 10,
                           "messages": [{"role": "user", "content": "x"}]});
    let r = env.post_json("/v1/messages", &anthropic.to_string()).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "12");
    assert_eq!(
        r.json(),
        json!({"type": "error", "error": {"type": "rate_limit_error",
                                          "message": "You exceeded your current quota."}})
    );

    let r = env
        .post_json("/v1/chat/completions", &chat("fail-500", "x").to_string())
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["type"], "api_error");
    assert_eq!(
        r.json()["error"]["message"],
        "An internal error has occurred."
    );

    // A stream that breaks ends with an error event, not [DONE].
    let r = env
        .post_json(
            "/v1/chat/completions",
            &streamed(chat("break-mid-stream", "a b c")).to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    let chunks = sse_json(&r.body);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo:", "{}", r.body);
    assert!(chunks.last().unwrap()["error"].is_object(), "{}", r.body);
    assert!(!r.body.contains("[DONE]"), "{}", r.body);

    // A prompt Gemini blocks is an answer stopped by the content filter.
    let r = env
        .post_json("/v1/chat/completions", &chat("blocked", "x").to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(r.json()["choices"][0]["message"]["content"], "");
    let r = env
        .post_json(
            "/v1/messages",
            &streamed(json!({"model": "blocked", "max_tokens": 10,
                             "messages": [{"role": "user", "content": "x"}]}))
            .to_string(),
        )
        .await;
    let delta = sse_json(&r.body)
        .into_iter()
        .find(|e| e["type"] == "message_delta")
        .expect("message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "refusal", "{}", r.body);

    // A URL image without a usable scheme is the client's 400.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://example.com/cat.png"}}]}]});
    let r = env
        .post_json("/v1/chat/completions", &body.to_string())
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["error"]["message"],
        "messages[0]: an image must be a base64 data: URI or an http(s) URL"
    );
}

#[tokio::test]
async fn gemini_configurations_the_admin_api_refuses_or_keeps_apisix_style() {
    let env = Env::start().await;
    let r = env
        .admin
        .put(
            "/routes/bad",
            json!({"uri": "/x", "plugins": {"ai-proxy": {"provider": "gemini", "auth": {},
                "override": {"endpoint": "https://generativelanguage.googleapis.com/v1beta/models/x:generateContent"}}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("override.endpoint takes only scheme://host[:port]"),
        "{}",
        r.body
    );

    // A configuration written for APISIX's gemini provider (OpenAI-compatible
    // endpoint) keeps working: the request goes out in OpenAI's format.
    let mock = MockLlm::start().await;
    env.put(
        "/routes/apisix-style",
        json!({"uri": "/v1/chat/completions", "plugins": {"ai-proxy": {"provider": "gemini",
            "auth": {"header": {"Authorization": "Bearer AIza-x"}},
            "override": {"endpoint": format!("{}/v1beta/openai/chat/completions", mock.base())}}}}),
    )
    .await;
    let r = env
        .post_until(
            "/v1/chat/completions",
            &chat("gemini-2.0-flash", "hi").to_string(),
            |r| r.status == 200,
        )
        .await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hi");
    let sent = mock.received().last().cloned().unwrap();
    assert_eq!(sent.uri, "/v1beta/openai/chat/completions");
    assert_eq!(sent.body["model"], "gemini-2.0-flash");
    assert_eq!(sent.headers["authorization"], "Bearer AIza-x");
}
