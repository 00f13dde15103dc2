//! Anthropic's Messages API as a client protocol (placeholder until the
//! adapter lands).

use bytes::BytesMut;
use serde_json::Value;

use crate::llm::{ChatRequest, ChatResponse, ClientProtocol, LlmError, StreamEncoder, StreamEvent};

/// `POST /v1/messages`.
pub struct AnthropicMessages;

struct Nothing;
impl StreamEncoder for Nothing {
    fn encode(&mut self, _: &StreamEvent, _: &mut BytesMut) {}
    fn finish(&mut self, _: &mut BytesMut) {}
}

impl ClientProtocol for AnthropicMessages {
    fn name(&self) -> &'static str {
        "anthropic-messages"
    }
    fn decode_request(&self, _body: &[u8]) -> Result<ChatRequest, LlmError> {
        Err(LlmError::invalid("not yet"))
    }
    fn encode_response(&self, _resp: &ChatResponse) -> Value {
        Value::Null
    }
    fn encode_error(&self, _err: &LlmError) -> Value {
        Value::Null
    }
    fn stream_encoder(&self, _req: &ChatRequest, _created: u64) -> Box<dyn StreamEncoder> {
        Box::new(Nothing)
    }
}
