//! What an LLM request cost, in USD: per-token prices from a table in
//! LiteLLM's `model_prices_and_context_window.json` format (the format
//! LLM gateways share; strait ships a small one in `conf/model_prices.json`
//! and takes the full file as well), or from an `ai-proxy` instance's own
//! `price`. Only the fields priced here are read; entries without input and
//! output prices (images, audio, …) are skipped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use serde::Deserialize;
use serde_json::Value;

use super::model::Usage;

/// Per-token prices of one model, in USD (LiteLLM's field names).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// An input token.
    pub input_cost_per_token: f64,
    /// An output token.
    pub output_cost_per_token: f64,
    /// An input token read from the prompt cache (default: the input price).
    #[serde(default)]
    pub cache_read_input_token_cost: Option<f64>,
    /// An input token written to the prompt cache (default: the input price).
    #[serde(default)]
    pub cache_creation_input_token_cost: Option<f64>,
    /// A reasoning token (default: the output price).
    #[serde(default)]
    pub output_cost_per_reasoning_token: Option<f64>,
}

impl Price {
    /// The cost of `usage` (whose prompt tokens include the cached and
    /// cache-creation ones, and completion tokens the reasoning ones).
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let created = usage
            .cache_creation_tokens
            .min(usage.prompt_tokens - cached);
        let plain_input = usage.prompt_tokens - cached - created;
        let reasoning = usage.reasoning_tokens.min(usage.completion_tokens);
        let plain_output = usage.completion_tokens - reasoning;
        plain_input as f64 * self.input_cost_per_token
            + cached as f64
                * self
                    .cache_read_input_token_cost
                    .unwrap_or(self.input_cost_per_token)
            + created as f64
                * self
                    .cache_creation_input_token_cost
                    .unwrap_or(self.input_cost_per_token)
            + plain_output as f64 * self.output_cost_per_token
            + reasoning as f64
                * self
                    .output_cost_per_reasoning_token
                    .unwrap_or(self.output_cost_per_token)
    }

    /// The price fields of a LiteLLM table entry, if it has input and output prices.
    fn of_entry(entry: &Value) -> Option<Price> {
        let f = |k: &str| entry.get(k).and_then(Value::as_f64);
        Some(Price {
            input_cost_per_token: f("input_cost_per_token")?,
            output_cost_per_token: f("output_cost_per_token")?,
            cache_read_input_token_cost: f("cache_read_input_token_cost"),
            cache_creation_input_token_cost: f("cache_creation_input_token_cost"),
            output_cost_per_reasoning_token: f("output_cost_per_reasoning_token"),
        })
    }
}

/// Prices by model id (`gpt-4o`, `deepseek/deepseek-chat`).
#[derive(Debug, Default)]
pub struct PriceTable {
    models: HashMap<String, Price>,
}

/// Why a price table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceTableError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a JSON object of entries.
    #[error("{path} is not a LiteLLM price table (a JSON object of model entries): {reason}")]
    Format {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl PriceTable {
    /// Read a table from LiteLLM-format JSON text.
    pub fn parse(text: &str, path: &str) -> Result<PriceTable, PriceTableError> {
        let format = |reason: String| PriceTableError::Format {
            path: path.to_string(),
            reason,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| format(e.to_string()))?;
        let Value::Object(entries) = value else {
            return Err(format("the top level is not an object".into()));
        };
        let models = entries
            .iter()
            .filter(|(name, _)| name.as_str() != "sample_spec")
            .filter_map(|(name, entry)| Some((name.clone(), Price::of_entry(entry)?)))
            .collect();
        Ok(PriceTable { models })
    }

    /// Read the table at `path`.
    pub fn load(path: &Path) -> Result<PriceTable, PriceTableError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PriceTableError::Read {
            path: shown.clone(),
            source,
        })?;
        PriceTable::parse(&text, &shown)
    }

    /// Models priced.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether no model is priced.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The price of the first of `models` the table knows, each tried as
    /// is and as `<provider>/<model>` (LiteLLM's keys for most providers
    /// other than OpenAI and Anthropic).
    pub fn lookup(&self, provider: &str, models: &[&str]) -> Option<Price> {
        models.iter().filter(|m| !m.is_empty()).find_map(|m| {
            self.models
                .get(*m)
                .or_else(|| self.models.get(&format!("{provider}/{m}")))
                .copied()
        })
    }
}

static TABLE: LazyLock<ArcSwap<PriceTable>> =
    LazyLock::new(|| ArcSwap::from_pointee(PriceTable::default()));

/// Put `table` in service.
pub fn set_table(table: PriceTable) {
    TABLE.store(Arc::new(table));
}

/// The table in service.
pub fn table() -> Arc<PriceTable> {
    TABLE.load_full()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(prompt: u64, completion: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            ..Usage::default()
        }
    }

    #[test]
    fn cached_cache_creation_and_reasoning_tokens_have_their_own_prices() {
        let p = Price {
            input_cost_per_token: 3e-6,
            output_cost_per_token: 15e-6,
            cache_read_input_token_cost: Some(0.3e-6),
            cache_creation_input_token_cost: Some(3.75e-6),
            output_cost_per_reasoning_token: None,
        };
        let mut u = usage(1000, 200);
        u.cached_tokens = 600;
        u.cache_creation_tokens = 100;
        u.reasoning_tokens = 50;
        let want = 300.0 * 3e-6 + 600.0 * 0.3e-6 + 100.0 * 3.75e-6 + 200.0 * 15e-6;
        assert!(
            (p.cost(&u) - want).abs() < 1e-12,
            "{} vs {want}",
            p.cost(&u)
        );
        // Inconsistent figures never underflow.
        let mut odd = usage(10, 1);
        odd.cached_tokens = 50;
        odd.reasoning_tokens = 9;
        assert!((p.cost(&odd) - (10.0 * 0.3e-6 + 15e-6)).abs() < 1e-12);
    }

    #[test]
    fn a_litellm_table_is_read_and_looked_up_with_the_provider_prefix() {
        let t = PriceTable::parse(
            r#"{
                "sample_spec": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0},
                "gpt-4o": {"litellm_provider": "openai", "mode": "chat",
                           "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                           "cache_read_input_token_cost": 1.25e-06, "supports_vision": true},
                "deepseek/deepseek-chat": {"input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07},
                "dall-e-3": {"mode": "image_generation", "output_cost_per_image": 0.04}
            }"#,
            "t.json",
        )
        .unwrap();
        assert_eq!(t.len(), 2, "sample_spec and unpriced entries are skipped");
        let p = t
            .lookup("openai", &["gpt-4o-2024-08-06", "gpt-4o"])
            .unwrap();
        assert_eq!(p.cache_read_input_token_cost, Some(1.25e-6));
        let p = t.lookup("deepseek", &["deepseek-chat"]).unwrap();
        assert_eq!(p.output_cost_per_token, 4.2e-7);
        assert!(t.lookup("openai", &["", "nope"]).is_none());
        let e = PriceTable::parse("[1]", "t.json").unwrap_err().to_string();
        assert!(e.contains("t.json is not a LiteLLM price table"), "{e}");
    }

    #[test]
    fn the_shipped_table_reads_and_prices_its_models() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/model_prices.json");
        let t = PriceTable::load(&path).unwrap();
        assert!(t.len() >= 10, "{}", t.len());
        let p = t.lookup("openai", &["gpt-4o-mini"]).unwrap();
        assert!((p.cost(&usage(1_000_000, 1_000_000)) - 0.75).abs() < 1e-9);
    }
}
