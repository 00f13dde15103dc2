//! Anthropic's Messages API (`POST /v1/messages`) as a client protocol:
//! Anthropic requests decode into the canonical model, canonical answers,
//! errors and streams (`stream.rs`) encode into Anthropic's shapes.
//!
//! Choices where the two shapes differ:
//! - The top-level `system` becomes one leading system message (a string
//!   as one text part, text blocks as one part each, `cache_control` kept).
//! - `tool_result` content given as text blocks is joined by newlines;
//!   images or documents inside a result, `document` blocks, server tools
//!   and file image sources have no canonical form and are refused with a
//!   400 naming the field. `cache_control` on tools and images is dropped.
//! - `thinking` other than `enabled`/`disabled` (e.g. `adaptive`) and every
//!   unknown top-level field go to `extra`, sent on to Anthropic providers.
//! - The `stop_sequence` that matched is not known: it is always `null`.

mod stream;

use serde_json::{json, Map, Value};

use crate::llm::model::{Message, Part, Role, Tool};
use crate::llm::provider::anthropic::wire::{self, WireUsage};
use crate::llm::{ChatRequest, ChatResponse, ClientProtocol, LlmError, StreamEncoder};

/// `POST /v1/messages`.
pub struct AnthropicMessages;

impl ClientProtocol for AnthropicMessages {
    fn name(&self) -> &'static str {
        "anthropic-messages"
    }

    fn decode_object(&self, obj: Map<String, Value>) -> Result<ChatRequest, LlmError> {
        decode(obj)
    }

    fn encode_response(&self, resp: &ChatResponse) -> Vec<u8> {
        let content: Vec<Value> = resp.content.iter().filter_map(response_block).collect();
        let body = json!({
            "id": resp.id,
            "type": "message",
            "role": "assistant",
            "model": resp.model,
            "content": content,
            "stop_reason": resp.stop_reason.as_ref().map(wire::stop_reason_to_wire),
            "stop_sequence": null,
            "usage": WireUsage::from_usage(&resp.usage.unwrap_or_default()).to_value(),
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn encode_error(&self, err: &LlmError) -> Value {
        json!({
            "type": "error",
            "error": {"type": err.kind.anthropic_type(), "message": err.message},
        })
    }

    fn stream_encoder(&self, req: &ChatRequest, _created: u64) -> Box<dyn StreamEncoder> {
        Box::new(stream::AnthropicSse::new(&req.model))
    }
}

/// The response block of a part (images and tool results never answer).
fn response_block(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text { text, .. } => json!({"type": "text", "text": text}),
        Part::Thinking { text, signature } => json!({
            "type": "thinking",
            "thinking": text,
            "signature": signature.as_deref().unwrap_or_default(),
        }),
        Part::RedactedThinking { data } => json!({"type": "redacted_thinking", "data": data}),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => json!({
            "type": "tool_use",
            "id": id,
            "name": name,
            "input": wire::tool_input(arguments).unwrap_or_else(|| json!({})),
        }),
        Part::Image { .. } | Part::ToolResult { .. } => return None,
    })
}

/// Decode a request object; the fields left over become `extra`.
fn decode(mut obj: Map<String, Value>) -> Result<ChatRequest, LlmError> {
    let mut req = ChatRequest {
        model: take_str(&mut obj, "model")?.unwrap_or_default(),
        ..ChatRequest::default()
    };
    if let Some(system) = take(&mut obj, "system") {
        req.messages.extend(system_message(&system)?);
    }
    match take(&mut obj, "messages") {
        Some(Value::Array(messages)) => {
            for (i, msg) in messages.iter().enumerate() {
                req.messages.push(message(msg, i)?);
            }
        }
        Some(_) => return Err(LlmError::invalid("`messages` must be an array")),
        None => return Err(LlmError::invalid("`messages` is missing")),
    }
    req.max_tokens = take_u64(&mut obj, "max_tokens")?;
    req.temperature = take_f64(&mut obj, "temperature")?;
    req.top_p = take_f64(&mut obj, "top_p")?;
    req.top_k = take_u64(&mut obj, "top_k")?;
    req.stop = take_stops(&mut obj)?;
    req.stream = take_bool(&mut obj, "stream")?.unwrap_or(false);
    req.tools = take_tools(&mut obj)?;
    if let Some(choice) = take(&mut obj, "tool_choice") {
        let (choice, parallel) = wire::tool_choice_from_wire(&choice).map_err(LlmError::invalid)?;
        req.tool_choice = Some(choice);
        req.parallel_tool_calls = parallel;
    }
    if let Some(metadata) = take(&mut obj, "metadata") {
        req.user = user_id(&metadata)?;
    }
    if let Some(thinking) = take(&mut obj, "thinking") {
        match thinking_budget(&thinking)? {
            Thinking::Budget(budget) => req.thinking_budget = Some(budget),
            Thinking::Disabled => {}
            Thinking::Other => {
                obj.insert("thinking".into(), thinking);
            }
        }
    }
    req.extra = obj;
    Ok(req)
}

/// A field's value; `null` counts as absent.
fn take(obj: &mut Map<String, Value>, field: &str) -> Option<Value> {
    obj.remove(field).filter(|v| !v.is_null())
}

fn take_str(obj: &mut Map<String, Value>, field: &str) -> Result<Option<String>, LlmError> {
    match take(obj, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(LlmError::invalid(format!("`{field}` must be a string"))),
    }
}

fn take_u64(obj: &mut Map<String, Value>, field: &str) -> Result<Option<u64>, LlmError> {
    take(obj, field)
        .map(|v| {
            v.as_u64().ok_or_else(|| {
                LlmError::invalid(format!("`{field}` must be a non-negative integer"))
            })
        })
        .transpose()
}

fn take_f64(obj: &mut Map<String, Value>, field: &str) -> Result<Option<f64>, LlmError> {
    take(obj, field)
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| LlmError::invalid(format!("`{field}` must be a number")))
        })
        .transpose()
}

fn take_bool(obj: &mut Map<String, Value>, field: &str) -> Result<Option<bool>, LlmError> {
    take(obj, field)
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| LlmError::invalid(format!("`{field}` must be a boolean")))
        })
        .transpose()
}

fn take_stops(obj: &mut Map<String, Value>) -> Result<Vec<String>, LlmError> {
    let Some(stops) = take(obj, "stop_sequences") else {
        return Ok(Vec::new());
    };
    let bad = || LlmError::invalid("`stop_sequences` must be an array of strings");
    stops
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|s| s.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

/// The top-level `system` as one system message (none when empty).
fn system_message(system: &Value) -> Result<Option<Message>, LlmError> {
    let content = match system {
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => vec![Part::text(s.as_str())],
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, block) in blocks.iter().enumerate() {
                match wire::part_from_block(block) {
                    Ok(part @ Part::Text { .. }) => parts.push(part),
                    Ok(_) => {
                        return Err(LlmError::invalid(format!(
                            "system[{i}]: only text blocks are allowed in `system`"
                        )))
                    }
                    Err(e) => return Err(LlmError::invalid(format!("system[{i}]: {e}"))),
                }
            }
            if parts.is_empty() {
                return Ok(None);
            }
            parts
        }
        _ => {
            return Err(LlmError::invalid(
                "`system` must be a string or an array of text blocks",
            ))
        }
    };
    Ok(Some(Message {
        role: Role::System,
        content,
        name: None,
    }))
}

/// `messages[i]`.
fn message(msg: &Value, i: usize) -> Result<Message, LlmError> {
    let role = match msg.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(other) => {
            return Err(LlmError::invalid(format!(
                "messages[{i}].role: unknown role \"{other}\" (user or assistant)"
            )))
        }
        None => {
            return Err(LlmError::invalid(format!(
                "messages[{i}].role is missing or not a string"
            )))
        }
    };
    let content = match msg.get("content") {
        Some(Value::String(text)) => vec![Part::text(text.as_str())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                let part = wire::part_from_block(block)
                    .map_err(|e| LlmError::invalid(format!("messages[{i}].content[{j}]: {e}")))?;
                parts.push(part);
            }
            parts
        }
        Some(_) => {
            return Err(LlmError::invalid(format!(
                "messages[{i}].content must be a string or an array of blocks"
            )))
        }
        None => {
            return Err(LlmError::invalid(format!(
                "messages[{i}].content is missing"
            )))
        }
    };
    Ok(Message {
        role,
        content,
        name: None,
    })
}

fn take_tools(obj: &mut Map<String, Value>) -> Result<Vec<Tool>, LlmError> {
    let Some(tools) = take(obj, "tools") else {
        return Ok(Vec::new());
    };
    let tools = tools
        .as_array()
        .ok_or_else(|| LlmError::invalid("`tools` must be an array"))?;
    tools.iter().enumerate().map(|(i, t)| tool(t, i)).collect()
}

/// `tools[i]`: a client tool (server tools have no canonical form).
fn tool(tool: &Value, i: usize) -> Result<Tool, LlmError> {
    if let Some(kind) = tool.get("type").and_then(Value::as_str) {
        if kind != "custom" {
            return Err(LlmError::invalid(format!(
                "tools[{i}]: tool type \"{kind}\" is not supported"
            )));
        }
    }
    let name = tool
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| LlmError::invalid(format!("tools[{i}].name is missing or not a string")))?;
    let description = match tool.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => {
            return Err(LlmError::invalid(format!(
                "tools[{i}].description must be a string"
            )))
        }
    };
    let parameters = match tool.get("input_schema") {
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(_) => {
            return Err(LlmError::invalid(format!(
                "tools[{i}].input_schema must be an object"
            )))
        }
        None => {
            return Err(LlmError::invalid(format!(
                "tools[{i}].input_schema is missing"
            )))
        }
    };
    Ok(Tool {
        name: name.to_string(),
        description,
        parameters,
    })
}

fn user_id(metadata: &Value) -> Result<Option<String>, LlmError> {
    let metadata = metadata
        .as_object()
        .ok_or_else(|| LlmError::invalid("`metadata` must be an object"))?;
    match metadata.get("user_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(_) => Err(LlmError::invalid("`metadata.user_id` must be a string")),
    }
}

/// What a `thinking` object asks for.
enum Thinking {
    Budget(u64),
    Disabled,
    /// A type the canonical model has no field for: kept in `extra`.
    Other,
}

fn thinking_budget(thinking: &Value) -> Result<Thinking, LlmError> {
    match thinking.get("type").and_then(Value::as_str) {
        Some("enabled") => thinking
            .get("budget_tokens")
            .and_then(Value::as_u64)
            .map(Thinking::Budget)
            .ok_or_else(|| {
                LlmError::invalid("`thinking.budget_tokens` must be a non-negative integer")
            }),
        Some("disabled") => Ok(Thinking::Disabled),
        Some(_) => Ok(Thinking::Other),
        None => Err(LlmError::invalid(
            "`thinking.type` is missing or not a string",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::{StopReason, ToolChoice, Usage};
    use crate::llm::ErrorKind;

    fn decode_json(v: Value) -> Result<ChatRequest, LlmError> {
        AnthropicMessages.decode_request(v.to_string().as_bytes())
    }

    fn invalid(v: Value) -> String {
        let err = decode_json(v).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        err.message
    }

    #[test]
    fn malformed_requests_name_the_field() {
        assert_eq!(invalid(json!({"model": "m"})), "`messages` is missing");
        assert_eq!(
            invalid(json!({"messages": {}})),
            "`messages` must be an array"
        );
        assert!(
            invalid(json!({"messages": [{"role": "system", "content": "x"}]}))
                .starts_with("messages[0].role: unknown role \"system\"")
        );
        assert_eq!(
            invalid(json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]})),
            "messages[0].content[0]: `type` is missing or not a string"
        );
        assert_eq!(
            invalid(json!({"messages": [{"role": "user", "content": [{"type": "document"}]}]})),
            "messages[0].content[0]: content block type \"document\" is not supported"
        );
        assert_eq!(
            invalid(json!({"messages": [], "max_tokens": "many"})),
            "`max_tokens` must be a non-negative integer"
        );
        assert_eq!(
            invalid(
                json!({"messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]})
            ),
            "tools[0]: tool type \"web_search_20250305\" is not supported"
        );
        assert_eq!(
            invalid(json!({"messages": [], "system": [{"type": "image"}]})),
            "system[0]: `source` is missing"
        );
        assert!(AnthropicMessages.decode_request(b"[]").is_err());
        assert!(AnthropicMessages.decode_request(b"{").is_err());
    }

    #[test]
    fn fields_map_and_the_rest_is_extra() {
        let req = decode_json(json!({
            "model": "claude", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "top_k": 5,
            "stop_sequences": ["END"], "stream": true,
            "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "f", "description": "does f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true},
            "metadata": {"user_id": "u-1"},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "service_tier": "auto"
        }))
        .unwrap();
        assert_eq!(req.messages[0], Message::text(Role::System, "be brief"));
        assert_eq!(req.messages[1], Message::text(Role::User, "hi"));
        assert_eq!((req.max_tokens, req.top_k), (Some(100), Some(5)));
        assert_eq!((req.temperature, req.top_p), (Some(0.5), Some(0.9)));
        assert_eq!(req.stop, vec!["END".to_string()]);
        assert!(req.stream);
        assert_eq!(req.tools[0].description.as_deref(), Some("does f"));
        assert_eq!(req.tool_choice, Some(ToolChoice::Tool("f".into())));
        assert_eq!(req.parallel_tool_calls, Some(false));
        assert_eq!(req.user.as_deref(), Some("u-1"));
        assert_eq!(req.thinking_budget, Some(1024));
        assert_eq!(Value::Object(req.extra), json!({"service_tier": "auto"}));
    }

    #[test]
    fn unknown_thinking_types_stay_extra() {
        let req = decode_json(json!({"messages": [], "thinking": {"type": "adaptive"}})).unwrap();
        assert_eq!(req.thinking_budget, None);
        assert_eq!(req.extra["thinking"], json!({"type": "adaptive"}));
        let off = decode_json(json!({"messages": [], "thinking": {"type": "disabled"}})).unwrap();
        assert!(off.extra.is_empty());
    }

    #[test]
    fn responses_encode_with_exclusive_usage() {
        let resp = ChatResponse {
            id: "chatcmpl-1".into(),
            model: "m".into(),
            content: vec![
                Part::Thinking {
                    text: "t".into(),
                    signature: None,
                },
                Part::text("hi"),
                Part::ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "not json".into(),
                },
            ],
            stop_reason: Some(StopReason::ContentFilter),
            usage: Some(Usage {
                prompt_tokens: 100,
                completion_tokens: 5,
                cached_tokens: 60,
                cache_creation_tokens: 30,
                ..Usage::default()
            }),
            created: 1,
        };
        assert_eq!(
            serde_json::from_slice::<Value>(&AnthropicMessages.encode_response(&resp)).unwrap(),
            json!({
                "id": "chatcmpl-1", "type": "message", "role": "assistant", "model": "m",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": ""},
                    {"type": "text", "text": "hi"},
                    {"type": "tool_use", "id": "c", "name": "f", "input": {}}
                ],
                "stop_reason": "refusal", "stop_sequence": null,
                "usage": {"input_tokens": 10, "cache_creation_input_tokens": 30,
                          "cache_read_input_tokens": 60, "output_tokens": 5}
            })
        );
    }

    #[test]
    fn errors_use_anthropic_types() {
        let err = LlmError {
            status: 504,
            kind: ErrorKind::Timeout,
            message: "slow".into(),
        };
        assert_eq!(
            AnthropicMessages.encode_error(&err),
            json!({"type": "error", "error": {"type": "timeout_error", "message": "slow"}})
        );
    }
}
