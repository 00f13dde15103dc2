//! Data-plane integration tests, one file per area, and the small helpers
//! they share (node maps, "etcd with these items + a ready gateway", firing
//! many requests and counting which node answered).

mod balancer;
mod cli;
mod config_sync;
mod headers;
mod https_upstream;
mod invalid_config;
mod proxying;
mod resilience;
mod router;
mod shutdown;
mod standalone;
mod streaming;
mod upstream_failures;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::common::client::Req;
use crate::common::{Etcd, Gateway, GatewayOpts, Resp, Upstream};

/// A map-form node list: `{"127.0.0.1:port": weight, ...}`.
pub fn nodes(list: &[(&Upstream, u32)]) -> Value {
    let map: serde_json::Map<String, Value> =
        list.iter().map(|(u, w)| (u.addr(), json!(w))).collect();
    Value::Object(map)
}

/// A route on `uri` with an inline roundrobin upstream of one node.
pub fn simple_route(uri: &str, up: &Upstream) -> Value {
    json!({"uri": uri, "upstream": {"type": "roundrobin", "nodes": nodes(&[(up, 1)])}})
}

/// Start etcd, write `items` (`("routes/1", json)`, keys relative to
/// `/apisix/`), then start a gateway on it and wait until it is ready (the
/// items are then in service: the first load is a full read).
pub async fn etcd_gateway(items: &[(&str, Value)]) -> (Etcd, Gateway) {
    let etcd = Etcd::start().await;
    for (key, value) in items {
        etcd.put(&format!("/apisix/{key}"), &value.to_string())
            .await;
    }
    let gw = Gateway::start(GatewayOpts::etcd(&etcd)).await;
    gw.wait_ready().await;
    (etcd, gw)
}

/// Send `n` requests built by `make(i)` with `concurrency` workers; returns
/// the responses in completion order. A transport failure fails the test.
pub async fn fire<F>(gw: &Gateway, n: usize, concurrency: usize, make: F) -> Vec<Resp>
where
    F: Fn(usize) -> Req + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    return out;
                }
                out.push(make(i).send().await);
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        for r in w.await.expect("request worker panicked") {
            match r {
                Ok(resp) => all.push(resp),
                Err(e) => gw_assert!(gw, false, "request failed: {e}"),
            }
        }
    }
    all
}

/// How many responses each upstream port gave (`0` for responses without one).
pub fn by_port(resps: &[Resp]) -> HashMap<u16, usize> {
    let mut m = HashMap::new();
    for r in resps {
        *m.entry(r.upstream_port().unwrap_or(0)).or_default() += 1;
    }
    m
}

/// APISIX's body for an unmatched request.
pub fn is_route_not_found(r: &Resp) -> bool {
    r.status == 404
        && serde_json::from_str::<Value>(&r.body).ok()
            == Some(json!({"error_msg": "404 Route Not Found"}))
}
