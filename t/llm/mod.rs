//! LLM gateway tests: the translation conformance suite (golden fixtures
//! under `t/fixtures/llm/`) and the AI plugins through a running gateway
//! against mock providers (OpenAI, Azure OpenAI, Gemini and Ollama
//! formats), embeddings and model lists included.

mod ai_budget;
mod ai_proxy;
mod ai_proxy_multi;
mod ai_rate_limiting;
mod azure;
mod embedding_fixtures;
mod embeddings;
mod fixtures;
mod gemini;
mod lua_hooks;
mod lua_provider;
mod metrics;
mod models;
mod sdk;
mod token_quota;

/// `POST url` with a JSON `body` and `headers` (a gateway other than
/// `Env`'s, or headers `Env::post_json` does not send).
pub async fn post_json(url: String, body: String, headers: &[(&str, &str)]) -> crate::common::Resp {
    let mut r =
        crate::common::request(http::Method::POST, url).header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.body(body).send().await.expect("request")
}
