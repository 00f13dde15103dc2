//! Provider adapters, one file per wire format. Providers that speak
//! OpenAI's chat completions differ only in their default endpoint.

pub mod anthropic;
pub mod openai;

use super::Provider;
use openai::OpenAi;

static OPENAI: OpenAi = OpenAi {
    name: "openai",
    base: "https://api.openai.com",
    path: "/v1/chat/completions",
};
static DEEPSEEK: OpenAi = OpenAi {
    name: "deepseek",
    base: "https://api.deepseek.com",
    path: "/chat/completions",
};
static OPENROUTER: OpenAi = OpenAi {
    name: "openrouter",
    base: "https://openrouter.ai",
    path: "/api/v1/chat/completions",
};
static AIMLAPI: OpenAi = OpenAi {
    name: "aimlapi",
    base: "https://api.aimlapi.com",
    path: "/v1/chat/completions",
};
/// No default endpoint: `override.endpoint` is required.
static OPENAI_COMPATIBLE: OpenAi = OpenAi {
    name: "openai-compatible",
    base: "",
    path: "/v1/chat/completions",
};

/// The adapter for APISIX provider name `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Provider> {
    Some(match name {
        "openai" => &OPENAI,
        "deepseek" => &DEEPSEEK,
        "openrouter" => &OPENROUTER,
        "aimlapi" => &AIMLAPI,
        "openai-compatible" => &OPENAI_COMPATIBLE,
        "anthropic" => &anthropic::Anthropic,
        _ => return None,
    })
}
