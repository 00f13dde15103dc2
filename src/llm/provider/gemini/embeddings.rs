//! Embeddings through Gemini's native API: `POST
//! /v1beta/models/{model}:batchEmbedContents` with one request per input
//! text (`{"requests": [{"model": "models/…", "content": {"parts":
//! [{"text": …}]}}]}`), `dimensions` as `outputDimensionality`; the
//! answer's `embeddings[].values` become OpenAI's vectors in input order.
//!
//! Gemini embeds text only, so token-id inputs are refused (400). It
//! answers floats only: when the client asked for base64, the floats are
//! written as OpenAI does (little-endian `f32`s, base64). The answer has
//! no usage; the caller counts the input.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

use super::{wire, Gemini};
use crate::llm::embedding::{Embedder, Embedding, EmbeddingRequest, EmbeddingResponse};
use crate::llm::{LlmError, Provider, ProviderRequest};
use crate::proxy::path::encode_component;

impl Embedder for Gemini {
    fn build_embeddings(&self, req: &EmbeddingRequest) -> Result<ProviderRequest, LlmError> {
        let model = req.model.strip_prefix("models/").unwrap_or(&req.model);
        if model.is_empty() {
            return Err(LlmError::invalid(
                "Gemini needs a model: set `model` in the request or options.model",
            ));
        }
        let Some(texts) = req.input.texts() else {
            return Err(LlmError::invalid(
                "provider \"gemini\" embeds text only: `input` cannot be token ids",
            ));
        };
        let name = format!("models/{model}");
        let requests: Vec<Value> = texts
            .iter()
            .map(|t| {
                let mut r = json!({"model": name, "content": {"parts": [{"text": t}]}});
                if let Some(d) = req.dimensions {
                    r["outputDimensionality"] = json!(d);
                }
                r
            })
            .collect();
        let body = serde_json::to_vec(&json!({"requests": requests}))
            .map_err(|e| LlmError::invalid(format!("the request cannot be encoded: {e}")))?;
        Ok(ProviderRequest {
            path_and_query: format!(
                "/v1beta/models/{}:batchEmbedContents",
                encode_component(model)
            ),
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }

    fn decode_embeddings(
        &self,
        req: &EmbeddingRequest,
        body: &[u8],
    ) -> Result<EmbeddingResponse, LlmError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| LlmError::provider(format!("the provider's answer is not JSON: {e}")))?;
        if v.get("error").is_some() {
            return Err(self.decode_error(502, body));
        }
        let Some(items) = v.get("embeddings").and_then(Value::as_array) else {
            return Err(LlmError::provider(
                "the provider's embeddings answer has no `embeddings` list",
            ));
        };
        let mut data = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(values) = item.get("values").and_then(Value::as_array) else {
                return Err(LlmError::provider(format!(
                    "the provider's embedding {i} has no `values`"
                )));
            };
            let vector = if req.wants_base64() {
                Value::String(base64_f32(values))
            } else {
                Value::Array(values.clone())
            };
            data.push(Embedding {
                index: i as u64,
                vector,
            });
        }
        Ok(EmbeddingResponse {
            model: req
                .model
                .strip_prefix("models/")
                .unwrap_or(&req.model)
                .to_string(),
            data,
            usage: v.get("usageMetadata").and_then(wire::usage),
        })
    }
}

/// Floats as OpenAI's base64 vectors: little-endian `f32`s.
fn base64_f32(values: &[Value]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        let f = v.as_f64().unwrap_or(0.0) as f32;
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::embedding::EmbeddingInput;

    fn req(input: EmbeddingInput, format: Option<&str>) -> EmbeddingRequest {
        EmbeddingRequest {
            model: "gemini-embedding-001".into(),
            input,
            encoding_format: format.map(str::to_string),
            dimensions: Some(3),
            user: Some("u".into()),
            extra: serde_json::Map::new(),
        }
    }

    #[test]
    fn one_request_per_text() {
        let r = req(EmbeddingInput::Texts(vec!["a".into(), "b".into()]), None);
        let out = Gemini.build_embeddings(&r).unwrap();
        assert_eq!(
            out.path_and_query,
            "/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            body["requests"][1],
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]},
                   "outputDimensionality": 3})
        );
        let tokens = req(EmbeddingInput::Tokens(vec![1]), None);
        assert_eq!(Gemini.build_embeddings(&tokens).unwrap_err().status, 400);
    }

    #[test]
    fn base64_as_openai_writes_it() {
        let r = req(EmbeddingInput::Text("a".into()), Some("base64"));
        let out = Gemini
            .decode_embeddings(&r, br#"{"embeddings":[{"values":[1.0,-2.5]}]}"#)
            .unwrap();
        let mut expected = 1.0f32.to_le_bytes().to_vec();
        expected.extend_from_slice(&(-2.5f32).to_le_bytes());
        assert_eq!(out.data[0].vector, json!(B64.encode(expected)));
        assert_eq!(out.model, "gemini-embedding-001");
        assert!(out.usage.is_none());
    }
}
