//! Canonical stream events written as Anthropic's Messages SSE stream:
//! `message_start`, content blocks with running indices, `message_delta`,
//! `message_stop`, or `error`.
//!
//! Rules, so that any event order gives a well-formed stream:
//! - `message_start` is written at `Start`, or before the first other
//!   output when no `Start` came (empty id, the request's model).
//! - A block opens when the content kind changes, when a tool call starts,
//!   when thinking text follows its signature, and when arguments come for
//!   a tool call other than the open one (a new `tool_use` block with the
//!   call's id and name, if known). Empty text is not written, so no empty
//!   text block is ever sent (Anthropic rejects those when sent back).
//! - `Stop` closes the open block; `Stop` and `Usage` are remembered (a
//!   later one replaces an earlier one) and `message_delta` is written once,
//!   at `finish`, then `message_stop`. A stream without `Stop` ends with
//!   `end_turn`; unknown usage is all zeros.
//! - `Error` writes `event: error` and ends the stream: nothing follows,
//!   not even at `finish`.

use bytes::BytesMut;
use serde::Serialize;

use crate::llm::model::{StopReason, Usage};
use crate::llm::provider::anthropic::wire::{self, WireUsage};
use crate::llm::sse::write_json_event;
use crate::llm::{StreamEncoder, StreamEvent};

/// What the open content block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// Thinking; `true` once its signature was written.
    Thinking(bool),
    /// A tool call (its canonical tool index).
    Tool(u32),
}

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing written yet.
    Idle,
    /// `message_start` written.
    Started,
    /// `message_stop` or `error` written: nothing more.
    Done,
}

/// Encoder state for one answer.
pub(super) struct AnthropicSse {
    model: String,
    phase: Phase,
    /// The open block: its index and kind.
    open: Option<(u32, Kind)>,
    next_index: u32,
    /// Tool index → id and name, to reopen a tool call's block.
    tools: Vec<(u32, String, String)>,
    stop: Option<StopReason>,
    usage: Option<Usage>,
}

impl AnthropicSse {
    /// An encoder for an answer to a request for `model`.
    pub(super) fn new(model: &str) -> AnthropicSse {
        AnthropicSse {
            model: model.to_string(),
            phase: Phase::Idle,
            open: None,
            next_index: 0,
            tools: Vec::new(),
            stop: None,
            usage: None,
        }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut BytesMut) {
        if self.phase != Phase::Idle {
            return;
        }
        self.phase = Phase::Started;
        let model = if model.is_empty() {
            self.model.as_str()
        } else {
            model
        };
        let mut usage = self
            .usage
            .map(|u| WireUsage::from_usage(&u))
            .unwrap_or_default();
        usage.output_tokens = 0;
        let message = MessageHead {
            id,
            kind: "message",
            role: "assistant",
            model,
            content: [],
            stop_reason: None,
            stop_sequence: None,
            usage,
        };
        emit(out, &Frame::MessageStart { message });
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.phase == Phase::Idle {
            let model = std::mem::take(&mut self.model);
            self.start("", &model, out);
            self.model = model;
        }
    }

    fn close(&mut self, out: &mut BytesMut) {
        if let Some((index, _)) = self.open.take() {
            emit(out, &Frame::ContentBlockStop { index });
        }
    }

    /// Open a block of `kind` (closing the open one), written as `head`.
    fn open(&mut self, kind: Kind, head: BlockHead<'_>, out: &mut BytesMut) {
        self.close(out);
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        self.open = Some((index, kind));
        emit(
            out,
            &Frame::ContentBlockStart {
                index,
                content_block: head,
            },
        );
    }

    fn delta(&self, delta: Delta<'_>, out: &mut BytesMut) {
        if let Some((index, _)) = self.open {
            emit(out, &Frame::ContentBlockDelta { index, delta });
        }
    }

    fn text(&mut self, text: &str, out: &mut BytesMut) {
        if text.is_empty() {
            return;
        }
        self.ensure_started(out);
        if !matches!(self.open, Some((_, Kind::Text))) {
            self.open(Kind::Text, BlockHead::Text { text: "" }, out);
        }
        self.delta(Delta::Text { text }, out);
    }

    fn thinking(&mut self, text: &str, signature: Option<&str>, out: &mut BytesMut) {
        if text.is_empty() && signature.is_none() {
            return;
        }
        self.ensure_started(out);
        let reusable = match self.open {
            Some((_, Kind::Thinking(signed))) => !signed || text.is_empty(),
            _ => false,
        };
        if !reusable {
            let head = BlockHead::Thinking {
                thinking: "",
                signature: "",
            };
            self.open(Kind::Thinking(false), head, out);
        }
        if !text.is_empty() {
            self.delta(Delta::Thinking { thinking: text }, out);
        }
        if let Some(signature) = signature {
            self.delta(Delta::Signature { signature }, out);
            if let Some((_, kind)) = &mut self.open {
                *kind = Kind::Thinking(true);
            }
        }
    }

    fn tool_start(&mut self, tool: u32, id: &str, name: &str, out: &mut BytesMut) {
        self.ensure_started(out);
        self.tools.retain(|(t, _, _)| *t != tool);
        self.tools.push((tool, id.to_string(), name.to_string()));
        self.open_tool(tool, out);
    }

    fn open_tool(&mut self, tool: u32, out: &mut BytesMut) {
        let known = self.tools.iter().find(|(t, _, _)| *t == tool);
        let (id, name) = known
            .map(|(_, id, name)| (id.clone(), name.clone()))
            .unwrap_or_default();
        let head = BlockHead::ToolUse {
            id: &id,
            name: &name,
            input: Empty {},
        };
        self.open(Kind::Tool(tool), head, out);
    }

    fn tool_arguments(&mut self, tool: u32, arguments: &str, out: &mut BytesMut) {
        if arguments.is_empty() {
            return;
        }
        self.ensure_started(out);
        if !matches!(self.open, Some((_, Kind::Tool(open))) if open == tool) {
            self.open_tool(tool, out);
        }
        self.delta(
            Delta::InputJson {
                partial_json: arguments,
            },
            out,
        );
    }

    fn error(&mut self, kind: &str, message: &str, out: &mut BytesMut) {
        let kind = if kind.is_empty() { "api_error" } else { kind };
        let error = ErrorBody { kind, message };
        emit(out, &Frame::Error { error });
        self.phase = Phase::Done;
    }
}

impl StreamEncoder for AnthropicSse {
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.phase == Phase::Done {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => self.start(id, model, out),
            StreamEvent::Text { text } => self.text(text, out),
            StreamEvent::Thinking { text, signature } => {
                self.thinking(text, signature.as_deref(), out)
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.tool_start(*index, id, name, out)
            }
            StreamEvent::ToolCallArguments { index, arguments } => {
                self.tool_arguments(*index, arguments, out)
            }
            StreamEvent::Stop { reason } => {
                self.stop = Some(reason.clone());
                self.close(out);
            }
            StreamEvent::Usage { usage } => self.usage = Some(*usage),
            StreamEvent::Error { kind, message } => self.error(kind, message, out),
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if self.phase == Phase::Done {
            return;
        }
        self.ensure_started(out);
        self.close(out);
        let stop_reason = self
            .stop
            .as_ref()
            .map_or("end_turn", wire::stop_reason_to_wire);
        let frame = Frame::MessageDelta {
            delta: StopDelta {
                stop_reason,
                stop_sequence: None,
            },
            usage: WireUsage::from_usage(&self.usage.unwrap_or_default()),
        };
        emit(out, &frame);
        emit(out, &Frame::MessageStop);
        self.phase = Phase::Done;
    }
}

/// Write one frame as an SSE event named after its type.
fn emit(out: &mut BytesMut, frame: &Frame<'_>) {
    write_json_event(out, Some(frame.name()), frame);
}

/// One event of Anthropic's stream, fields in Anthropic's order.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame<'a> {
    MessageStart {
        message: MessageHead<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: BlockHead<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta<'a>,
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: ErrorBody<'a>,
    },
}

impl Frame<'_> {
    fn name(&self) -> &'static str {
        match self {
            Frame::MessageStart { .. } => "message_start",
            Frame::ContentBlockStart { .. } => "content_block_start",
            Frame::ContentBlockDelta { .. } => "content_block_delta",
            Frame::ContentBlockStop { .. } => "content_block_stop",
            Frame::MessageDelta { .. } => "message_delta",
            Frame::MessageStop => "message_stop",
            Frame::Error { .. } => "error",
        }
    }
}

#[derive(Serialize)]
struct MessageHead<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<&'a str>,
    stop_sequence: Option<&'a str>,
    usage: WireUsage,
}

/// `{}`: a tool block's `input` before its JSON streams in.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockHead<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Empty,
    },
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'a str,
    stop_sequence: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[StreamEvent]) -> String {
        let mut enc = AnthropicSse::new("req-model");
        let mut out = BytesMut::new();
        for ev in events {
            enc.encode(ev, &mut out);
        }
        enc.finish(&mut out);
        enc.finish(&mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn names(stream: &str) -> Vec<&str> {
        stream
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect()
    }

    fn datas(stream: &str) -> Vec<serde_json::Value> {
        stream
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn text(t: &str) -> StreamEvent {
        StreamEvent::Text { text: t.into() }
    }

    #[test]
    fn an_empty_stream_is_still_well_formed() {
        let out = run(&[]);
        assert_eq!(
            names(&out),
            ["message_start", "message_delta", "message_stop"]
        );
        let d = datas(&out);
        assert_eq!(d[0]["message"]["id"], "");
        assert_eq!(d[0]["message"]["model"], "req-model");
        assert_eq!(d[1]["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn blocks_open_on_kind_changes_with_running_indices() {
        let out = run(&[
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "m".into(),
            },
            StreamEvent::Thinking {
                text: "hmm".into(),
                signature: None,
            },
            StreamEvent::Thinking {
                text: "".into(),
                signature: Some("sig".into()),
            },
            StreamEvent::Thinking {
                text: "again".into(),
                signature: None,
            },
            text(""),
            text("a"),
            text("b"),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "t0".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallArguments {
                index: 0,
                arguments: "{}".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "t1".into(),
                name: "g".into(),
            },
            StreamEvent::ToolCallArguments {
                index: 0,
                arguments: "x".into(),
            },
            StreamEvent::Stop {
                reason: StopReason::ToolUse,
            },
            StreamEvent::Usage {
                usage: Usage {
                    prompt_tokens: 9,
                    completion_tokens: 3,
                    ..Usage::default()
                },
            },
        ]);
        assert_eq!(
            names(&out),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        let d = datas(&out);
        let starts: Vec<_> = d
            .iter()
            .filter(|v| v["type"] == "content_block_start")
            .collect();
        let indices: Vec<_> = starts
            .iter()
            .map(|v| v["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indices, [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            starts[5]["content_block"],
            serde_json::json!({"type": "tool_use", "id": "t0", "name": "f", "input": {}})
        );
        let last = &d[d.len() - 2];
        assert_eq!(last["delta"]["stop_reason"], "tool_use");
        assert_eq!(last["usage"]["input_tokens"], 9);
        assert_eq!(last["usage"]["output_tokens"], 3);
    }

    #[test]
    fn nothing_follows_an_error() {
        let out = run(&[
            text("partial"),
            StreamEvent::Error {
                kind: "overloaded_error".into(),
                message: "Overloaded".into(),
            },
            text("more"),
            StreamEvent::Stop {
                reason: StopReason::EndTurn,
            },
        ]);
        assert_eq!(
            names(&out),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "error"
            ]
        );
        assert_eq!(
            datas(&out)[3],
            serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
    }

    #[test]
    fn any_event_order_is_survived() {
        let all = [
            StreamEvent::Start {
                id: "msg".into(),
                model: "m".into(),
            },
            text("t"),
            StreamEvent::Thinking {
                text: "th".into(),
                signature: Some("s".into()),
            },
            StreamEvent::ToolCallStart {
                index: 3,
                id: "i".into(),
                name: "n".into(),
            },
            StreamEvent::ToolCallArguments {
                index: 7,
                arguments: "{".into(),
            },
            StreamEvent::Stop {
                reason: StopReason::Other("pause_turn".into()),
            },
            StreamEvent::Usage {
                usage: Usage {
                    prompt_tokens: 1,
                    cached_tokens: 5,
                    ..Usage::default()
                },
            },
            StreamEvent::Error {
                kind: "".into(),
                message: "m".into(),
            },
        ];
        // Every ordered pair, triple and reversal: each stream must stay
        // well-formed (one start, balanced blocks, a single end).
        let mut orders: Vec<Vec<StreamEvent>> =
            vec![all.to_vec(), all.iter().rev().cloned().collect()];
        for a in &all {
            for b in &all {
                for c in &all {
                    orders.push(vec![a.clone(), b.clone(), c.clone()]);
                }
            }
        }
        for events in orders {
            let out = run(&events);
            let n = names(&out);
            assert_eq!(
                n.iter().filter(|e| **e == "message_start").count(),
                usize::from(n.first() != Some(&"error")),
                "{out}"
            );
            let opens = n.iter().filter(|e| **e == "content_block_start").count();
            let closes = n.iter().filter(|e| **e == "content_block_stop").count();
            let ends = n
                .iter()
                .filter(|e| **e == "message_stop" || **e == "error")
                .count();
            assert_eq!(ends, 1, "{out}");
            if n.last() == Some(&"message_stop") {
                assert_eq!(opens, closes, "{out}");
            }
            datas(&out);
        }
    }

    #[test]
    fn known_usage_fills_message_start() {
        let out = run(&[
            StreamEvent::Usage {
                usage: Usage {
                    prompt_tokens: 50,
                    cached_tokens: 20,
                    completion_tokens: 4,
                    ..Usage::default()
                },
            },
            StreamEvent::Start {
                id: "msg_2".into(),
                model: "".into(),
            },
        ]);
        let d = datas(&out);
        assert_eq!(
            d[0]["message"]["usage"],
            serde_json::json!({"input_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20, "output_tokens": 0})
        );
        assert_eq!(d[0]["message"]["model"], "req-model");
    }
}
