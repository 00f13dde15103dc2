//! The JSON bodies of `/ui/api/overview`, `/ui/api/traffic` and
//! `/ui/api/llm`: this node, its etcd, what its snapshot holds, recent
//! traffic from the sampler's rings and the health of every upstream node.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::sampler::TrafficPoint;
use super::Dashboard;
use crate::admin::AdminApi;
use crate::config::resource::ResourceKind;
use crate::config::Snapshot;
use crate::upstream::Upstream;

/// The traffic window of the overview, in seconds.
pub const OVERVIEW_WINDOW: u64 = 60;
/// Upstreams listed at most (standalone ones first); `upstreams_total` tells
/// how many there are.
pub const MAX_LISTED_UPSTREAMS: usize = 1000;

/// A JSON number: an integer when `x` is whole, else rounded to 6 decimals.
fn num(x: f64) -> Value {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!((x * 1e6).round() / 1e6)
    }
}

/// Requests per second and the 5xx share over `points`.
fn rates(points: &[TrafficPoint]) -> (u64, u64, f64, f64) {
    let requests: u64 = points.iter().map(|p| p.requests).sum();
    let errors: u64 = points.iter().map(|p| p.errors).sum();
    let seconds: f64 = points.iter().map(|p| p.seconds).sum();
    let rps = if seconds > 0.0 {
        requests as f64 / seconds
    } else {
        0.0
    };
    let error_rate = if requests > 0 {
        errors as f64 / requests as f64
    } else {
        0.0
    };
    (requests, errors, rps, error_rate)
}

/// `GET /ui/api/overview` at unix time `now`.
pub fn overview(ui: &Dashboard, admin: &AdminApi, now: u64) -> Value {
    let snap = ui.shared.load();
    let points = ui.history.traffic(OVERVIEW_WINDOW, now);
    let covered =
        (points.len() as f64 * ui.history.interval().as_secs_f64()).min(OVERVIEW_WINDOW as f64);
    let (_, _, rps, error_rate) = rates(&points);
    let etcd_reachable = crate::metrics::global().etcd_reachable.get() == 1;
    let (listed, total) = upstreams(&snap, MAX_LISTED_UPSTREAMS);
    json!({
        "node": {
            "hostname": ui.hostname,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": ui.started.elapsed().as_secs(),
        },
        "etcd": {
            "reachable": etcd_reachable,
            "endpoints": admin.store.endpoints(),
            "prefix": admin.store.prefix(),
        },
        "config": {
            "revision": ui.shared.applied_revision(),
            "counts": counts(&snap),
        },
        "traffic": {
            "window_seconds": num(covered),
            "requests_per_second": num(rps),
            "error_rate": num(error_rate),
        },
        "upstreams": listed,
        "upstreams_total": total,
    })
}

/// How many items of each kind the snapshot holds.
fn counts(snap: &Snapshot) -> Value {
    let other = |k: ResourceKind| snap.others.get(&k).map_or(0, |m| m.len());
    json!({
        "routes": snap.routes.len(),
        "services": snap.services.len(),
        "upstreams": snap.upstreams.len(),
        "consumers": other(ResourceKind::Consumer),
        "credentials": other(ResourceKind::Credential),
        "consumer_groups": other(ResourceKind::ConsumerGroup),
        "plugin_configs": other(ResourceKind::PluginConfig),
        "global_rules": other(ResourceKind::GlobalRule),
        "ssls": other(ResourceKind::Ssl),
        "plugin_metadata": other(ResourceKind::PluginMetadata),
    })
}

/// One upstream with the health of each node.
fn upstream(id: String, name: Option<&str>, up: &Upstream) -> Value {
    let nodes: Vec<Value> = up
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let health = match (&up.health, up.is_healthy(i)) {
                (None, _) => "unchecked",
                (Some(_), true) => "healthy",
                (Some(_), false) => "unhealthy",
            };
            json!({"host": &*n.host, "port": n.port, "weight": n.weight, "health": health})
        })
        .collect();
    json!({"id": id, "name": up.name.as_deref().or(name).unwrap_or(""), "nodes": nodes})
}

/// Standalone upstreams by id, then the inline ones of services
/// (`service/<id>`) and routes (`route/<id>`): the first `max`, and how
/// many there are.
fn upstreams(snap: &Snapshot, max: usize) -> (Vec<Value>, usize) {
    fn sorted<T>(m: &HashMap<Arc<str>, Arc<T>>) -> Vec<(&Arc<str>, &Arc<T>)> {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }
    let services = sorted(&snap.services);
    let routes = sorted(&snap.routes);
    let all = snap.upstreams.len()
        + services
            .iter()
            .filter(|(_, s)| s.upstream.is_some())
            .count()
        + routes.iter().filter(|(_, r)| r.upstream.is_some()).count();
    let named = sorted(&snap.upstreams)
        .into_iter()
        .map(|(id, up)| (id.to_string(), None, up));
    let of_services = services.iter().filter_map(|(id, s)| {
        let up = s.upstream.as_ref()?;
        Some((format!("service/{id}"), s.name.as_deref(), up))
    });
    let of_routes = routes.iter().filter_map(|(id, r)| {
        let up = r.upstream.as_ref()?;
        Some((format!("route/{id}"), r.name.as_deref(), up))
    });
    let listed = named
        .chain(of_services)
        .chain(of_routes)
        .take(max)
        .map(|(id, name, up)| upstream(id, name, up))
        .collect();
    (listed, all)
}

/// `GET /ui/api/traffic?seconds=` at unix time `now`.
pub fn traffic(ui: &Dashboard, seconds: u64, now: u64) -> Value {
    let points: Vec<Value> = ui
        .history
        .traffic(seconds, now)
        .iter()
        .map(|p| {
            let (requests, errors, rps, error_rate) = rates(std::slice::from_ref(p));
            json!({
                "time": p.time,
                "requests": requests,
                "errors": errors,
                "requests_per_second": num(rps),
                "error_rate": num(error_rate),
            })
        })
        .collect();
    json!({"interval_seconds": num(ui.history.interval().as_secs_f64()), "points": points})
}

/// `GET /ui/api/llm?seconds=` at unix time `now`.
pub fn llm(ui: &Dashboard, seconds: u64, now: u64) -> Value {
    let points: Vec<Value> = ui
        .history
        .llm(seconds, now)
        .iter()
        .map(|p| {
            json!({
                "time": p.time,
                "consumer": &*p.key.consumer,
                "model": &*p.key.model,
                "instance": &*p.key.instance,
                "route": &*p.key.route,
                "prompt_tokens": p.usage.prompt_tokens,
                "completion_tokens": p.usage.completion_tokens,
                "cost_usd": p.usage.cost_usd,
            })
        })
        .collect();
    json!({"interval_seconds": num(ui.history.interval().as_secs_f64()), "points": points})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_rates() {
        assert_eq!(num(60.0), json!(60));
        assert_eq!(num(0.2), json!(0.2));
        assert_eq!(num(1.0 / 3.0), json!(0.333333));
        let p = |requests, errors| TrafficPoint {
            time: 0,
            seconds: 5.0,
            requests,
            errors,
        };
        assert_eq!(rates(&[]), (0, 0, 0.0, 0.0));
        assert_eq!(rates(&[p(10, 1), p(0, 0)]), (10, 1, 1.0, 0.1));
    }
}
