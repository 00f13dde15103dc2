//! A mock LLM provider speaking OpenAI's chat-completions wire format on
//! loopback (the only thing the LLM tests mock: the outside world). It
//! records every request and answers according to the requested model:
//!
//! | model              | answer                                                  |
//! |--------------------|---------------------------------------------------------|
//! | `fail-429`         | 429, `Retry-After: 7`, OpenAI's error body               |
//! | `fail-500`         | 500 with an error body                                   |
//! | `break-mid-stream` | a stream that drops the connection after its first word |
//! | `tool-caller`      | a call of `get_weather` with `{"city":"Paris"}` (`finish_reason: tool_calls`), unless the last message is a tool result |
//! | `slow-<ms>`        | the usual answer, its first byte `<ms>` milliseconds late |
//! | anything else      | `echo: <last input text>`, streamed word by word 10 ms apart when asked |
//!
//! The last input text is that of the last user message, or of a tool
//! result that comes after it. An answer longer than `max_completion_tokens`
//! (or `max_tokens`) words is cut there, with `finish_reason: length`.
//!
//! Usage: `prompt_tokens` = characters of the last input text,
//! `completion_tokens` = words of the answer ([`TOOL_CALL_TOKENS`] for a
//! tool call); in a stream only when `stream_options.include_usage` is set
//! (as OpenAI does).
//!
//! `POST /api/chat` speaks Ollama's native format instead
//! ([`super::mock_ollama`]), `POST /v1/messages` Anthropic's
//! ([`super::mock_anthropic`]), and paths under `/v1beta/models/` Gemini's
//! ([`super::mock_gemini`]). `GET /health` answers 200, or 503 after
//! [`MockLlm::set_healthy`]`(false)`; health probes are not recorded.
//!
//! Paths ending in `/embeddings` answer OpenAI's embeddings (the failing
//! and slow models above apply too; [`super::mock_embeddings`]).
//!
//! Azure OpenAI's deployment paths
//! (`/openai/deployments/<deployment>/chat/completions`, `…/embeddings`) answer like
//! Azure: 401 without an `api-key` header, 404 without `api-version`, the
//! deployment as the model when the body names none, and Azure's
//! `prompt_filter_results` (a leading chunk with empty id and model when
//! streamed) and `content_filter_results` around the answer.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub(super) type MockBody = BoxBody<Bytes, std::io::Error>;

/// The completion tokens the mocks report for a tool call.
pub const TOOL_CALL_TOKENS: u64 = 12;

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path and query.
    pub uri: String,
    /// Headers (lower-case names).
    pub headers: http::HeaderMap,
    /// The JSON body.
    pub body: Value,
}

/// A running mock provider; stops when dropped.
pub struct MockLlm {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    healthy: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockLlm {
    /// Start on a free loopback port.
    pub async fn start() -> MockLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock LLM");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let healthy = Arc::new(AtomicBool::new(true));
        let health = healthy.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let rec = rec.clone();
                let health = health.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(req, rec.clone(), health.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockLlm {
            port,
            received,
            healthy,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Make `GET /health` answer 200 (`true`) or 503.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

pub(super) fn full(status: StatusCode, body: Value) -> Response<MockBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("ct"));
    r
}

/// The text of the last user message, or of the tool result after it.
fn last_input_text(body: &Value) -> String {
    match body["messages"].as_array().and_then(|m| m.last()) {
        Some(m) if m["role"] == "tool" => m["content"].as_str().unwrap_or_default().to_string(),
        _ => last_user_text(body),
    }
}

/// `words` cut to the request's token limit; whether they were cut.
pub(super) fn limit_words(words: &mut Vec<String>, limit: Option<u64>) -> bool {
    match limit.and_then(|n| usize::try_from(n).ok()) {
        Some(n) if n < words.len() => {
            words.truncate(n);
            true
        }
        _ => false,
    }
}

pub(super) fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rfind(|m| m["role"] == "user")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

async fn handle(
    req: Request<Incoming>,
    received: Arc<Mutex<Vec<Received>>>,
    healthy: Arc<AtomicBool>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = req.into_parts();
    if parts.uri.path() == "/health" {
        let up = healthy.load(Ordering::Relaxed);
        let status = if up {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Ok(full(status, json!({"healthy": up})));
    }
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    received.lock().expect("lock").push(Received {
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    if parts.uri.path() == "/api/chat" {
        return Ok(super::mock_ollama::answer(&body));
    }
    if parts.uri.path() == "/v1/messages" {
        return Ok(super::mock_anthropic::answer(&body));
    }
    if parts.uri.path().starts_with("/v1beta/models/") {
        return Ok(super::mock_gemini::answer(&parts.uri, &body));
    }
    let deployment = parts
        .uri
        .path()
        .strip_prefix("/openai/deployments/")
        .and_then(|rest| rest.split_once('/'))
        .map(|(d, _)| d.to_string());
    if deployment.is_some() {
        if !parts.headers.contains_key("api-key") {
            return Ok(full(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}),
            ));
        }
        if !parts
            .uri
            .query()
            .unwrap_or_default()
            .contains("api-version=")
        {
            return Ok(full(
                StatusCode::NOT_FOUND,
                json!({"error": {"code": "404", "message": "Resource not found"}}),
            ));
        }
    }
    let azure = deployment.is_some();
    let model = match (body["model"].as_str(), deployment) {
        (Some(m), _) => m.to_string(),
        (None, Some(d)) => d,
        (None, None) => String::new(),
    };
    match model.as_str() {
        "fail-429" => {
            let mut r = full(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
            );
            r.headers_mut()
                .insert("retry-after", "7".parse().expect("ra"));
            return Ok(r);
        }
        "fail-500" => {
            return Ok(full(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"message": "The server had an error", "type": "server_error"}}),
            ))
        }
        slow if slow.starts_with("slow-") => {
            let ms = slow["slow-".len()..].parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        _ => {}
    }
    if parts.uri.path().ends_with("/embeddings") {
        return Ok(super::mock_embeddings::openai(&body, &model));
    }
    let text = last_input_text(&body);
    let after_tool = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "tool");
    let calls_tool = model == "tool-caller" && !after_tool;
    let mut words: Vec<String> = format!("echo: {text}")
        .split(' ')
        .map(str::to_string)
        .collect();
    let cut = limit_words(
        &mut words,
        body["max_completion_tokens"]
            .as_u64()
            .or(body["max_tokens"].as_u64()),
    );
    let answer = words.join(" ");
    let completion = if calls_tool {
        TOOL_CALL_TOKENS as usize
    } else {
        words.len()
    };
    let usage = json!({
        "prompt_tokens": text.chars().count(),
        "completion_tokens": completion,
        "total_tokens": text.chars().count() + completion,
    });
    let finish = if calls_tool {
        "tool_calls"
    } else if cut {
        "length"
    } else {
        "stop"
    };
    let prompt_filter = json!([{"prompt_index": 0, "content_filter_results": {
        "hate": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"}}}]);
    if body["stream"] != true {
        let message = if calls_tool {
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_mock1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
        } else {
            json!({"role": "assistant", "content": answer})
        };
        let mut v = json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000,
            "model": format!("{model}-0001"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        });
        if azure {
            v["prompt_filter_results"] = prompt_filter;
            v["choices"][0]["content_filter_results"] = json!({});
        }
        return Ok(full(StatusCode::OK, v));
    }
    let include_usage = body["stream_options"]["include_usage"] == true;
    let breaks = model == "break-mid-stream";
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value| {
            let c = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
                           "created": 1_700_000_000, "model": format!("{model}-0001"),
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            Ok(Frame::data(Bytes::from(format!("data: {c}\n\n"))))
        };
        if azure {
            let c = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                           "prompt_filter_results": prompt_filter});
            let _ = tx
                .send(Ok(Frame::data(Bytes::from(format!("data: {c}\n\n")))))
                .await;
        }
        if calls_tool {
            let call = json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0,
                "id": "call_mock1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]});
            let _ = tx.send(chunk(call, Value::Null)).await;
            for piece in ["{\"city\":", "\"Paris\"}"] {
                let args = json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
                let _ = tx.send(chunk(args, Value::Null)).await;
            }
        } else {
            let _ = tx
                .send(chunk(
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                ))
                .await;
            for (i, w) in words.iter().enumerate() {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if breaks && i == 1 {
                    // After a pause, so that the first word is written out first.
                    let _ = tx
                        .send(Err(std::io::Error::other("connection reset")))
                        .await;
                    return;
                }
                let piece = if i == 0 { w.clone() } else { format!(" {w}") };
                let _ = tx.send(chunk(json!({"content": piece}), Value::Null)).await;
            }
        }
        let _ = tx.send(chunk(json!({}), json!(finish))).await;
        if include_usage {
            let c = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
                           "created": 1_700_000_000, "model": "m", "choices": [], "usage": usage});
            let _ = tx
                .send(Ok(Frame::data(Bytes::from(format!("data: {c}\n\n")))))
                .await;
        }
        let _ = tx
            .send(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n"))))
            .await;
    });
    let stream = tokio_stream_from(rx);
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("ct"));
    Ok(r)
}

pub(super) fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
