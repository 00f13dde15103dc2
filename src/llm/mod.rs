//! LLM traffic (ARCHITECTURE §4): client protocols decode into the
//! canonical [`model`], provider adapters encode it for a provider and
//! decode the provider's answers and streams back into it.
//!
//! ```text
//! client protocol (OpenAI chat, Anthropic messages,  ⇅ protocol/
//!                  OpenAI embeddings)
//! canonical request / response / stream events      model.rs, embedding.rs
//! provider wire format (OpenAI, Anthropic, …)       ⇅ provider/
//! ```
//!
//! Everything here is pure translation (bytes in, bytes out); the
//! `ai-proxy` plugins do the calls.

pub mod embedding;
pub mod error;
pub mod estimate;
pub mod model;
pub mod openai_wire;
pub mod options;
pub mod price;
pub mod protocol;
pub mod provider;
pub mod sse;
pub mod stats;

pub use error::{ErrorKind, LlmError};
pub use model::{ChatRequest, ChatResponse, StreamEvent, Usage};

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// How clients speak to strait (`openai-chat`, `anthropic-messages`).
pub trait ClientProtocol: Send + Sync + 'static {
    /// APISIX's protocol name.
    fn name(&self) -> &'static str;
    /// The client's request (a parsed JSON object) as a canonical request.
    fn decode_object(&self, obj: Map<String, Value>) -> Result<ChatRequest, LlmError>;
    /// The client's request body as a canonical request.
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, LlmError> {
        decode_request_with(self, body, &Map::new())
    }
    /// A complete answer in the client's shape, as its JSON body
    /// (`resp.created` is set by the caller).
    fn encode_response(&self, resp: &ChatResponse) -> Vec<u8>;
    /// An error in the client's shape.
    fn encode_error(&self, err: &LlmError) -> Value;
    /// A stream encoder for one answer to `req`; `created` is the Unix
    /// time chunks carry where the protocol wants one.
    fn stream_encoder(&self, req: &ChatRequest, created: u64) -> Box<dyn StreamEncoder>;
}

/// Writes canonical stream events in a client protocol's SSE framing.
pub trait StreamEncoder: Send + Sync {
    /// Append what `event` becomes (possibly nothing).
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut);
    /// Append the end of the stream (`data: [DONE]`, `message_stop`);
    /// called once, also after an `Error` event.
    fn finish(&mut self, out: &mut BytesMut);
}

/// A request ready to send to a provider.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    /// Path and query (the endpoint's, unless configuration overrides it).
    pub path_and_query: String,
    /// Headers the provider needs (`anthropic-version`); auth is added by the caller.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The JSON body.
    pub body: Bytes,
}

/// A provider's wire format.
pub trait Provider: Send + Sync + 'static {
    /// APISIX's provider name (`openai`, `anthropic`), or a Lua provider's.
    fn name(&self) -> &str;
    /// The default endpoint's scheme and authority (`https://api.openai.com`);
    /// empty when the configuration must name one.
    fn default_base(&self) -> &str;
    /// Build the provider request. `client` names the client protocol: a
    /// provider speaking the same one also sends [`ChatRequest::extra`].
    fn build_request(&self, req: &ChatRequest, client: &str) -> Result<ProviderRequest, LlmError>;
    /// A complete (non-streamed) answer.
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, LlmError>;
    /// An error answer (status ≥ 400).
    fn decode_error(&self, status: u16, body: &[u8]) -> LlmError {
        LlmError::from_provider(status, body)
    }
    /// Seconds to wait before retrying, read from an error answer's body,
    /// for providers that say it there (Gemini's `RetryInfo`); the
    /// `Retry-After` header, when sent, wins.
    fn retry_after(&self, _body: &[u8]) -> Option<u64> {
        None
    }
    /// A decoder for one streamed answer.
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;
    /// The provider's embeddings API, if it has one.
    fn embedder(&self) -> Option<&dyn embedding::Embedder> {
        None
    }
}

/// Turns a provider's streamed body into canonical events.
pub trait StreamDecoder: Send + Sync {
    /// Feed the next bytes as they arrive; complete events are appended.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError>;
    /// The body ended; append what remains (an error if it ended early).
    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError>;
}

/// Parse `body` as `protocol`'s request with `fields` set over the
/// client's (the one parse of the request body).
pub fn decode_request_with(
    protocol: &(impl ClientProtocol + ?Sized),
    body: &[u8],
    fields: &Map<String, Value>,
) -> Result<ChatRequest, LlmError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::invalid(format!("the request body is not JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(LlmError::invalid("the request body must be a JSON object"));
    };
    obj.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    protocol.decode_object(obj)
}
