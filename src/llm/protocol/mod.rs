//! Client protocols: how clients speak to strait. Detection follows
//! APISIX: a path ending in `/v1/messages` is Anthropic's Messages API;
//! otherwise a body with `input` and no `messages` (or a path ending in
//! `/embeddings`) is OpenAI's embeddings API, and anything else OpenAI
//! chat completions.

pub mod anthropic_messages;
pub mod openai_chat;
pub mod openai_embeddings;

use serde_json::{Map, Value};

use super::ClientProtocol;

/// The chat protocol of a request to `path` (also the error shape of
/// requests that are not chats: OpenAI's unless Anthropic's path).
pub fn detect(path: &str) -> &'static dyn ClientProtocol {
    if path.ends_with("/v1/messages") {
        &anthropic_messages::AnthropicMessages
    } else {
        &openai_chat::OpenAiChat
    }
}

/// What a request asks for.
#[derive(Clone, Copy)]
pub enum Api {
    /// A chat, in this protocol.
    Chat(&'static dyn ClientProtocol),
    /// OpenAI embeddings.
    Embeddings,
}

/// What a request to `path` with the JSON object `body` asks for.
pub fn detect_api(path: &str, body: &Map<String, Value>) -> Api {
    let chat = detect(path);
    if chat.name() == "openai-chat" && openai_embeddings::matches(path, body) {
        Api::Embeddings
    } else {
        Api::Chat(chat)
    }
}
