//! The embeddings of the mock LLM provider, in OpenAI's wire format
//! (`POST …/embeddings`, Azure's deployment `…/embeddings` included) and
//! Gemini's (`POST /v1beta/models/{model}:batchEmbedContents`).
//!
//! Every input gets the vector [`vector`]`(text, index, dimensions)`:
//! `[characters of the text, its index, 0.5, 0.5, …]`, 3 long unless
//! `dimensions` (`outputDimensionality`) says otherwise; token-id inputs
//! count one character per id. OpenAI's answer is base64 (little-endian
//! `f32`s) when `encoding_format` is `base64`, with `usage.prompt_tokens`
//! = characters of all inputs, except for model `no-usage`, which reports
//! none. Gemini's answer has no usage (as Google's), and a request naming
//! another model than the URL is a 400 (as Google's).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::mock_llm::{full, MockBody};

/// The mock's vector for input `text` (characters) at `index`.
pub fn vector(chars: usize, index: usize, dimensions: Option<u64>) -> Vec<f32> {
    let n = dimensions.unwrap_or(3).max(2) as usize;
    let mut v = vec![chars as f32, index as f32];
    v.resize(n, 0.5);
    v
}

/// Little-endian `f32`s in base64, as OpenAI sends them.
pub fn base64_vector(v: &[f32]) -> String {
    B64.encode(v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>())
}

/// The characters of each input (token ids: one per id), or None when
/// `input` is no valid OpenAI input.
fn input_sizes(input: &Value) -> Option<Vec<usize>> {
    match input {
        Value::String(s) => Some(vec![s.chars().count()]),
        Value::Array(items) if !items.is_empty() => {
            if items.iter().all(Value::is_u64) {
                return Some(vec![items.len()]);
            }
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Some(s.chars().count()),
                    Value::Array(ids) if ids.iter().all(Value::is_u64) => Some(ids.len()),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

/// OpenAI's answer to an embeddings request for `model`.
pub fn openai(body: &Value, model: &str) -> Response<MockBody> {
    let Some(sizes) = input_sizes(&body["input"]) else {
        return full(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "'$.input' is invalid.", "type": "invalid_request_error",
                             "param": null, "code": null}}),
        );
    };
    let base64 = body["encoding_format"] == "base64";
    let dims = body["dimensions"].as_u64();
    let data: Vec<Value> = sizes
        .iter()
        .enumerate()
        .map(|(i, chars)| {
            let v = vector(*chars, i, dims);
            let embedding = if base64 {
                json!(base64_vector(&v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let mut answer = json!({"object": "list", "data": data, "model": format!("{model}-0001")});
    if model != "no-usage" {
        let chars: usize = sizes.iter().sum();
        answer["usage"] = json!({"prompt_tokens": chars, "total_tokens": chars});
    }
    full(StatusCode::OK, answer)
}

/// Gemini's answer to `batchEmbedContents` on `model`.
pub fn gemini(body: &Value, model: &str) -> Response<MockBody> {
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    let mut embeddings = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        if r["model"] != format!("models/{model}") {
            return full(
                StatusCode::BAD_REQUEST,
                json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                 "message": format!("Model name in requests[{i}] must match the model in the URL")}}),
            );
        }
        let text: String = r["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .collect();
        let v = vector(text.chars().count(), i, r["outputDimensionality"].as_u64());
        embeddings.push(json!({"values": v}));
    }
    full(StatusCode::OK, json!({"embeddings": embeddings}))
}
