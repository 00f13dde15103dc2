//! LLM gateway tests: the translation conformance suite (golden fixtures
//! under `t/fixtures/llm/`) and the AI plugins through a running gateway
//! against mock providers (OpenAI, Azure OpenAI, Gemini and Ollama
//! formats).

mod ai_budget;
mod ai_proxy;
mod ai_proxy_multi;
mod ai_rate_limiting;
mod azure;
mod fixtures;
mod gemini;
mod lua_hooks;
mod lua_provider;
mod metrics;
mod sdk;
mod token_quota;
