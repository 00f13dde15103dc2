//! `prometheus` (priority 500): records each request of the routes,
//! services or global rules it is enabled on in APISIX's metrics —
//! `apisix_http_status`, `apisix_http_latency` (`request`, `upstream`,
//! `apisix`), `apisix_bandwidth` (`ingress`, `egress`) — in the log phase.
//! `prefer_name` labels routes and services by name instead of id. The
//! metrics are served by the export listener (see `crate::metrics`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use serde_json::{json, Value};

use crate::metrics::{self, RequestLabels, StatusLabels};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory};

/// The factory.
pub struct PrometheusFactory;

struct Prometheus {
    prefer_name: bool,
    /// Metric handles by label values, so a request costs a hash and a read
    /// lock instead of building label sets (several strings) per metric.
    cache: RwLock<HashMap<u64, Arc<Handles>>>,
}

/// Label sets a cache entry serves (compared on hit: hashes can collide).
#[derive(PartialEq, Eq)]
struct Key {
    route: String,
    service: String,
    code: u16,
    consumer: String,
    node: String,
    matched_uri: String,
    matched_host: String,
}

/// The metrics of one label combination.
struct Handles {
    key: Key,
    status: Counter,
    latency_request: Histogram,
    latency_upstream: Histogram,
    latency_apisix: Histogram,
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
            cache: RwLock::new(HashMap::new()),
        }))
    }
}

impl Prometheus {
    /// The route and service labels: ids, or names with `prefer_name`.
    fn names<'c>(&self, ctx: &'c Ctx) -> (Cow<'c, str>, Cow<'c, str>) {
        let route = ctx.route_id.as_deref().unwrap_or_default();
        let service = ctx.service_id.as_deref().unwrap_or_default();
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

impl Prometheus {
    /// The metric handles for this request's labels (cached; nothing is
    /// allocated on a hit).
    fn handles(&self, ctx: &Ctx) -> Arc<Handles> {
        let (route, service) = self.names(ctx);
        let consumer = ctx.consumer_name().unwrap_or_default();
        let node = ctx.upstream_node.as_deref().unwrap_or_default();
        let matched_uri = ctx.matched_uri.as_deref().unwrap_or_default();
        let matched_host = ctx.matched_host.as_deref().unwrap_or_default();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            route.as_ref(),
            service.as_ref(),
            ctx.status,
            consumer,
            node,
            matched_uri,
            matched_host,
        )
            .hash(&mut h);
        let hash = h.finish();
        let same = |k: &Key| {
            k.code == ctx.status
                && k.route == route.as_ref()
                && k.service == service.as_ref()
                && k.consumer == consumer
                && k.node == node
                && k.matched_uri == matched_uri
                && k.matched_host == matched_host
        };
        if let Ok(cache) = self.cache.read() {
            if let Some(found) = cache.get(&hash).filter(|e| same(&e.key)) {
                return found.clone();
            }
        }
        let built = Arc::new(create(Key {
            route: route.into_owned(),
            service: service.into_owned(),
            code: ctx.status,
            consumer: consumer.to_string(),
            node: node.to_string(),
            matched_uri: matched_uri.to_string(),
            matched_host: matched_host.to_string(),
        }));
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() < CACHE_LIMIT {
                cache.insert(hash, built.clone());
            }
        }
        built
    }
}

/// Look up (creating) every metric of one label combination.
fn create(key: Key) -> Handles {
    let m = metrics::global();
    let request_type = "traditional_http".to_string();
    let status = m
        .http_status
        .get_or_create(&StatusLabels {
            code: key.code.to_string(),
            route: key.route.clone(),
            matched_uri: key.matched_uri.clone(),
            matched_host: key.matched_host.clone(),
            service: key.service.clone(),
            consumer: key.consumer.clone(),
            node: key.node.clone(),
            request_type: request_type.clone(),
            request_llm_model: String::new(),
            llm_model: String::new(),
        })
        .clone();
    let labels = |kind: &str| RequestLabels {
        r#type: kind.to_string(),
        route: key.route.clone(),
        service: key.service.clone(),
        consumer: key.consumer.clone(),
        node: key.node.clone(),
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
        key,
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
    }
}
