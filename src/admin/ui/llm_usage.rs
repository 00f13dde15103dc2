//! LLM usage totals as the dashboard groups them — by consumer, model,
//! instance and route — read from the `apisix_llm_*` families (tokens and
//! cost). `prometheus-client` families cannot be iterated, so the three are
//! encoded to text (as a scrape would) and the few lines parsed back; at
//! one reading every few seconds this costs little.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use prometheus_client::registry::Registry;

/// Distinct label strings remembered for sharing before the set is reset.
const INTERN_LIMIT: usize = 10_000;

/// The dashboard's grouping of LLM usage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LlmKey {
    /// The route.
    pub route: Arc<str>,
    /// The consumer (empty when anonymous).
    pub consumer: Arc<str>,
    /// The model that answered (the asked one when unknown).
    pub model: Arc<str>,
    /// The AI instance (`ai-proxy-openai`, an `ai-proxy-multi` instance name).
    pub instance: Arc<str>,
}

/// Tokens and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LlmTotals {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
}

impl LlmTotals {
    fn is_zero(&self) -> bool {
        self.prompt_tokens == 0 && self.completion_tokens == 0 && self.cost_usd <= 0.0
    }

    fn add(&mut self, o: &LlmTotals) {
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cost_usd += o.cost_usd;
    }
}

/// Reads the LLM families of [`crate::metrics::global`].
pub struct Reader {
    registry: Registry,
    interned: HashSet<Arc<str>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("llm_usage::Reader")
    }
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    /// A reader of the process-wide families (sharing their storage).
    pub fn new() -> Reader {
        let m = &crate::metrics::global().llm;
        let mut registry = Registry::default();
        registry.register("p", "", m.prompt_tokens.clone());
        registry.register("c", "", m.completion_tokens.clone());
        registry.register("u", "", m.cost.clone());
        Reader {
            registry,
            interned: HashSet::new(),
        }
    }

    /// The totals since start, summed by [`LlmKey`].
    pub fn read(&mut self) -> HashMap<LlmKey, LlmTotals> {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut text, &self.registry).is_err() {
            return HashMap::new();
        }
        if self.interned.len() > INTERN_LIMIT {
            self.interned.clear();
        }
        let mut out: HashMap<LlmKey, LlmTotals> = HashMap::new();
        for line in text.lines() {
            let Some(sample) = parse_sample(line) else {
                continue;
            };
            let mut one = LlmTotals::default();
            match sample.name {
                "p_total" => one.prompt_tokens = sample.value as u64,
                "c_total" => one.completion_tokens = sample.value as u64,
                "u_total" => one.cost_usd = sample.value,
                _ => continue,
            }
            let label = |k: &str| {
                sample
                    .labels
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map_or("", |(_, v)| v.as_str())
            };
            let model = match label("llm_model") {
                "" => label("request_llm_model"),
                m => m,
            };
            let key = LlmKey {
                route: self.intern(label("route_id")),
                consumer: self.intern(label("consumer")),
                model: self.intern(model),
                instance: self.intern(label("node")),
            };
            out.entry(key).or_default().add(&one);
        }
        out
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.interned.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.interned.insert(a.clone());
        a
    }
}

/// One parsed sample line.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

/// Parse `name{k="v",...} value` (OpenMetrics text; label values escape
/// `\`, `"` and newlines). Comments and anything malformed give `None`.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    if line.starts_with('#') {
        return None;
    }
    let (name, mut rest) = match line.find(['{', ' ']) {
        Some(i) => (&line[..i], &line[i..]),
        None => return None,
    };
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find("=\"")?;
            let key = &rest[..eq];
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break eq + 2 + i + 1,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &rest[end..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// What was used between two readings, per key, without the unchanged
/// keys; at most `cap` entries (the biggest by tokens, the rest summed
/// under `other`), in key order.
pub fn deltas(
    prev: &HashMap<LlmKey, LlmTotals>,
    now: &HashMap<LlmKey, LlmTotals>,
    cap: usize,
) -> Vec<(LlmKey, LlmTotals)> {
    let mut out: Vec<(LlmKey, LlmTotals)> = now
        .iter()
        .filter_map(|(k, v)| {
            let p = prev.get(k).copied().unwrap_or_default();
            let d = LlmTotals {
                prompt_tokens: v.prompt_tokens.saturating_sub(p.prompt_tokens),
                completion_tokens: v.completion_tokens.saturating_sub(p.completion_tokens),
                cost_usd: (v.cost_usd - p.cost_usd).max(0.0),
            };
            (!d.is_zero()).then(|| (k.clone(), d))
        })
        .collect();
    if cap > 0 && out.len() > cap {
        out.sort_by_key(|(_, d)| std::cmp::Reverse(d.prompt_tokens + d.completion_tokens));
        let mut other = LlmTotals::default();
        for (_, d) in out.drain(cap - 1..) {
            other.add(&d);
        }
        let o: Arc<str> = Arc::from("other");
        out.push((
            LlmKey {
                route: o.clone(),
                consumer: o.clone(),
                model: o.clone(),
                instance: o,
            },
            other,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_lines_with_escapes() {
        let s = parse_sample(r#"p_total{route_id="1",consumer="a\"b\\c\nd",node="x"} 12"#).unwrap();
        assert_eq!(s.name, "p_total");
        assert_eq!(s.labels[1], ("consumer", "a\"b\\c\nd".to_string()));
        assert_eq!(s.labels[2], ("node", "x".to_string()));
        assert_eq!(s.value, 12.0);
        let s = parse_sample("u_total{a=\"}\"} 1.2e-6").unwrap();
        assert_eq!(s.labels, vec![("a", "}".to_string())]);
        assert_eq!(s.value, 1.2e-6);
        assert_eq!(parse_sample("x 3").unwrap().value, 3.0);
        assert!(parse_sample("# TYPE p counter").is_none());
        assert!(parse_sample("p_total{a=\"unterminated} 1").is_none());
        assert!(parse_sample("# EOF").is_none());
    }

    fn key(route: &str) -> LlmKey {
        LlmKey {
            route: route.into(),
            consumer: "c".into(),
            model: "m".into(),
            instance: "i".into(),
        }
    }

    fn tokens(p: u64) -> LlmTotals {
        LlmTotals {
            prompt_tokens: p,
            completion_tokens: 0,
            cost_usd: 0.0,
        }
    }

    #[test]
    fn deltas_skip_unchanged_and_fold_past_the_cap() {
        let prev = HashMap::from([(key("a"), tokens(5)), (key("b"), tokens(1))]);
        let now = HashMap::from([
            (key("a"), tokens(5)),
            (key("b"), tokens(4)),
            (key("c"), tokens(10)),
            (key("d"), tokens(2)),
        ]);
        let d = deltas(&prev, &now, 10);
        assert_eq!(
            d,
            vec![
                (key("b"), tokens(3)),
                (key("c"), tokens(10)),
                (key("d"), tokens(2))
            ]
        );
        let d = deltas(&prev, &now, 2);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0], (key("c"), tokens(10)));
        assert_eq!(&*d[1].0.route, "other");
        assert_eq!(d[1].1, tokens(5));
    }

    #[test]
    fn reader_groups_the_global_families() {
        use crate::metrics::llm::LlmLabels;
        let m = &crate::metrics::global().llm;
        let labels = |service: &str| LlmLabels {
            route_id: "ui-test-route".into(),
            service_id: service.into(),
            consumer: "alice".into(),
            node: "openai-a".into(),
            request_type: "ai_chat".into(),
            request_llm_model: "gpt".into(),
            llm_model: "gpt-0001".into(),
        };
        m.prompt_tokens.get_or_create(&labels("s1")).inc_by(3);
        m.prompt_tokens.get_or_create(&labels("s2")).inc_by(4);
        m.completion_tokens.get_or_create(&labels("s1")).inc_by(7);
        m.cost.get_or_create(&labels("s1")).inc_by(0.5);
        let read = Reader::new().read();
        let k = LlmKey {
            route: "ui-test-route".into(),
            consumer: "alice".into(),
            model: "gpt-0001".into(),
            instance: "openai-a".into(),
        };
        let t = read.get(&k).copied().unwrap_or_default();
        assert_eq!(t.prompt_tokens, 7);
        assert_eq!(t.completion_tokens, 7);
        assert!((t.cost_usd - 0.5).abs() < 1e-12, "{t:?}");
    }
}
