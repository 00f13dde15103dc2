//! Anthropic's Messages stream (SSE: `message_start`, content blocks,
//! `message_delta`, `message_stop`, `ping`, `error`) as canonical events.
//!
//! - Tool calls are numbered in order of their `content_block_start`
//!   (the running tool index, not Anthropic's block index).
//! - `message_delta` carries cumulative output usage; its input figures,
//!   when absent, come from `message_start`.
//! - `redacted_thinking`, server tool blocks and citations have no stream
//!   event and are skipped; unknown events are ignored, as Anthropic asks.
//! - A body that ends without `message_stop` or `error` yields an
//!   `api_error` "the provider's stream ended early".

use serde_json::Value;

use super::wire::{self, WireUsage};
use crate::llm::sse::{SseEvent, SseParser};
use crate::llm::{LlmError, StreamDecoder, StreamEvent};

/// What a content block holds, by Anthropic's block index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// A tool call, with its running tool index.
    Tool(u32),
    /// Text, thinking or a block type without canonical events.
    Other,
}

/// Decoder state for one streamed answer.
pub(super) struct AnthropicStream {
    parser: SseParser,
    events: Vec<SseEvent>,
    /// Block index → kind, for `input_json_delta`.
    blocks: Vec<(u64, Block)>,
    next_tool: u32,
    /// Usage from `message_start` (input and cache figures).
    start_usage: WireUsage,
    /// `message_stop` or `error` came: nothing more is read.
    ended: bool,
}

impl AnthropicStream {
    /// A decoder at the start of a stream.
    pub(super) fn new() -> AnthropicStream {
        AnthropicStream {
            parser: SseParser::new(),
            events: Vec::new(),
            blocks: Vec::new(),
            next_tool: 0,
            start_usage: WireUsage::default(),
            ended: false,
        }
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.ended {
                break;
            }
            self.event(ev, out)?;
        }
        Ok(())
    }

    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let data: Value = serde_json::from_str(&ev.data).map_err(|e| {
            let name = ev.event.as_deref().unwrap_or("unnamed");
            LlmError::provider(format!(
                "the provider's stream sent bad JSON in a {name} event: {e}"
            ))
        })?;
        let name = match ev.event.as_deref() {
            Some(name) => name,
            None => data.get("type").and_then(Value::as_str).unwrap_or(""),
        };
        match name {
            "message_start" => self.message_start(&data, out),
            "content_block_start" => self.block_start(&data, out),
            "content_block_delta" => self.block_delta(&data, out),
            "message_delta" => self.message_delta(&data, out),
            "message_stop" => self.ended = true,
            "error" => {
                let error = data.get("error").unwrap_or(&Value::Null);
                out.push(StreamEvent::Error {
                    kind: text(error, "type").unwrap_or("api_error").to_string(),
                    message: text(error, "message").unwrap_or_default().to_string(),
                });
                self.ended = true;
            }
            _ => {} // ping, content_block_stop, events added later
        }
        Ok(())
    }

    fn message_start(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        let message = data.get("message").unwrap_or(&Value::Null);
        if let Some(usage) = message.get("usage") {
            self.start_usage = WireUsage::from_value(usage);
        }
        out.push(StreamEvent::Start {
            id: text(message, "id").unwrap_or_default().to_string(),
            model: text(message, "model").unwrap_or_default().to_string(),
        });
    }

    fn block_start(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        let block = data.get("content_block").unwrap_or(&Value::Null);
        let kind = match text(block, "type") {
            Some("tool_use") => {
                let tool = self.next_tool;
                self.next_tool = self.next_tool.saturating_add(1);
                out.push(StreamEvent::ToolCallStart {
                    index: tool,
                    id: text(block, "id").unwrap_or_default().to_string(),
                    name: text(block, "name").unwrap_or_default().to_string(),
                });
                // Anthropic starts with `input: {}` and streams the JSON.
                if let Some(input) = block.get("input").filter(|i| non_empty_object(i)) {
                    out.push(StreamEvent::ToolCallArguments {
                        index: tool,
                        arguments: input.to_string(),
                    });
                }
                Block::Tool(tool)
            }
            Some("text") => {
                push_text(out, text(block, "text"));
                Block::Other
            }
            Some("thinking") => {
                push_thinking(out, text(block, "thinking"), None);
                Block::Other
            }
            _ => Block::Other,
        };
        self.blocks.retain(|(i, _)| *i != index);
        self.blocks.push((index, kind));
    }

    fn block_delta(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        let delta = data.get("delta").unwrap_or(&Value::Null);
        match text(delta, "type") {
            Some("text_delta") => push_text(out, text(delta, "text")),
            Some("thinking_delta") => push_thinking(out, text(delta, "thinking"), None),
            Some("signature_delta") => push_thinking(out, None, text(delta, "signature")),
            Some("input_json_delta") => {
                let tool = self.blocks.iter().find(|(i, _)| *i == index);
                if let (Some((_, Block::Tool(tool))), Some(json)) =
                    (tool, text(delta, "partial_json"))
                {
                    if !json.is_empty() {
                        out.push(StreamEvent::ToolCallArguments {
                            index: *tool,
                            arguments: json.to_string(),
                        });
                    }
                }
            }
            _ => {} // citations_delta and deltas added later
        }
    }

    fn message_delta(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
            out.push(StreamEvent::Stop {
                reason: wire::stop_reason_from_wire(reason),
            });
        }
        if let Some(usage) = data.get("usage").filter(|u| u.is_object()) {
            let start = self.start_usage;
            let merged = WireUsage {
                input_tokens: wire::count(usage, "input_tokens").unwrap_or(start.input_tokens),
                cache_creation_input_tokens: wire::count(usage, "cache_creation_input_tokens")
                    .unwrap_or(start.cache_creation_input_tokens),
                cache_read_input_tokens: wire::count(usage, "cache_read_input_tokens")
                    .unwrap_or(start.cache_read_input_tokens),
                output_tokens: wire::count(usage, "output_tokens").unwrap_or(start.output_tokens),
            };
            out.push(StreamEvent::Usage {
                usage: merged.to_usage(),
            });
        }
    }
}

impl StreamDecoder for AnthropicStream {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.ended {
            return Ok(());
        }
        self.parser.feed(chunk, &mut self.events)?;
        self.drain(out)
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.ended {
            return Ok(());
        }
        self.parser.end(&mut self.events);
        self.drain(out)?;
        if !self.ended {
            self.ended = true;
            out.push(StreamEvent::Error {
                kind: "api_error".to_string(),
                message: "the provider's stream ended early".to_string(),
            });
        }
        Ok(())
    }
}

fn text<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get(field).and_then(Value::as_str)
}

fn non_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(|o| !o.is_empty())
}

fn push_text(out: &mut Vec<StreamEvent>, text: Option<&str>) {
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        out.push(StreamEvent::Text {
            text: text.to_string(),
        });
    }
}

fn push_thinking(out: &mut Vec<StreamEvent>, text: Option<&str>, signature: Option<&str>) {
    let text = text.unwrap_or_default();
    if text.is_empty() && signature.is_none() {
        return;
    }
    out.push(StreamEvent::Thinking {
        text: text.to_string(),
        signature: signature.map(str::to_string),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::{StopReason, Usage};

    fn decode(input: &str) -> Result<Vec<StreamEvent>, LlmError> {
        let mut d = AnthropicStream::new();
        let mut out = Vec::new();
        d.feed(input.as_bytes(), &mut out)?;
        d.end(&mut out)?;
        Ok(out)
    }

    const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":90,\"output_tokens\":1}}}\n\n";

    #[test]
    fn a_missing_message_stop_is_an_error() {
        let out = decode(START).unwrap();
        assert_eq!(
            out.last(),
            Some(&StreamEvent::Error {
                kind: "api_error".into(),
                message: "the provider's stream ended early".into()
            })
        );
    }

    #[test]
    fn nothing_is_read_after_message_stop() {
        let input = format!(
            "{START}event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\nevent: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"late\"}}}}\n\n"
        );
        let out = decode(&input).unwrap();
        assert_eq!(
            out,
            vec![StreamEvent::Start {
                id: "msg_1".into(),
                model: "claude".into()
            }]
        );
    }

    #[test]
    fn bad_json_names_the_event() {
        let err = decode("event: message_delta\ndata: {oops\n\n").unwrap_err();
        assert!(err.message.contains("message_delta"), "{}", err.message);
        assert_eq!(err.status, 502);
    }

    #[test]
    fn tool_indices_count_tool_calls_and_usage_merges() {
        let input = format!(
            "{START}\
event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"f\",\"input\":{{}}}}}}\n\n\
event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}}}\n\n\
event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{}}\"}}}}\n\n\
event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":7,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}}}\n\n\
event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"pause_turn\"}},\"usage\":{{\"output_tokens\":20}}}}\n\n\
event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
        );
        let out = decode(&input).unwrap();
        assert_eq!(
            &out[1..],
            &[
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "toolu_a".into(),
                    name: "f".into()
                },
                StreamEvent::ToolCallArguments {
                    index: 0,
                    arguments: "{}".into()
                },
                StreamEvent::Stop {
                    reason: StopReason::Other("pause_turn".into())
                },
                StreamEvent::Usage {
                    usage: Usage {
                        prompt_tokens: 100,
                        completion_tokens: 20,
                        cached_tokens: 90,
                        ..Usage::default()
                    }
                },
            ]
        );
    }

    #[test]
    fn events_without_names_use_their_type() {
        let out = decode("data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n").unwrap();
        assert_eq!(
            out,
            vec![StreamEvent::Error {
                kind: "overloaded_error".into(),
                message: "Overloaded".into()
            }]
        );
    }
}
