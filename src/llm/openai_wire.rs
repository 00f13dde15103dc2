//! Pieces of OpenAI's chat-completions wire format that both directions
//! share (the client protocol writes them, the provider adapter reads
//! them): finish reasons.

use super::model::StopReason;

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
