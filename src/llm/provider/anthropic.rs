//! Anthropic's native Messages API as a provider (placeholder until the
//! adapter lands).

use crate::llm::{
    ChatRequest, ChatResponse, LlmError, Provider, ProviderRequest, StreamDecoder, StreamEvent,
};

/// `https://api.anthropic.com/v1/messages`.
pub struct Anthropic;

struct Nothing;
impl StreamDecoder for Nothing {
    fn feed(&mut self, _: &[u8], _: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        Ok(())
    }
    fn end(&mut self, _: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        Ok(())
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn default_base(&self) -> &'static str {
        "https://api.anthropic.com"
    }
    fn build_request(
        &self,
        _req: &ChatRequest,
        _client: &str,
    ) -> Result<ProviderRequest, LlmError> {
        Err(LlmError::invalid("not yet"))
    }
    fn decode_response(&self, _body: &[u8]) -> Result<ChatResponse, LlmError> {
        Err(LlmError::provider("not yet"))
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(Nothing)
    }
}
