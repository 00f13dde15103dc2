//! Client protocols: how clients speak to strait. Detection follows
//! APISIX: a path ending in `/v1/messages` is Anthropic's Messages API,
//! otherwise OpenAI chat completions.

pub mod anthropic_messages;
pub mod openai_chat;

use super::ClientProtocol;

/// The protocol of a request to `path`.
pub fn detect(path: &str) -> &'static dyn ClientProtocol {
    if path.ends_with("/v1/messages") {
        &anthropic_messages::AnthropicMessages
    } else {
        &openai_chat::OpenAiChat
    }
}
