//! LLM metrics with APISIX's names (`apisix_llm_latency{type=total|ttft}`,
//! `apisix_llm_prompt_tokens`, `apisix_llm_completion_tokens`,
//! `apisix_llm_active_connections`) and strait's own
//! (`apisix_llm_cost_usd`, `apisix_llm_gateway_overhead`), labelled by
//! route, service, consumer, instance (`node`) and models.
//!
//! Cardinality is bounded: model names come from clients, so they are cut
//! to [`MODEL_LABEL_LEN`] characters and, past [`MODEL_PAIRS`] distinct
//! pairs, reported as `other`.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::AtomicHistogram;

/// Longest model label.
pub const MODEL_LABEL_LEN: usize = 64;
/// Distinct (asked, answering) model pairs labelled by name.
pub const MODEL_PAIRS: usize = 1000;

/// Gateway overhead buckets (milliseconds: 10 µs to 50 ms).
const OVERHEAD_BUCKETS: [f64; 12] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0,
];

/// Labels of the token, cost and overhead metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmLabels {
    /// Route id.
    pub route_id: String,
    /// Service id.
    pub service_id: String,
    /// Consumer name.
    pub consumer: String,
    /// The AI instance that answered.
    pub node: String,
    /// `ai_chat` or `ai_stream`.
    pub request_type: String,
    /// Model the client asked for.
    pub request_llm_model: String,
    /// Model that answered.
    pub llm_model: String,
}

/// Labels of `apisix_llm_latency`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmLatencyLabels {
    /// `total` or `ttft`.
    pub r#type: String,
    /// The rest.
    #[prometheus(flatten)]
    pub llm: LlmLabels,
}

/// Labels of `apisix_llm_active_connections`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmNodeLabels {
    /// Route id.
    pub route_id: String,
    /// The AI instance.
    pub node: String,
}

fn latency_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&super::LATENCY_BUCKETS)
}

fn overhead_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&OVERHEAD_BUCKETS)
}

/// The LLM metric families.
pub struct LlmMetrics {
    /// `apisix_llm_latency` (ms).
    pub latency: Family<LlmLatencyLabels, AtomicHistogram>,
    /// `apisix_llm_prompt_tokens`.
    pub prompt_tokens: Family<LlmLabels, Counter>,
    /// `apisix_llm_completion_tokens`.
    pub completion_tokens: Family<LlmLabels, Counter>,
    /// `apisix_llm_cost_usd`.
    pub cost: Family<LlmLabels, Counter<f64, AtomicU64>>,
    /// `apisix_llm_gateway_overhead` (ms).
    pub overhead: Family<LlmLabels, AtomicHistogram>,
    /// `apisix_llm_active_connections`.
    pub active: Family<LlmNodeLabels, Gauge>,
    models: Mutex<HashSet<(String, String)>>,
}

impl LlmMetrics {
    /// The families, registered in `registry` (prefix `apisix`).
    pub fn new(registry: &mut Registry) -> LlmMetrics {
        let m = LlmMetrics {
            latency: Family::new_with_constructor(latency_histogram),
            prompt_tokens: Family::default(),
            completion_tokens: Family::default(),
            cost: Family::default(),
            overhead: Family::new_with_constructor(overhead_histogram),
            active: Family::default(),
            models: Mutex::new(HashSet::new()),
        };
        registry.register(
            "llm_latency",
            "LLM request latency in milliseconds (total, time to first token)",
            m.latency.clone(),
        );
        registry.register(
            "llm_prompt_tokens",
            "Prompt tokens of LLM requests",
            m.prompt_tokens.clone(),
        );
        registry.register(
            "llm_completion_tokens",
            "Completion tokens of LLM requests",
            m.completion_tokens.clone(),
        );
        registry.register(
            "llm_cost_usd",
            "What LLM requests cost in USD, from the price table",
            m.cost.clone(),
        );
        registry.register(
            "llm_gateway_overhead",
            "Time strait spent on an LLM request itself (decoding, plugins, translation) in milliseconds",
            m.overhead.clone(),
        );
        registry.register(
            "llm_active_connections",
            "LLM requests in progress",
            m.active.clone(),
        );
        m
    }

    /// The model labels for `asked` and `answered`: cut to length, `other`
    /// once too many pairs were seen.
    pub fn model_labels(&self, asked: &str, answered: &str) -> (String, String) {
        let cut = |s: &str| s.chars().take(MODEL_LABEL_LEN).collect::<String>();
        let pair = (cut(asked), cut(answered));
        let Ok(mut seen) = self.models.lock() else {
            return ("other".into(), "other".into());
        };
        if seen.contains(&pair) || seen.len() < MODEL_PAIRS {
            seen.insert(pair.clone());
            pair
        } else {
            ("other".into(), "other".into())
        }
    }
}

/// One LLM request in progress (`apisix_llm_active_connections`); ends
/// when dropped.
pub struct ActiveCall(Gauge);

impl ActiveCall {
    /// A call on `route_id` to `node` starts.
    pub fn start(route_id: &str, node: &str) -> ActiveCall {
        let g = super::global()
            .llm
            .active
            .get_or_create(&LlmNodeLabels {
                route_id: route_id.to_string(),
                node: node.to_string(),
            })
            .clone();
        g.inc();
        ActiveCall(g)
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.dec();
    }
}
