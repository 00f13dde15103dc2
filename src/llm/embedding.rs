//! The canonical embeddings request and answer (OpenAI's `/v1/embeddings`
//! is the client protocol, [`crate::llm::protocol::openai_embeddings`]),
//! and the [`Embedder`] capability of the providers that have an
//! embeddings API. Embeddings are never streamed.
//!
//! Vectors are kept as the provider sent them (a JSON array of floats,
//! or OpenAI's base64 of little-endian `f32`s when the client asked for
//! `encoding_format: "base64"`), so OpenAI-shaped providers pass them
//! through untouched.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::Usage;
use super::{estimate, LlmError, ProviderRequest};

/// What to embed: OpenAI's four shapes of `input`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    Text(String),
    /// Several texts, one vector each.
    Texts(Vec<String>),
    /// One text given as token ids.
    Tokens(Vec<u64>),
    /// Several texts given as token ids.
    TokenLists(Vec<Vec<u64>>),
}

impl EmbeddingInput {
    /// The texts, or None when the input is token ids.
    pub fn texts(&self) -> Option<Vec<&str>> {
        match self {
            EmbeddingInput::Text(t) => Some(vec![t.as_str()]),
            EmbeddingInput::Texts(ts) => Some(ts.iter().map(String::as_str).collect()),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_) => None,
        }
    }

    /// Whether nothing is to be embedded (an empty list, or an empty list in one).
    pub fn is_empty(&self) -> bool {
        match self {
            EmbeddingInput::Text(_) => false,
            EmbeddingInput::Texts(ts) => ts.is_empty(),
            EmbeddingInput::Tokens(t) => t.is_empty(),
            EmbeddingInput::TokenLists(ls) => ls.is_empty() || ls.iter().any(Vec::is_empty),
        }
    }
}

/// An embeddings request, decoded from the client's.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    /// The model (possibly set by `options.model`).
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// `float` (the default) or `base64`.
    pub encoding_format: Option<String>,
    /// Size of the vectors, for models that can shorten them.
    pub dimensions: Option<u64>,
    /// The end user.
    pub user: Option<String>,
    /// The client's other fields, sent to OpenAI-shaped providers only.
    pub extra: Map<String, Value>,
}

impl EmbeddingRequest {
    /// Whether the client wants base64 vectors.
    pub fn wants_base64(&self) -> bool {
        self.encoding_format.as_deref() == Some("base64")
    }
}

/// One vector of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// Position of its input.
    pub index: u64,
    /// The vector: an array of floats, or a base64 string.
    pub vector: Value,
}

/// An embeddings answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddingResponse {
    /// The model that answered (empty when the provider does not say).
    pub model: String,
    /// One vector per input, in input order.
    pub data: Vec<Embedding>,
    /// Tokens used, when the provider reports them.
    pub usage: Option<Usage>,
}

impl EmbeddingResponse {
    /// Settle the answer's usage for `req`: the provider's (embeddings
    /// generate nothing, so no completion tokens), else `req`'s input
    /// counted, marked estimated. Returns it.
    pub fn settle_usage(&mut self, req: &EmbeddingRequest) -> Usage {
        let usage = match self.usage {
            Some(u) => Usage {
                completion_tokens: 0,
                ..u
            },
            None => Usage {
                prompt_tokens: estimate::embedding_tokens(&req.input),
                estimated: true,
                ..Usage::default()
            },
        };
        self.usage = Some(usage);
        usage
    }
}

/// A provider's embeddings API.
pub trait Embedder: Send + Sync {
    /// Build the provider request; the path is the provider's default one
    /// (configuration may replace it, see `AiTarget`).
    fn build_embeddings(&self, req: &EmbeddingRequest) -> Result<ProviderRequest, LlmError>;
    /// A complete answer to `req`.
    fn decode_embeddings(
        &self,
        req: &EmbeddingRequest,
        body: &[u8],
    ) -> Result<EmbeddingResponse, LlmError>;
}

/// The error for a provider without an embeddings API.
pub fn unsupported(provider: &str) -> LlmError {
    LlmError::invalid(format!(
        "provider \"{provider}\" has no embeddings API: route embeddings to openai, \
         azure-openai, gemini or an OpenAI-compatible provider"
    ))
}
