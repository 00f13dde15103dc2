//! The canonical LLM model (ARCHITECTURE §4): one request, response and
//! stream-event shape that every client protocol decodes into and every
//! provider adapter encodes from. It is a superset of OpenAI chat
//! completions and Anthropic messages: text, images, tool definitions, tool
//! calls and results, thinking, system prompts, stop reasons and usage
//! with cached and reasoning tokens.
//!
//! Conventions, so that N protocols × M providers need no pairwise rules:
//! - System prompts are `Role::System` messages (Anthropic's top-level
//!   `system` becomes leading system messages).
//! - A tool call is a `Part::ToolCall` in an assistant message; a tool
//!   result is a `Part::ToolResult` (OpenAI's `role: tool` messages decode
//!   to `Role::Tool` messages holding one).
//! - Token counts follow OpenAI: `prompt_tokens` includes cached and
//!   cache-creation tokens, `completion_tokens` includes reasoning tokens.
//!
//! The serde form (snake_case, parts tagged by `type`) is what Lua plugins
//! see and change (`lua-plugins/README.md`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A chat request, decoded from any client protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model the client asked for (possibly replaced by configuration).
    #[serde(default)]
    pub model: String,
    /// The conversation, system prompts first.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Largest number of tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling (Anthropic, Gemini).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Whether the client wants a stream.
    #[serde(default)]
    pub stream: bool,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the model must use the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The end user (OpenAI `user`, Anthropic `metadata.user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Structured output (OpenAI's `response_format` object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// Extended thinking: budget in tokens (Anthropic `thinking.budget_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u64>,
    /// Reasoning effort (OpenAI `reasoning_effort`: low, medium, high, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Whether the client asked for usage in the stream (OpenAI
    /// `stream_options.include_usage`); providers are always asked.
    #[serde(default)]
    pub include_usage: bool,
    /// Fields of the client's request that no field above holds. They are
    /// sent to a provider that speaks the client's protocol and dropped for
    /// the others.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions (OpenAI `system` and `developer`, Anthropic `system`).
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// Results of tool calls (OpenAI `role: tool`).
    Tool,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who it is from.
    pub role: Role,
    /// What it says, in order.
    #[serde(default)]
    pub content: Vec<Part>,
    /// A participant name (OpenAI `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    /// A message holding one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: vec![Part::text(text)],
            name: None,
        }
    }

    /// The text parts joined (no separator), for guards, counting and logs.
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let Part::Text { text, .. } = part {
                out.push_str(text);
            }
        }
        out
    }
}

/// A piece of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// Anthropic prompt-caching marker (`{"type":"ephemeral"}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// An image: an `https:` URL or a `data:<media type>;base64,<data>` URI.
    Image {
        /// Where the image is.
        url: String,
        /// OpenAI's `detail` (low, high, auto).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A call of a tool by the model.
    ToolCall {
        /// Call id, echoed by the result.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments as JSON text (as OpenAI sends them).
        arguments: String,
    },
    /// The result of a tool call.
    ToolResult {
        /// The call this answers.
        tool_call_id: String,
        /// The result as text.
        content: String,
        /// Whether the tool failed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    /// The model's visible reasoning (Anthropic `thinking`).
    Thinking {
        /// The reasoning text.
        text: String,
        /// Anthropic's signature, needed to send the block back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// Reasoning the provider keeps encrypted (Anthropic `redacted_thinking`).
    RedactedThinking {
        /// The opaque data.
        data: String,
    },
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text {
            text: text.into(),
            cache_control: None,
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of its arguments.
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// How the model must use tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call (OpenAI `required`, Anthropic `any`).
    Required,
    /// This tool.
    Tool(String),
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its turn.
    EndTurn,
    /// A stop sequence matched.
    StopSequence,
    /// The token limit was reached (also the context window).
    MaxTokens,
    /// The model called tools.
    ToolUse,
    /// Output was withheld by a content filter or refused.
    ContentFilter,
    /// Anything else, as the provider named it.
    Other(String),
}

/// Token usage of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, cached and cache-creation tokens included.
    pub prompt_tokens: u64,
    /// Output tokens, reasoning tokens included.
    pub completion_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    #[serde(default)]
    pub cache_creation_tokens: u64,
    /// Output tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Counted by strait's tokenizer because the provider reported none.
    #[serde(default)]
    pub estimated: bool,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The provider's id for it.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// Text, thinking and tool calls, in order.
    pub content: Vec<Part>,
    /// Why it stopped.
    pub stop_reason: Option<StopReason>,
    /// Token usage, if known.
    pub usage: Option<Usage>,
    /// Creation time (Unix seconds).
    #[serde(default)]
    pub created: u64,
}

/// One event of a streamed answer, in provider order. A stream is
/// `Start`, content deltas, `Stop`, `Usage` (any order of the last two),
/// then its end; `Error` may come at any point and ends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The answer begins.
    Start {
        /// The provider's id.
        id: String,
        /// The model answering.
        model: String,
    },
    /// More text.
    Text {
        /// The text.
        text: String,
    },
    /// More reasoning text, or its signature.
    Thinking {
        /// The text (may be empty when only the signature comes).
        text: String,
        /// Anthropic's signature of the thinking block.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// A tool call begins; `index` counts tool calls from 0.
    ToolCallStart {
        /// Which tool call.
        index: u32,
        /// Its id.
        id: String,
        /// The tool.
        name: String,
    },
    /// More argument JSON for tool call `index`.
    ToolCallArguments {
        /// Which tool call.
        index: u32,
        /// A fragment of the arguments' JSON text.
        arguments: String,
    },
    /// Why generation stopped.
    Stop {
        /// The reason.
        reason: StopReason,
    },
    /// Usage so far (a later one replaces an earlier one).
    Usage {
        /// The figures.
        usage: Usage,
    },
    /// The provider failed mid-stream.
    Error {
        /// The provider's error type (`overloaded_error`, `server_error`).
        kind: String,
        /// Its message.
        message: String,
    },
}
