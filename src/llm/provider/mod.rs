//! Provider adapters, one file per wire format. Providers that speak
//! OpenAI's chat completions differ only in their default endpoint, the
//! name of the token limit and whether the body names the model.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use super::Provider;
use openai::OpenAi;

const OPENAI: OpenAi = OpenAi {
    name: "openai",
    base: "https://api.openai.com",
    path: "/v1/chat/completions",
    max_tokens_field: "max_completion_tokens",
    send_model: true,
    stream_usage: true,
};
const DEEPSEEK: OpenAi = OpenAi {
    name: "deepseek",
    base: "https://api.deepseek.com",
    path: "/chat/completions",
    max_tokens_field: "max_tokens",
    send_model: true,
    stream_usage: true,
};
const OPENROUTER: OpenAi = OpenAi {
    name: "openrouter",
    base: "https://openrouter.ai",
    path: "/api/v1/chat/completions",
    max_tokens_field: "max_tokens",
    send_model: true,
    stream_usage: true,
};
const AIMLAPI: OpenAi = OpenAi {
    name: "aimlapi",
    base: "https://api.aimlapi.com",
    path: "/v1/chat/completions",
    max_tokens_field: "max_tokens",
    send_model: true,
    stream_usage: true,
};
/// No default endpoint: `override.endpoint` is required.
const OPENAI_COMPATIBLE: OpenAi = OpenAi {
    name: "openai-compatible",
    base: "",
    path: "/v1/chat/completions",
    max_tokens_field: "max_tokens",
    send_model: true,
    stream_usage: true,
};
/// Azure OpenAI's deployment URLs: `override.endpoint` is required and is
/// the full URL (`…/openai/deployments/{d}/chat/completions?api-version=…`);
/// the deployment picks the model, so the body names none (as APISIX).
const AZURE_OPENAI: OpenAi = OpenAi {
    name: "azure-openai",
    base: "",
    path: "/chat/completions",
    max_tokens_field: "max_tokens",
    send_model: false,
    stream_usage: true,
};
/// Azure OpenAI's v1 surface (`…/openai/v1/chat/completions`), where the
/// body's `model` names the deployment and `api-version` is optional.
const AZURE_OPENAI_V1: OpenAi = OpenAi {
    send_model: true,
    ..AZURE_OPENAI
};
/// Azure deployment URLs with an `api-version` older than 2024-09-01,
/// which reject `stream_options`: streams come without usage.
const AZURE_OPENAI_LEGACY: OpenAi = OpenAi {
    stream_usage: false,
    ..AZURE_OPENAI
};
/// Gemini's OpenAI-compatible endpoint, which APISIX's `gemini` provider
/// uses; strait keeps it for configurations written for APISIX.
const GEMINI_OPENAI: OpenAi = OpenAi {
    name: "gemini",
    base: gemini::DEFAULT_BASE,
    path: "/v1beta/openai/chat/completions",
    max_tokens_field: "max_completion_tokens",
    send_model: true,
    stream_usage: true,
};

/// The providers spoken natively, by APISIX's names.
pub const NATIVE: [&str; 8] = [
    "openai",
    "deepseek",
    "openrouter",
    "aimlapi",
    "openai-compatible",
    "azure-openai",
    "anthropic",
    "gemini",
];

/// The adapter for APISIX provider name `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn Provider>> {
    Some(match name {
        "openai" => Arc::new(OPENAI),
        "deepseek" => Arc::new(DEEPSEEK),
        "openrouter" => Arc::new(OPENROUTER),
        "aimlapi" => Arc::new(AIMLAPI),
        "openai-compatible" => Arc::new(OPENAI_COMPATIBLE),
        "azure-openai" => Arc::new(AZURE_OPENAI),
        "anthropic" => Arc::new(anthropic::Anthropic),
        "gemini" => Arc::new(gemini::Gemini),
        _ => return None,
    })
}

/// The adapter `provider` becomes for one configuration, or why the
/// configuration cannot work with it. `endpoint_path` is the path and
/// query of `override.endpoint` (`None` when it names none), `auth` the
/// `auth.header` entries.
///
/// - `azure-openai` needs `api-version` in the endpoint's query, except on
///   Azure's v1 surface (`/openai/v1/`), where the body names the model;
///   versions before 2024-09-01 get streams without `stream_options`.
/// - `gemini` speaks Gemini's native API unless the configuration is
///   written for APISIX's `gemini` provider, which speaks the
///   OpenAI-compatible endpoint: an endpoint ending in `/chat/completions`,
///   or the key in an `Authorization` header (the native API takes keys in
///   `x-goog-api-key` or `?key=` only). The native API builds its path
///   from the model, so its endpoint names no path.
pub fn for_config(
    provider: Arc<dyn Provider>,
    endpoint_path: Option<&str>,
    auth: &[(HeaderName, HeaderValue)],
) -> Result<Arc<dyn Provider>, String> {
    match provider.name() {
        "azure-openai" => {
            let Some(pq) = endpoint_path else {
                return Err(
                    "provider \"azure-openai\" needs override.endpoint set to the deployment's full URL \
                     (https://{resource}.openai.azure.com/openai/deployments/{deployment}/chat/completions?api-version=…)"
                        .to_string(),
                );
            };
            let (path, query) = pq.split_once('?').unwrap_or((pq, ""));
            if path.contains("/openai/v1/") {
                return Ok(Arc::new(AZURE_OPENAI_V1));
            }
            let version = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, v)| *k == "api-version" && !v.is_empty())
                .map(|(_, v)| v);
            let Some(version) = version else {
                return Err(format!(
                    "provider \"azure-openai\": override.endpoint {pq:?} needs the api-version query \
                     parameter (…/chat/completions?api-version=2024-10-21)"
                ));
            };
            // Dated versions (`2024-02-15-preview`) compare as text.
            let dated = version.starts_with(|c: char| c.is_ascii_digit());
            if dated && version < "2024-09-01" {
                return Ok(Arc::new(AZURE_OPENAI_LEGACY));
            }
            Ok(provider)
        }
        "gemini" => {
            let path = endpoint_path.map(|pq| pq.split_once('?').map_or(pq, |(p, _)| p));
            let bearer = auth.iter().any(|(k, _)| k == http::header::AUTHORIZATION)
                && !auth.iter().any(|(k, _)| k == "x-goog-api-key");
            match path {
                Some(p) if p.ends_with("/chat/completions") => Ok(Arc::new(GEMINI_OPENAI)),
                Some(p) => Err(format!(
                    "provider \"gemini\" builds its path from the model \
                     (/v1beta/models/{{model}}:generateContent): override.endpoint takes only \
                     scheme://host[:port], or an OpenAI-compatible …/chat/completions URL (got path {p:?})"
                )),
                None if bearer => Ok(Arc::new(GEMINI_OPENAI)),
                None => Ok(provider),
            }
        }
        _ => Ok(provider),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(
        name: &str,
        path: Option<&str>,
        auth: &[(&'static str, &'static str)],
    ) -> Result<String, String> {
        let auth: Vec<(HeaderName, HeaderValue)> = auth
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect();
        let p = for_config(by_name(name).unwrap(), path, &auth)?;
        let req = crate::llm::ChatRequest {
            model: "m".into(),
            ..Default::default()
        };
        let out = p
            .build_request(&req, "openai-chat")
            .map_err(|e| e.message)?;
        let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
        Ok(format!("{} model={}", out.path_and_query, body["model"]))
    }

    #[test]
    fn azure_needs_an_api_version_except_on_v1() {
        let err = configured("azure-openai", None, &[]).unwrap_err();
        assert!(err.contains("needs override.endpoint"), "{err}");
        let err = configured(
            "azure-openai",
            Some("/openai/deployments/d/chat/completions"),
            &[],
        )
        .unwrap_err();
        assert!(err.contains("api-version"), "{err}");
        let err = configured(
            "azure-openai",
            Some("/openai/deployments/d/chat/completions?api-version="),
            &[],
        )
        .unwrap_err();
        assert!(err.contains("api-version"), "{err}");
        assert_eq!(
            configured(
                "azure-openai",
                Some("/openai/deployments/d/chat/completions?x=1&api-version=2024-10-21"),
                &[]
            )
            .unwrap(),
            "/chat/completions model=null",
            "the deployment names the model"
        );
        assert_eq!(
            configured("azure-openai", Some("/openai/v1/chat/completions"), &[]).unwrap(),
            "/chat/completions model=\"m\""
        );
        let streams = |version: &str| {
            let path = format!("/openai/deployments/d/chat/completions?api-version={version}");
            let p = for_config(by_name("azure-openai").unwrap(), Some(&path), &[]).unwrap();
            let req = crate::llm::ChatRequest {
                stream: true,
                ..Default::default()
            };
            let out = p.build_request(&req, "openai-chat").unwrap();
            let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
            body.get("stream_options").is_some()
        };
        assert!(
            !streams("2024-02-15-preview"),
            "older versions reject stream_options"
        );
        assert!(!streams("2024-08-01-preview"));
        assert!(streams("2024-10-21"));
        assert!(streams("2025-04-01-preview"));
    }

    #[test]
    fn gemini_keeps_apisix_configurations_on_the_openai_endpoint() {
        assert_eq!(
            configured("gemini", None, &[("x-goog-api-key", "k")]).unwrap(),
            "/v1beta/models/m:generateContent model=null"
        );
        assert_eq!(
            configured("gemini", None, &[("authorization", "Bearer k")]).unwrap(),
            "/v1beta/openai/chat/completions model=\"m\""
        );
        assert_eq!(
            configured("gemini", Some("/v1beta/openai/chat/completions"), &[]).unwrap(),
            "/v1beta/openai/chat/completions model=\"m\""
        );
        let err = configured("gemini", Some("/v1beta/models/m:generateContent"), &[]).unwrap_err();
        assert!(err.contains("scheme://host[:port]"), "{err}");
        assert!(configured("openai", Some("/x"), &[]).is_ok());
    }
}
