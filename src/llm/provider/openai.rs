//! OpenAI chat completions as a provider (placeholder).

use crate::llm::{ChatRequest, ChatResponse, LlmError, Provider, ProviderRequest, StreamDecoder, StreamEvent};

/// A provider speaking OpenAI's chat completions.
pub struct OpenAi {
    /// APISIX's provider name.
    pub name: &'static str,
    /// Default scheme and authority.
    pub base: &'static str,
    /// Default path.
    pub path: &'static str,
}

struct Nothing;
impl StreamDecoder for Nothing {
    fn feed(&mut self, _: &[u8], _: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        Ok(())
    }
    fn end(&mut self, _: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        Ok(())
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        self.name
    }
    fn default_base(&self) -> &'static str {
        self.base
    }
    fn build_request(&self, _req: &ChatRequest, _client: &str) -> Result<ProviderRequest, LlmError> {
        Err(LlmError::invalid("not yet"))
    }
    fn decode_response(&self, _body: &[u8]) -> Result<ChatResponse, LlmError> {
        Err(LlmError::provider("not yet"))
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(Nothing)
    }
}
