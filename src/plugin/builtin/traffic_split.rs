//! `traffic-split` (priority 966, access phase): the first rule whose
//! `match` (any of its `vars` expressions; no `match` = always) fits the
//! request picks an upstream among its `weighted_upstreams` by weight, with
//! smooth weighted round robin (nginx's; weight 0 never chosen). An entry
//! with `upstream_id` uses that upstream from the snapshot (missing: 500
//! `failed to fetch upstream info by upstream id: {id}`), one with an inline
//! `upstream` uses it (compiled when the plugin is built), one with neither
//! keeps the route's own upstream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Value};

use crate::config::resource::UpstreamConf;
use crate::expr::Expr;
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory, PluginResponse, Step};
use crate::schema::resources;
use crate::upstream::Upstream;

/// The factory.
pub struct TrafficSplitFactory;

/// Where a weighted entry sends the request.
#[derive(Debug, Clone)]
enum Target {
    /// The route's own upstream.
    Route,
    /// An upstream by id.
    Id(Arc<str>),
    /// An inline upstream.
    Inline(Arc<Upstream>),
}

/// The longest precomputed round-robin cycle; heavier weight sums pick at random.
const MAX_CYCLE: u64 = 4096;

/// Entry indexes in smooth weighted round-robin order over one cycle.
fn smooth_cycle(weights: &[u64]) -> Vec<usize> {
    let total: u64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += *w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total as i64;
        out.push(best);
    }
    out
}

struct Rule {
    matches: Vec<Expr>,
    targets: Vec<Target>,
    weights: Vec<u64>,
    cycle: Vec<usize>,
    next: AtomicUsize,
}

impl Rule {
    fn matches(&self, ctx: &Ctx) -> bool {
        self.matches.is_empty() || self.matches.iter().any(|e| e.eval(ctx))
    }

    fn pick(&self) -> Option<&Target> {
        let total: u64 = self.weights.iter().sum();
        if total == 0 {
            return None;
        }
        let i = match self.cycle.is_empty() {
            false => self.cycle[self.next.fetch_add(1, Ordering::Relaxed) % self.cycle.len()],
            true => {
                let mut r = fastrand::u64(0..total);
                let mut chosen = 0;
                for (i, w) in self.weights.iter().enumerate() {
                    if r < *w {
                        chosen = i;
                        break;
                    }
                    r -= w;
                }
                chosen
            }
        };
        self.targets.get(i)
    }
}

struct TrafficSplit {
    rules: Vec<Rule>,
}

fn compile_rules(conf: &Value, holder: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for (n, rule) in conf
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mut matches = Vec::new();
        for m in rule
            .get("match")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let vars = m.get("vars").cloned().unwrap_or_else(|| json!([]));
            matches.push(
                Expr::compile(&vars)
                    .map_err(|e| format!("failed to validate the 'vars' expression: {e}"))?,
            );
        }
        let mut targets = Vec::new();
        let mut weights = Vec::new();
        let default_entries = [json!({"weight": 1})];
        let entries = rule
            .get("weighted_upstreams")
            .and_then(Value::as_array)
            .map_or(&default_entries[..], |v| &v[..]);
        for (i, wu) in entries.iter().enumerate() {
            let target = if let Some(id) = wu.get("upstream_id") {
                let id = match id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Target::Id(Arc::from(id))
            } else if let Some(up) = wu.get("upstream") {
                let uc: UpstreamConf = serde_json::from_value(up.clone())
                    .map_err(|e| format!("rules[{n}].weighted_upstreams[{i}].upstream: {e}"))?;
                let label = format!("{holder} traffic-split upstream {n}.{i}");
                Target::Inline(Arc::new(Upstream::compile(&uc, &label).map_err(|e| {
                    format!("rules[{n}].weighted_upstreams[{i}].upstream: {e}")
                })?))
            } else {
                Target::Route
            };
            targets.push(target);
            weights.push(wu.get("weight").and_then(Value::as_u64).unwrap_or(1));
        }
        let total: u64 = weights.iter().sum();
        let cycle = match total <= MAX_CYCLE {
            true => smooth_cycle(&weights),
            false => Vec::new(),
        };
        rules.push(Rule {
            matches,
            targets,
            weights,
            cycle,
            next: AtomicUsize::new(0),
        });
    }
    Ok(rules)
}

impl PluginFactory for TrafficSplitFactory {
    fn name(&self) -> &'static str {
        "traffic-split"
    }
    fn priority(&self) -> i64 {
        966
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "match": {
                                "type": "array",
                                "items": {"type": "object", "properties": {"vars": {"type": "array"}}}
                            },
                            "weighted_upstreams": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "upstream_id": resources::id(),
                                        "upstream": resources::upstream(),
                                        "weight": {"type": "integer", "default": 1, "minimum": 0}
                                    }
                                },
                                "default": [{"weight": 1}],
                                "minItems": 1,
                                "maxItems": 20
                            }
                        }
                    }
                }
            }
        })
    }
    fn check(&self, conf: &Value, _on_consumer: bool) -> Result<(), String> {
        compile_rules(conf, "check").map(|_| ())
    }
    fn build(&self, conf: &Value, env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        Ok(Arc::new(TrafficSplit {
            rules: compile_rules(conf, &env.holder)?,
        }))
    }
}

impl Plugin for TrafficSplit {
    fn access(&self, ctx: &mut Ctx) -> Step {
        let mut chosen = None;
        for rule in &self.rules {
            for t in &rule.targets {
                if let Target::Id(id) = t {
                    if !ctx.snapshot.upstreams.contains_key(id) {
                        return Step::Respond(PluginResponse::text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("failed to fetch upstream info by upstream id: {id}"),
                        ));
                    }
                }
            }
            if rule.matches(ctx) {
                chosen = Some(rule);
                break;
            }
        }
        match chosen.and_then(Rule::pick) {
            Some(Target::Id(id)) => {
                ctx.upstream_override = ctx.snapshot.upstreams.get(id).cloned();
            }
            Some(Target::Inline(up)) => ctx.upstream_override = Some(up.clone()),
            Some(Target::Route) | None => {}
        }
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_round_robin() {
        assert_eq!(smooth_cycle(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth_cycle(&[1, 1]), [0, 1]);
        assert_eq!(smooth_cycle(&[0, 2]), [1, 1]);
    }

    #[test]
    fn rules_compile() {
        let conf = json!({"rules": [{
            "match": [{"vars": [["arg_name", "==", "jack"]]}],
            "weighted_upstreams": [
                {"upstream_id": 1, "weight": 3},
                {"upstream": {"nodes": {"127.0.0.1:1980": 1}, "type": "roundrobin"}, "weight": 1},
                {"weight": 0}
            ]
        }]});
        let rules = compile_rules(&conf, "route 1").unwrap();
        assert_eq!(rules[0].weights, [3, 1, 0]);
        assert!(matches!(&rules[0].targets[0], Target::Id(id) if &**id == "1"));
        assert_eq!(rules[0].cycle.len(), 4);
        let bad = json!({"rules": [{"match": [{"vars": [["a", "~~"]]}]}]});
        assert!(compile_rules(&bad, "r").is_err());
    }
}
