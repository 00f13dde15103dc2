//! `prometheus` (priority 500): records each request of the routes,
//! services or global rules it is enabled on in APISIX's metrics —
//! `apisix_http_status`, `apisix_http_latency` (`request`, `upstream`,
//! `apisix`), `apisix_bandwidth` (`ingress`, `egress`) — in the log phase.
//! `prefer_name` labels routes and services by name instead of id. The
//! metrics are served by the export listener (see `crate::metrics`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use prometheus_client::metrics::counter::Counter;
use serde_json::{json, Value};

use crate::llm::stats::LlmStats;
use crate::metrics::llm::{LlmLabels, LlmLatencyLabels};
use crate::metrics::{self, AtomicHistogram, RequestLabels, StatusLabels};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory};

/// The factory.
pub struct PrometheusFactory;

struct Prometheus {
    prefer_name: bool,
    /// Metric handles by label values, so a request costs one key compare
    /// instead of building label sets (several strings) per metric. Read
    /// without a lock; a miss (a new label combination: rare, and bounded)
    /// copies the map.
    cache: ArcSwap<HashMap<Box<[u8]>, Arc<Handles>>>,
}

/// The label values of one request.
struct Labels<'a> {
    route: &'a str,
    service: &'a str,
    code: u16,
    consumer: &'a str,
    node: &'a str,
    matched_uri: &'a str,
    matched_host: &'a str,
}

impl Labels<'_> {
    /// The cache key: every value, length-prefixed (unambiguous).
    fn write_key(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.code.to_le_bytes());
        for part in [
            self.route,
            self.service,
            self.consumer,
            self.node,
            self.matched_uri,
            self.matched_host,
        ] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
}

/// The metrics of one label combination.
struct Handles {
    status: Counter,
    latency_request: AtomicHistogram,
    latency_upstream: AtomicHistogram,
    latency_apisix: AtomicHistogram,
    ingress: Counter,
    egress: Counter,
}

/// Label combinations cached per plugin instance at most (bounded memory;
/// beyond it requests take the uncached path).
const CACHE_LIMIT: usize = 4096;

impl PluginFactory for PrometheusFactory {
    fn name(&self) -> &'static str {
        "prometheus"
    }
    fn priority(&self) -> i64 {
        500
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"prefer_name": {"type": "boolean", "default": false}}
        })
    }
    fn build(&self, conf: &Value, _env: &BuildEnv) -> Result<Arc<dyn Plugin>, String> {
        Ok(Arc::new(Prometheus {
            prefer_name: conf
                .get("prefer_name")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            cache: ArcSwap::from_pointee(HashMap::new()),
        }))
    }
}

impl Prometheus {
    /// The route and service labels: ids, or names with `prefer_name`.
    fn names<'c>(&self, ctx: &'c Ctx) -> (Cow<'c, str>, Cow<'c, str>) {
        let route = ctx.route_id().unwrap_or_default();
        let service = ctx.service_id().unwrap_or_default();
        if !self.prefer_name {
            return (Cow::Borrowed(route), Cow::Borrowed(service));
        }
        let route_name = ctx
            .snapshot
            .routes
            .get(route)
            .and_then(|r| r.name.as_deref())
            .unwrap_or(route);
        let service_name = ctx
            .snapshot
            .services
            .get(service)
            .and_then(|s| s.name.as_deref())
            .unwrap_or(service);
        (Cow::Borrowed(route_name), Cow::Borrowed(service_name))
    }
}

thread_local! {
    /// The key buffer, reused across requests on a worker thread.
    static KEY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Prometheus {
    /// The metric handles for this request's labels (cached; nothing is
    /// allocated on a hit).
    fn handles(&self, ctx: &Ctx) -> Arc<Handles> {
        let (route, service) = self.names(ctx);
        let labels = Labels {
            route: &route,
            service: &service,
            code: ctx.status,
            consumer: ctx.consumer_name().unwrap_or_default(),
            node: ctx.upstream_node.as_deref().unwrap_or_default(),
            matched_uri: ctx.matched_uri().unwrap_or_default(),
            matched_host: ctx.matched_host().unwrap_or_default(),
        };
        KEY.with(|buf| {
            let Ok(mut key) = buf.try_borrow_mut() else {
                // Not reachable (no re-entry), but never panic for a metric.
                return Arc::new(create(&labels));
            };
            labels.write_key(&mut key);
            if let Some(found) = self.cache.load().get(key.as_slice()) {
                return found.clone();
            }
            let built = Arc::new(create(&labels));
            self.cache.rcu(|cache| {
                let mut next = HashMap::clone(cache);
                if next.len() < CACHE_LIMIT {
                    next.insert(key.as_slice().into(), built.clone());
                }
                next
            });
            built
        })
    }
}

/// Look up (creating) every metric of one label combination.
fn create(key: &Labels) -> Handles {
    let m = metrics::global();
    let request_type = "traditional_http".to_string();
    let status = m
        .http_status
        .get_or_create(&StatusLabels {
            code: key.code.to_string(),
            route: key.route.to_string(),
            matched_uri: key.matched_uri.to_string(),
            matched_host: key.matched_host.to_string(),
            service: key.service.to_string(),
            consumer: key.consumer.to_string(),
            node: key.node.to_string(),
            request_type: request_type.clone(),
            request_llm_model: String::new(),
            llm_model: String::new(),
        })
        .clone();
    let labels = |kind: &str| RequestLabels {
        r#type: kind.to_string(),
        route: key.route.to_string(),
        service: key.service.to_string(),
        consumer: key.consumer.to_string(),
        node: key.node.to_string(),
        request_type: request_type.clone(),
        request_llm_model: String::new(),
        llm_model: String::new(),
    };
    // One statement per lookup: `get_or_create` returns a read guard on its
    // family, and holding one while the next lookup inserts (write lock on
    // the same family) would deadlock.
    let latency_request = m.http_latency.get_or_create(&labels("request")).clone();
    let latency_upstream = m.http_latency.get_or_create(&labels("upstream")).clone();
    let latency_apisix = m.http_latency.get_or_create(&labels("apisix")).clone();
    let ingress = m.bandwidth.get_or_create(&labels("ingress")).clone();
    let egress = m.bandwidth.get_or_create(&labels("egress")).clone();
    Handles {
        status,
        latency_request,
        latency_upstream,
        latency_apisix,
        ingress,
        egress,
    }
}

impl Plugin for Prometheus {
    fn log(&self, ctx: &Ctx) {
        let h = self.handles(ctx);
        h.status.inc();
        let total_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
        h.latency_request.observe(total_ms);
        if let Some(up) = ctx.upstream_latency {
            let up_ms = up.as_secs_f64() * 1000.0;
            h.latency_upstream.observe(up_ms);
            h.latency_apisix.observe((total_ms - up_ms).max(0.0));
        }
        h.ingress.inc_by(ctx.bytes_received);
        h.egress.inc_by(ctx.bytes_sent);
        if let Some(stats) = ctx.extensions.get::<Arc<LlmStats>>() {
            let (route, service) = self.names(ctx);
            record_llm(ctx, stats, &route, &service, total_ms);
        }
    }
}

/// The LLM metrics of one request.
fn record_llm(ctx: &Ctx, stats: &LlmStats, route: &str, service: &str, total_ms: f64) {
    let m = &metrics::global().llm;
    let (asked, answered) = m.model_labels(&stats.request_model, stats.model());
    let labels = LlmLabels {
        route_id: route.to_string(),
        service_id: service.to_string(),
        consumer: ctx.consumer_name().unwrap_or_default().to_string(),
        node: ctx
            .plugin_var("picked_ai_instance_name")
            .unwrap_or_default()
            .to_string(),
        request_type: if stats.stream { "ai_stream" } else { "ai_chat" }.to_string(),
        request_llm_model: asked,
        llm_model: answered,
    };
    let latency = |kind: &str| LlmLatencyLabels {
        r#type: kind.to_string(),
        llm: labels.clone(),
    };
    m.latency.get_or_create(&latency("total")).observe(total_ms);
    if let Some(ttft) = stats.ttft_ms() {
        m.latency
            .get_or_create(&latency("ttft"))
            .observe(ttft as f64);
    }
    if let Some(u) = stats.usage() {
        m.prompt_tokens
            .get_or_create(&labels)
            .inc_by(u.prompt_tokens);
        m.completion_tokens
            .get_or_create(&labels)
            .inc_by(u.completion_tokens);
    }
    if let Some(cost) = stats.cost() {
        m.cost.get_or_create(&labels).inc_by(cost);
    }
    m.overhead
        .get_or_create(&labels)
        .observe(stats.overhead().as_secs_f64() * 1000.0);
}
