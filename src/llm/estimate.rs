//! Token counts strait works out itself:
//!
//! - [`count`]/[`prompt_tokens`]: a real BPE count (OpenAI's `o200k_base`
//!   through tiktoken-rs) for answers whose provider reported no usage (a
//!   stream cut short, a server that never sends usage). Marked estimated:
//!   other providers' tokenizers differ by a few percent.
//! - [`quick_prompt_tokens`]: a few nanoseconds per request, for
//!   reservations that real usage settles afterwards (a BPE pass over a
//!   long prompt would cost milliseconds on every request).

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use super::embedding::EmbeddingInput;
use super::model::{ChatRequest, Part};

/// Tokens a chat message costs beyond its content (OpenAI's formula: 3
/// per message, 3 to prime the answer).
const PER_MESSAGE: u64 = 3;
/// Tokens counted for an image (OpenAI's low-detail figure).
const PER_IMAGE: u64 = 85;

/// The encoding, loaded at its first use. Its tables take about 47 MB and
/// 150 ms to build, so a gateway whose providers always report usage
/// never loads them. On the data plane's (multi-threaded) runtime the
/// worker that loads them hands its other tasks to another thread first.
fn encoding() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    if let Some(loaded) = BPE.get() {
        return loaded.as_ref();
    }
    let load = || {
        BPE.get_or_init(|| match tiktoken_rs::o200k_base() {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::error!("cannot load the o200k_base encoding: {e}");
                None
            }
        })
        .as_ref()
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(load)
        }
        _ => load(),
    }
}

/// BPE tokens of `text` (about a quarter of its bytes if the encoding
/// could not be loaded).
pub fn count(text: &str) -> u64 {
    match encoding() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => (text.len() as u64).div_ceil(4),
    }
}

/// BPE tokens of the prompt of `req`: every text, tool call and result,
/// the tool definitions, and each message's overhead.
pub fn prompt_tokens(req: &ChatRequest) -> u64 {
    let mut total = PER_MESSAGE;
    for m in &req.messages {
        total += PER_MESSAGE;
        for part in &m.content {
            total += match part {
                Part::Text { text, .. } | Part::Thinking { text, .. } => count(text),
                Part::Image { .. } => PER_IMAGE,
                Part::ToolCall {
                    name, arguments, ..
                } => count(name) + count(arguments),
                Part::ToolResult { content, .. } => count(content),
                Part::RedactedThinking { .. } => 0,
            };
        }
    }
    for t in &req.tools {
        total += count(&t.name)
            + t.description.as_deref().map_or(0, count)
            + count(&t.parameters.to_string());
    }
    total
}

/// A cheap prompt estimate: a quarter of the bytes of its texts.
pub fn quick_prompt_tokens(req: &ChatRequest) -> u64 {
    let mut bytes = 0usize;
    for m in &req.messages {
        bytes += 4 * PER_MESSAGE as usize;
        for part in &m.content {
            bytes += match part {
                Part::Text { text, .. } | Part::Thinking { text, .. } => text.len(),
                Part::Image { .. } => 4 * PER_IMAGE as usize,
                Part::ToolCall {
                    name, arguments, ..
                } => name.len() + arguments.len(),
                Part::ToolResult { content, .. } => content.len(),
                Part::RedactedThinking { .. } => 0,
            };
        }
    }
    (bytes as u64).div_ceil(4)
}

/// Tokens of an embeddings input: the BPE count of its texts, or the
/// number of token ids the client sent.
pub fn embedding_tokens(input: &EmbeddingInput) -> u64 {
    match input {
        EmbeddingInput::Text(t) => count(t),
        EmbeddingInput::Texts(ts) => ts.iter().map(|t| count(t)).sum(),
        EmbeddingInput::Tokens(ids) => ids.len() as u64,
        EmbeddingInput::TokenLists(lists) => lists.iter().map(|l| l.len() as u64).sum(),
    }
}

/// A cheap estimate of an embeddings input: a quarter of the bytes of its
/// texts, or the number of token ids.
pub fn quick_embedding_tokens(input: &EmbeddingInput) -> u64 {
    match input {
        EmbeddingInput::Text(t) => (t.len() as u64).div_ceil(4),
        EmbeddingInput::Texts(ts) => ts.iter().map(|t| (t.len() as u64).div_ceil(4)).sum(),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_) => embedding_tokens(input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::{Message, Role};

    #[test]
    fn counts_with_o200k() {
        // Known o200k_base counts.
        assert_eq!(count("hello world"), 2);
        assert_eq!(count(""), 0);
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::System, "Be brief."),
                Message::text(Role::User, "hello world"),
            ],
            ..Default::default()
        };
        // 3 + (3 + 4) + (3 + 2)
        assert_eq!(prompt_tokens(&req), 3 + 3 + count("Be brief.") + 3 + 2);
        assert_eq!(
            quick_prompt_tokens(&req),
            (12 + 9 + 12 + 11_u64).div_ceil(4)
        );
    }

    #[test]
    fn counts_embedding_inputs() {
        let texts = EmbeddingInput::Texts(vec!["hello world".into(), "hello".into()]);
        assert_eq!(embedding_tokens(&texts), 3);
        assert_eq!(quick_embedding_tokens(&texts), 3 + 2);
        let ids = EmbeddingInput::TokenLists(vec![vec![1, 2, 3], vec![4]]);
        assert_eq!(embedding_tokens(&ids), 4);
        assert_eq!(quick_embedding_tokens(&ids), 4);
    }
}
