//! OpenAI's answer shapes as strait writes them: a `chat.completion` and
//! its `chat.completion.chunk`s, as borrowing structs serialised straight
//! to bytes, fields in OpenAI's order (no `serde_json::Value` tree per
//! answer or per chunk).

use serde::{Serialize, Serializer};

use crate::llm::model::Usage;

/// A field that may be left out, written as `null`, or hold a value.
#[derive(Debug, Default, Clone, Copy)]
pub enum Field<T> {
    /// Not written.
    #[default]
    Omitted,
    /// Written as `null`.
    Null,
    /// Written.
    Set(T),
}

impl<T> Field<T> {
    /// Whether the field is left out.
    pub fn is_omitted(&self) -> bool {
        matches!(self, Field::Omitted)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Set(v) => v.serialize(s),
            Field::Omitted | Field::Null => s.serialize_none(),
        }
    }
}

/// A `chat.completion` or a `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub struct Completion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Field::is_omitted")]
    pub usage: Field<WireUsage>,
}

/// The one choice strait answers with.
#[derive(Debug, Default, Serialize)]
pub struct Choice<'a> {
    pub index: u32,
    /// A complete answer's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Delta<'a>>,
    /// A chunk's delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta<'a>>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'a str>,
}

/// A message, or the part of one a chunk adds.
#[derive(Debug, Default, Serialize)]
pub struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Field::is_omitted")]
    pub content: Field<&'a str>,
    #[serde(skip_serializing_if = "Field::is_omitted")]
    pub refusal: Field<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub tool_calls: &'a [ToolCall<'a>],
}

/// A tool call, or a piece of one (chunks carry `index`).
#[derive(Debug, Default, Serialize)]
pub struct ToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: Function<'a>,
}

/// A tool call's function.
#[derive(Debug, Default, Serialize)]
pub struct Function<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

/// OpenAI's `usage` object.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WireUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PromptDetails {
    pub cached_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CompletionDetails {
    pub reasoning_tokens: u64,
}

impl From<&Usage> for WireUsage {
    fn from(u: &Usage) -> WireUsage {
        WireUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens(),
            prompt_tokens_details: PromptDetails {
                cached_tokens: u.cached_tokens,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: u.reasoning_tokens,
            },
        }
    }
}
