//! The Ollama dialect of the mock LLM provider: `POST /api/chat` in
//! Ollama's native format (messages with base64 `images`, `options`,
//! NDJSON streams ending in a `done` line with the token counts).
//!
//! | model         | answer                                                       |
//! |---------------|--------------------------------------------------------------|
//! | `missing`     | 404 `{"error": "model \"missing\" not found, …"}`             |
//! | `tool-caller` | a call of `get_weather` with `{"city": "Paris"}`              |
//! | `fail-mid-stream` | one streamed line, then `{"error": "…"}` (as Ollama reports a failure mid-stream) |
//! | anything else | `echo: <last user text>` (plus `[n images]`), word by word 10 ms apart when streamed; `thinking` when `think` is set |
//!
//! `prompt_eval_count` = characters of the last user text, `eval_count` =
//! words of the answer. Streamed lines are written in two frames each, cut
//! mid-line, as a network may deliver them.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};

use super::mock_llm::{full, last_user_text, tokio_stream_from, MockBody};

const CREATED_AT: &str = "2026-11-22T10:00:00.000000Z";

/// The answer to an `/api/chat` request.
pub fn answer(body: &Value) -> Response<MockBody> {
    let model = body["model"].as_str().unwrap_or("").to_string();
    if model == "missing" {
        return full(
            StatusCode::NOT_FOUND,
            json!({"error": format!("model \"{model}\" not found, try pulling it first")}),
        );
    }
    let text = last_user_text(body);
    let images = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["images"].as_array())
        .map(Vec::len)
        .sum::<usize>();
    let mut answer = format!("echo: {text}");
    if images > 0 {
        answer.push_str(&format!(" [{images} images]"));
    }
    let thinking = (body["think"] != Value::Null && body["think"] != false)
        .then(|| format!("thinking about {text}"));
    let tool_calls = (model == "tool-caller")
        .then(|| json!([{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]));
    let words: Vec<String> = answer.split(' ').map(str::to_string).collect();
    let counts = |v: &mut Value| {
        v["prompt_eval_count"] = json!(text.chars().count());
        v["eval_count"] = json!(words.len());
        v["total_duration"] = json!(1_000_000);
    };
    if body["stream"] == false {
        let mut message = json!({"role": "assistant", "content": if tool_calls.is_some() { String::new() } else { answer.clone() }});
        if let Some(t) = &thinking {
            message["thinking"] = json!(t);
        }
        if let Some(c) = &tool_calls {
            message["tool_calls"] = c.clone();
        }
        let mut v = json!({"model": model, "created_at": CREATED_AT, "message": message,
                           "done": true, "done_reason": "stop"});
        counts(&mut v);
        return full(StatusCode::OK, v);
    }
    let fails = model == "fail-mid-stream";
    let mut last = json!({"model": model, "created_at": CREATED_AT,
                          "message": {"role": "assistant", "content": ""},
                          "done": true, "done_reason": "stop"});
    counts(&mut last);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let send = |text: String| {
            let tx = tx.clone();
            async move {
                let cut = text.len() / 2;
                for piece in [&text[..cut], &text[cut..]] {
                    let _ = tx
                        .send(Ok(Frame::data(Bytes::from(piece.to_string()))))
                        .await;
                }
            }
        };
        let line = |message: Value| {
            let v = json!({"model": model, "created_at": CREATED_AT, "message": message, "done": false});
            format!("{v}\n")
        };
        if let Some(t) = thinking {
            send(line(
                json!({"role": "assistant", "content": "", "thinking": t}),
            ))
            .await;
        }
        if let Some(c) = tool_calls {
            send(line(
                json!({"role": "assistant", "content": "", "tool_calls": c}),
            ))
            .await;
        } else {
            for (i, w) in words.iter().enumerate() {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let piece = if i == 0 { w.clone() } else { format!(" {w}") };
                send(line(json!({"role": "assistant", "content": piece}))).await;
                if fails {
                    let error =
                        json!({"error": "an error was encountered while running the model"});
                    send(format!("{error}\n")).await;
                    return;
                }
            }
        }
        send(format!("{last}\n")).await;
    });
    let mut r = Response::new(StreamBody::new(tokio_stream_from(rx)).boxed());
    r.headers_mut()
        .insert("content-type", "application/x-ndjson".parse().expect("ct"));
    r
}
