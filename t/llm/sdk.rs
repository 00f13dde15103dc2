//! Real clients: the official `openai` and `anthropic` Python SDKs
//! (pinned in `t/requirements.txt`, installed into `.venv` by `make deps`)
//! pointed at strait's `ai-proxy`, in both protocols against both mock
//! providers, streamed and not, and the `openai` SDK's model list and
//! embeddings (through OpenAI and native Gemini). The scripts under
//! `t/llm/sdk/` print what
//! the SDK parsed; a wrong event or field makes the SDK raise or assemble
//! something else, and the exact summaries here catch it.
//!
//! One gateway and one Python run per client × provider pair, every
//! scenario of the pair in that run. `STRAIT_SDK_DUMP=1` (with
//! `--no-capture`) prints each summary as the SDK produced it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::mock_anthropic::SIGNATURE;
use crate::common::mock_llm::{MockLlm, TOOL_CALL_TOKENS};
use crate::plugins::Env;

/// How the client speaks: its script, the route's URI and the SDK's base URL path.
#[derive(Clone, Copy)]
enum Client {
    OpenAi,
    Anthropic,
    /// The `openai` SDK on a route taking every method under `/sdk/v1/`
    /// (embeddings, the model list).
    OpenAiApi,
}

impl Client {
    fn script(self) -> &'static str {
        match self {
            Client::OpenAi | Client::OpenAiApi => "openai_client.py",
            Client::Anthropic => "anthropic_client.py",
        }
    }

    fn uri(self) -> &'static str {
        match self {
            Client::OpenAi => "/sdk/v1/chat/completions",
            Client::Anthropic => "/sdk/v1/messages",
            Client::OpenAiApi => "/sdk/v1/*",
        }
    }

    /// The route's methods.
    fn methods(self) -> Value {
        match self {
            Client::OpenAiApi => json!(["GET", "POST"]),
            _ => json!(["POST"]),
        }
    }

    /// What the user passes as `base_url` (the SDK appends the rest).
    fn base_path(self) -> &'static str {
        match self {
            Client::OpenAi | Client::OpenAiApi => "/sdk/v1",
            Client::Anthropic => "/sdk",
        }
    }
}

/// The `ai-proxy` configuration of `provider` pointing at `mock`.
fn provider_conf(provider: &str, mock: &MockLlm) -> Value {
    match provider {
        "openai" => json!({
            "provider": "openai",
            "auth": {"header": {"Authorization": "Bearer sk-provider"}},
            "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())},
        }),
        "gemini" => json!({
            "provider": "gemini",
            "auth": {"header": {"x-goog-api-key": "g-provider"}},
            "override": {"endpoint": mock.base()},
        }),
        _ => json!({
            "provider": "anthropic",
            "auth": {"header": {"x-api-key": "sk-ant-provider"}},
            "override": {"endpoint": mock.base()},
        }),
    }
}

/// Start a gateway with `client`'s route to `provider`, run the SDK script
/// with `scenarios`, and return each scenario's summary by name.
async fn run(client: Client, provider: &str, scenarios: &[&str]) -> BTreeMap<String, Value> {
    run_with(client, provider, json!({}), scenarios).await
}

/// [`run`] with `more` set in the `ai-proxy` configuration.
async fn run_with(
    client: Client,
    provider: &str,
    more: Value,
    scenarios: &[&str],
) -> BTreeMap<String, Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make deps` (it installs t/requirements.txt into .venv)",
        python.display()
    );
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    let mut conf = provider_conf(provider, &mock);
    conf["timeout"] = json!(5000); // a stuck call fails within the SDK's 10 s timeout
    for (k, v) in more.as_object().into_iter().flatten() {
        conf[k] = v.clone();
    }
    env.put(
        "/routes/sdk",
        json!({"uri": client.uri(), "methods": client.methods(), "plugins": {"ai-proxy": conf}}),
    )
    .await;
    env.post_until(client.uri(), "{}", |r| r.status != 404)
        .await;

    let script = root.join("t/llm/sdk").join(client.script());
    let base = env.gw.url(client.base_path());
    let args: Vec<String> = scenarios.iter().map(|s| s.to_string()).collect();
    let task = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .arg(&base)
            .args(&args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap_or_else(|e| panic!("run {} (make deps creates it): {e}", python.display()))
    });
    let out = tokio::time::timeout(Duration::from_secs(120), task)
        .await
        .expect("the SDK script finishes within 120 s")
        .expect("the SDK script's thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    gw_assert!(
        env.gw,
        out.status.success(),
        "{} failed (run `make deps` if the SDKs are missing):\n{}\n{stdout}",
        client.script(),
        String::from_utf8_lossy(&out.stderr)
    );
    let summaries: BTreeMap<String, Value> = stdout
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("a JSON line per scenario");
            let name = v["scenario"].as_str().expect("scenario").to_string();
            v.as_object_mut().expect("object").remove("scenario");
            (name, v)
        })
        .collect();
    if std::env::var_os("STRAIT_SDK_DUMP").is_some() {
        for (name, summary) in &summaries {
            eprintln!("{name}: {summary}");
        }
    }
    summaries
}

/// Assert the summary of every scenario (`expected`: name → summary, and
/// `more` merged into it), showing all differences at once.
fn check(got: &BTreeMap<String, Value>, expected: Value, more: Value) {
    let mut expected = match expected {
        Value::Object(map) => map,
        other => panic!("expected summaries must be an object, not {other}"),
    };
    expected.extend(
        more.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let mut wrong: Vec<String> = expected
        .iter()
        .filter(|(name, want)| got.get(*name) != Some(want))
        .map(|(name, want)| {
            format!(
                "{name}\n  expected: {want}\n  got:      {}",
                got.get(name).unwrap_or(&Value::Null)
            )
        })
        .collect();
    wrong.extend(
        got.keys()
            .filter(|name| !expected.contains_key(*name))
            .map(|name| format!("{name}: ran but nothing is expected of it")),
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// OpenAI's usage as the SDK parsed it.
fn oa_usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt": prompt, "completion": completion, "total": prompt + completion})
}

/// Anthropic's usage as the SDK parsed it.
fn an_usage(input: u64, output: u64) -> Value {
    json!({"input": input, "output": output})
}

/// `a` with the fields of `b`.
fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// `retry-after` as the mocks send it: 7 s with a 429.
fn retry_after(status: u16) -> Value {
    if status == 429 {
        json!("7")
    } else {
        Value::Null
    }
}

/// An `openai` SDK `APIStatusError` with an OpenAI error body.
fn oa_error(class: &str, status: u16, kind: &str, message: &str) -> Value {
    let body = json!({"message": message, "type": kind, "param": null, "code": null});
    json!({"error": {"class": class, "status": status, "retry_after": retry_after(status),
                     "body": body}})
}

/// An `anthropic` SDK `APIStatusError` with an Anthropic error body.
fn an_error(class: &str, status: u16, kind: &str, message: &str) -> Value {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    json!({"error": {"class": class, "status": status, "retry_after": retry_after(status),
                     "body": body}})
}

/// What the `openai` SDK reports after a stream failed mid-way: the first
/// word, then the `APIError` it raised on strait's error chunk.
fn oa_broken(kind: &str, message: &str) -> Value {
    let body = json!({"message": message, "type": kind, "param": null, "code": null});
    json!({"role": "assistant", "text": "echo:", "finish_reason": null, "usage": null,
           "error": {"class": "APIError", "message": message, "body": body}})
}

/// What the `anthropic` SDK reports after a stream failed mid-way: the
/// first word, then what it raised on strait's `error` event (an
/// `APIStatusError` with the stream's status, 200).
fn an_broken(kind: &str, message: &str) -> Value {
    let error = an_error("APIStatusError", 200, kind, message);
    merged(json!({"streamed_text": "echo:"}), error)
}

/// The provider's stream dropped (the OpenAI mock's `break-mid-stream`).
const DROPPED: &str = "the provider's stream failed: error reading a body from connection";
/// The OpenAI mock's error messages (429, 500).
const OA_RATE: &str = "Rate limit reached";
const OA_500: &str = "The server had an error";
/// The Anthropic mock's error messages (429, 500).
const AN_RATE: &str = "Number of request tokens has exceeded your per-minute rate limit";
const AN_500: &str = "Internal server error";

/// What the `openai` SDK reads whichever provider answers; `tool_id`, the
/// text before the tool call and the helper's events differ by provider.
fn openai_expected(tool_id: &str, tool_text: Value, tool_events: &[&str]) -> Value {
    let call = json!([{"id": tool_id, "name": "get_weather", "arguments": {"city": "Paris"}}]);
    let first = json!({"model": "tool-caller-0001", "text": tool_text, "tool_calls": call,
                       "finish_reason": "tool_calls", "usage": oa_usage(17, TOOL_CALL_TOKENS)});
    let mut streamed_tool = first.clone();
    streamed_tool["events"] = json!(tool_events);
    let text = |model: &str, text: &str, finish: &str, usage: Value| {
        json!({"model": model, "text": text, "tool_calls": [],
               "finish_reason": finish, "usage": usage})
    };
    let streamed = |text: &str, finish: &str, usage: Value| {
        let v = json!({"role": "assistant", "text": text, "finish_reason": finish});
        merged(v, json!({"usage": usage}))
    };
    json!({
        "text": text("m-0001", "echo: hello there", "stop", oa_usage(11, 3)),
        "stream": streamed("echo: one two", "stop", oa_usage(7, 3)),
        "length": text("m-0001", "echo: hello", "length", oa_usage(11, 2)),
        "length_stream": streamed("echo: hello", "length", oa_usage(11, 2)),
        "tools": {
            "first": first,
            "second": text("tool-caller-0001", "echo: sunny, 21 C", "stop", oa_usage(11, 4)),
        },
        "tools_stream": streamed_tool,
    })
}

/// What the `anthropic` SDK reads whichever provider answers; `tool_id`,
/// the text before the tool call and the helper's events differ by provider.
fn anthropic_expected(tool_id: &str, tool_text: Option<&str>, tool_events: &[&str]) -> Value {
    let mut content: Vec<Value> = tool_text
        .map(|t| json!({"type": "text", "text": t}))
        .into_iter()
        .collect();
    let input = json!({"city": "Paris"});
    content.push(json!({"type": "tool_use", "id": tool_id, "name": "get_weather", "input": input}));
    let first = json!({"model": "tool-caller-0001", "content": content, "stop_reason": "tool_use",
                       "usage": an_usage(17, TOOL_CALL_TOKENS)});
    let mut streamed_tool = first.clone();
    streamed_tool["events"] = json!(tool_events);
    let text = |model: &str, text: &str, stop: &str, usage: Value| {
        json!({"model": model, "content": [{"type": "text", "text": text}],
               "stop_reason": stop, "usage": usage})
    };
    let streamed = |t: &str, stop: &str, usage: Value| {
        let mut v = text("claude-mock-0001", t, stop, usage);
        v["streamed_text"] = json!(t);
        v
    };
    json!({
        "text": text("claude-mock-0001", "echo: hello there", "end_turn", an_usage(11, 3)),
        "stream": streamed("echo: one two", "end_turn", an_usage(7, 3)),
        "max_tokens": text("claude-mock-0001", "echo: hello", "max_tokens", an_usage(11, 2)),
        "max_tokens_stream": streamed("echo: hello", "max_tokens", an_usage(11, 2)),
        "tools": {
            "first": first,
            "second": text("tool-caller-0001", "echo: sunny, 21 C", "end_turn", an_usage(11, 4)),
        },
        "tools_stream": streamed_tool,
    })
}

/// The `anthropic` SDK's stream helper events of a tool call (and `text`
/// when text comes first).
const AN_TOOL_EVENTS: &[&str] = &[
    "content_block_delta",
    "content_block_start",
    "content_block_stop",
    "input_json",
    "message_delta",
    "message_start",
    "message_stop",
];

const OPENAI_SCENARIOS: &[&str] = &[
    "text",
    "stream",
    "length",
    "length_stream",
    "tools",
    "tools_stream",
    "rate_limited",
    "server_error",
    "broken_stream",
];

const ANTHROPIC_SCENARIOS: &[&str] = &[
    "text",
    "stream",
    "max_tokens",
    "max_tokens_stream",
    "tools",
    "tools_stream",
    "rate_limited",
    "server_error",
    "broken_stream",
];

#[tokio::test]
async fn the_openai_sdk_through_an_openai_provider() {
    let got = run(Client::OpenAi, "openai", OPENAI_SCENARIOS).await;
    // A stream of tool calls only has `content: None`, as from OpenAI
    // itself (no `content.delta` event either).
    let events = [
        "chunk",
        "tool_calls.function.arguments.delta",
        "tool_calls.function.arguments.done",
    ];
    check(
        &got,
        openai_expected("call_mock1", Value::Null, &events),
        json!({
            "rate_limited": oa_error("RateLimitError", 429, "rate_limit_error", OA_RATE),
            "server_error": oa_error("InternalServerError", 500, "api_error", OA_500),
            "broken_stream": oa_broken("api_error", DROPPED),
        }),
    );
}

#[tokio::test]
async fn the_openai_sdk_through_an_anthropic_provider() {
    let mut scenarios = OPENAI_SCENARIOS.to_vec();
    scenarios.push("overloaded");
    let got = run(Client::OpenAi, "anthropic", &scenarios).await;
    let events = [
        "chunk",
        "content.delta",
        "content.done",
        "tool_calls.function.arguments.delta",
        "tool_calls.function.arguments.done",
    ];
    check(
        &got,
        openai_expected("toolu_mock1", json!("Let me check."), &events),
        json!({
            "rate_limited": oa_error("RateLimitError", 429, "rate_limit_error", AN_RATE),
            "server_error": oa_error("InternalServerError", 500, "api_error", AN_500),
            // Anthropic's 529 keeps its status; the SDK reads any 5xx as a server error.
            "overloaded": oa_error("InternalServerError", 529, "api_error", "Overloaded"),
            "broken_stream": oa_broken("overloaded_error", "Overloaded"),
        }),
    );
}

#[tokio::test]
async fn the_anthropic_sdk_through_an_anthropic_provider() {
    let mut scenarios = ANTHROPIC_SCENARIOS.to_vec();
    scenarios.extend(["overloaded", "thinking"]);
    let got = run(Client::Anthropic, "anthropic", &scenarios).await;
    let mut events = AN_TOOL_EVENTS.to_vec();
    events.push("text");
    events.sort_unstable();
    let thinking =
        json!({"type": "thinking", "thinking": "thinking about why?", "signature": SIGNATURE});
    check(
        &got,
        anthropic_expected("toolu_mock1", Some("Let me check."), &events),
        json!({
            "rate_limited": an_error("RateLimitError", 429, "rate_limit_error", AN_RATE),
            "server_error": an_error("InternalServerError", 500, "api_error", AN_500),
            "overloaded": an_error("OverloadedError", 529, "overloaded_error", "Overloaded"),
            "broken_stream": an_broken("overloaded_error", "Overloaded"),
            "thinking": {
                "model": "claude-mock-0001", "streamed_text": "echo: why?",
                "content": [thinking, {"type": "text", "text": "echo: why?"}],
                "stop_reason": "end_turn", "usage": an_usage(4, 2),
            },
        }),
    );
}

#[tokio::test]
async fn the_anthropic_sdk_through_an_openai_provider() {
    let got = run(Client::Anthropic, "openai", ANTHROPIC_SCENARIOS).await;
    check(
        &got,
        anthropic_expected("call_mock1", None, AN_TOOL_EVENTS),
        json!({
            "rate_limited": an_error("RateLimitError", 429, "rate_limit_error", OA_RATE),
            "server_error": an_error("InternalServerError", 500, "api_error", OA_500),
            "broken_stream": an_broken("api_error", DROPPED),
        }),
    );
}

const API_SCENARIOS: &[&str] = &[
    "models",
    "missing_model",
    "embeddings",
    "embeddings_float",
    "embeddings_tokens",
];

/// What the `openai` SDK reads of the model list and embeddings through
/// `provider` configured with `model`: `usage` is the provider's (the
/// OpenAI mock's characters) or strait's count (Gemini's none).
fn api_expected(model: &str, owner: &str, answering: &str, usage: (u64, u64)) -> Value {
    let listed = json!({"id": model, "object": "model", "created": 0, "owned_by": owner});
    let missing = json!({"message": "The model 'no-such-model' does not exist",
                         "type": "invalid_request_error", "param": "model",
                         "code": "model_not_found"});
    let vectors = |v: Value, usage: u64| json!({"model": answering, "vectors": v, "usage": {"prompt": usage, "total": usage}});
    json!({
        "models": {"list": [listed], "one": listed},
        "missing_model": {"error": {"class": "NotFoundError", "status": 404,
                                    "retry_after": null, "body": missing}},
        // The SDK asks for base64 unless told otherwise and decodes it.
        "embeddings": vectors(json!([[5.0, 0.0, 0.5], [8.0, 1.0, 0.5]]), usage.0),
        "embeddings_float": vectors(json!([[5.0, 0.0, 0.5, 0.5]]), usage.1),
    })
}

#[tokio::test]
async fn the_openai_sdk_lists_models_and_embeds_through_openai() {
    let more = json!({"options": {"model": "text-embedding-3-small"}});
    let got = run_with(Client::OpenAiApi, "openai", more, API_SCENARIOS).await;
    let tokens = json!({"model": "text-embedding-3-small-0001", "vectors": [[3.0, 0.0, 0.5]],
                        "usage": {"prompt": 3, "total": 3}});
    check(
        &got,
        api_expected(
            "text-embedding-3-small",
            "openai",
            "text-embedding-3-small-0001",
            (13, 5),
        ),
        json!({"embeddings_tokens": tokens}),
    );
}

#[tokio::test]
async fn the_openai_sdk_lists_models_and_embeds_through_gemini() {
    let more = json!({"options": {"model": "gemini-embedding-001"}});
    let got = run_with(Client::OpenAiApi, "gemini", more, API_SCENARIOS).await;
    let refused = json!({"message": "provider \"gemini\" embeds text only: `input` cannot be token ids",
                         "type": "invalid_request_error", "param": null, "code": null});
    check(
        &got,
        // o200k: "hello" 1, "hi there" 2.
        api_expected(
            "gemini-embedding-001",
            "gemini",
            "gemini-embedding-001",
            (3, 1),
        ),
        json!({"embeddings_tokens": {"error": {"class": "BadRequestError", "status": 400,
                                               "retry_after": null, "body": refused}}}),
    );
}
