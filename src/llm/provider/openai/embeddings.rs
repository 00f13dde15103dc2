//! Embeddings of the providers speaking OpenAI's wire format: the chat
//! path's `/chat/completions` becomes `/embeddings` (`/v1/embeddings`,
//! DeepSeek's `/embeddings`, Gemini's `/v1beta/openai/embeddings`, an
//! Azure deployment's `…/embeddings`), the body is OpenAI's with the
//! client's other fields kept, and the answer is read back as sent
//! (base64 vectors included). Azure deployment URLs name the model, so
//! their bodies name none, as for chats.

use bytes::Bytes;
use serde_json::{json, Value};

use serde::Deserialize;

use super::wire::WireUsage;
use super::OpenAi;
use crate::llm::embedding::{Embedder, Embedding, EmbeddingRequest, EmbeddingResponse};
use crate::llm::{LlmError, ProviderRequest};

/// The embeddings path for a chat-completions path.
pub fn embeddings_path(chat_path: &str) -> String {
    match chat_path.strip_suffix("/chat/completions") {
        Some(base) => format!("{base}/embeddings"),
        None => chat_path.to_string(),
    }
}

impl Embedder for OpenAi {
    fn build_embeddings(&self, req: &EmbeddingRequest) -> Result<ProviderRequest, LlmError> {
        let mut body = req.extra.clone();
        if self.send_model {
            body.insert("model".into(), json!(req.model));
        }
        body.insert(
            "input".into(),
            serde_json::to_value(&req.input)
                .map_err(|e| LlmError::invalid(format!("cannot encode the input: {e}")))?,
        );
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(k.to_string(), v);
            }
        };
        put(
            "encoding_format",
            req.encoding_format.clone().map(Value::String),
        );
        put("dimensions", req.dimensions.map(|d| json!(d)));
        put("user", req.user.clone().map(Value::String));
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| LlmError::invalid(format!("cannot encode the request: {e}")))?;
        Ok(ProviderRequest {
            path_and_query: embeddings_path(self.path),
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }

    fn decode_embeddings(
        &self,
        _req: &EmbeddingRequest,
        body: &[u8],
    ) -> Result<EmbeddingResponse, LlmError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| LlmError::provider(format!("the provider's answer is not JSON: {e}")))?;
        let Some(items) = v.get("data").and_then(Value::as_array) else {
            return Err(LlmError::provider(
                "the provider's embeddings answer has no `data` list",
            ));
        };
        let mut data = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let vector = item.get("embedding").cloned().ok_or_else(|| {
                LlmError::provider(format!("the provider's embedding {i} has no vector"))
            })?;
            data.push(Embedding {
                index: item
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(i as u64),
                vector,
            });
        }
        Ok(EmbeddingResponse {
            model: v
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            data,
            usage: v
                .get("usage")
                .and_then(|u| WireUsage::deserialize(u).ok())
                .and_then(|u| u.usage()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::embedding::EmbeddingInput;
    use crate::llm::provider::by_name;

    #[test]
    fn paths_and_bodies() {
        assert_eq!(embeddings_path("/v1/chat/completions"), "/v1/embeddings");
        assert_eq!(embeddings_path("/chat/completions"), "/embeddings");
        assert_eq!(embeddings_path("/custom"), "/custom");
        let req = EmbeddingRequest {
            model: "text-embedding-3-small".into(),
            input: EmbeddingInput::Tokens(vec![1, 2]),
            encoding_format: Some("base64".into()),
            dimensions: Some(4),
            user: None,
            extra: serde_json::Map::new(),
        };
        let p = by_name("openai").unwrap();
        let out = p.embedder().unwrap().build_embeddings(&req).unwrap();
        assert_eq!(out.path_and_query, "/v1/embeddings");
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-embedding-3-small", "input": [1, 2],
                   "encoding_format": "base64", "dimensions": 4})
        );
        let azure = by_name("azure-openai").unwrap();
        let out = azure.embedder().unwrap().build_embeddings(&req).unwrap();
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert!(body.get("model").is_none(), "the deployment names it");
        assert!(by_name("anthropic").unwrap().embedder().is_none());
    }
}
