//! LLM gateway tests: the translation conformance suite (golden fixtures
//! under `t/fixtures/llm/`) and the AI plugins through a running gateway
//! against mock providers.

mod ai_proxy;
mod fixtures;
mod lua_hooks;
mod lua_provider;
mod sdk;
mod token_quota;
