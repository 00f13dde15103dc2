//! Pieces of OpenAI's chat-completions wire format that both directions
//! share (the client protocol writes them, the provider adapter reads
//! them): finish reasons and usage.

use serde_json::Value;

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

/// Usage from OpenAI's `usage` object (`None` unless it has token counts).
pub fn usage_from(v: &Value) -> Option<Usage> {
    let n = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    if !v.is_object() || v.get("prompt_tokens").is_none() && v.get("completion_tokens").is_none() {
        return None;
    }
    let prompt = v.get("prompt_tokens_details");
    let completion = v.get("completion_tokens_details");
    Some(Usage {
        prompt_tokens: n(Some(v), "prompt_tokens"),
        completion_tokens: n(Some(v), "completion_tokens"),
        cached_tokens: n(prompt, "cached_tokens"),
        cache_creation_tokens: n(prompt, "cache_creation_tokens"),
        reasoning_tokens: n(completion, "reasoning_tokens"),
        estimated: false,
    })
}
