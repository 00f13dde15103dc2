//! OpenAI chat completions as a client protocol (`POST
//! /v1/chat/completions`): requests decoded into the canonical model,
//! answers, errors and streams written the way OpenAI's API writes them
//! (so the official SDKs read them).

mod answer;

use std::borrow::Cow;

use bytes::BytesMut;
use serde_json::{json, Map, Value};

use self::answer::Field;
use crate::llm::model::{Message, Part, Role, Tool, ToolChoice, Usage};
use crate::llm::openai_wire::finish_reason;
use crate::llm::sse::{write_event, write_json_event};
use crate::llm::{ChatRequest, ChatResponse, ClientProtocol, LlmError, StreamEncoder, StreamEvent};

/// OpenAI chat completions.
pub struct OpenAiChat;

/// Request fields the canonical model holds; the rest go to `extra`.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "response_format",
    "reasoning_effort",
];

impl ClientProtocol for OpenAiChat {
    fn name(&self) -> &'static str {
        "openai-chat"
    }

    fn decode_object(&self, obj: Map<String, Value>) -> Result<ChatRequest, LlmError> {
        decode(obj)
    }

    fn encode_response(&self, resp: &ChatResponse) -> Vec<u8> {
        let mut text = Vec::new();
        let mut reasoning = Vec::new();
        let mut calls = Vec::new();
        for part in &resp.content {
            match part {
                Part::Text { text: t, .. } => text.push(t.as_str()),
                Part::Thinking { text: t, .. } => reasoning.push(t.as_str()),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                } => calls.push(answer::ToolCall {
                    index: None,
                    id: Some(id),
                    kind: Some("function"),
                    function: answer::Function {
                        name: Some(name),
                        arguments,
                    },
                }),
                _ => {}
            }
        }
        let (text, reasoning) = (concat(&text), concat(&reasoning));
        let choices = [answer::Choice {
            message: Some(answer::Delta {
                role: Some("assistant"),
                content: if text.is_empty() && !calls.is_empty() {
                    Field::Null
                } else {
                    Field::Set(&text)
                },
                refusal: Field::Null,
                reasoning_content: (!reasoning.is_empty()).then_some(&*reasoning),
                tool_calls: &calls,
            }),
            finish_reason: Some(resp.stop_reason.as_ref().map_or("stop", finish_reason)),
            ..answer::Choice::default()
        }];
        let body = answer::Completion {
            id: &resp.id,
            object: "chat.completion",
            created: resp.created,
            model: &resp.model,
            choices: &choices,
            usage: resp
                .usage
                .as_ref()
                .map_or(Field::Omitted, |u| Field::Set(answer::WireUsage::from(u))),
        };
        // These borrowed structs hold no maps and no floats: writing cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn encode_error(&self, err: &LlmError) -> Value {
        json!({"error": {
            "message": err.message,
            "type": err.kind.openai_type(),
            "param": null,
            "code": null,
        }})
    }

    fn stream_encoder(&self, req: &ChatRequest, created: u64) -> Box<dyn StreamEncoder> {
        Box::new(ChunkEncoder {
            id: String::new(),
            model: req.model.clone(),
            created,
            include_usage: req.include_usage,
            started: false,
            usage: None,
            failed: false,
        })
    }
}

fn decode(mut obj: Map<String, Value>) -> Result<ChatRequest, LlmError> {
    let mut req = ChatRequest {
        model: match obj.get("model") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(m)) => m.clone(),
            Some(_) => return Err(LlmError::invalid("`model` must be a string")),
        },
        ..ChatRequest::default()
    };
    let Some(Value::Array(messages)) = obj.get("messages") else {
        return Err(LlmError::invalid("`messages` must be an array"));
    };
    for (i, m) in messages.iter().enumerate() {
        req.messages
            .push(message(m).map_err(|e| LlmError::invalid(format!("messages[{i}]: {e}")))?);
    }
    req.max_tokens = uint(&obj, "max_completion_tokens")?.or(uint(&obj, "max_tokens")?);
    req.temperature = float(&obj, "temperature")?;
    req.top_p = float(&obj, "top_p")?;
    req.stop = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| LlmError::invalid("`stop` must be a string or an array of strings"))?,
        Some(_) => {
            return Err(LlmError::invalid(
                "`stop` must be a string or an array of strings",
            ))
        }
    };
    req.stream = flag(&obj, "stream")?.unwrap_or(false);
    req.include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(tools) = obj.get("tools").filter(|t| !t.is_null()) {
        let Value::Array(tools) = tools else {
            return Err(LlmError::invalid("`tools` must be an array"));
        };
        for (i, t) in tools.iter().enumerate() {
            req.tools
                .push(tool(t).map_err(|e| LlmError::invalid(format!("tools[{i}]: {e}")))?);
        }
    }
    req.tool_choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(LlmError::invalid(format!(
                    "`tool_choice`: unknown value {other:?}"
                )))
            }
        }),
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => Some(ToolChoice::Tool(name.to_string())),
            None => return Err(LlmError::invalid("`tool_choice` needs `function.name`")),
        },
    };
    req.parallel_tool_calls = flag(&obj, "parallel_tool_calls")?;
    req.user = string(&obj, "user")?;
    req.response_format = obj.get("response_format").filter(|v| !v.is_null()).cloned();
    req.reasoning_effort = string(&obj, "reasoning_effort")?;
    for key in KNOWN {
        obj.remove(*key);
    }
    req.extra = obj;
    Ok(req)
}

fn message(m: &Value) -> Result<Message, String> {
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .ok_or("`role` is missing")?;
    let name = m.get("name").and_then(Value::as_str).map(str::to_string);
    let role = match role {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => {
            let id = m
                .get("tool_call_id")
                .and_then(Value::as_str)
                .ok_or("a tool message needs `tool_call_id`")?;
            let content = content_parts(m.get("content"))?
                .into_iter()
                .filter_map(|p| match p {
                    Part::Text { text, .. } => Some(text),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("");
            return Ok(Message {
                role: Role::Tool,
                content: vec![Part::ToolResult {
                    tool_call_id: id.to_string(),
                    content,
                    is_error: false,
                }],
                name,
            });
        }
        other => return Err(format!("unsupported role {other:?}")),
    };
    let mut content = content_parts(m.get("content"))?;
    if role == Role::Assistant {
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for (i, c) in calls.iter().enumerate() {
                let field = |p: &str| c.pointer(p).and_then(Value::as_str);
                let (Some(id), Some(fname)) = (field("/id"), field("/function/name")) else {
                    return Err(format!("tool_calls[{i}] needs `id` and `function.name`"));
                };
                content.push(Part::ToolCall {
                    id: id.to_string(),
                    name: fname.to_string(),
                    arguments: field("/function/arguments").unwrap_or("{}").to_string(),
                });
            }
        }
    }
    Ok(Message {
        role,
        content,
        name,
    })
}

fn content_parts(content: Option<&Value>) -> Result<Vec<Part>, String> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::text(s.clone())]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| match p.get("type").and_then(Value::as_str) {
                Some("text") => p
                    .get("text")
                    .and_then(Value::as_str)
                    .map(Part::text)
                    .ok_or(format!("content[{i}]: a text part needs `text`")),
                Some("image_url") => {
                    let url =
                        p.pointer("/image_url/url")
                            .and_then(Value::as_str)
                            .ok_or(format!(
                                "content[{i}]: an image_url part needs `image_url.url`"
                            ))?;
                    Ok(Part::Image {
                        url: url.to_string(),
                        detail: p
                            .pointer("/image_url/detail")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                }
                Some(other) => Err(format!(
                    "content[{i}]: part type {other:?} is not supported"
                )),
                None => Err(format!("content[{i}]: a part needs `type`")),
            })
            .collect(),
        Some(_) => Err("`content` must be a string, an array of parts or null".into()),
    }
}

fn tool(t: &Value) -> Result<Tool, String> {
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err("only `type: function` tools are supported".into());
    }
    let f = t.get("function").ok_or("`function` is missing")?;
    Ok(Tool {
        name: f
            .get("name")
            .and_then(Value::as_str)
            .ok_or("`function.name` is missing")?
            .to_string(),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        parameters: f
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    })
}

fn uint(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, LlmError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| LlmError::invalid(format!("`{key}` must be a non-negative integer"))),
    }
}

fn float(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, LlmError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| LlmError::invalid(format!("`{key}` must be a number"))),
    }
}

fn flag(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, LlmError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| LlmError::invalid(format!("`{key}` must be a boolean"))),
    }
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, LlmError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(LlmError::invalid(format!("`{key}` must be a string"))),
    }
}

/// Writes `chat.completion.chunk` events.
struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    usage: Option<Usage>,
    failed: bool,
}

impl ChunkEncoder {
    fn chunk(&self, delta: answer::Delta, finish: Option<&str>, out: &mut BytesMut) {
        let choices = [answer::Choice {
            delta: Some(delta),
            finish_reason: finish,
            ..answer::Choice::default()
        }];
        let c = answer::Completion {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: &choices,
            usage: if self.include_usage {
                Field::Null
            } else {
                Field::Omitted
            },
        };
        write_json_event(out, None, &c);
    }

    fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            let delta = answer::Delta {
                role: Some("assistant"),
                content: Field::Set(""),
                ..answer::Delta::default()
            };
            self.chunk(delta, None, out);
        }
    }
}

/// `pieces` as one string, borrowed when there is one piece.
fn concat<'a>(pieces: &[&'a str]) -> Cow<'a, str> {
    match pieces {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.concat()),
    }
}

impl StreamEncoder for ChunkEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        match event {
            // The role chunk waits for the first content: a turn that
            // opens with a tool call has `content: null` in it.
            StreamEvent::Start { id, model } => {
                self.id.clone_from(id);
                if !model.is_empty() {
                    self.model.clone_from(model);
                }
            }
            StreamEvent::Text { text } => {
                self.start(out);
                if !text.is_empty() {
                    let delta = answer::Delta {
                        content: Field::Set(text),
                        ..answer::Delta::default()
                    };
                    self.chunk(delta, None, out);
                }
            }
            StreamEvent::Thinking { text, .. } => {
                self.start(out);
                if !text.is_empty() {
                    let delta = answer::Delta {
                        reasoning_content: Some(text),
                        ..answer::Delta::default()
                    };
                    self.chunk(delta, None, out);
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let calls = [answer::ToolCall {
                    index: Some(*index),
                    id: Some(id),
                    kind: Some("function"),
                    function: answer::Function {
                        name: Some(name),
                        arguments: "",
                    },
                }];
                let mut delta = answer::Delta {
                    tool_calls: &calls,
                    ..answer::Delta::default()
                };
                if !self.started {
                    // As OpenAI writes it (its SDKs then assemble `content: None`).
                    self.started = true;
                    delta.role = Some("assistant");
                    delta.content = Field::Null;
                }
                self.chunk(delta, None, out);
            }
            StreamEvent::ToolCallArguments { index, arguments } => {
                self.start(out);
                let calls = [answer::ToolCall {
                    index: Some(*index),
                    function: answer::Function {
                        name: None,
                        arguments,
                    },
                    ..answer::ToolCall::default()
                }];
                let delta = answer::Delta {
                    tool_calls: &calls,
                    ..answer::Delta::default()
                };
                self.chunk(delta, None, out);
            }
            StreamEvent::Stop { reason } => {
                self.start(out);
                self.chunk(answer::Delta::default(), Some(finish_reason(reason)), out);
            }
            StreamEvent::Usage { usage } => self.usage = Some(*usage),
            StreamEvent::Error { kind, message } => {
                self.failed = true;
                let err = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
                write_json_event(out, None, &err);
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        if let (true, Some(u)) = (self.include_usage, &self.usage) {
            let c = answer::Completion {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: &[],
                usage: Field::Set(answer::WireUsage::from(u)),
            };
            write_json_event(out, None, &c);
        }
        write_event(out, None, "[DONE]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::StopReason;

    #[test]
    fn decode_keeps_unknown_fields_and_reads_both_token_limits() {
        let r = OpenAiChat
            .decode_request(
                br#"{"model":"m","messages":[{"role":"developer","content":"be brief"},
                {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],
                "max_tokens":5,"max_completion_tokens":7,"seed":3,"stream":true,"stream_options":{"include_usage":true}}"#,
            )
            .unwrap();
        assert_eq!(r.max_tokens, Some(7));
        assert_eq!(r.messages[0].role, Role::System);
        assert_eq!(r.messages[1].content.len(), 2);
        assert!(r.stream && r.include_usage);
        assert_eq!(r.extra.get("seed"), Some(&json!(3)));
        assert!(!r.extra.contains_key("stream_options"));
    }

    #[test]
    fn decode_errors_name_the_field() {
        for (body, expected) in [
            (r#"{"model":"m"}"#, "`messages` must be an array"),
            (
                r#"{"messages":[{"role":"robot","content":"x"}]}"#,
                "messages[0]: unsupported role \"robot\"",
            ),
            (
                r#"{"messages":[],"temperature":"hot"}"#,
                "`temperature` must be a number",
            ),
            (
                r#"{"messages":[{"role":"tool","content":"x"}]}"#,
                "messages[0]: a tool message needs `tool_call_id`",
            ),
            (r#"[1]"#, "the request body must be a JSON object"),
        ] {
            let err = OpenAiChat.decode_request(body.as_bytes()).unwrap_err();
            assert_eq!(err.status, 400);
            assert_eq!(err.message, expected, "{body}");
        }
    }

    #[test]
    fn an_error_ends_the_stream_without_done() {
        let req = ChatRequest::default();
        let mut enc = OpenAiChat.stream_encoder(&req, 1);
        let mut out = BytesMut::new();
        enc.encode(&StreamEvent::Text { text: "a".into() }, &mut out);
        enc.encode(
            &StreamEvent::Error {
                kind: "overloaded_error".into(),
                message: "busy".into(),
            },
            &mut out,
        );
        enc.encode(
            &StreamEvent::Stop {
                reason: StopReason::EndTurn,
            },
            &mut out,
        );
        enc.finish(&mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.contains("\"busy\""));
        assert!(!text.contains("[DONE]"));
        assert!(!text.contains("finish_reason\":\"stop"));
    }
}
