//! Google Gemini's native API as a provider: `POST
//! /v1beta/models/{model}:generateContent`, streamed
//! `:streamGenerateContent?alt=sse`, embeddings `:batchEmbedContents`
//! (`embeddings.rs`). Canonical requests become
//! `GenerateContentRequest`s (`request.rs`), answers and errors canonical
//! ones (`wire.rs`, `stream.rs`). Credentials are the configuration's
//! (`auth.header` `x-goog-api-key`, or `auth.query` `key`).
//!
//! Choices where the shapes differ:
//! - Leading system messages become `systemInstruction`; later ones user
//!   text at their place (Gemini has no system role in `contents`).
//! - Assistant turns are role `model`, user and tool turns role `user`;
//!   consecutive turns of one role are merged (the results of parallel
//!   calls must share one turn). Blank text, thinking (Gemini takes no
//!   thoughts back) and messages left empty are dropped.
//! - A tool result becomes `functionResponse {name, response}`: the name
//!   is the one of the latest earlier assistant call with the result's id
//!   (else the tool message's `name`, else a 400); the response is the
//!   result's JSON object, else `{"output": text}`, or `{"error": text}`
//!   for a failed call (Gemini's documented keys).
//! - Images: base64 data URIs become `inlineData`, http(s) URLs `fileData`.
//! - Tool parameter and response schemas are cut down to Gemini's schema
//!   subset (`schema.rs`); `parallel_tool_calls` and `user` have no Gemini
//!   field and are dropped; `n` above 1 is refused (one candidate only).
//! - `thinking.budget_tokens` becomes `thinkingConfig {thinkingBudget,
//!   includeThoughts: true}`; `reasoning_effort` a budget without thoughts
//!   shown.
//! - Tool calls get ids `call_<n>`, carrying Gemini's thought signature
//!   (`wire.rs`); `STOP` with calls is `tool_use`; a prompt Gemini blocks
//!   (`promptFeedback.blockReason`, no candidates) is an empty answer
//!   stopped by the content filter, not an error.
//! - Errors keep their HTTP status; their kind comes from Google's
//!   `error.status`, and a bad API key (400 `API_KEY_INVALID`) is a 401.

mod embeddings;
mod request;
mod schema;
mod stream;
mod wire;

use bytes::Bytes;
use serde_json::Value;

use crate::llm::model::{Part, StopReason};
use crate::llm::{
    ChatRequest, ChatResponse, ErrorKind, LlmError, Provider, ProviderRequest, StreamDecoder,
};
use crate::proxy::path::encode_component;
use wire::WirePart;

/// Gemini API's scheme and host.
pub const DEFAULT_BASE: &str = "https://generativelanguage.googleapis.com";

/// `https://generativelanguage.googleapis.com/v1beta/models/…`.
pub struct Gemini;

impl Provider for Gemini {
    fn name(&self) -> &str {
        "gemini"
    }

    fn default_base(&self) -> &str {
        DEFAULT_BASE
    }

    fn build_request(&self, req: &ChatRequest, _client: &str) -> Result<ProviderRequest, LlmError> {
        let model = req.model.strip_prefix("models/").unwrap_or(&req.model);
        if model.is_empty() {
            return Err(LlmError::invalid(
                "Gemini needs a model: set `model` in the request or options.model",
            ));
        }
        let body = request::body(req)?;
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| LlmError::invalid(format!("the request cannot be encoded: {e}")))?;
        let method = if req.stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        Ok(ProviderRequest {
            path_and_query: format!("/v1beta/models/{}:{method}", encode_component(model)),
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, LlmError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| LlmError::provider(format!("the provider's answer is not JSON: {e}")))?;
        if v.get("error").is_some() {
            return Err(self.decode_error(502, body));
        }
        let candidate = v.pointer("/candidates/0");
        let mut content = Vec::new();
        let mut calls = 0u32;
        let parts = candidate
            .and_then(|c| c.pointer("/content/parts"))
            .and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            match wire::read_part(part) {
                WirePart::Text(text) => content.push(Part::text(text)),
                WirePart::Thought(text) => content.push(Part::Thinking {
                    text,
                    signature: None,
                }),
                WirePart::Call {
                    id,
                    name,
                    arguments,
                    signature,
                } => {
                    content.push(Part::ToolCall {
                        id: wire::tool_call_id(calls, id.as_deref(), signature.as_deref()),
                        name,
                        arguments,
                    });
                    calls = calls.saturating_add(1);
                }
                WirePart::Skip => {}
            }
        }
        let stop_reason = match candidate
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str)
        {
            Some(f) => Some(wire::stop_reason(f, calls > 0)),
            None if candidate.is_none() && wire::block_reason(&v).is_some() => {
                Some(StopReason::ContentFilter)
            }
            None => None,
        };
        Ok(ChatResponse {
            id: wire::str_of(&v, "responseId")
                .unwrap_or_default()
                .to_string(),
            model: wire::str_of(&v, "modelVersion")
                .unwrap_or_default()
                .to_string(),
            content,
            stop_reason,
            usage: v.get("usageMetadata").and_then(wire::usage),
            created: 0,
        })
    }

    fn decode_error(&self, status: u16, body: &[u8]) -> LlmError {
        let mut err = LlmError::from_provider(status, body);
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let Some(error) = parsed.as_ref().and_then(|v| v.get("error")) else {
            return err;
        };
        if let Some(kind) = wire::str_of(error, "status").and_then(wire::error_kind) {
            err.kind = kind;
        }
        if wire::bad_api_key(error) {
            err.kind = ErrorKind::Authentication;
            err.status = 401;
        }
        err
    }

    fn retry_after(&self, body: &[u8]) -> Option<u64> {
        let v: Value = serde_json::from_slice(body).ok()?;
        wire::retry_delay(v.get("error")?)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(stream::GeminiStream::default())
    }

    fn embedder(&self) -> Option<&dyn crate::llm::embedding::Embedder> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::{Message, Role};

    #[test]
    fn paths_name_the_model() {
        let mut req = ChatRequest {
            model: "models/gemini 2".into(),
            messages: vec![Message::text(Role::User, "hi")],
            ..ChatRequest::default()
        };
        let out = Gemini.build_request(&req, "openai-chat").unwrap();
        assert_eq!(
            out.path_and_query,
            "/v1beta/models/gemini%202:generateContent"
        );
        req.stream = true;
        req.model = "gemini-2.5-flash".into();
        let out = Gemini.build_request(&req, "openai-chat").unwrap();
        assert_eq!(
            out.path_and_query,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        req.model.clear();
        assert_eq!(
            Gemini
                .build_request(&req, "openai-chat")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn errors_take_google_statuses() {
        let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        let err = Gemini.decode_error(400, body);
        assert_eq!(
            (err.status, err.kind, err.message.as_str()),
            (
                401,
                ErrorKind::Authentication,
                "API key not valid. Please pass a valid API key."
            )
        );
        let err = Gemini.decode_error(
            503,
            br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        );
        assert_eq!((err.status, err.kind), (503, ErrorKind::Overloaded));
        let err = Gemini.decode_error(
            404,
            br#"{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}"#,
        );
        assert_eq!((err.status, err.kind), (404, ErrorKind::InvalidRequest));
        assert_eq!(
            Gemini.decode_error(500, b"<html>").kind,
            ErrorKind::Provider
        );
        assert!(Gemini
            .decode_response(br#"{"error":{"code":500,"message":"x","status":"INTERNAL"}}"#)
            .is_err());
        assert_eq!(
            Gemini.retry_after(br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#),
            Some(7)
        );
    }
}
