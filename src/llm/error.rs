//! Errors of LLM translation and provider calls, with the HTTP status the
//! client gets; each client protocol renders them in its own error shape.

/// What kind of failure (mapped to OpenAI's and Anthropic's error types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The client's request is malformed or unsupported (400).
    InvalidRequest,
    /// The provider refused the credentials (401/403).
    Authentication,
    /// The provider or a strait limit throttled the request (429).
    RateLimit,
    /// The provider is overloaded (529/503).
    Overloaded,
    /// The provider failed or answered something unreadable (5xx).
    Provider,
    /// The provider did not answer in time (504).
    Timeout,
}

impl ErrorKind {
    /// OpenAI's `error.type` for this kind.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Overloaded | ErrorKind::Provider | ErrorKind::Timeout => "api_error",
        }
    }

    /// Anthropic's `error.type` for this kind.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Provider => "api_error",
            ErrorKind::Timeout => "timeout_error",
        }
    }
}

/// An LLM error: status for the client, kind and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LlmError {
    /// HTTP status the client gets.
    pub status: u16,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened, for the client and the log.
    pub message: String,
}

impl LlmError {
    /// A malformed or unsupported client request (400).
    pub fn invalid(message: impl Into<String>) -> LlmError {
        LlmError {
            status: 400,
            kind: ErrorKind::InvalidRequest,
            message: message.into(),
        }
    }

    /// A provider answer strait cannot read (502).
    pub fn provider(message: impl Into<String>) -> LlmError {
        LlmError {
            status: 502,
            kind: ErrorKind::Provider,
            message: message.into(),
        }
    }

    /// The kind of failure a provider's HTTP status means.
    pub fn kind_of_status(status: u16) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Authentication,
            429 => ErrorKind::RateLimit,
            503 | 529 => ErrorKind::Overloaded,
            408 | 504 => ErrorKind::Timeout,
            400..=499 => ErrorKind::InvalidRequest,
            _ => ErrorKind::Provider,
        }
    }

    /// A provider's error answer: its status kept, its message extracted
    /// from the common error shapes (`{"error":{"message"}}`,
    /// `{"error":"..."}`, `{"message"}`), else the body's start.
    pub fn from_provider(status: u16, body: &[u8]) -> LlmError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let message = parsed
            .as_ref()
            .and_then(|v| {
                v.pointer("/error/message")
                    .or_else(|| v.get("error").filter(|e| e.is_string()))
                    .or_else(|| v.get("message"))
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
                format!("provider answered {status}: {}", text.trim())
            });
        LlmError {
            status,
            kind: LlmError::kind_of_status(status),
            message,
        }
    }
}
