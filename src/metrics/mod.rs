//! Prometheus metrics with APISIX's names and labels, stored in
//! `prometheus-client` families and exposed in the Prometheus text format
//! (0.0.4) on `plugin_attr.prometheus.export_addr` (default
//! `127.0.0.1:9091`) at `/apisix/prometheus/metrics`.
//!
//! Label cardinality is bounded by configuration, never by request input:
//! every label value is a route, service, consumer or node id, a configured
//! URI/host pattern, or a status code — never a raw request path or header.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::Snapshot;

mod histogram;
pub use histogram::AtomicHistogram;

pub mod llm;

/// APISIX's default latency buckets, in milliseconds.
pub const LATENCY_BUCKETS: [f64; 15] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0,
    60000.0,
];

/// Labels of `apisix_http_status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Response status code.
    pub code: String,
    /// Route id.
    pub route: String,
    /// The matched URI pattern.
    pub matched_uri: String,
    /// The matched host pattern.
    pub matched_host: String,
    /// Service id.
    pub service: String,
    /// Consumer name.
    pub consumer: String,
    /// Upstream node (`ip:port`... as APISIX: the node ip).
    pub node: String,
    /// `traditional_http`, `ai_chat`, `ai_stream`.
    pub request_type: String,
    /// Model asked for by the client (LLM traffic).
    pub request_llm_model: String,
    /// Model used (LLM traffic).
    pub llm_model: String,
}

/// Labels of `apisix_http_latency` and `apisix_bandwidth`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `request`/`upstream`/`apisix` (latency) or `ingress`/`egress` (bandwidth).
    pub r#type: String,
    /// Route id.
    pub route: String,
    /// Service id.
    pub service: String,
    /// Consumer name.
    pub consumer: String,
    /// Upstream node.
    pub node: String,
    /// `traditional_http`, `ai_chat`, `ai_stream`.
    pub request_type: String,
    /// Model asked for by the client.
    pub request_llm_model: String,
    /// Model used.
    pub llm_model: String,
}

/// A single `key` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabel {
    /// The key.
    pub key: String,
}

/// A single `name` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabel {
    /// The name.
    pub name: String,
}

/// A single `state` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// The state.
    pub state: String,
}

/// Labels of `apisix_node_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeInfoLabels {
    /// Host name.
    pub hostname: String,
    /// strait's version.
    pub version: String,
}

/// Labels of `apisix_upstream_status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// Upstream id.
    pub name: String,
    /// Node address.
    pub ip: String,
    /// Node port.
    pub port: String,
}

/// Labels of `apisix_lua_plugin_errors`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LuaErrorLabels {
    /// The Lua plugin.
    pub plugin: String,
    /// The phase that failed.
    pub phase: String,
}

/// A single `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why.
    pub reason: String,
}

/// Labels of `apisix_ssl_certificate_expiry_days`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SslLabels {
    /// SSL object id.
    pub id: String,
    /// Its SNIs, comma-separated (empty for client certificates).
    pub snis: String,
}

/// Every metric strait exposes.
pub struct Metrics {
    registry: Registry,
    /// `apisix_http_requests_total`: every request the proxy received.
    pub http_requests: Counter,
    /// `apisix_http_status`.
    pub http_status: Family<StatusLabels, Counter>,
    /// `apisix_http_latency` (ms).
    pub http_latency: Family<RequestLabels, AtomicHistogram>,
    /// `apisix_bandwidth` (bytes).
    pub bandwidth: Family<RequestLabels, Counter>,
    /// `apisix_etcd_reachable`.
    pub etcd_reachable: Gauge,
    /// `apisix_etcd_modify_indexes`.
    pub etcd_modify_indexes: Family<KeyLabel, Gauge>,
    /// `apisix_nginx_http_current_connections`.
    pub connections: Family<StateLabel, Gauge>,
    /// `apisix_node_info`.
    pub node_info: Family<NodeInfoLabels, Gauge>,
    /// `apisix_upstream_status` (1 healthy, 0 not), refreshed at each scrape.
    pub upstream_status: Family<UpstreamLabels, Gauge>,
    /// `apisix_batch_process_dropped_entries`: log entries a logger dropped
    /// (queue full, or the sink kept failing).
    pub batch_dropped: Family<NameLabel, Counter>,
    /// `apisix_lua_plugin_errors`: Lua plugin calls that raised an error or
    /// ran out of time or memory, by plugin and phase.
    pub lua_errors: Family<LuaErrorLabels, Counter>,
    /// `apisix_ssl_handshake_failures`: TLS handshakes that did not
    /// complete, by reason (`unknown_sni`, `handshake`, `timeout`).
    pub ssl_handshake_failures: Family<ReasonLabel, Counter>,
    /// `apisix_ssl_certificate_expiry_days`: whole days until the soonest
    /// certificate of each SSL object expires (negative once expired),
    /// refreshed at each scrape.
    pub ssl_expiry_days: Family<SslLabels, Gauge>,
    /// The LLM metrics.
    pub llm: llm::LlmMetrics,
    /// Open client connections (all listeners).
    pub active_connections: AtomicI64,
    /// Accepted client connections since start.
    pub accepted_connections: AtomicI64,
    /// Proxy responses with a status of 500 or more, every route (not
    /// exported: the dashboard's error rate reads it, set against
    /// `http_requests`, whether or not `prometheus` is on a route).
    pub responses_5xx: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// This machine's host name (empty when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn latency_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&LATENCY_BUCKETS)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("apisix");
        let llm = llm::LlmMetrics::new(&mut registry);
        let m = Metrics {
            llm,
            registry: Registry::default(),
            http_requests: Counter::default(),
            http_status: Family::default(),
            http_latency: Family::new_with_constructor(latency_histogram),
            bandwidth: Family::default(),
            etcd_reachable: Gauge::default(),
            etcd_modify_indexes: Family::default(),
            connections: Family::default(),
            node_info: Family::default(),
            upstream_status: Family::default(),
            batch_dropped: Family::default(),
            lua_errors: Family::default(),
            ssl_handshake_failures: Family::default(),
            ssl_expiry_days: Family::default(),
            active_connections: AtomicI64::new(0),
            accepted_connections: AtomicI64::new(0),
            responses_5xx: AtomicU64::new(0),
        };
        registry.register(
            "http_requests",
            "The total number of client requests",
            m.http_requests.clone(),
        );
        registry.register(
            "http_status",
            "HTTP status codes per service in APISIX",
            m.http_status.clone(),
        );
        registry.register(
            "http_latency",
            "HTTP request latency in milliseconds per service in APISIX",
            m.http_latency.clone(),
        );
        registry.register(
            "bandwidth",
            "Total bandwidth in bytes consumed per service in APISIX",
            m.bandwidth.clone(),
        );
        registry.register(
            "etcd_reachable",
            "Config server etcd reachable from APISIX, 0 is unreachable",
            m.etcd_reachable.clone(),
        );
        registry.register(
            "etcd_modify_indexes",
            "Etcd modify index for APISIX keys",
            m.etcd_modify_indexes.clone(),
        );
        registry.register(
            "nginx_http_current_connections",
            "Number of HTTP connections",
            m.connections.clone(),
        );
        registry.register("node_info", "Info of APISIX node", m.node_info.clone());
        registry.register(
            "upstream_status",
            "Upstream status from health check",
            m.upstream_status.clone(),
        );
        registry.register(
            "batch_process_dropped_entries",
            "Log entries dropped by a logger plugin (queue full or sink failing)",
            m.batch_dropped.clone(),
        );
        registry.register(
            "lua_plugin_errors",
            "Lua plugin calls that failed (error, time budget, memory cap)",
            m.lua_errors.clone(),
        );
        registry.register(
            "ssl_handshake_failures",
            "TLS handshakes that failed, by reason",
            m.ssl_handshake_failures.clone(),
        );
        registry.register(
            "ssl_certificate_expiry_days",
            "Days until the soonest certificate of an SSL object expires (negative: expired)",
            m.ssl_expiry_days.clone(),
        );
        m.node_info
            .get_or_create(&NodeInfoLabels {
                hostname: hostname(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        Metrics { registry, ..m }
    }

    /// Count a response the proxy sent if it is a server error (one relaxed add).
    pub fn count_response(&self, status: http::StatusCode) {
        if status.is_server_error() {
            self.responses_5xx.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count a TLS handshake that failed.
    pub fn count_handshake_failure(&self, reason: &str) {
        self.ssl_handshake_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Refresh the values computed at scrape time (connections, upstream
    /// health, etcd revision) from `snapshot`.
    pub fn refresh(&self, snapshot: &Snapshot) {
        let active = self.active_connections.load(Ordering::Relaxed);
        let accepted = self.accepted_connections.load(Ordering::Relaxed);
        for (state, v) in [
            ("active", active),
            ("accepted", accepted),
            ("handled", accepted),
            ("reading", 0),
            ("writing", active),
            ("waiting", 0),
        ] {
            self.connections
                .get_or_create(&StateLabel {
                    state: state.to_string(),
                })
                .set(v);
        }
        for key in ["max_modify_index", "x_etcd_index"] {
            self.etcd_modify_indexes
                .get_or_create(&KeyLabel {
                    key: key.to_string(),
                })
                .set(snapshot.revision);
        }
        self.ssl_expiry_days.clear();
        let now = crate::admin::item_rules::now_seconds();
        for ssl in snapshot.tls.objects.values() {
            if let Some(not_after) = ssl.not_after() {
                self.ssl_expiry_days
                    .get_or_create(&SslLabels {
                        id: ssl.id.to_string(),
                        snis: ssl.snis.join(","),
                    })
                    .set(crate::tls::certs::days_left(not_after, now));
            }
        }
        self.upstream_status.clear();
        for up in snapshot.upstreams.values() {
            if up.health.is_none() {
                continue;
            }
            for (i, node) in up.nodes.iter().enumerate() {
                self.upstream_status
                    .get_or_create(&UpstreamLabels {
                        name: up.id.to_string(),
                        ip: node.host.to_string(),
                        port: node.port.to_string(),
                    })
                    .set(i64::from(up.is_healthy(i)));
            }
        }
    }

    /// The exposition in the Prometheus text format, with APISIX's names.
    pub fn render(&self) -> String {
        let mut open_metrics = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut open_metrics, &self.registry)
            .is_err()
        {
            return String::new();
        }
        to_prometheus_text(&open_metrics)
    }
}

/// Counters whose APISIX name ends in `_total`; the others drop the suffix
/// OpenMetrics adds to counter samples.
const TOTAL_COUNTERS: [&str; 2] = [
    "apisix_http_requests",
    "apisix_batch_process_dropped_entries",
];

/// Convert prometheus-client's OpenMetrics text into the Prometheus text
/// format APISIX serves: no `# EOF`/`# UNIT` lines, no `_created` samples,
/// and counter sample names as APISIX spells them.
pub fn to_prometheus_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    let mut counters: Vec<&str> = Vec::new();
    for line in open_metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.push(name);
            }
        }
    }
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = rewrite_line(line, &counters);
        if rewritten.is_empty() {
            continue;
        }
        out.push_str(&rewritten);
        out.push('\n');
    }
    out
}

fn rewrite_line(line: &str, counters: &[&str]) -> String {
    for family in counters {
        let keep_total = TOTAL_COUNTERS.contains(family);
        for prefix in ["# TYPE ", "# HELP "] {
            if let Some(rest) = line.strip_prefix(prefix) {
                if let Some(tail) = rest.strip_prefix(family) {
                    if tail.starts_with(' ') && keep_total {
                        return format!("{prefix}{family}_total{tail}");
                    }
                }
            }
        }
        if let Some(tail) = line.strip_prefix(family) {
            if tail.starts_with("_created") {
                return String::new();
            }
            if let Some(after) = tail.strip_prefix("_total") {
                if after.starts_with('{') || after.starts_with(' ') {
                    return if keep_total {
                        line.to_string()
                    } else {
                        format!("{family}{after}")
                    };
                }
            }
        }
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_metrics_become_prometheus_text_with_apisix_names() {
        let om = "# HELP apisix_http_status HTTP status codes.\n# TYPE apisix_http_status counter\napisix_http_status_total{code=\"200\"} 3\napisix_http_status_created{code=\"200\"} 1.7e9\n# HELP apisix_http_requests The total number.\n# TYPE apisix_http_requests counter\napisix_http_requests_total 5\n# TYPE apisix_etcd_reachable gauge\napisix_etcd_reachable 1\n# EOF\n";
        let text = to_prometheus_text(om);
        assert_eq!(
            text,
            "# HELP apisix_http_status HTTP status codes.\n# TYPE apisix_http_status counter\napisix_http_status{code=\"200\"} 3\n# HELP apisix_http_requests_total The total number.\n# TYPE apisix_http_requests_total counter\napisix_http_requests_total 5\n# TYPE apisix_etcd_reachable gauge\napisix_etcd_reachable 1\n"
        );
    }

    #[test]
    fn registry_renders_every_family() {
        let m = global();
        m.http_requests.inc();
        let text = m.render();
        // Families without samples yet are left out by the encoder.
        for name in [
            "apisix_http_requests_total",
            "apisix_node_info{",
            "# TYPE apisix_etcd_reachable gauge",
        ] {
            assert!(text.contains(name), "{name} missing in:\n{text}");
        }
        assert!(!text.contains("# EOF"));
    }
}
