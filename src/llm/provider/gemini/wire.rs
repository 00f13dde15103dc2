//! Pieces of Gemini's `generateContent` answers that the complete answer
//! and the stream share: response parts, finish reasons, usage, error
//! statuses, and the tool call ids strait makes up.
//!
//! Gemini gives tool calls no id (unless `functionCall.id` is set): strait
//! numbers them `call_<n>` in answer order. A Gemini `thoughtSignature` on
//! a call must come back with it in the next request (Gemini 3 rejects a
//! function-calling history without it), and the id is the one thing
//! every client protocol sends back unchanged, so the signature travels in
//! the id: `call_0__sig_<signature in base64url>`.

use serde_json::Value;

use crate::llm::model::{StopReason, Usage};
use crate::llm::ErrorKind;

/// What separates a tool call's id from the thought signature it carries.
const SIGNATURE_MARK: &str = "__sig_";

/// The signature Google documents for function calls whose real one is
/// unknown (a history from another model, or trimmed by the client):
/// Gemini 3 then skips its check instead of rejecting the request.
pub(super) const SIGNATURE_SENTINEL: &str = "skip_thought_signature_validator";

/// One response part in canonical terms.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum WirePart {
    /// Answer text.
    Text(String),
    /// A thought summary (`thought: true`).
    Thought(String),
    /// A function call.
    Call {
        /// Gemini's `functionCall.id`, if it gave one.
        id: Option<String>,
        /// The function.
        name: String,
        /// `args` as JSON text (`{}` when absent).
        arguments: String,
        /// The part's `thoughtSignature`.
        signature: Option<String>,
    },
    /// A part with nothing canonical (empty text carrying only a
    /// signature, inline images, executable code and its results).
    Skip,
}

/// Read one `candidates[0].content.parts[]` element.
pub(super) fn read_part(part: &Value) -> WirePart {
    if let Some(call) = part.get("functionCall") {
        let arguments = match call.get("args") {
            Some(args @ Value::Object(_)) => args.to_string(),
            _ => "{}".to_string(),
        };
        return WirePart::Call {
            id: str_of(call, "id")
                .filter(|id| !id.is_empty())
                .map(str::to_string),
            name: str_of(call, "name").unwrap_or_default().to_string(),
            arguments,
            signature: str_of(part, "thoughtSignature").map(str::to_string),
        };
    }
    match str_of(part, "text") {
        Some("") | None => WirePart::Skip,
        Some(text) if part.get("thought").and_then(Value::as_bool) == Some(true) => {
            WirePart::Thought(text.to_string())
        }
        Some(text) => WirePart::Text(text.to_string()),
    }
}

/// The id strait gives the `index`th tool call of an answer.
pub(super) fn tool_call_id(index: u32, given: Option<&str>, signature: Option<&str>) -> String {
    let base = match given {
        Some(id) => id.to_string(),
        None => format!("call_{index}"),
    };
    match signature.filter(|s| !s.is_empty()) {
        Some(sig) => {
            let url_safe: String = sig
                .chars()
                .filter(|c| *c != '=')
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            format!("{base}{SIGNATURE_MARK}{url_safe}")
        }
        None => base,
    }
}

/// The thought signature a tool call id carries (standard base64, padded).
pub(super) fn signature_of(id: &str) -> Option<String> {
    let (_, sig) = id.split_once(SIGNATURE_MARK)?;
    if sig.is_empty() {
        return None;
    }
    let mut out: String = sig
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while out.len() % 4 != 0 {
        out.push('=');
    }
    Some(out)
}

/// The canonical stop reason of a `finishReason`. Gemini says `STOP` also
/// when the model called tools; `tool_called` turns that into `ToolUse`.
/// Safety, recitation, blocklist, prohibited-content and personal-data
/// stops are content filters; reasons without a canonical name stay
/// `Other`, lower-cased (`malformed_function_call`).
pub(super) fn stop_reason(finish: &str, tool_called: bool) -> StopReason {
    match finish {
        "STOP" | "FINISH_REASON_UNSPECIFIED" if tool_called => StopReason::ToolUse,
        "STOP" | "FINISH_REASON_UNSPECIFIED" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_ascii_lowercase()),
    }
}

/// The prompt's `promptFeedback.blockReason`, when Gemini refused it
/// (the answer then has no candidates).
pub(super) fn block_reason(answer: &Value) -> Option<&str> {
    answer
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
        .filter(|r| *r != "BLOCK_REASON_UNSPECIFIED")
}

/// Canonical usage of `usageMetadata` (`None` without token counts).
///
/// The canonical figures follow OpenAI (`model.rs`): completion tokens
/// include reasoning tokens. Gemini's `candidatesTokenCount` excludes the
/// thoughts, so completion = candidates + thoughts and reasoning =
/// thoughts; prompt = `promptTokenCount` (which includes the cached
/// content) + `toolUsePromptTokenCount`, so that prompt + completion is
/// Gemini's `totalTokenCount`.
pub(super) fn usage(meta: &Value) -> Option<Usage> {
    let n = |k: &str| meta.get(k).and_then(Value::as_u64);
    let (prompt, candidates, thoughts) = (
        n("promptTokenCount"),
        n("candidatesTokenCount"),
        n("thoughtsTokenCount"),
    );
    if prompt.is_none() && candidates.is_none() && thoughts.is_none() {
        return None;
    }
    let thoughts = thoughts.unwrap_or(0);
    Some(Usage {
        prompt_tokens: prompt
            .unwrap_or(0)
            .saturating_add(n("toolUsePromptTokenCount").unwrap_or(0)),
        completion_tokens: candidates.unwrap_or(0).saturating_add(thoughts),
        cached_tokens: n("cachedContentTokenCount").unwrap_or(0),
        cache_creation_tokens: 0,
        reasoning_tokens: thoughts,
        estimated: false,
    })
}

/// The error kind of Google's `error.status` (a `google.rpc.Code` name).
pub(super) fn error_kind(status: &str) -> Option<ErrorKind> {
    Some(match status {
        "INVALID_ARGUMENT"
        | "FAILED_PRECONDITION"
        | "OUT_OF_RANGE"
        | "NOT_FOUND"
        | "ALREADY_EXISTS" => ErrorKind::InvalidRequest,
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorKind::Authentication,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" | "UNIMPLEMENTED" | "ABORTED" | "CANCELLED" => {
            ErrorKind::Provider
        }
        _ => return None,
    })
}

/// Whether an error's `details` name a bad API key (`API_KEY_INVALID`),
/// which Gemini answers with 400 `INVALID_ARGUMENT`.
pub(super) fn bad_api_key(error: &Value) -> bool {
    details(error).any(|d| str_of(d, "reason") == Some("API_KEY_INVALID"))
}

/// Seconds of an error's `RetryInfo.retryDelay` (`"37s"`, `"0.5s"`),
/// rounded up.
pub(super) fn retry_delay(error: &Value) -> Option<u64> {
    let delay = details(error)
        .filter(|d| str_of(d, "@type").is_some_and(|t| t.ends_with("google.rpc.RetryInfo")))
        .find_map(|d| str_of(d, "retryDelay"))?;
    let secs: f64 = delay.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
}

fn details(error: &Value) -> impl Iterator<Item = &Value> {
    error
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A string field of `v`.
pub(super) fn str_of<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signatures_travel_in_ids_and_come_back() {
        assert_eq!(tool_call_id(2, None, None), "call_2");
        assert_eq!(tool_call_id(0, Some("abc"), Some("")), "abc");
        let sig = "AY89a+8iOc/us5wr5b==";
        let id = tool_call_id(0, None, Some(sig));
        assert_eq!(id, "call_0__sig_AY89a-8iOc_us5wr5b");
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert_eq!(signature_of(&id).as_deref(), Some(sig));
        assert_eq!(signature_of("call_0"), None);
        assert_eq!(signature_of("call_0__sig_"), None);
        assert_eq!(signature_of("x__sig_abc").as_deref(), Some("abc="));
    }

    #[test]
    fn usage_counts_thoughts_as_completion_tokens() {
        let u = usage(&json!({"promptTokenCount": 100, "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30, "cachedContentTokenCount": 60,
            "toolUsePromptTokenCount": 5, "totalTokenCount": 155}))
        .unwrap();
        assert_eq!(
            u,
            Usage {
                prompt_tokens: 105,
                completion_tokens: 50,
                cached_tokens: 60,
                reasoning_tokens: 30,
                ..Usage::default()
            }
        );
        assert_eq!(u.total_tokens(), 155);
        assert_eq!(usage(&json!({"trafficType": "ON_DEMAND"})), None);
        assert_eq!(
            usage(&json!({"promptTokenCount": 7})).map(|u| u.completion_tokens),
            Some(0)
        );
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(stop_reason("STOP", false), StopReason::EndTurn);
        assert_eq!(stop_reason("STOP", true), StopReason::ToolUse);
        assert_eq!(stop_reason("MAX_TOKENS", true), StopReason::MaxTokens);
        assert_eq!(stop_reason("SPII", false), StopReason::ContentFilter);
        assert_eq!(
            stop_reason("MALFORMED_FUNCTION_CALL", false),
            StopReason::Other("malformed_function_call".into())
        );
    }

    #[test]
    fn parts() {
        assert_eq!(read_part(&json!({"text": ""})), WirePart::Skip);
        assert_eq!(
            read_part(&json!({"text": "", "thoughtSignature": "x"})),
            WirePart::Skip
        );
        assert_eq!(
            read_part(&json!({"text": "hm", "thought": true})),
            WirePart::Thought("hm".into())
        );
        assert_eq!(
            read_part(&json!({"functionCall": {"name": "f"}, "thoughtSignature": "s"})),
            WirePart::Call {
                id: None,
                name: "f".into(),
                arguments: "{}".into(),
                signature: Some("s".into())
            }
        );
    }

    #[test]
    fn retry_delays_round_up() {
        let e = json!({"details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36.2s"}]});
        assert_eq!(retry_delay(&e), Some(37));
        assert_eq!(retry_delay(&json!({})), None);
        assert_eq!(
            retry_delay(
                &json!({"details": [{"@type": "google.rpc.RetryInfo", "retryDelay": "soon"}]})
            ),
            None
        );
    }
}
