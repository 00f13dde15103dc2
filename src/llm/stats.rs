//! What one LLM request used, filled in while its answer streams and read
//! by the log phase, loggers and Lua as `llm_*` variables (APISIX's names).
//! Atomics, not a lock: the streaming body writes while nothing else reads
//! until the log phase.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::estimate;
use super::model::{ChatRequest, Usage};
use super::price::{self, Price};

/// How a request is priced: the provider and the model sent (to look the
/// answering model up in the price table), or the instance's own price.
#[derive(Debug)]
struct Pricing {
    provider: String,
    sent_model: String,
    price: Option<Price>,
}

/// The figures of one LLM request.
#[derive(Debug)]
pub struct LlmStats {
    started: Instant,
    /// The model the client asked for (`request_llm_model`).
    pub request_model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    model: OnceLock<String>,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    cached_tokens: AtomicU64,
    cache_creation_tokens: AtomicU64,
    reasoning_tokens: AtomicU64,
    ttft_us: AtomicU64,
    overhead_us: AtomicU64,
    usage_known: AtomicBool,
    estimated: AtomicBool,
    pricing: OnceLock<Pricing>,
    /// The request a provider answered (2xx), for counting its prompt
    /// when the provider reports no usage.
    answered: OnceLock<Arc<ChatRequest>>,
    /// The answer's text so far, for the same count (taken by it).
    output: Mutex<String>,
    /// The answer is over (or was cut): a missing usage may be counted.
    ended: AtomicBool,
}

impl LlmStats {
    /// Figures for a request for `request_model`, timed from now.
    pub fn new(request_model: String, stream: bool) -> LlmStats {
        LlmStats {
            started: Instant::now(),
            request_model,
            stream,
            model: OnceLock::new(),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
            cached_tokens: AtomicU64::new(0),
            cache_creation_tokens: AtomicU64::new(0),
            reasoning_tokens: AtomicU64::new(0),
            ttft_us: AtomicU64::new(0),
            overhead_us: AtomicU64::new(0),
            usage_known: AtomicBool::new(false),
            estimated: AtomicBool::new(false),
            pricing: OnceLock::new(),
            answered: OnceLock::new(),
            output: Mutex::new(String::new()),
            ended: AtomicBool::new(false),
        }
    }

    /// The model that answered (the first one reported wins).
    pub fn set_model(&self, model: &str) {
        if !model.is_empty() {
            let _ = self.model.set(model.to_string());
        }
    }

    /// Price the request as `provider`'s answer to `sent_model`, at `price`
    /// when the instance sets one (the first call wins).
    pub fn set_pricing(&self, provider: &str, sent_model: &str, price: Option<Price>) {
        let _ = self.pricing.set(Pricing {
            provider: provider.to_string(),
            sent_model: sent_model.to_string(),
            price,
        });
    }

    /// What the request cost in USD, once its usage and price are known:
    /// the instance's price, else the price table's for the answering
    /// model, the model sent or the model asked for.
    pub fn cost(&self) -> Option<f64> {
        let usage = self.usage()?;
        let pricing = self.pricing.get()?;
        let price = pricing.price.or_else(|| {
            price::table().lookup(
                &pricing.provider,
                &[self.model(), &pricing.sent_model, &self.request_model],
            )
        })?;
        Some(price.cost(&usage))
    }

    /// The first token (or the whole answer) arrived now; later calls keep the first time.
    pub fn first_token(&self) {
        let us = self.started.elapsed().as_micros().max(1) as u64;
        let _ = self.ttft_us.compare_exchange(0, us, Relaxed, Relaxed);
    }

    /// Time strait itself spent on the request (decoding, plugins,
    /// translation), added up.
    pub fn add_overhead(&self, d: std::time::Duration) {
        self.overhead_us
            .fetch_add(d.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// The overhead so far.
    pub fn overhead(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.overhead_us.load(Relaxed))
    }

    /// Record usage (a later report replaces an earlier one).
    pub fn set_usage(&self, u: &Usage) {
        self.prompt_tokens.store(u.prompt_tokens, Relaxed);
        self.completion_tokens.store(u.completion_tokens, Relaxed);
        self.cached_tokens.store(u.cached_tokens, Relaxed);
        self.cache_creation_tokens
            .store(u.cache_creation_tokens, Relaxed);
        self.reasoning_tokens.store(u.reasoning_tokens, Relaxed);
        self.estimated.store(u.estimated, Relaxed);
        self.usage_known.store(true, Relaxed);
    }

    /// A provider answered `req` (2xx): from now on usage is known, from
    /// the provider or else counted.
    pub fn answered(&self, req: Arc<ChatRequest>) {
        let _ = self.answered.set(req);
    }

    /// The answer is complete, or will get no further (the stream ended or
    /// was dropped).
    pub fn ended(&self) {
        self.ended.store(true, Relaxed);
    }

    /// Text of the answer as it arrives (kept only until usage is known).
    pub fn record_output(&self, text: &str) {
        if !self.usage_known.load(Relaxed) {
            if let Ok(mut out) = self.output.lock() {
                out.push_str(text);
            }
        }
    }

    /// The usage recorded, if any: the provider's, or, when a provider
    /// answered without reporting any and the answer is over (a stream cut
    /// short), counted from the request and the text that arrived, marked
    /// estimated.
    pub fn usage(&self) -> Option<Usage> {
        if !self.usage_known.load(Relaxed) {
            if !self.ended.load(Relaxed) {
                return None;
            }
            let req = self.answered.get()?;
            let output = self
                .output
                .lock()
                .map(|mut o| std::mem::take(&mut *o))
                .unwrap_or_default();
            self.set_usage(&Usage {
                prompt_tokens: estimate::prompt_tokens(req),
                completion_tokens: estimate::count(&output),
                estimated: true,
                ..Usage::default()
            });
        }
        self.usage_known.load(Relaxed).then(|| Usage {
            prompt_tokens: self.prompt_tokens.load(Relaxed),
            completion_tokens: self.completion_tokens.load(Relaxed),
            cached_tokens: self.cached_tokens.load(Relaxed),
            cache_creation_tokens: self.cache_creation_tokens.load(Relaxed),
            reasoning_tokens: self.reasoning_tokens.load(Relaxed),
            estimated: self.estimated.load(Relaxed),
        })
    }

    /// The model that answered, else the one asked for.
    pub fn model(&self) -> &str {
        self.model
            .get()
            .map_or(self.request_model.as_str(), String::as_str)
    }

    /// Time to first token in milliseconds, if one came.
    pub fn ttft_ms(&self) -> Option<u64> {
        match self.ttft_us.load(Relaxed) {
            0 => None,
            us => Some(us / 1000),
        }
    }

    /// The value of variable `name`, if it is one of these figures.
    pub fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        let n = |v: u64| Some(Cow::Owned(v.to_string()));
        let usage = || self.usage().unwrap_or_default();
        match name {
            "request_type" => Some(Cow::Borrowed(if self.stream {
                "ai_stream"
            } else {
                "ai_chat"
            })),
            "request_llm_model" => Some(Cow::Borrowed(&self.request_model)),
            "llm_model" => Some(Cow::Borrowed(self.model())),
            "llm_stream" => Some(Cow::Borrowed(if self.stream { "true" } else { "false" })),
            "llm_prompt_tokens" => n(usage().prompt_tokens),
            "llm_completion_tokens" => n(usage().completion_tokens),
            "llm_total_tokens" => n(usage().total_tokens()),
            "llm_cache_read_input_tokens" => n(usage().cached_tokens),
            "llm_cache_creation_input_tokens" => n(usage().cache_creation_tokens),
            "llm_reasoning_tokens" => n(usage().reasoning_tokens),
            "llm_usage_estimated" => Some(Cow::Borrowed(if usage().estimated {
                "true"
            } else {
                "false"
            })),
            "llm_time_to_first_token" => self.ttft_ms().and_then(n),
            "llm_cost" => self.cost().map(|c| Cow::Owned(c.to_string())),
            _ => None,
        }
    }
}
