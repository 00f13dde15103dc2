//! Gemini's `streamGenerateContent?alt=sse` stream as canonical events.
//! Each `data:` is a whole `GenerateContentResponse` holding the next
//! parts of `candidates[0]`:
//!
//! - the first chunk starts the answer (`responseId`, `modelVersion`);
//! - text and thought parts are deltas; a function call comes whole in
//!   one part, so it becomes `ToolCallStart` and one `ToolCallArguments`,
//!   numbered in order from 0 (ids as in `wire.rs`);
//! - `finishReason` is the stop (`ToolUse` when a call came); a chunk with
//!   no candidates and `promptFeedback.blockReason` is a content-filter
//!   stop;
//! - `usageMetadata` comes on many chunks, cumulative: each one with token
//!   counts that differ from the last is a `Usage` event (the last wins);
//! - an `{"error": …}` chunk is an `Error`; Gemini's stream has no end
//!   marker, so a body that ends before any stop is an `api_error` "the
//!   provider's stream ended early".

use serde_json::Value;

use super::wire::{self, WirePart};
use crate::llm::model::{StopReason, Usage};
use crate::llm::sse::{SseEvent, SseParser};
use crate::llm::{ErrorKind, LlmError, StreamDecoder, StreamEvent};

/// Decoder state for one streamed answer.
#[derive(Default)]
pub(super) struct GeminiStream {
    parser: SseParser,
    events: Vec<SseEvent>,
    started: bool,
    next_tool: u32,
    stopped: bool,
    /// An error came: nothing more is read.
    failed: bool,
    usage: Option<Usage>,
}

impl GeminiStream {
    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.failed {
                break;
            }
            self.chunk(&ev.data, out)?;
        }
        Ok(())
    }

    fn chunk(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let v: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::provider(format!(
                "the provider's stream sent a chunk that is not JSON: {e}"
            ))
        })?;
        if let Some(error) = v.get("error") {
            let kind = wire::str_of(error, "status")
                .and_then(wire::error_kind)
                .unwrap_or(ErrorKind::Provider);
            out.push(StreamEvent::Error {
                kind: kind.anthropic_type().to_string(),
                message: wire::str_of(error, "message")
                    .unwrap_or("the provider failed mid-stream")
                    .to_string(),
            });
            self.failed = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: wire::str_of(&v, "responseId")
                    .unwrap_or_default()
                    .to_string(),
                model: wire::str_of(&v, "modelVersion")
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        let candidate = v.pointer("/candidates/0");
        let parts = candidate
            .and_then(|c| c.pointer("/content/parts"))
            .and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            self.part(part, out);
        }
        let finish = candidate
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str);
        let reason = match finish {
            Some(f) => Some(wire::stop_reason(f, self.next_tool > 0)),
            None if candidate.is_none() && wire::block_reason(&v).is_some() => {
                Some(StopReason::ContentFilter)
            }
            None => None,
        };
        if let (Some(reason), false) = (reason, self.stopped) {
            self.stopped = true;
            out.push(StreamEvent::Stop { reason });
        }
        if let Some(u) = v.get("usageMetadata").and_then(wire::usage) {
            if self.usage != Some(u) {
                self.usage = Some(u);
                out.push(StreamEvent::Usage { usage: u });
            }
        }
        Ok(())
    }

    fn part(&mut self, part: &Value, out: &mut Vec<StreamEvent>) {
        match wire::read_part(part) {
            WirePart::Text(text) => out.push(StreamEvent::Text { text }),
            WirePart::Thought(text) => out.push(StreamEvent::Thinking {
                text,
                signature: None,
            }),
            WirePart::Call {
                id,
                name,
                arguments,
                signature,
            } => {
                let index = self.next_tool;
                self.next_tool = self.next_tool.saturating_add(1);
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: wire::tool_call_id(index, id.as_deref(), signature.as_deref()),
                    name,
                });
                out.push(StreamEvent::ToolCallArguments { index, arguments });
            }
            WirePart::Skip => {}
        }
    }
}

impl StreamDecoder for GeminiStream {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.failed {
            return Ok(());
        }
        self.parser.feed(chunk, &mut self.events)?;
        self.drain(out)
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.failed {
            return Ok(());
        }
        self.parser.end(&mut self.events);
        self.drain(out)?;
        if !self.stopped && !self.failed {
            self.failed = true;
            out.push(StreamEvent::Error {
                kind: "api_error".to_string(),
                message: "the provider's stream ended early".to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &str) -> Vec<StreamEvent> {
        let mut d = GeminiStream::default();
        let mut out = Vec::new();
        d.feed(input.as_bytes(), &mut out).unwrap();
        d.end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_stream_without_finish_reason_ended_early() {
        let out =
            decode("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n");
        assert_eq!(
            out.last(),
            Some(&StreamEvent::Error {
                kind: "api_error".into(),
                message: "the provider's stream ended early".into()
            })
        );
    }

    #[test]
    fn calls_are_numbered_and_usage_is_sent_when_it_changes() {
        let usage = "\"usageMetadata\":{\"promptTokenCount\":4,\"totalTokenCount\":4}";
        let input = format!(
            "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"functionCall\":{{\"name\":\"f\",\"args\":{{\"a\":1}}}},\"thoughtSignature\":\"s/g=\"}},{{\"functionCall\":{{\"name\":\"g\"}}}}]}}}}],{usage},\"responseId\":\"r\",\"modelVersion\":\"m\"}}\n\n\
             data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"\"}}]}},\"finishReason\":\"STOP\"}}],{usage}}}\n\n"
        );
        assert_eq!(
            decode(&input),
            vec![
                StreamEvent::Start {
                    id: "r".into(),
                    model: "m".into()
                },
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "call_0__sig_s_g".into(),
                    name: "f".into()
                },
                StreamEvent::ToolCallArguments {
                    index: 0,
                    arguments: "{\"a\":1}".into()
                },
                StreamEvent::ToolCallStart {
                    index: 1,
                    id: "call_1".into(),
                    name: "g".into()
                },
                StreamEvent::ToolCallArguments {
                    index: 1,
                    arguments: "{}".into()
                },
                StreamEvent::Usage {
                    usage: Usage {
                        prompt_tokens: 4,
                        ..Usage::default()
                    }
                },
                StreamEvent::Stop {
                    reason: StopReason::ToolUse
                },
            ]
        );
    }

    #[test]
    fn errors_end_the_stream() {
        let out = decode(
            "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\ndata: {\"candidates\":[]}\n\n",
        );
        assert_eq!(
            out,
            vec![StreamEvent::Error {
                kind: "overloaded_error".into(),
                message: "The model is overloaded.".into()
            }]
        );
    }
}
