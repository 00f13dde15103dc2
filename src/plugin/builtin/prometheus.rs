//! `prometheus` (priority 500): records each request of the routes,
//! services or global rules it is enabled on in APISIX's metrics —
//! `apisix_http_status`, `apisix_http_latency` (`request`, `upstream`,
//! `apisix`), `apisix_bandwidth` (`ingress`, `egress`) — in the log phase.
//! `prefer_name` labels routes and services by name instead of id. The
//! metrics are served by the export listener (see `crate::metrics`).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::metrics::{self, RequestLabels, StatusLabels};
use crate::plugin::{BuildEnv, Ctx, Plugin, PluginFactory};

/// The factory.
pub struct PrometheusFactory;

struct Prometheus {
    prefer_name: bool,
}

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
        }))
    }
}

impl Prometheus {
    /// The route and service labels: ids, or names with `prefer_name`.
    fn names(&self, ctx: &Ctx) -> (String, String) {
        let route = ctx.route_id.as_deref().unwrap_or_default();
        let service = ctx.service_id.as_deref().unwrap_or_default();
        if !self.prefer_name {
            return (route.to_string(), service.to_string());
        }
        let route_name = ctx
            .snapshot
            .routes
            .get(route)
            .and_then(|r| r.name.clone())
            .unwrap_or_else(|| route.to_string());
        let service_name = ctx
            .snapshot
            .services
            .get(service)
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| service.to_string());
        (route_name, service_name)
    }
}

impl Plugin for Prometheus {
    fn log(&self, ctx: &Ctx) {
        let m = metrics::global();
        let (route, service) = self.names(ctx);
        let consumer = ctx.consumer_name().unwrap_or_default().to_string();
        let node = ctx.upstream_node.clone().unwrap_or_default();
        let request_type = "traditional_http".to_string();
        m.http_status
            .get_or_create(&StatusLabels {
                code: ctx.status.to_string(),
                route: route.clone(),
                matched_uri: ctx.matched_uri.clone().unwrap_or_default(),
                matched_host: ctx.matched_host.clone().unwrap_or_default(),
                service: service.clone(),
                consumer: consumer.clone(),
                node: node.clone(),
                request_type: request_type.clone(),
                request_llm_model: String::new(),
                llm_model: String::new(),
            })
            .inc();
        let labels = |kind: &str| RequestLabels {
            r#type: kind.to_string(),
            route: route.clone(),
            service: service.clone(),
            consumer: consumer.clone(),
            node: node.clone(),
            request_type: request_type.clone(),
            request_llm_model: String::new(),
            llm_model: String::new(),
        };
        let total_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
        m.http_latency
            .get_or_create(&labels("request"))
            .observe(total_ms);
        if let Some(up) = ctx.upstream_latency {
            let up_ms = up.as_secs_f64() * 1000.0;
            m.http_latency
                .get_or_create(&labels("upstream"))
                .observe(up_ms);
            m.http_latency
                .get_or_create(&labels("apisix"))
                .observe((total_ms - up_ms).max(0.0));
        }
        m.bandwidth
            .get_or_create(&labels("ingress"))
            .inc_by(ctx.bytes_received);
        m.bandwidth
            .get_or_create(&labels("egress"))
            .inc_by(ctx.bytes_sent);
    }
}
