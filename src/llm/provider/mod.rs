//! Provider adapters, one file per wire format. Providers that speak
//! OpenAI's chat completions differ only in their default endpoint.

pub mod anthropic;
pub mod openai;

use std::sync::Arc;

use super::Provider;
use openai::OpenAi;

const OPENAI: OpenAi = OpenAi {
    name: "openai",
    base: "https://api.openai.com",
    path: "/v1/chat/completions",
};
const DEEPSEEK: OpenAi = OpenAi {
    name: "deepseek",
    base: "https://api.deepseek.com",
    path: "/chat/completions",
};
const OPENROUTER: OpenAi = OpenAi {
    name: "openrouter",
    base: "https://openrouter.ai",
    path: "/api/v1/chat/completions",
};
const AIMLAPI: OpenAi = OpenAi {
    name: "aimlapi",
    base: "https://api.aimlapi.com",
    path: "/v1/chat/completions",
};
/// No default endpoint: `override.endpoint` is required.
const OPENAI_COMPATIBLE: OpenAi = OpenAi {
    name: "openai-compatible",
    base: "",
    path: "/v1/chat/completions",
};

/// The providers spoken natively, by APISIX's names.
pub const NATIVE: [&str; 6] = [
    "openai",
    "deepseek",
    "openrouter",
    "aimlapi",
    "openai-compatible",
    "anthropic",
];

/// The adapter for APISIX provider name `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn Provider>> {
    Some(match name {
        "openai" => Arc::new(OPENAI),
        "deepseek" => Arc::new(DEEPSEEK),
        "openrouter" => Arc::new(OPENROUTER),
        "aimlapi" => Arc::new(AIMLAPI),
        "openai-compatible" => Arc::new(OPENAI_COMPATIBLE),
        "anthropic" => Arc::new(anthropic::Anthropic),
        _ => return None,
    })
}
