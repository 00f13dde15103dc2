//! Anthropic's native Messages API (`POST /v1/messages`) as a provider:
//! canonical requests become Anthropic requests, Anthropic answers and
//! errors become canonical ones (the stream decoder is in `stream.rs`).
//!
//! Choices where the two shapes differ:
//! - Leading system messages become the top-level `system` (a string when
//!   it is one text without `cache_control`, else text blocks; their
//!   non-text parts are dropped). System messages later in the
//!   conversation become user text at their place, since Anthropic has no
//!   system role inside `messages`.
//! - `max_tokens` is required by Anthropic: 4096 when the client set none.
//! - Tool messages become user turns of `tool_result` blocks, and
//!   consecutive turns of one role are merged (Anthropic wants user and
//!   assistant to alternate). Blank text parts, thinking without a
//!   signature (Anthropic rejects it) and messages left empty are dropped.
//! - Whitespace-only stop sequences are dropped (Anthropic rejects them);
//!   `tool_choice` is dropped when no tools are sent.
//! - `response_format` and `reasoning_effort` have no Anthropic field and
//!   are dropped; the client's `extra` fields are sent only to Anthropic
//!   clients (they never replace a field set here).

mod stream;
pub(crate) mod wire;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

use crate::llm::model::{Message, Part, Role, Tool};
use crate::llm::{
    ChatRequest, ChatResponse, ErrorKind, LlmError, Provider, ProviderRequest, StreamDecoder,
};
use wire::{BlockError, WireUsage};

/// Anthropic's `max_tokens` when the client set none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The API version strait speaks.
const API_VERSION: &str = "2023-06-01";

/// `https://api.anthropic.com/v1/messages`.
pub struct Anthropic;

impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn default_base(&self) -> &str {
        "https://api.anthropic.com"
    }

    fn build_request(&self, req: &ChatRequest, client: &str) -> Result<ProviderRequest, LlmError> {
        let body = request_body(req, client == "anthropic-messages")?;
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| LlmError::invalid(format!("the request cannot be encoded: {e}")))?;
        Ok(ProviderRequest {
            path_and_query: "/v1/messages".to_string(),
            headers: vec![(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(API_VERSION),
            )],
            body: Bytes::from(body),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, LlmError> {
        let msg: Value = serde_json::from_slice(body)
            .map_err(|e| LlmError::provider(format!("the provider's answer is not JSON: {e}")))?;
        if msg.get("type").and_then(Value::as_str) == Some("error") {
            return Err(self.decode_error(502, body));
        }
        response_from_message(&msg)
    }

    fn decode_error(&self, status: u16, body: &[u8]) -> LlmError {
        let mut err = LlmError::from_provider(status, body);
        let kind = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            v.pointer("/error/type")
                .and_then(Value::as_str)
                .and_then(kind_of_error_type)
        });
        if let Some(kind) = kind {
            err.kind = kind;
        }
        err
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(stream::AnthropicStream::new())
    }
}

/// The error kind Anthropic's `error.type` names (it is more precise than
/// the status for e.g. `overloaded_error`).
fn kind_of_error_type(kind: &str) -> Option<ErrorKind> {
    Some(match kind {
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            ErrorKind::InvalidRequest
        }
        "authentication_error" | "permission_error" => ErrorKind::Authentication,
        "rate_limit_error" => ErrorKind::RateLimit,
        "overloaded_error" => ErrorKind::Overloaded,
        "api_error" => ErrorKind::Provider,
        "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

fn request_body(req: &ChatRequest, same_protocol: bool) -> Result<Map<String, Value>, LlmError> {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(req.model.clone()));
    let leading = req
        .messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    if let Some(system) = system_prompt(req.messages.iter().take(leading)) {
        body.insert("system".into(), system);
    }
    body.insert(
        "messages".into(),
        Value::Array(turns(&req.messages, leading)?),
    );
    body.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    insert_sampling(&mut body, req);
    insert_tools(&mut body, req);
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(budget) = req.thinking_budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if req.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    if same_protocol {
        for (key, value) in &req.extra {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Ok(body)
}

fn insert_sampling(body: &mut Map<String, Value>, req: &ChatRequest) {
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        body.insert("top_k".into(), json!(k));
    }
    let stops: Vec<&String> = req.stop.iter().filter(|s| !s.trim().is_empty()).collect();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
}

fn insert_tools(body: &mut Map<String, Value>, req: &ChatRequest) {
    if req.tools.is_empty() {
        return;
    }
    let tools: Vec<Value> = req.tools.iter().map(tool_definition).collect();
    body.insert("tools".into(), Value::Array(tools));
    if let Some(choice) =
        wire::tool_choice_to_wire(req.tool_choice.as_ref(), req.parallel_tool_calls)
    {
        body.insert("tool_choice".into(), choice);
    }
}

fn tool_definition(tool: &Tool) -> Value {
    let mut def = Map::new();
    def.insert("name".into(), Value::String(tool.name.clone()));
    if let Some(description) = &tool.description {
        def.insert("description".into(), Value::String(description.clone()));
    }
    def.insert("input_schema".into(), tool.parameters.clone());
    Value::Object(def)
}

/// The top-level `system` of the leading system messages' text.
fn system_prompt<'a>(messages: impl Iterator<Item = &'a Message>) -> Option<Value> {
    let blocks: Vec<Value> = messages
        .flat_map(|m| &m.content)
        .filter_map(|part| match part {
            Part::Text {
                text,
                cache_control,
            } if !text.trim().is_empty() => Some(text_block(text, cache_control.as_ref())),
            _ => None,
        })
        .collect();
    match blocks.as_slice() {
        [] => None,
        [Value::Object(only)] if !only.contains_key("cache_control") => only.get("text").cloned(),
        _ => Some(Value::Array(blocks)),
    }
}

fn text_block(text: &str, cache_control: Option<&Value>) -> Value {
    let mut block = Map::new();
    block.insert("type".into(), Value::String("text".into()));
    block.insert("text".into(), Value::String(text.to_string()));
    if let Some(cc) = cache_control {
        block.insert("cache_control".into(), cc.clone());
    }
    Value::Object(block)
}

/// The conversation after the leading system messages, as alternating
/// Anthropic turns.
fn turns(messages: &[Message], skip: usize) -> Result<Vec<Value>, LlmError> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, msg) in messages.iter().enumerate().skip(skip) {
        let role = match msg.role {
            Role::Assistant => "assistant",
            Role::User | Role::Tool | Role::System => "user",
        };
        let blocks = message_blocks(msg, i)?;
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": turn_content(blocks)}))
        .collect())
}

/// A turn of one plain text block is sent as a string.
fn turn_content(mut blocks: Vec<Value>) -> Value {
    if let [Value::Object(only)] = blocks.as_mut_slice() {
        if only.len() == 2 && only.get("type").and_then(Value::as_str) == Some("text") {
            if let Some(text) = only.remove("text") {
                return text;
            }
        }
    }
    Value::Array(blocks)
}

fn message_blocks(msg: &Message, index: usize) -> Result<Vec<Value>, LlmError> {
    let mut blocks = Vec::with_capacity(msg.content.len());
    for part in &msg.content {
        if msg.role == Role::System && !matches!(part, Part::Text { .. }) {
            continue;
        }
        if let Some(block) = part_block(part, index)? {
            blocks.push(block);
        }
    }
    Ok(blocks)
}

/// The request content block of a part, if Anthropic accepts one.
fn part_block(part: &Part, index: usize) -> Result<Option<Value>, LlmError> {
    Ok(Some(match part {
        Part::Text { text, .. } if text.trim().is_empty() => return Ok(None),
        Part::Text {
            text,
            cache_control,
        } => text_block(text, cache_control.as_ref()),
        Part::Image { url, .. } => {
            let source = wire::image_source(url)
                .map_err(|e| LlmError::invalid(format!("messages[{index}]: {e}")))?;
            json!({"type": "image", "source": source})
        }
        Part::ToolCall {
            id,
            name,
            arguments,
        } => {
            let input = wire::tool_input(arguments).ok_or_else(|| {
                LlmError::invalid(format!(
                    "tool call {id}: its arguments are not a JSON object"
                ))
            })?;
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        Part::ToolResult {
            tool_call_id,
            content,
            is_error,
        } => {
            let mut block = Map::new();
            block.insert("type".into(), json!("tool_result"));
            block.insert("tool_use_id".into(), json!(tool_call_id));
            if !content.is_empty() {
                block.insert("content".into(), json!(content));
            }
            if *is_error {
                block.insert("is_error".into(), Value::Bool(true));
            }
            Value::Object(block)
        }
        Part::Thinking {
            text,
            signature: Some(signature),
        } => json!({"type": "thinking", "thinking": text, "signature": signature}),
        Part::Thinking {
            signature: None, ..
        } => return Ok(None),
        Part::RedactedThinking { data } => json!({"type": "redacted_thinking", "data": data}),
    }))
}

/// A complete Anthropic message as a canonical answer. Blocks the model
/// has no part for (server tool use and its results) are skipped.
fn response_from_message(msg: &Value) -> Result<ChatResponse, LlmError> {
    let mut content = Vec::new();
    if let Some(blocks) = msg.get("content").and_then(Value::as_array) {
        for (i, block) in blocks.iter().enumerate() {
            match wire::part_from_block(block) {
                Ok(part) => content.push(part),
                Err(BlockError::Unsupported(_)) => {}
                Err(e) => {
                    return Err(LlmError::provider(format!(
                        "the provider's answer has a bad content[{i}]: {e}"
                    )))
                }
            }
        }
    }
    Ok(ChatResponse {
        id: str_field(msg, "id"),
        model: str_field(msg, "model"),
        content,
        stop_reason: msg
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(wire::stop_reason_from_wire),
        usage: msg
            .get("usage")
            .filter(|u| u.is_object())
            .map(|u| WireUsage::from_value(u).to_usage()),
        created: 0,
    })
}

fn str_field(obj: &Value, field: &str) -> String {
    obj.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::{StopReason, ToolChoice};

    fn build(req: &ChatRequest) -> Value {
        let out = Anthropic.build_request(req, "openai-chat").unwrap();
        serde_json::from_slice(&out.body).unwrap()
    }

    fn msg(role: Role, content: Vec<Part>) -> Message {
        Message {
            role,
            content,
            name: None,
        }
    }

    #[test]
    fn defaults_and_headers() {
        let req = ChatRequest {
            model: "claude".into(),
            messages: vec![Message::text(Role::User, "hi")],
            ..ChatRequest::default()
        };
        let out = Anthropic.build_request(&req, "openai-chat").unwrap();
        assert_eq!(out.path_and_query, "/v1/messages");
        assert_eq!(out.headers[0].0, "anthropic-version");
        assert_eq!(out.headers[0].1, "2023-06-01");
        assert_eq!(
            serde_json::from_slice::<Value>(&out.body).unwrap(),
            json!({"model": "claude", "max_tokens": 4096,
                   "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn roles_alternate_and_tool_results_are_user_turns() {
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::text(Role::System, "be kind"),
                Message::text(Role::User, "a"),
                Message::text(Role::User, "b"),
                msg(
                    Role::Assistant,
                    vec![
                        Part::text("calling"),
                        Part::ToolCall {
                            id: "t1".into(),
                            name: "f".into(),
                            arguments: "".into(),
                        },
                        Part::ToolCall {
                            id: "t2".into(),
                            name: "f".into(),
                            arguments: "{\"x\":1}".into(),
                        },
                    ],
                ),
                msg(
                    Role::Tool,
                    vec![Part::ToolResult {
                        tool_call_id: "t1".into(),
                        content: "1".into(),
                        is_error: false,
                    }],
                ),
                msg(
                    Role::Tool,
                    vec![Part::ToolResult {
                        tool_call_id: "t2".into(),
                        content: "".into(),
                        is_error: true,
                    }],
                ),
                Message::text(Role::System, "late rule"),
                Message::text(Role::Assistant, "   "),
                Message::text(Role::User, "c"),
            ],
            ..ChatRequest::default()
        };
        let body = build(&req);
        assert_eq!(
            body["system"],
            json!([{"type": "text", "text": "be brief"}, {"type": "text", "text": "be kind"}])
        );
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                    {"type": "tool_use", "id": "t2", "name": "f", "input": {"x": 1}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "1"},
                    {"type": "tool_result", "tool_use_id": "t2", "is_error": true},
                    {"type": "text", "text": "late rule"},
                    {"type": "text", "text": "c"}
                ]}
            ])
        );
    }

    #[test]
    fn one_plain_system_message_is_a_string() {
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::System, "sys"),
                Message::text(Role::User, "u"),
            ],
            ..ChatRequest::default()
        };
        assert_eq!(build(&req)["system"], json!("sys"));
        let cached = ChatRequest {
            messages: vec![
                msg(
                    Role::System,
                    vec![Part::Text {
                        text: "sys".into(),
                        cache_control: Some(json!({"type": "ephemeral"})),
                    }],
                ),
                Message::text(Role::User, "u"),
            ],
            ..ChatRequest::default()
        };
        assert_eq!(
            build(&cached)["system"],
            json!([{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}])
        );
    }

    #[test]
    fn whitespace_stops_are_dropped() {
        let req = ChatRequest {
            stop: vec![" ".into(), "\n".into(), "END".into()],
            ..ChatRequest::default()
        };
        assert_eq!(build(&req)["stop_sequences"], json!(["END"]));
        let none = ChatRequest {
            stop: vec!["\t".into()],
            ..ChatRequest::default()
        };
        assert!(build(&none).get("stop_sequences").is_none());
    }

    #[test]
    fn invalid_tool_arguments_name_the_call() {
        let req = ChatRequest {
            messages: vec![msg(
                Role::Assistant,
                vec![Part::ToolCall {
                    id: "call_9".into(),
                    name: "f".into(),
                    arguments: "{oops".into(),
                }],
            )],
            ..ChatRequest::default()
        };
        let err = Anthropic.build_request(&req, "openai-chat").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(err.message.contains("call_9"), "{}", err.message);
    }

    #[test]
    fn options_map_and_extras_only_for_anthropic_clients() {
        let mut extra = Map::new();
        extra.insert("service_tier".into(), json!("auto"));
        extra.insert("model".into(), json!("not this one"));
        let req = ChatRequest {
            model: "m".into(),
            tools: vec![Tool {
                name: "f".into(),
                description: None,
                parameters: json!({"type": "object"}),
            }],
            tool_choice: Some(ToolChoice::Required),
            parallel_tool_calls: Some(false),
            user: Some("u-1".into()),
            thinking_budget: Some(2048),
            response_format: Some(json!({"type": "json_object"})),
            reasoning_effort: Some("high".into()),
            stream: true,
            extra,
            ..ChatRequest::default()
        };
        let body = build(&req);
        assert_eq!(
            body["tools"],
            json!([{"name": "f", "input_schema": {"type": "object"}}])
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_eq!(body["stream"], json!(true));
        assert!(body.get("service_tier").is_none());
        assert!(body.get("response_format").is_none());
        assert!(body.get("reasoning_effort").is_none());
        let out = Anthropic.build_request(&req, "anthropic-messages").unwrap();
        let same: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(same["service_tier"], json!("auto"));
        assert_eq!(same["model"], json!("m"));
    }

    #[test]
    fn tool_choice_needs_tools_and_unsigned_thinking_is_dropped() {
        let req = ChatRequest {
            tool_choice: Some(ToolChoice::None),
            messages: vec![
                Message::text(Role::User, "q"),
                msg(
                    Role::Assistant,
                    vec![
                        Part::Thinking {
                            text: "hmm".into(),
                            signature: None,
                        },
                        Part::Thinking {
                            text: "ok".into(),
                            signature: Some("sig".into()),
                        },
                        Part::text("a"),
                    ],
                ),
            ],
            ..ChatRequest::default()
        };
        let body = build(&req);
        assert!(body.get("tool_choice").is_none());
        assert_eq!(
            body["messages"][1]["content"],
            json!([{"type": "thinking", "thinking": "ok", "signature": "sig"}, {"type": "text", "text": "a"}])
        );
    }

    #[test]
    fn bad_images_are_invalid() {
        let req = ChatRequest {
            messages: vec![msg(
                Role::User,
                vec![Part::Image {
                    url: "file:///etc/passwd".into(),
                    detail: None,
                }],
            )],
            ..ChatRequest::default()
        };
        let err = Anthropic.build_request(&req, "openai-chat").unwrap_err();
        assert!(err.message.starts_with("messages[0]"), "{}", err.message);
    }

    #[test]
    fn responses_decode_with_inclusive_usage() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
                {"type": "text", "text": "hi"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}}
            ],
            "stop_reason": "model_context_window_exceeded", "stop_sequence": null,
            "usage": {"input_tokens": 3, "cache_creation_input_tokens": 4,
                      "cache_read_input_tokens": 5, "output_tokens": 6}
        });
        let resp = Anthropic
            .decode_response(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(resp.content.len(), 3);
        assert_eq!(
            resp.content[2],
            Part::ToolCall {
                id: "toolu_1".into(),
                name: "f".into(),
                arguments: "{\"a\":[1,2]}".into()
            }
        );
        assert_eq!(resp.stop_reason, Some(StopReason::MaxTokens));
        let usage = resp.usage.unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.cached_tokens,
                usage.cache_creation_tokens
            ),
            (12, 5, 4)
        );
        assert_eq!(usage.completion_tokens, 6);
    }

    #[test]
    fn errors_take_anthropic_types() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let err = Anthropic.decode_error(500, body);
        assert_eq!(
            (err.status, err.kind, err.message.as_str()),
            (500, ErrorKind::Overloaded, "Overloaded")
        );
        let err = Anthropic.decode_response(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Overloaded);
        let err = Anthropic.decode_error(429, b"not json");
        assert_eq!(err.kind, ErrorKind::RateLimit);
        assert!(Anthropic.decode_response(b"[").is_err());
    }
}
