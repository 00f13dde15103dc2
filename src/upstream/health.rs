//! Per-node health state fed by passive observation of proxied traffic and by
//! active probes, with APISIX's (lua-resty-healthcheck's) counter rules: each
//! outcome bumps its own counter and clears the opposite ones; crossing a
//! threshold flips the node's state.
//!
//! State is a handful of atomics per node: reading it on the request path
//! takes no lock.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::resource::{ActiveCheckConf, ChecksConf, PassiveCheckConf};

use super::Node;

/// What happened on one exchange with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status arrived.
    Status(u16),
    /// Connecting or talking to the node failed.
    TcpFailure,
    /// The node did not answer in time.
    Timeout,
    /// A TCP probe connected (success for `type: tcp` checks).
    Connected,
}

#[derive(Debug, Default)]
struct NodeState {
    unhealthy: AtomicBool,
    successes: AtomicU32,
    http_failures: AtomicU32,
    tcp_failures: AtomicU32,
    timeouts: AtomicU32,
}

/// Thresholds of one source (active or passive).
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// Statuses counted as success.
    pub healthy_statuses: Vec<u16>,
    /// Successes to become healthy (0 = never by this source).
    pub successes: u32,
    /// Statuses counted as failure.
    pub unhealthy_statuses: Vec<u16>,
    /// HTTP failures to become unhealthy (0 = never).
    pub http_failures: u32,
    /// TCP failures to become unhealthy (0 = never).
    pub tcp_failures: u32,
    /// Timeouts to become unhealthy (0 = never).
    pub timeouts: u32,
}

/// Target of an active probe.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// Node host.
    pub host: String,
    /// Port probed.
    pub port: u16,
    /// Host header for HTTP probes.
    pub host_header: String,
}

/// Health of every node of one upstream version.
#[derive(Debug)]
pub struct Health {
    label: String,
    nodes: Vec<NodeState>,
    passive: Option<Thresholds>,
    /// Active probe settings, if active checks are configured.
    pub active: Option<(ActiveCheckConf, Thresholds)>,
    /// Probe targets, by node index.
    pub targets: Vec<ProbeTarget>,
}

impl Health {
    /// Build the health state for `nodes`; starts active probing when configured
    /// and a runtime is available. Probing stops when this state is dropped.
    pub fn new(conf: &ChecksConf, nodes: &[Node], label: &str) -> Result<Arc<Health>, String> {
        if conf.active.is_none() {
            // APISIX's schema requires `active` whenever `checks` is present.
            return Err("property \"checks\" validation failed: `active` is required (passive checks alone cannot bring a node back)".into());
        }
        let passive = conf.passive.as_ref().map(passive_thresholds);
        let active = conf.active.as_ref().map(|a| {
            let t = Thresholds {
                healthy_statuses: a.healthy.http_statuses.clone(),
                successes: a.healthy.successes,
                unhealthy_statuses: a.unhealthy.http_statuses.clone(),
                http_failures: a.unhealthy.http_failures,
                tcp_failures: a.unhealthy.tcp_failures,
                timeouts: a.unhealthy.timeouts,
            };
            (a.clone(), t)
        });
        if let Some((a, _)) = &active {
            super::seconds(a.timeout, "checks.active.timeout")?;
            super::seconds(a.healthy.interval, "checks.active.healthy.interval")?;
            super::seconds(a.unhealthy.interval, "checks.active.unhealthy.interval")?;
            if !matches!(a.kind.as_str(), "http" | "https" | "tcp") {
                return Err(format!(
                    "property \"checks.active.type\" validation failed: `{}` is not one of http, https, tcp",
                    a.kind
                ));
            }
        }
        let targets = nodes
            .iter()
            .map(|n| {
                let port = active.as_ref().and_then(|(a, _)| a.port).unwrap_or(n.port);
                ProbeTarget {
                    host: n.host.to_string(),
                    port,
                    host_header: active
                        .as_ref()
                        .and_then(|(a, _)| a.host.clone())
                        .unwrap_or_else(|| n.host.to_string()),
                }
            })
            .collect();
        let health = Arc::new(Health {
            label: label.to_string(),
            nodes: nodes.iter().map(|_| NodeState::default()).collect(),
            passive,
            active,
            targets,
        });
        if health.active.is_some() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(super::active_check::run(Arc::downgrade(&health)));
            }
        }
        Ok(health)
    }

    /// Whether node `i` is currently considered healthy.
    pub fn is_healthy(&self, i: usize) -> bool {
        self.nodes
            .get(i)
            .is_none_or(|n| !n.unhealthy.load(Ordering::Relaxed))
    }

    /// Log label of the upstream.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Record an outcome observed on proxied traffic.
    pub fn report_passive(&self, i: usize, outcome: Outcome, authority: &str) {
        if let Some(t) = &self.passive {
            self.record(i, outcome, t, "passive", authority);
        }
    }

    /// Record an outcome of an active probe.
    pub fn report_active(&self, i: usize, outcome: Outcome, authority: &str) {
        if let Some((_, t)) = &self.active {
            self.record(i, outcome, t, "active", authority);
        }
    }

    fn record(&self, i: usize, outcome: Outcome, t: &Thresholds, source: &str, authority: &str) {
        let Some(n) = self.nodes.get(i) else { return };
        let fail = |counter: &AtomicU32, limit: u32, what: &str| {
            n.successes.store(0, Ordering::Relaxed);
            let c = counter.fetch_add(1, Ordering::Relaxed) + 1;
            if limit > 0 && c >= limit && !n.unhealthy.swap(true, Ordering::Relaxed) {
                tracing::warn!(upstream = %self.label, node = authority, source, "node marked unhealthy after {c} {what}");
            }
        };
        match outcome {
            Outcome::Status(s) if t.unhealthy_statuses.contains(&s) => {
                fail(&n.http_failures, t.http_failures, "HTTP failures")
            }
            Outcome::Connected => self.succeed(n, t, source, authority),
            Outcome::Status(s) if t.healthy_statuses.contains(&s) => {
                self.succeed(n, t, source, authority)
            }
            Outcome::Status(_) => {}
            Outcome::TcpFailure => fail(&n.tcp_failures, t.tcp_failures, "TCP failures"),
            Outcome::Timeout => fail(&n.timeouts, t.timeouts, "timeouts"),
        }
    }

    fn succeed(&self, n: &NodeState, t: &Thresholds, source: &str, authority: &str) {
        let healthy = !n.unhealthy.load(Ordering::Relaxed);
        let clean = n.http_failures.load(Ordering::Relaxed) == 0
            && n.tcp_failures.load(Ordering::Relaxed) == 0
            && n.timeouts.load(Ordering::Relaxed) == 0;
        if healthy && clean {
            // The common case: nothing to count, no shared cache line written.
            return;
        }
        n.http_failures.store(0, Ordering::Relaxed);
        n.tcp_failures.store(0, Ordering::Relaxed);
        n.timeouts.store(0, Ordering::Relaxed);
        if healthy {
            return;
        }
        let c = n.successes.fetch_add(1, Ordering::Relaxed) + 1;
        if t.successes > 0 && c >= t.successes && n.unhealthy.swap(false, Ordering::Relaxed) {
            n.successes.store(0, Ordering::Relaxed);
            tracing::warn!(upstream = %self.label, node = authority, source, "node marked healthy after {c} successes");
        }
    }

    /// Probe interval for node `i` given its state (None = do not probe).
    pub fn probe_interval(&self, i: usize) -> Option<Duration> {
        let (a, _) = self.active.as_ref()?;
        let secs = if self.is_healthy(i) {
            a.healthy.interval
        } else {
            a.unhealthy.interval
        };
        (secs > 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
    }
}

fn passive_thresholds(p: &PassiveCheckConf) -> Thresholds {
    Thresholds {
        healthy_statuses: p.healthy.http_statuses.clone(),
        successes: p.healthy.successes,
        unhealthy_statuses: p.unhealthy.http_statuses.clone(),
        http_failures: p.unhealthy.http_failures,
        tcp_failures: p.unhealthy.tcp_failures,
        timeouts: p.unhealthy.timeouts,
    }
}
