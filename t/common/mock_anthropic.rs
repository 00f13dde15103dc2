//! The Anthropic dialect of the mock LLM provider: `POST /v1/messages` in
//! Anthropic's Messages wire format, complete and streamed (named SSE
//! events: `message_start`, `content_block_start`/`_delta`/`_stop` with
//! `text_delta`, `thinking_delta`, `signature_delta` and `input_json_delta`,
//! `ping`, `message_delta` with the stop reason and usage, `message_stop`).
//!
//! | model              | answer                                                        |
//! |--------------------|---------------------------------------------------------------|
//! | `fail-429`         | 429, `Retry-After: 7`, `rate_limit_error`                      |
//! | `fail-529`         | 529 `overloaded_error`                                         |
//! | `fail-500`         | 500 `api_error`                                                |
//! | `break-mid-stream` | a stream that sends one word, then an `overloaded_error` event (as Anthropic reports a failure mid-stream) |
//! | `tool-caller`      | `Let me check.` and a `get_weather` call with `{"city": "Paris"}` (`stop_reason: tool_use`), unless the last user turn holds a tool result |
//! | anything else      | `echo: <last input text>`, streamed word by word 10 ms apart; a signed thinking block first when `thinking` is enabled |
//!
//! The last input text is the last user turn's text and tool results. An
//! answer longer than `max_tokens` words is cut there (`stop_reason:
//! max_tokens`). Usage: `input_tokens` = characters of the last input
//! text, `output_tokens` = words of the answer ([`TOOL_CALL_TOKENS`] for a
//! tool call); a stream reports them in `message_start` (1 output token
//! so far) and `message_delta` (the final output count), as Anthropic does.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};

use super::mock_llm::{full, limit_words, tokio_stream_from, MockBody, TOOL_CALL_TOKENS};

/// The signature the mock puts on its thinking blocks.
pub const SIGNATURE: &str = "sig-mock-0001";

/// What the model answers, block by block.
enum Block {
    Text(String),
    Thinking(String),
    ToolUse,
}

/// The answer to a `/v1/messages` request.
pub fn answer(body: &Value) -> Response<MockBody> {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let fail = |status: StatusCode, kind: &str, message: &str| {
        full(
            status,
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    };
    match model.as_str() {
        "fail-429" => {
            let mut r = fail(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            );
            r.headers_mut()
                .insert("retry-after", "7".parse().expect("ra"));
            return r;
        }
        "fail-529" => {
            let status = StatusCode::from_u16(529).expect("529");
            return fail(status, "overloaded_error", "Overloaded");
        }
        "fail-500" => {
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return fail(status, "api_error", "Internal server error");
        }
        _ => {}
    }
    let (text, answered_tool) = last_input(body);
    let mut words: Vec<String> = format!("echo: {text}")
        .split(' ')
        .map(str::to_string)
        .collect();
    let calls_tool = model == "tool-caller" && !answered_tool;
    let cut = !calls_tool && limit_words(&mut words, body["max_tokens"].as_u64());
    let mut blocks = Vec::new();
    if body["thinking"]["type"] == "enabled" {
        blocks.push(Block::Thinking(format!("thinking about {text}")));
    }
    if calls_tool {
        blocks.push(Block::Text("Let me check.".into()));
        blocks.push(Block::ToolUse);
    } else {
        blocks.push(Block::Text(words.join(" ")));
    }
    let stop_reason = if calls_tool {
        "tool_use"
    } else if cut {
        "max_tokens"
    } else {
        "end_turn"
    };
    let input_tokens = text.chars().count() as u64;
    let output_tokens = if calls_tool {
        TOOL_CALL_TOKENS
    } else {
        words.len() as u64
    };
    let reply_model = format!("{model}-0001");
    if body["stream"] != true {
        let content: Vec<Value> = blocks.iter().map(complete_block).collect();
        return full(
            StatusCode::OK,
            json!({
                "id": "msg_mock", "type": "message", "role": "assistant",
                "model": reply_model, "content": content,
                "stop_reason": stop_reason, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": output_tokens},
            }),
        );
    }
    let breaks = model == "break-mid-stream";
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let send = |name: &'static str, data: Value| {
            let tx = tx.clone();
            async move {
                let event = format!("event: {name}\ndata: {data}\n\n");
                let _ = tx.send(Ok(Frame::data(Bytes::from(event)))).await;
            }
        };
        send(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": "msg_mock", "type": "message", "role": "assistant", "model": reply_model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        )
        .await;
        send("ping", json!({"type": "ping"})).await;
        for (index, block) in blocks.iter().enumerate() {
            let start = match block {
                Block::Text(_) => json!({"type": "text", "text": ""}),
                Block::Thinking(_) => json!({"type": "thinking", "thinking": "", "signature": ""}),
                Block::ToolUse => json!({"type": "tool_use", "id": "toolu_mock1",
                                         "name": "get_weather", "input": {}}),
            };
            send(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            )
            .await;
            let deltas: Vec<Value> = match block {
                Block::Text(t) => t
                    .split(' ')
                    .enumerate()
                    .map(|(i, w)| {
                        let piece = if i == 0 {
                            w.to_string()
                        } else {
                            format!(" {w}")
                        };
                        json!({"type": "text_delta", "text": piece})
                    })
                    .collect(),
                Block::Thinking(t) => vec![
                    json!({"type": "thinking_delta", "thinking": t}),
                    json!({"type": "signature_delta", "signature": SIGNATURE}),
                ],
                Block::ToolUse => ["", "{\"city\": ", "\"Paris\"}"]
                    .iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect(),
            };
            for (i, delta) in deltas.into_iter().enumerate() {
                if breaks && i == 1 {
                    let error = json!({"type": "error",
                                       "error": {"type": "overloaded_error", "message": "Overloaded"}});
                    send("error", error).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                send(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                )
                .await;
            }
            send(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            )
            .await;
        }
        send(
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                   "usage": {"output_tokens": output_tokens}}),
        )
        .await;
        send("message_stop", json!({"type": "message_stop"})).await;
    });
    let mut r = Response::new(StreamBody::new(tokio_stream_from(rx)).boxed());
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("ct"));
    r
}

/// A block of a complete (non-streamed) message.
fn complete_block(block: &Block) -> Value {
    match block {
        Block::Text(t) => json!({"type": "text", "text": t}),
        Block::Thinking(t) => json!({"type": "thinking", "thinking": t, "signature": SIGNATURE}),
        Block::ToolUse => json!({"type": "tool_use", "id": "toolu_mock1", "name": "get_weather",
                                 "input": {"city": "Paris"}}),
    }
}

/// The last user turn's text and tool results joined by spaces, and
/// whether it holds a tool result.
fn last_input(body: &Value) -> (String, bool) {
    let Some(turn) = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rfind(|m| m["role"] == "user")
    else {
        return (String::new(), false);
    };
    let blocks = match &turn["content"] {
        Value::String(s) => return (s.clone(), false),
        Value::Array(blocks) => blocks,
        _ => return (String::new(), false),
    };
    let mut texts = Vec::new();
    let mut tool_result = false;
    for b in blocks {
        match b["type"].as_str() {
            Some("text") => texts.push(b["text"].as_str().unwrap_or_default().to_string()),
            Some("tool_result") => {
                tool_result = true;
                match &b["content"] {
                    Value::String(s) => texts.push(s.clone()),
                    Value::Array(parts) => texts.extend(
                        parts
                            .iter()
                            .filter_map(|p| p["text"].as_str().map(str::to_string)),
                    ),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    (texts.join(" "), tool_result)
}
