//! Pieces of OpenAI's chat-completions wire format that both directions
//! share (the client protocol writes them, the provider adapter reads
//! them): finish reasons and usage.

use serde_json::{json, Value};

use super::model::{StopReason, Usage};

/// OpenAI's `finish_reason` for a stop reason.
pub fn finish_reason(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
        // Unknown reasons read as a normal end (OpenAI clients know no others).
        StopReason::Other(_) => "stop",
    }
}

/// The stop reason of an OpenAI `finish_reason`.
pub fn stop_reason(finish: &str) -> StopReason {
    match finish {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// OpenAI's `usage` object.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens(),
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

/// Usage from OpenAI's `usage` object (`None` unless it has token counts).
pub fn usage_from(v: &Value) -> Option<Usage> {
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    if !v.is_object() || v.get("prompt_tokens").is_none() && v.get("completion_tokens").is_none() {
        return None;
    }
    Some(Usage {
        prompt_tokens: n("/prompt_tokens"),
        completion_tokens: n("/completion_tokens"),
        cached_tokens: n("/prompt_tokens_details/cached_tokens"),
        cache_creation_tokens: n("/prompt_tokens_details/cache_creation_tokens"),
        reasoning_tokens: n("/completion_tokens_details/reasoning_tokens"),
        estimated: false,
    })
}
