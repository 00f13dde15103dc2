//! OpenAI embeddings as a client protocol (`POST /v1/embeddings`):
//! requests decoded into the canonical [`EmbeddingRequest`], answers
//! written as OpenAI's `list` of `embedding` objects. Errors take OpenAI's
//! shape (the chat protocol's). `stream` is ignored: embeddings are never
//! streamed.

use serde_json::{json, Map, Value};

use crate::llm::embedding::{EmbeddingInput, EmbeddingRequest, EmbeddingResponse};
use crate::llm::LlmError;

/// APISIX's protocol name.
pub const NAME: &str = "openai-embeddings";

/// Whether a request to `path` with `body` asks for embeddings: APISIX's
/// rule (a body with `input` and no `messages`; Anthropic's
/// `/v1/messages` is detected before), and any path ending in
/// `/embeddings`. A body with `input` on a path ending in `/responses` is
/// OpenAI's Responses API, which is not embeddings.
pub fn matches(path: &str, body: &Map<String, Value>) -> bool {
    if path.ends_with("/embeddings") {
        return true;
    }
    body.contains_key("input") && !body.contains_key("messages") && !path.ends_with("/responses")
}

/// The client's request (a parsed JSON object) as a canonical request.
pub fn decode(mut obj: Map<String, Value>) -> Result<EmbeddingRequest, LlmError> {
    let model = match obj.remove("model") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(m)) => m,
        Some(_) => return Err(LlmError::invalid("`model` must be a string")),
    };
    let input = match obj.remove("input") {
        None | Some(Value::Null) => return Err(LlmError::invalid("`input` is required")),
        Some(v) => serde_json::from_value::<EmbeddingInput>(v).map_err(|_| {
            LlmError::invalid(
                "`input` must be a string, an array of strings, an array of token ids \
                 or an array of arrays of token ids",
            )
        })?,
    };
    if input.is_empty() {
        return Err(LlmError::invalid("`input` must not be empty"));
    }
    let encoding_format = match obj.remove("encoding_format") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) if f == "float" || f == "base64" => Some(f),
        Some(_) => {
            return Err(LlmError::invalid(
                "`encoding_format` must be \"float\" or \"base64\"",
            ))
        }
    };
    let dimensions = match obj.remove("dimensions") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| LlmError::invalid("`dimensions` must be a positive integer"))?,
        ),
    };
    let user = match obj.remove("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u),
        Some(_) => return Err(LlmError::invalid("`user` must be a string")),
    };
    // Embeddings are never streamed.
    obj.remove("stream");
    obj.remove("stream_options");
    Ok(EmbeddingRequest {
        model,
        input,
        encoding_format,
        dimensions,
        user,
        extra: obj,
    })
}

/// A complete answer in OpenAI's shape; `model` names the model when the
/// answer does not. Usage is always written (strait's estimate when the
/// provider reported none).
pub fn encode_response(resp: &EmbeddingResponse, model: &str) -> Value {
    let data: Vec<Value> = resp
        .data
        .iter()
        .map(|e| json!({"object": "embedding", "index": e.index, "embedding": e.vector}))
        .collect();
    let usage = resp.usage.unwrap_or_default();
    json!({
        "object": "list",
        "data": data,
        "model": if resp.model.is_empty() { model } else { resp.model.as_str() },
        "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens()},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn detection_follows_apisix() {
        let input = obj(json!({"input": "x"}));
        let chat = obj(json!({"input": "x", "messages": []}));
        assert!(matches("/v1/embeddings", &Map::new()));
        assert!(matches("/anything", &input));
        assert!(!matches("/anything", &chat));
        assert!(!matches("/v1/responses", &input));
        assert!(!matches(
            "/v1/chat/completions",
            &obj(json!({"messages": []}))
        ));
    }

    #[test]
    fn decodes_every_input_shape() {
        for (input, tokens) in [
            (json!("a"), false),
            (json!(["a", "b"]), false),
            (json!([1, 2]), true),
            (json!([[1], [2, 3]]), true),
        ] {
            let req = decode(obj(json!({"model": "m", "input": input}))).unwrap();
            assert_eq!(req.input.texts().is_none(), tokens, "{input}");
            assert_eq!(serde_json::to_value(&req.input).unwrap(), input);
        }
        let req = decode(obj(json!({"input": "a", "encoding_format": "base64",
                                    "dimensions": 8, "stream": true, "seed": 1})))
        .unwrap();
        assert!(req.wants_base64());
        assert_eq!(req.dimensions, Some(8));
        assert_eq!(req.extra, obj(json!({"seed": 1})), "stream is dropped");
        for bad in [
            json!({"model": "m"}),
            json!({"input": []}),
            json!({"input": [[]]}),
            json!({"input": [1, "a"]}),
            json!({"input": "a", "encoding_format": "hex"}),
            json!({"input": "a", "dimensions": 0}),
            json!({"input": "a", "model": 3}),
        ] {
            assert_eq!(decode(obj(bad.clone())).unwrap_err().status, 400, "{bad}");
        }
    }
}
