//! Pieces of Anthropic's Messages wire format that both directions need:
//! the provider adapter (`provider/anthropic.rs`) and the client protocol
//! (`protocol/anthropic_messages.rs`) read and write the same content
//! blocks, stop reasons, usage figures, image sources and tool choices.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::llm::model::{Part, StopReason, ToolChoice, Usage};

/// The canonical stop reason of Anthropic's `stop_reason`. Following the
/// reference mapping, `model_context_window_exceeded` counts as the token
/// limit and `refusal` as a content filter; `pause_turn` and reasons added
/// later stay `Other` with Anthropic's name.
pub(crate) fn stop_reason_from_wire(reason: &str) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "stop_sequence" => StopReason::StopSequence,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// Anthropic's `stop_reason` for a canonical one.
pub(crate) fn stop_reason_to_wire(reason: &StopReason) -> &str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::StopSequence => "stop_sequence",
        StopReason::MaxTokens => "max_tokens",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
        StopReason::Other(other) => other,
    }
}

/// Anthropic's usage figures. Unlike the canonical [`Usage`],
/// `input_tokens` excludes the cache reads and writes. Field order is
/// Anthropic's, for the stream encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct WireUsage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Input tokens written to the cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl WireUsage {
    /// The figures of a `usage` object; absent or null fields are 0.
    pub fn from_value(usage: &Value) -> WireUsage {
        WireUsage {
            input_tokens: count(usage, "input_tokens").unwrap_or(0),
            cache_creation_input_tokens: count(usage, "cache_creation_input_tokens").unwrap_or(0),
            cache_read_input_tokens: count(usage, "cache_read_input_tokens").unwrap_or(0),
            output_tokens: count(usage, "output_tokens").unwrap_or(0),
        }
    }

    /// The canonical figures: cache reads and writes count as prompt tokens.
    pub fn to_usage(self) -> Usage {
        Usage {
            prompt_tokens: self
                .input_tokens
                .saturating_add(self.cache_creation_input_tokens)
                .saturating_add(self.cache_read_input_tokens),
            completion_tokens: self.output_tokens,
            cached_tokens: self.cache_read_input_tokens,
            cache_creation_tokens: self.cache_creation_input_tokens,
            ..Usage::default()
        }
    }

    /// Anthropic's figures for canonical ones (`input_tokens` without the
    /// cache reads and writes, never below 0).
    pub fn from_usage(usage: &Usage) -> WireUsage {
        WireUsage {
            input_tokens: usage
                .prompt_tokens
                .saturating_sub(usage.cached_tokens)
                .saturating_sub(usage.cache_creation_tokens),
            cache_creation_input_tokens: usage.cache_creation_tokens,
            cache_read_input_tokens: usage.cached_tokens,
            output_tokens: usage.completion_tokens,
        }
    }

    /// As a JSON object.
    pub fn to_value(self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
        })
    }
}

/// A token count field of `obj`, if present and a number.
pub(crate) fn count(obj: &Value, field: &str) -> Option<u64> {
    obj.get(field).and_then(Value::as_u64)
}

/// Why a content block could not become a [`Part`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockError {
    /// A block type the canonical model has no part for.
    Unsupported(String),
    /// The block is malformed; the message names the field.
    Malformed(String),
}

impl std::fmt::Display for BlockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockError::Unsupported(kind) => {
                write!(f, "content block type \"{kind}\" is not supported")
            }
            BlockError::Malformed(message) => f.write_str(message),
        }
    }
}

/// The part an Anthropic content block (request or response) holds.
/// `tool_use` input becomes argument JSON text; `tool_result` content
/// (a string or text blocks, joined by newlines) becomes text.
pub(crate) fn part_from_block(block: &Value) -> Result<Part, BlockError> {
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| BlockError::Malformed("`type` is missing or not a string".into()))?;
    match kind {
        "text" => Ok(Part::Text {
            text: string_field(block, "text")?,
            cache_control: block.get("cache_control").filter(|c| !c.is_null()).cloned(),
        }),
        "image" => {
            let source = block
                .get("source")
                .ok_or_else(|| BlockError::Malformed("`source` is missing".into()))?;
            Ok(Part::Image {
                url: image_url_from_source(source)?,
                detail: None,
            })
        }
        "tool_use" => Ok(Part::ToolCall {
            id: string_field(block, "id")?,
            name: string_field(block, "name")?,
            arguments: block
                .get("input")
                .filter(|i| !i.is_null())
                .map_or_else(|| "{}".to_string(), Value::to_string),
        }),
        "tool_result" => Ok(Part::ToolResult {
            tool_call_id: string_field(block, "tool_use_id")?,
            content: tool_result_text(block.get("content"))?,
            is_error: block
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        "thinking" => Ok(Part::Thinking {
            text: string_field(block, "thinking")?,
            signature: block
                .get("signature")
                .and_then(Value::as_str)
                .map(str::to_string),
        }),
        "redacted_thinking" => Ok(Part::RedactedThinking {
            data: string_field(block, "data")?,
        }),
        other => Err(BlockError::Unsupported(other.to_string())),
    }
}

fn string_field(block: &Value, field: &str) -> Result<String, BlockError> {
    block
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| BlockError::Malformed(format!("`{field}` is missing or not a string")))
}

/// A `tool_result`'s content as text: absent is empty, a string is kept,
/// text blocks are joined by newlines. Images and documents in a result
/// have no canonical form.
fn tool_result_text(content: Option<&Value>) -> Result<String, BlockError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for block in blocks {
                match part_from_block(block)? {
                    Part::Text { text, .. } => texts.push(text),
                    _ => {
                        let kind = block.get("type").and_then(Value::as_str).unwrap_or("?");
                        return Err(BlockError::Malformed(format!(
                            "`content` holds a \"{kind}\" block; only text is supported in a tool result"
                        )));
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        Some(_) => Err(BlockError::Malformed(
            "`content` must be a string or an array of blocks".into(),
        )),
    }
}

/// An image `source` as a canonical URL: base64 data becomes a
/// `data:<media type>;base64,<data>` URI, a `url` source its URL.
pub(crate) fn image_url_from_source(source: &Value) -> Result<String, BlockError> {
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media_type = source
                .get("media_type")
                .and_then(Value::as_str)
                .ok_or_else(|| BlockError::Malformed("`source.media_type` is missing".into()))?;
            let data = source
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| BlockError::Malformed("`source.data` is missing".into()))?;
            Ok(format!("data:{media_type};base64,{data}"))
        }
        Some("url") => source
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| BlockError::Malformed("`source.url` is missing".into())),
        Some(other) => Err(BlockError::Malformed(format!(
            "image source type \"{other}\" is not supported"
        ))),
        None => Err(BlockError::Malformed("`source.type` is missing".into())),
    }
}

/// Anthropic's image `source` for a canonical URL: a base64 data URI is
/// split into media type and data, an `http(s)` URL is sent as a URL.
pub(crate) fn image_source(url: &str) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| "the data URI has no `,`".to_string())?;
        let media_type = meta
            .strip_suffix(";base64")
            .ok_or_else(|| "the data URI is not base64".to_string())?;
        return Ok(json!({"type": "base64", "media_type": media_type, "data": data}));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(json!({"type": "url", "url": url}));
    }
    Err("the image URL must be http(s) or a base64 data URI".to_string())
}

/// Anthropic's `tool_choice` object as a canonical choice and the
/// parallel-calls flag (`disable_parallel_tool_use` inverted, if given).
pub(crate) fn tool_choice_from_wire(choice: &Value) -> Result<(ToolChoice, Option<bool>), String> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|disable| !disable);
    let choice = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => match choice.get("name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Tool(name.to_string()),
            None => return Err("`tool_choice.name` is missing for type \"tool\"".into()),
        },
        Some(other) => return Err(format!("`tool_choice.type` \"{other}\" is unknown")),
        None => return Err("`tool_choice.type` is missing".into()),
    };
    Ok((choice, parallel))
}

/// Anthropic's `tool_choice` for a canonical choice (`auto` when only the
/// parallel flag is set); `none` carries no parallel flag.
pub(crate) fn tool_choice_to_wire(
    choice: Option<&ToolChoice>,
    parallel: Option<bool>,
) -> Option<Value> {
    let mut obj = Map::new();
    let kind = match choice {
        Some(ToolChoice::Auto) => "auto",
        Some(ToolChoice::Required) => "any",
        Some(ToolChoice::None) => "none",
        Some(ToolChoice::Tool(name)) => {
            obj.insert("name".into(), Value::String(name.clone()));
            "tool"
        }
        None if parallel == Some(false) => "auto",
        None => return None,
    };
    obj.insert("type".into(), Value::String(kind.into()));
    if let (Some(parallel), false) = (parallel, kind == "none") {
        obj.insert("disable_parallel_tool_use".into(), Value::Bool(!parallel));
    }
    Some(Value::Object(obj))
}

/// A tool call's argument JSON text as Anthropic's `input` object (empty
/// text is `{}`); `None` when it is not a JSON object.
pub(crate) fn tool_input(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(Value::Object(Map::new()));
    }
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_converts_both_ways() {
        let wire = WireUsage::from_value(&json!({
            "input_tokens": 10, "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 100, "output_tokens": 7
        }));
        let usage = wire.to_usage();
        assert_eq!(usage.prompt_tokens, 115);
        assert_eq!(usage.cached_tokens, 100);
        assert_eq!(usage.cache_creation_tokens, 5);
        assert_eq!(WireUsage::from_usage(&usage), wire);
        let odd = Usage {
            prompt_tokens: 3,
            cached_tokens: 10,
            ..Usage::default()
        };
        assert_eq!(WireUsage::from_usage(&odd).input_tokens, 0);
    }

    #[test]
    fn image_sources_round_trip() {
        let src = image_source("data:image/png;base64,AAAA").unwrap();
        assert_eq!(
            src,
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(
            image_url_from_source(&src).unwrap(),
            "data:image/png;base64,AAAA"
        );
        assert_eq!(
            image_source("https://x/y.jpg").unwrap(),
            json!({"type": "url", "url": "https://x/y.jpg"})
        );
        assert!(image_source("data:image/png,%20").is_err());
        assert!(image_source("ftp://x").is_err());
        assert!(image_source("").is_err());
    }

    #[test]
    fn tool_choice_round_trips() {
        for wire in [
            json!({"type": "auto"}),
            json!({"type": "any", "disable_parallel_tool_use": true}),
            json!({"type": "none"}),
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": false}),
        ] {
            let (choice, parallel) = tool_choice_from_wire(&wire).unwrap();
            assert_eq!(tool_choice_to_wire(Some(&choice), parallel), Some(wire));
        }
        assert_eq!(
            tool_choice_to_wire(None, Some(false)),
            Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
        );
        assert_eq!(tool_choice_to_wire(None, Some(true)), None);
        assert!(tool_choice_from_wire(&json!({"type": "tool"})).is_err());
        assert!(tool_choice_from_wire(&json!({"type": "sometimes"})).is_err());
    }

    #[test]
    fn tool_input_needs_an_object() {
        assert_eq!(tool_input(""), Some(json!({})));
        assert_eq!(tool_input("{\"a\":1}"), Some(json!({"a": 1})));
        assert_eq!(tool_input("[1]"), None);
        assert_eq!(tool_input("{\"a\":"), None);
    }

    #[test]
    fn blocks_name_what_is_wrong() {
        assert_eq!(
            part_from_block(&json!({"text": "x"}))
                .unwrap_err()
                .to_string(),
            "`type` is missing or not a string"
        );
        assert_eq!(
            part_from_block(&json!({"type": "document"})).unwrap_err(),
            BlockError::Unsupported("document".into())
        );
        let result = part_from_block(&json!({
            "type": "tool_result", "tool_use_id": "t",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
        }))
        .unwrap();
        assert_eq!(
            result,
            Part::ToolResult {
                tool_call_id: "t".into(),
                content: "a\nb".into(),
                is_error: false
            }
        );
    }
}
