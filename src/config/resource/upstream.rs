//! The upstream resource (APISIX `upstream_schema`), including health checks
//! with APISIX's defaults (lua-resty-healthcheck's as wired by APISIX).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ResourceId, TimeoutConf};

/// An upstream as stored in etcd (or inline in a route/service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConf {
    /// Upstream id.
    pub id: Option<ResourceId>,
    /// Display name.
    pub name: Option<String>,
    /// Description.
    pub desc: Option<String>,
    /// Free-form labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Backend nodes (map or array form).
    pub nodes: Option<NodesConf>,
    /// Balancer: `roundrobin`, `chash`, `ewma`, `least_conn`.
    #[serde(rename = "type", default = "roundrobin")]
    pub balancer: String,
    /// What `chash` hashes.
    #[serde(default)]
    pub hash_on: HashOn,
    /// The `chash` key (a variable name, header or cookie name).
    pub key: Option<String>,
    /// Extra attempts on other nodes; default nodes - 1.
    pub retries: Option<u32>,
    /// Deadline for all retries, in seconds (0 = none).
    pub retry_timeout: Option<f64>,
    /// Timeouts in seconds.
    pub timeout: Option<TimeoutConf>,
    /// `http` or `https` (others are rejected for HTTP routes).
    #[serde(default)]
    pub scheme: UpstreamScheme,
    /// Which Host header the upstream receives.
    #[serde(default)]
    pub pass_host: PassHost,
    /// Host used when `pass_host` is `rewrite`.
    pub upstream_host: Option<String>,
    /// Active and passive health checks.
    pub checks: Option<ChecksConf>,
    /// Keep-alive pool settings.
    #[serde(default)]
    pub keepalive_pool: KeepalivePoolConf,
    /// TLS settings towards the upstream.
    pub tls: Option<UpstreamTlsConf>,
    /// Service discovery (not supported yet).
    pub discovery_type: Option<String>,
    /// Service discovery name (not supported yet).
    pub service_name: Option<String>,
    /// Service discovery arguments (not supported yet).
    pub discovery_args: Option<serde_json::Value>,
    /// Set by the Admin API.
    pub create_time: Option<i64>,
    /// Set by the Admin API.
    pub update_time: Option<i64>,
}

fn roundrobin() -> String {
    "roundrobin".to_string()
}

/// `nodes`: `{"host:port": weight}` or `[{host, port, weight, priority}]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NodesConf {
    /// Map form.
    Map(BTreeMap<String, u32>),
    /// Array form.
    List(Vec<NodeConf>),
}

/// One node in array form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConf {
    /// IP or domain name; IPv6 in brackets.
    pub host: String,
    /// Port; defaults to the scheme's port.
    pub port: Option<u16>,
    /// Weight (0 = never picked).
    pub weight: u32,
    /// Higher priority tiers are used first.
    #[serde(default)]
    pub priority: i32,
    /// Free-form metadata.
    pub metadata: Option<serde_json::Value>,
}

/// `hash_on`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    /// A request variable.
    #[default]
    Vars,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
    /// The authenticated consumer.
    Consumer,
    /// A template of variables (`$request_uri$remote_addr`).
    VarsCombinations,
}

/// Upstream schemes accepted by the schema.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamScheme {
    /// Plain HTTP/1.1.
    #[default]
    Http,
    /// HTTP/1.1 over TLS.
    Https,
    /// gRPC (not supported yet).
    Grpc,
    /// gRPC over TLS (not supported yet).
    Grpcs,
    /// Stream proxy (not for HTTP routes).
    Tcp,
    /// Stream proxy over TLS (not for HTTP routes).
    Tls,
    /// Stream proxy (not for HTTP routes).
    Udp,
    /// Kafka pub-sub (not supported).
    Kafka,
}

/// `pass_host`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PassHost {
    /// Send the client's Host.
    #[default]
    Pass,
    /// Send the node's host.
    Node,
    /// Send `upstream_host`.
    Rewrite,
}

/// `keepalive_pool`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeepalivePoolConf {
    /// Idle connections kept per node.
    pub size: u32,
    /// Seconds an idle connection is kept.
    pub idle_timeout: f64,
    /// Requests served by one connection before it is closed.
    pub requests: u32,
}

impl Default for KeepalivePoolConf {
    fn default() -> Self {
        Self {
            size: 320,
            idle_timeout: 60.0,
            requests: 1000,
        }
    }
}

/// `tls` towards the upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConf {
    /// Client certificate (mTLS; later issue).
    pub client_cert: Option<String>,
    /// Client key (mTLS; later issue).
    pub client_key: Option<String>,
    /// Client certificate from an SSL object (mTLS; later issue).
    pub client_cert_id: Option<ResourceId>,
    /// Verify the upstream's certificate against the system roots.
    #[serde(default)]
    pub verify: bool,
}

/// `checks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConf {
    /// Active probes (required by APISIX whenever `checks` is set).
    pub active: Option<ActiveCheckConf>,
    /// Passive observation of proxied traffic.
    pub passive: Option<PassiveCheckConf>,
}

/// `checks.active`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActiveCheckConf {
    /// `http`, `https` or `tcp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Probe timeout in seconds.
    pub timeout: f64,
    /// Concurrent probes.
    pub concurrency: u32,
    /// Host header of HTTP probes.
    pub host: Option<String>,
    /// Probe this port instead of the node's.
    pub port: Option<u16>,
    /// Probe path.
    pub http_path: String,
    /// Probe method.
    pub http_method: String,
    /// Probe body.
    pub http_req_body: Option<String>,
    /// Verify certificates of HTTPS probes.
    pub https_verify_certificate: bool,
    /// Extra probe headers (`"Name: value"`).
    pub req_headers: Vec<String>,
    /// When a node is declared healthy.
    pub healthy: ActiveHealthy,
    /// When a node is declared unhealthy.
    pub unhealthy: ActiveUnhealthy,
}

impl Default for ActiveCheckConf {
    fn default() -> Self {
        Self {
            kind: "http".into(),
            timeout: 1.0,
            concurrency: 10,
            host: None,
            port: None,
            http_path: "/".into(),
            http_method: "GET".into(),
            http_req_body: None,
            https_verify_certificate: true,
            req_headers: Vec::new(),
            healthy: ActiveHealthy::default(),
            unhealthy: ActiveUnhealthy::default(),
        }
    }
}

/// `checks.active.healthy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActiveHealthy {
    /// Seconds between probes of a healthy node (0 disables).
    pub interval: f64,
    /// Statuses that count as success.
    pub http_statuses: Vec<u16>,
    /// Successes needed to become healthy.
    pub successes: u32,
}

impl Default for ActiveHealthy {
    fn default() -> Self {
        Self {
            interval: 1.0,
            http_statuses: vec![200, 302],
            successes: 2,
        }
    }
}

/// `checks.active.unhealthy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActiveUnhealthy {
    /// Seconds between probes of an unhealthy node (0 disables).
    pub interval: f64,
    /// Statuses that count as failure.
    pub http_statuses: Vec<u16>,
    /// HTTP failures to become unhealthy.
    pub http_failures: u32,
    /// TCP failures to become unhealthy.
    pub tcp_failures: u32,
    /// Timeouts to become unhealthy.
    pub timeouts: u32,
}

impl Default for ActiveUnhealthy {
    fn default() -> Self {
        Self {
            interval: 1.0,
            http_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
            http_failures: 5,
            tcp_failures: 2,
            timeouts: 3,
        }
    }
}

/// `checks.passive`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveCheckConf {
    /// `http`, `https` or `tcp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When a node is counted healthy again.
    pub healthy: PassiveHealthy,
    /// When a node is ejected.
    pub unhealthy: PassiveUnhealthy,
}

impl Default for PassiveCheckConf {
    fn default() -> Self {
        Self {
            kind: "http".into(),
            healthy: PassiveHealthy::default(),
            unhealthy: PassiveUnhealthy::default(),
        }
    }
}

/// `checks.passive.healthy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveHealthy {
    /// Statuses that count as success.
    pub http_statuses: Vec<u16>,
    /// Successes needed to become healthy.
    pub successes: u32,
}

impl Default for PassiveHealthy {
    fn default() -> Self {
        Self {
            http_statuses: vec![
                200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305,
                306, 307, 308,
            ],
            successes: 5,
        }
    }
}

/// `checks.passive.unhealthy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveUnhealthy {
    /// Statuses that count as failure.
    pub http_statuses: Vec<u16>,
    /// TCP failures to become unhealthy.
    pub tcp_failures: u32,
    /// Timeouts to become unhealthy.
    pub timeouts: u32,
    /// HTTP failures to become unhealthy.
    pub http_failures: u32,
}

impl Default for PassiveUnhealthy {
    fn default() -> Self {
        Self {
            http_statuses: vec![429, 500, 503],
            tcp_failures: 2,
            timeouts: 7,
            http_failures: 5,
        }
    }
}
