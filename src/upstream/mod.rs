//! Compiled upstreams: node set, balancer, timeouts, retry policy, host
//! handling, TLS settings, connection pools and health state. Built once per
//! upstream version; its runtime state (pools, balancer counters, health)
//! lives as long as that version is in service.

pub mod active_check;
pub mod balancer;
pub mod connector;
pub mod health;
pub mod pool;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::config::compiled::Timeouts;
use crate::config::resource::{HashOn, NodesConf, PassHost, UpstreamConf, UpstreamScheme};
use balancer::{Algorithm, Balancer, NodeWeight};
use connector::TlsMode;
use health::Health;
use pool::{Pool, PoolSettings};

/// One backend node.
#[derive(Debug)]
pub struct Node {
    /// Host (IP or domain; IPv6 without brackets). Shared: each answered
    /// request carries it to the log phase.
    pub host: Arc<str>,
    /// Port.
    pub port: u16,
    /// `host:port` as shown in logs and `X-Forwarded` style headers (IPv6 bracketed).
    pub authority: Arc<str>,
    /// Host header value when `pass_host` is `node`.
    pub host_header: HeaderValue,
    /// Balancer weight.
    pub weight: u32,
    /// Priority tier.
    pub priority: i32,
    /// Keep-alive connections to this node.
    pub pool: Pool,
}

/// How `chash` derives its key from a request.
#[derive(Debug, Clone)]
pub enum HashKey {
    /// A request variable (`remote_addr`, `uri`, `arg_x`, ...).
    Var(crate::expr::VarName),
    /// A request header.
    Header(http::HeaderName),
    /// A cookie.
    Cookie(String),
    /// The authenticated consumer's name.
    Consumer,
    /// A template of `$var` references.
    Combination(Vec<crate::expr::VarName>),
}

/// A compiled upstream.
#[derive(Debug)]
pub struct Upstream {
    /// Id for named upstreams; empty for inline ones.
    pub id: Arc<str>,
    /// Human-readable name for logs (`upstream 1`, `route 7 inline upstream`).
    pub label: String,
    /// The configured `name`, if any (shown by the dashboard).
    pub name: Option<String>,
    /// Nodes in configuration order.
    pub nodes: Vec<Node>,
    /// Node picker.
    pub balancer: Balancer,
    /// `chash` key source.
    pub hash_key: Option<HashKey>,
    /// Extra attempts after a failure (None = nodes - 1).
    pub retries: Option<u32>,
    /// Deadline for all attempts.
    pub retry_timeout: Option<Duration>,
    /// Upstream-level timeouts.
    pub timeouts: Option<Timeouts>,
    /// TLS towards the nodes.
    pub tls: TlsMode,
    /// gRPC (`scheme: grpc`/`grpcs`): HTTP/2 to the nodes.
    pub grpc: bool,
    /// The client certificate presented to the nodes (`tls.client_cert`
    /// or `tls.client_cert_id`).
    pub client_cert: ClientCert,
    /// Host header policy.
    pub pass_host: PassHost,
    /// Host header when `pass_host` is `rewrite`.
    pub upstream_host: Option<HeaderValue>,
    /// Health state when `checks` is configured.
    pub health: Option<Arc<Health>>,
}

/// Where an upstream's client certificate comes from.
#[derive(Debug, Clone)]
pub enum ClientCert {
    /// None.
    None,
    /// `tls.client_cert` + `tls.client_key`, parsed.
    Inline(Arc<rustls::sign::CertifiedKey>),
    /// `tls.client_cert_id`: an SSL object of `type: client`, looked up in
    /// the snapshot serving the request (so rotating it needs no upstream change).
    Ssl(Arc<str>),
}

impl ClientCert {
    fn compile(t: &crate::config::resource::UpstreamTlsConf) -> Result<ClientCert, String> {
        match (&t.client_cert, &t.client_key, &t.client_cert_id) {
            (Some(cert), Some(key), None) => crate::tls::certs::identity(cert, key)
                .map(|i| ClientCert::Inline(i.key))
                .map_err(|e| format!("tls.client_cert: {e}")),
            (None, None, Some(id)) => Ok(ClientCert::Ssl(Arc::from(id.as_str()))),
            (None, None, None) => Ok(ClientCert::None),
            _ => Err("tls: give client_cert with client_key, or client_cert_id alone".into()),
        }
    }

    /// The certificate to present, from `ssls` for `client_cert_id`; an
    /// error names a missing object or one that is not `type: client`.
    pub fn resolve(
        &self,
        ssls: &crate::tls::store::SslObjects,
    ) -> Result<Option<Arc<rustls::sign::CertifiedKey>>, String> {
        match self {
            ClientCert::None => Ok(None),
            ClientCert::Inline(k) => Ok(Some(k.clone())),
            ClientCert::Ssl(id) => {
                let ssl = ssls.get(id).ok_or_else(|| {
                    format!("failed to get ssl cert: ssl id [{id}] does not exist")
                })?;
                if ssl.kind != crate::tls::ssl_object::SslType::Client {
                    return Err(format!(
                        "failed to get ssl cert: ssl id [{id}]: ssl type should be 'client'"
                    ));
                }
                Ok(ssl.identities.first().map(|i| i.key.clone()))
            }
        }
    }
}

fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("node `{s}`: missing `]`"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("node `{s}`: invalid port"))?,
            None if tail.is_empty() => default_port,
            None => return Err(format!("node `{s}`: invalid address")),
        };
        return Ok((h.to_string(), port));
    }
    if s.matches(':').count() > 1 {
        return Err(format!(
            "node `{s}`: IPv6 address must be enclosed with '[' and ']'"
        ));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => {
            let port: u16 = p.parse().map_err(|_| format!("node `{s}`: invalid port"))?;
            if port == 0 {
                return Err(format!("node `{s}`: port must be 1-65535"));
            }
            Ok((h.to_string(), port))
        }
        None => Ok((s.to_string(), default_port)),
    }
}

/// `host:port`, IPv6 hosts in brackets.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A configured number of seconds, bounded so time arithmetic cannot overflow.
pub fn seconds(v: f64, field: &str) -> Result<Duration, String> {
    use crate::config::resource::MAX_SECONDS;
    if v.is_finite() && (0.0..=MAX_SECONDS).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!(
            "property \"{field}\" validation failed: expected a number from 0 to {MAX_SECONDS}, got {v}"
        ))
    }
}

impl Upstream {
    /// Validate and compile an upstream definition; `label` names it in logs.
    pub fn compile(conf: &UpstreamConf, label: &str) -> Result<Upstream, String> {
        if conf.discovery_type.is_some() || conf.service_name.is_some() {
            return Err(
                "service discovery (discovery_type/service_name) is not supported yet".into(),
            );
        }
        let verify = conf.tls.as_ref().is_some_and(|t| t.verify);
        let (tls, grpc) = match conf.scheme {
            UpstreamScheme::Http => (TlsMode::Plain, false),
            UpstreamScheme::Https => (TlsMode::Tls { verify }, false),
            UpstreamScheme::Grpc => (TlsMode::Plain, true),
            UpstreamScheme::Grpcs => (TlsMode::Tls { verify }, true),
            other => {
                return Err(format!(
                "property \"scheme\" validation failed: `{}` is not supported for HTTP routes yet",
                format!("{other:?}").to_lowercase()
            ))
            }
        };
        // A client certificate is presented on TLS connections only (as APISIX).
        let client_cert = match (&tls, &conf.tls) {
            (TlsMode::Tls { .. }, Some(t)) => ClientCert::compile(t)?,
            _ => ClientCert::None,
        };
        let default_port = if matches!(tls, TlsMode::Plain) {
            80
        } else {
            443
        };
        let raw_nodes: Vec<(String, u16, u32, i32)> = match &conf.nodes {
            None => return Err("property \"nodes\" is required".into()),
            Some(NodesConf::Map(m)) => m
                .iter()
                .map(|(k, w)| split_host_port(k, default_port).map(|(h, p)| (h, p, *w, 0)))
                .collect::<Result<_, _>>()?,
            Some(NodesConf::List(l)) => l
                .iter()
                .map(|n| {
                    if n.host.contains(':') && !n.host.starts_with('[') {
                        return Err(format!(
                            "node `{}`: IPv6 address must be enclosed with '[' and ']'",
                            n.host
                        ));
                    }
                    let host = n.host.trim_start_matches('[').trim_end_matches(']');
                    let port = n.port.unwrap_or(default_port);
                    if port == 0 {
                        return Err(format!("node `{}`: port must be 1-65535", n.host));
                    }
                    Ok((host.to_string(), port, n.weight, n.priority))
                })
                .collect::<Result<_, _>>()?,
        };
        let algorithm = Algorithm::from_name(&conf.balancer).ok_or_else(|| {
            format!(
                "property \"type\" validation failed: unknown balancer `{}`",
                conf.balancer
            )
        })?;
        let hash_key = if algorithm == Algorithm::Chash {
            Some(compile_hash_key(conf.hash_on, conf.key.as_deref())?)
        } else {
            None
        };
        if conf.pass_host == PassHost::Rewrite
            && conf.upstream_host.as_deref().unwrap_or("").is_empty()
        {
            return Err("`upstream_host` can't be empty when `pass_host` is `rewrite`".into());
        }
        let upstream_host = match &conf.upstream_host {
            Some(h) => {
                Some(HeaderValue::from_str(h).map_err(|_| format!("invalid upstream_host `{h}`"))?)
            }
            None => None,
        };
        let timeouts = match &conf.timeout {
            Some(t) => {
                t.check("timeout")?;
                Some(Timeouts::from_conf(t))
            }
            None => None,
        };
        let kp = &conf.keepalive_pool;
        let settings = PoolSettings {
            max_idle: kp.size as usize,
            idle_timeout: seconds(kp.idle_timeout, "keepalive_pool.idle_timeout")?,
            max_requests: kp.requests.max(1),
        };
        let nodes: Vec<Node> = raw_nodes
            .into_iter()
            .map(|(host, port, weight, priority)| {
                let authority = authority(&host, port);
                let bare = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                let host_header = HeaderValue::from_str(if port == default_port {
                    &bare
                } else {
                    &authority
                })
                .map_err(|_| format!("invalid node host `{host}`"))?;
                Ok(Node {
                    pool: Pool::new(host.clone(), port, tls.clone(), grpc, settings),
                    host: host.into(),
                    port,
                    authority: authority.into(),
                    host_header,
                    weight,
                    priority,
                })
            })
            .collect::<Result<_, String>>()?;
        let weights: Vec<NodeWeight> = nodes
            .iter()
            .map(|n| NodeWeight::new(&n.authority, n.weight, n.priority))
            .collect();
        let balancer = Balancer::new(algorithm, &weights);
        let health = match &conf.checks {
            None => None,
            Some(c) => Some(Health::new(c, &nodes, label)?),
        };
        Ok(Upstream {
            id: Arc::from(conf.id.as_ref().map(|i| i.as_str()).unwrap_or("")),
            label: label.to_string(),
            name: conf.name.clone(),
            nodes,
            balancer,
            hash_key,
            retries: conf.retries,
            retry_timeout: match conf.retry_timeout {
                Some(t) if t > 0.0 => Some(seconds(t, "retry_timeout")?),
                _ => None,
            },
            timeouts,
            tls,
            grpc,
            client_cert,
            pass_host: conf.pass_host,
            upstream_host,
            health,
        })
    }

    /// Whether node `i` may receive traffic according to health checks.
    pub fn is_healthy(&self, i: usize) -> bool {
        self.health.as_ref().is_none_or(|h| h.is_healthy(i))
    }

    /// Whether node `i` may take this request: healthy, or every node is
    /// unhealthy (then all are used, as APISIX does). `all_down` comes from
    /// [`Upstream::all_unhealthy`], computed once per request.
    pub fn usable(&self, i: usize, all_down: bool) -> bool {
        all_down || self.is_healthy(i)
    }

    /// Whether health checks currently reject every node.
    pub fn all_unhealthy(&self) -> bool {
        self.health.is_some() && (0..self.nodes.len()).all(|i| !self.is_healthy(i))
    }

    /// Attempts allowed for one request (first try + retries).
    pub fn max_attempts(&self) -> usize {
        let retries = match self.retries {
            Some(r) => r as usize,
            None => self.nodes.len().saturating_sub(1),
        };
        retries + 1
    }
}

/// `hash_on` and `key` as the source of a `chash` key.
pub fn compile_hash_key(hash_on: HashOn, key: Option<&str>) -> Result<HashKey, String> {
    use crate::expr::VarName;
    let key = key.unwrap_or("");
    Ok(match hash_on {
        HashOn::Consumer => HashKey::Consumer,
        _ if key.is_empty() => {
            return Err("property \"key\" is required when `type` is `chash`".into())
        }
        HashOn::Vars => HashKey::Var(VarName::parse(key)),
        HashOn::Header => HashKey::Header(
            http::HeaderName::from_bytes(key.as_bytes())
                .map_err(|_| format!("invalid header name `{key}` in key"))?,
        ),
        HashOn::Cookie => HashKey::Cookie(key.to_string()),
        HashOn::VarsCombinations => {
            let vars: Vec<VarName> = key
                .split('$')
                .filter(|s| !s.is_empty())
                .map(VarName::parse)
                .collect();
            if vars.is_empty() {
                return Err(format!("key `{key}` references no variable"));
            }
            HashKey::Combination(vars)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(json: &str) -> Result<Upstream, String> {
        let conf: UpstreamConf = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Upstream::compile(&conf, "test")
    }

    #[test]
    fn node_forms() {
        let u = compile(r#"{"nodes":{"127.0.0.1:8080":1,"[::1]:81":2,"example.com":3}}"#).unwrap();
        let auth: Vec<_> = u.nodes.iter().map(|n| &*n.authority).collect();
        assert_eq!(auth, ["127.0.0.1:8080", "[::1]:81", "example.com:80"]);
        assert_eq!(u.max_attempts(), 3);
        let u = compile(r#"{"nodes":[{"host":"10.0.0.1","port":443,"weight":1,"priority":1}],"scheme":"https","retries":0}"#).unwrap();
        assert_eq!(u.nodes[0].priority, 1);
        assert_eq!(u.max_attempts(), 1);
    }

    #[test]
    fn errors() {
        assert!(compile(r#"{"nodes":{"::1:80":1}}"#)
            .unwrap_err()
            .contains("IPv6"));
        assert!(compile(r#"{"nodes":{"a:1":1},"pass_host":"rewrite"}"#)
            .unwrap_err()
            .contains("upstream_host"));
        assert!(compile(r#"{"nodes":{"a:1":1},"type":"chash"}"#)
            .unwrap_err()
            .contains("key"));
        assert!(compile(r#"{"nodes":{"a:1":1},"type":"magic"}"#)
            .unwrap_err()
            .contains("magic"));
        assert!(compile(r#"{"nodes":{"a:1":1},"retry_timeout":1e19}"#)
            .unwrap_err()
            .contains("retry_timeout"));
        assert!(
            compile(r#"{"nodes":{"a:1":1},"checks":{"active":{"timeout":1e300}}}"#)
                .unwrap_err()
                .contains("checks.active.timeout")
        );
        assert!(compile(r#"{"nodes":{"a:1":1},"scheme":"kafka"}"#)
            .unwrap_err()
            .contains("kafka"));
        let grpc = compile(r#"{"nodes":{"a:1":1},"scheme":"grpc"}"#).unwrap();
        assert!(grpc.grpc && grpc.tls == TlsMode::Plain);
        let grpcs =
            compile(r#"{"nodes":["a"],"scheme":"grpcs"}"#.replace("[\"a\"]", "{\"a\":1}").as_str())
                .unwrap();
        assert!(grpcs.grpc && grpcs.nodes[0].port == 443);
        let e = compile(
            r#"{"nodes":{"a:1":1},"scheme":"https","tls":{"client_cert":"x","client_key":"y"}}"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("tls.client_cert: failed to parse cert"),
            "{e}"
        );
    }
}
