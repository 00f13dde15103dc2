//! The Gemini dialect of the mock LLM provider: `POST
//! /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse` (and `:batchEmbedContents`,
//! [`super::mock_embeddings`]) in Gemini's native format (`contents`
//! of `parts`, answers as `candidates`, `usageMetadata`, Google's error
//! bodies, SSE chunks framed with `\r\n` as Google sends them).
//!
//! | model              | answer                                                         |
//! |--------------------|----------------------------------------------------------------|
//! | `fail-429`         | 429, `Retry-After: 7`, `RESOURCE_EXHAUSTED` with `RetryInfo` 7s |
//! | `fail-429-body`    | 429 with only `RetryInfo` `retryDelay: "12s"` (no header)       |
//! | `fail-500`         | 500 `INTERNAL`                                                  |
//! | `blocked`          | no candidates, `promptFeedback.blockReason: SAFETY`             |
//! | `break-mid-stream` | one streamed chunk, then the connection drops                   |
//! | `tool-caller`      | a call of `get_weather {"city": "Paris"}` with thought signature `c2lnLTE=`; once the last turn holds function responses, `result: <their responses as JSON>` |
//! | anything else      | `echo: <last user text>`, word by word 10 ms apart when streamed; a thought `thinking about <text>` first when `includeThoughts` is set |
//!
//! `promptTokenCount` = characters of the last user text,
//! `candidatesTokenCount` = words of the answer, `thoughtsTokenCount` =
//! words of the thought; streamed chunks carry the usage so far.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, Uri};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};

use super::mock_llm::{full, tokio_stream_from, MockBody};

/// The answer to a `/v1beta/models/…` request.
pub fn answer(uri: &Uri, body: &Value) -> Response<MockBody> {
    let target = uri.path().trim_start_matches("/v1beta/models/");
    let Some((model, method)) = target.split_once(':') else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method", None);
    };
    let model = model.to_string();
    let stream = method == "streamGenerateContent";
    let embeds = method == "batchEmbedContents";
    if stream && !uri.query().unwrap_or_default().contains("alt=sse") {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "the mock streams SSE only",
            None,
        );
    }
    match model.as_str() {
        "fail-429" => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                Some("7s"),
            );
            r.headers_mut()
                .insert("retry-after", "7".parse().expect("ra"));
            return r;
        }
        "fail-429-body" => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota.",
                Some("12s"),
            )
        }
        "fail-500" => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "An internal error has occurred.",
                None,
            )
        }
        _ => {}
    }
    if embeds {
        return super::mock_embeddings::gemini(body, &model);
    }
    let meta = |v: &mut Value| {
        v["modelVersion"] = json!(format!("{model}-001"));
        v["responseId"] = json!("mock-gemini-1");
    };
    let text = last_user_text(body);
    let prompt_tokens = text.chars().count();
    if model == "blocked" {
        let mut v = json!({"promptFeedback": {"blockReason": "SAFETY"},
                           "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}});
        meta(&mut v);
        return if stream {
            sse(vec![v], false)
        } else {
            full(StatusCode::OK, v)
        };
    }
    let responses = function_responses(body);
    let thought = (body.pointer("/generationConfig/thinkingConfig/includeThoughts")
        == Some(&json!(true)))
    .then(|| format!("thinking about {text}"));
    let thought_words = thought.as_ref().map_or(0, |t| t.split(' ').count());
    let mut head: Vec<Value> = thought
        .iter()
        .map(|t| json!({"text": t, "thought": true}))
        .collect();
    // The answer: a function call, or text (whole, or word by word when streamed).
    let (body_parts, answer_words): (Vec<Value>, usize) =
        if model == "tool-caller" && responses.is_empty() {
            let call = json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                              "thoughtSignature": "c2lnLTE="});
            (vec![call], 5)
        } else {
            let answer = if responses.is_empty() {
                format!("echo: {text}")
            } else {
                format!("result: {}", Value::Array(responses))
            };
            let words: Vec<&str> = answer.split(' ').collect();
            let parts = if stream {
                words
                .iter()
                .enumerate()
                .map(|(i, w)| json!({"text": if i == 0 { w.to_string() } else { format!(" {w}") }}))
                .collect()
            } else {
                vec![json!({"text": answer})]
            };
            (parts, words.len())
        };
    let usage = |candidates: usize, last: bool| {
        let mut u = json!({"promptTokenCount": prompt_tokens,
                           "totalTokenCount": prompt_tokens + candidates + thought_words});
        if candidates > 0 || last {
            u["candidatesTokenCount"] = json!(candidates);
        }
        if thought_words > 0 {
            u["thoughtsTokenCount"] = json!(thought_words);
        }
        u
    };
    head.extend(body_parts);
    let parts = head;
    if !stream {
        let mut v = json!({
            "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage(answer_words, true),
        });
        meta(&mut v);
        return full(StatusCode::OK, v);
    }
    let breaks = model == "break-mid-stream";
    let count = parts.len();
    let mut chunks = Vec::with_capacity(count);
    let mut words_so_far = 0;
    for (i, part) in parts.into_iter().enumerate() {
        if part.get("thought").is_none() && part.get("text").is_some() {
            words_so_far += 1;
        }
        let last = i + 1 == count;
        let candidates = if last { answer_words } else { words_so_far };
        let mut candidate = json!({"content": {"parts": [part], "role": "model"}, "index": 0});
        if last {
            candidate["finishReason"] = json!("STOP");
        }
        let mut v = json!({"candidates": [candidate], "usageMetadata": usage(candidates, last)});
        meta(&mut v);
        chunks.push(v);
    }
    sse(chunks, breaks)
}

/// Google's error body, with a `RetryInfo` when `retry` is given.
fn error(status: StatusCode, name: &str, message: &str, retry: Option<&str>) -> Response<MockBody> {
    let mut details = vec![json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                  "reason": name, "domain": "googleapis.com"})];
    if let Some(delay) = retry {
        details.push(
            json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}),
        );
    }
    full(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "status": name, "details": details}}),
    )
}

/// The text of the last `user` content.
fn last_user_text(body: &Value) -> String {
    body["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .rfind(|c| c["role"] == "user")
        .map(|c| {
            c["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The `functionResponse`s of the last content, when it is a user turn.
fn function_responses(body: &Value) -> Vec<Value> {
    let last = body["contents"].as_array().and_then(|c| c.last());
    last.filter(|c| c["role"] == "user")
        .and_then(|c| c["parts"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("functionResponse").cloned())
        .collect()
}

/// `chunks` as an SSE stream, 10 ms apart; with `breaks`, the connection
/// drops after the first one.
fn sse(chunks: Vec<Value>, breaks: bool) -> Response<MockBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        for (i, c) in chunks.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if breaks && i == 1 {
                let _ = tx
                    .send(Err(std::io::Error::other("connection reset")))
                    .await;
                return;
            }
            let frame = Frame::data(Bytes::from(format!("data: {c}\r\n\r\n")));
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(StreamBody::new(tokio_stream_from(rx)).boxed());
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("ct"));
    r
}
