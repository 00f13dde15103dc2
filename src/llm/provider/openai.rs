//! Providers speaking OpenAI's chat completions (OpenAI, DeepSeek,
//! OpenRouter, AI/ML API, Azure OpenAI, Gemini's OpenAI-compatible
//! endpoint, and any OpenAI-compatible server: vLLM, Ollama's `/v1`,
//! Mistral): the canonical request written as OpenAI's, answers and
//! `chat.completion.chunk` streams read back. Usage is asked for in every
//! stream (`stream_options.include_usage`) except on Azure API versions
//! that predate the field.
//!
//! Stream chunks with no choices and no usage (Azure's leading
//! `prompt_filter_results` annotation, sent with an empty id and model)
//! carry nothing canonical and are skipped, so the answer's id and model
//! come from its first real chunk.
//!
//! Embeddings (`openai/embeddings.rs`) go to the same providers.

pub mod embeddings;
mod wire;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use self::wire::{Choice, Completion, WireToolCall, WireUsage};
use crate::llm::embedding::Embedder;
use crate::llm::model::{Message, Part, Role, StopReason, ToolChoice};
use crate::llm::openai_wire::stop_reason;
use crate::llm::sse::{SseEvent, SseParser};
use crate::llm::{
    ChatRequest, ChatResponse, LlmError, Provider, ProviderRequest, StreamDecoder, StreamEvent,
};

/// A provider speaking OpenAI's chat completions.
pub struct OpenAi {
    /// APISIX's provider name.
    pub name: &'static str,
    /// Default scheme and authority.
    pub base: &'static str,
    /// Default path.
    pub path: &'static str,
    /// The request field for the token limit: OpenAI's own API wants the
    /// newer `max_completion_tokens` (reasoning models reject the old
    /// name); compatible servers know `max_tokens`.
    pub max_tokens_field: &'static str,
    /// Whether the body names the model. Azure's deployment URLs choose
    /// the model themselves, and APISIX drops the field for them.
    pub send_model: bool,
    /// Whether streams ask for usage (`stream_options.include_usage`);
    /// Azure API versions before 2024-09-01 reject the field.
    pub stream_usage: bool,
}

impl Provider for OpenAi {
    fn name(&self) -> &str {
        self.name
    }

    fn default_base(&self) -> &str {
        self.base
    }

    fn build_request(&self, req: &ChatRequest, client: &str) -> Result<ProviderRequest, LlmError> {
        let mut body = Map::new();
        if client == "openai-chat" {
            body.extend(req.extra.clone());
        }
        if self.send_model {
            body.insert("model".into(), json!(req.model));
        } else {
            body.remove("model");
        }
        body.insert("messages".into(), Value::Array(messages(&req.messages)));
        if let Some(n) = req.max_tokens {
            body.insert(self.max_tokens_field.into(), json!(n));
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(k.to_string(), v);
            }
        };
        put("temperature", req.temperature.map(|t| json!(t)));
        put("top_p", req.top_p.map(|t| json!(t)));
        if self.name == "openai-compatible" {
            put("top_k", req.top_k.map(|t| json!(t)));
        }
        put("stop", (!req.stop.is_empty()).then(|| json!(req.stop)));
        put(
            "tools",
            (!req.tools.is_empty()).then(|| {
                req.tools
                    .iter()
                    .map(|t| {
                        let mut f = json!({"name": t.name, "parameters": t.parameters});
                        if let Some(d) = &t.description {
                            f["description"] = json!(d);
                        }
                        json!({"type": "function", "function": f})
                    })
                    .collect()
            }),
        );
        put(
            "tool_choice",
            req.tool_choice.as_ref().map(|c| match c {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
            }),
        );
        put(
            "parallel_tool_calls",
            req.parallel_tool_calls.map(Value::Bool),
        );
        put("user", req.user.clone().map(Value::String));
        put("response_format", req.response_format.clone());
        put(
            "reasoning_effort",
            req.reasoning_effort.clone().map(Value::String),
        );
        if req.stream {
            put("stream", Some(Value::Bool(true)));
            if self.stream_usage {
                put("stream_options", Some(json!({"include_usage": true})));
            }
        } else {
            body.remove("stream");
            body.remove("stream_options");
        }
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| LlmError::invalid(format!("cannot encode the request: {e}")))?;
        Ok(ProviderRequest {
            path_and_query: self.path.to_string(),
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, LlmError> {
        let v: Completion = serde_json::from_slice(body).map_err(|e| {
            LlmError::provider(format!(
                "the provider's answer is not a chat completion: {e}"
            ))
        })?;
        let choice = v.choices.as_deref().and_then(<[Choice]>::first);
        let message = choice.and_then(|c| c.message.as_ref());
        let mut content = Vec::new();
        if let Some(m) = message {
            if let Some(r) = m.reasoning_content.as_str() {
                content.push(Part::Thinking {
                    text: r.to_string(),
                    signature: None,
                });
            }
            if let Some(t) = m.content.as_str().filter(|t| !t.is_empty()) {
                content.push(Part::text(t));
            }
            if let Some(r) = m.refusal.as_str() {
                content.push(Part::text(r));
            }
            for c in m.tool_calls.iter().flatten() {
                let function = c.function.as_ref();
                content.push(Part::ToolCall {
                    id: c.id.text(),
                    name: function.map(|f| f.name.text()).unwrap_or_default(),
                    arguments: function.map(|f| f.arguments.text()).unwrap_or_default(),
                });
            }
        }
        let refused = message.is_some_and(|m| m.refusal.as_str().is_some());
        let finish = choice
            .and_then(|c| c.finish_reason.as_str())
            .map(stop_reason);
        Ok(ChatResponse {
            id: v.id.text(),
            model: v.model.text(),
            content,
            stop_reason: if refused {
                Some(StopReason::ContentFilter)
            } else {
                finish
            },
            usage: v.usage.as_ref().and_then(WireUsage::usage),
            created: v.created.count(),
        })
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(ChunkDecoder::default())
    }

    fn embedder(&self) -> Option<&dyn Embedder> {
        Some(self)
    }
}

/// Canonical messages in OpenAI's shape. Tool results become `role: tool`
/// messages placed before the rest of their message (they must follow the
/// assistant's tool calls); thinking is dropped (OpenAI takes none back).
fn messages(msgs: &[Message]) -> Vec<Value> {
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        let mut rest = Vec::new();
        let mut calls = Vec::new();
        for p in &m.content {
            match p {
                Part::ToolResult {
                    tool_call_id,
                    content,
                    ..
                } => out.push(
                    json!({"role": "tool", "tool_call_id": tool_call_id, "content": content}),
                ),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                } => calls.push(json!({"id": id, "type": "function",
                                       "function": {"name": name, "arguments": arguments}})),
                Part::Thinking { .. } | Part::RedactedThinking { .. } => {}
                other => rest.push(other),
            }
        }
        if m.role == Role::Tool
            || (rest.is_empty() && calls.is_empty() && m.role != Role::Assistant)
        {
            continue;
        }
        let role = match m.role {
            Role::System => "system",
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let mut msg = json!({"role": role, "content": content(&rest, m.role)});
        if let Some(n) = &m.name {
            msg["name"] = json!(n);
        }
        if !calls.is_empty() {
            msg["tool_calls"] = Value::Array(calls);
        }
        out.push(msg);
    }
    out
}

/// Content as a string when it is text only, else an array of parts.
fn content(parts: &[&Part], role: Role) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text { .. })) {
        let text: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if text.is_empty() && role == Role::Assistant {
            return Value::Null;
        }
        return Value::String(text);
    }
    Value::Array(
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } => Some(json!({"type": "text", "text": text})),
                Part::Image { url, detail } => {
                    let mut image = json!({"url": url});
                    if let Some(d) = detail {
                        image["detail"] = json!(d);
                    }
                    Some(json!({"type": "image_url", "image_url": image}))
                }
                _ => None,
            })
            .collect(),
    )
}

/// Reads `chat.completion.chunk` SSE events.
#[derive(Default)]
struct ChunkDecoder {
    sse: SseParser,
    events: Vec<SseEvent>,
    started: bool,
    tool_calls_started: Vec<u32>,
    stopped: bool,
    failed: bool,
    done: bool,
}

impl ChunkDecoder {
    fn chunk(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let v: Completion = serde_json::from_str(data).map_err(|e| {
            LlmError::provider(format!(
                "the provider's stream sent an event that is not a chat completion chunk: {e}"
            ))
        })?;
        if let Some(err) = &v.error {
            let kind = err
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("api_error");
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the provider failed mid-stream");
            self.failed = true;
            out.push(StreamEvent::Error {
                kind: kind.to_string(),
                message: message.to_string(),
            });
            return Ok(());
        }
        if v.choices.as_ref().is_some_and(Vec::is_empty) && v.usage.is_none() {
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: v.id.text(),
                model: v.model.text(),
            });
        }
        if let Some(choice) = v.choices.as_deref().and_then(<[Choice]>::first) {
            let delta = choice.delta.as_ref();
            if let Some(t) = delta
                .and_then(|d| d.reasoning_content.as_str())
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::Thinking {
                    text: t.to_string(),
                    signature: None,
                });
            }
            if let Some(t) = delta
                .and_then(|d| d.content.as_str())
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::Text {
                    text: t.to_string(),
                });
            }
            if let Some(t) = delta
                .and_then(|d| d.refusal.as_str())
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::Text {
                    text: t.to_string(),
                });
            }
            for c in delta
                .and_then(|d| d.tool_calls.as_ref())
                .into_iter()
                .flatten()
            {
                self.tool_call(c, out);
            }
            if let Some(f) = choice.finish_reason.as_str() {
                self.stopped = true;
                out.push(StreamEvent::Stop {
                    reason: stop_reason(f),
                });
            }
        }
        if let Some(u) = v.usage.as_ref().and_then(WireUsage::usage) {
            out.push(StreamEvent::Usage { usage: u });
        }
        Ok(())
    }

    fn tool_call(&mut self, c: &WireToolCall, out: &mut Vec<StreamEvent>) {
        let index = u32::try_from(c.index.count()).unwrap_or(0);
        let function = c.function.as_ref();
        let name = function.and_then(|f| f.name.as_str());
        if !self.tool_calls_started.contains(&index) && (c.id.as_str().is_some() || name.is_some())
        {
            self.tool_calls_started.push(index);
            out.push(StreamEvent::ToolCallStart {
                index,
                id: c.id.text(),
                name: name.unwrap_or("").to_string(),
            });
        }
        if let Some(a) = function
            .and_then(|f| f.arguments.as_str())
            .filter(|a| !a.is_empty())
        {
            out.push(StreamEvent::ToolCallArguments {
                index,
                arguments: a.to_string(),
            });
        }
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let events = std::mem::take(&mut self.events);
        for e in &events {
            self.chunk(&e.data, out)?;
        }
        Ok(())
    }
}

impl StreamDecoder for ChunkDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        self.sse.feed(chunk, &mut self.events)?;
        self.drain(out)
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        self.sse.end(&mut self.events);
        self.drain(out)?;
        if !self.done && !self.stopped && !self.failed {
            out.push(StreamEvent::Error {
                kind: "api_error".into(),
                message: "the provider's stream ended early".into(),
            });
        }
        Ok(())
    }
}
