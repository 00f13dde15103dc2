//! A mock LLM provider speaking OpenAI's chat-completions wire format on
//! loopback (the only thing the LLM tests mock: the outside world). It
//! records every request and answers according to the requested model:
//!
//! | model              | answer                                                  |
//! |--------------------|---------------------------------------------------------|
//! | `fail-429`         | 429, `Retry-After: 7`, OpenAI's error body               |
//! | `fail-500`         | 500 with an error body                                   |
//! | `break-mid-stream` | a stream that stops after one chunk (connection dropped) |
//! | anything else      | `echo: <last user text>`, streamed word by word 10 ms apart when asked |
//!
//! Usage: `prompt_tokens` = characters of the last user text,
//! `completion_tokens` = words of the answer; in a stream only when
//! `stream_options.include_usage` is set (as OpenAI does).
//!
//! `POST /api/chat` speaks Ollama's native format instead
//! ([`super::mock_ollama`]), and paths under `/v1beta/models/` Gemini's
//! ([`super::mock_gemini`]).
//!
//! Azure OpenAI's deployment paths
//! (`/openai/deployments/<deployment>/chat/completions`) answer like
//! Azure: 401 without an `api-key` header, 404 without `api-version`, the
//! deployment as the model when the body names none, and Azure's
//! `prompt_filter_results` (a leading chunk with empty id and model when
//! streamed) and `content_filter_results` around the answer.

use std::convert::Infallible;
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
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let rec = rec.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(req, rec.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockLlm {
            port,
            received,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = req.into_parts();
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
        _ => {}
    }
    let text = last_user_text(&body);
    let answer = format!("echo: {text}");
    let words: Vec<String> = answer.split(' ').map(str::to_string).collect();
    let usage = json!({
        "prompt_tokens": text.chars().count(),
        "completion_tokens": words.len(),
        "total_tokens": text.chars().count() + words.len(),
    });
    let prompt_filter = json!([{"prompt_index": 0, "content_filter_results": {
        "hate": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"}}}]);
    if body["stream"] != true {
        let mut v = json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000,
            "model": format!("{model}-0001"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
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
        let _ = tx
            .send(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ))
            .await;
        for (i, w) in words.iter().enumerate() {
            if breaks && i == 1 {
                let _ = tx
                    .send(Err(std::io::Error::other("connection reset")))
                    .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            let piece = if i == 0 { w.clone() } else { format!(" {w}") };
            let _ = tx.send(chunk(json!({"content": piece}), Value::Null)).await;
        }
        let _ = tx.send(chunk(json!({}), json!("stop"))).await;
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
