//! Load balancing as a client sees it: which node answers, how often.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use super::{by_port, etcd_gateway, fire, nodes};
use crate::common::{get, Gateway, Upstream, UpstreamOpts};

fn within(seen: usize, expected: usize, pct: f64) -> bool {
    (seen as f64 - expected as f64).abs() <= expected as f64 * pct / 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundrobin_follows_weights() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let route = json!({"uri": "/server_port", "upstream": {"type": "roundrobin", "nodes": nodes(&[(&a, 3), (&b, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    let url = gw.url("/server_port");
    let resps = fire(&gw, 400, 4, move |_| get(&url)).await;
    let counts = by_port(&resps);
    let (na, nb) = (
        counts.get(&a.port()).copied().unwrap_or(0),
        counts.get(&b.port()).copied().unwrap_or(0),
    );
    gw_assert!(
        gw,
        within(na, 300, 5.0) && within(nb, 100, 5.0) && na + nb == 400,
        "weights 3:1 over 400 requests: expected 300/100 (±5 %), got {na}/{nb} (all: {counts:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chash_on_arg_sticks_per_user_and_spreads_users() {
    let ups = [
        Upstream::start().await,
        Upstream::start().await,
        Upstream::start().await,
    ];
    let route = json!({"uri": "/server_port", "upstream": {
        "type": "chash", "hash_on": "vars", "key": "arg_user",
        "nodes": nodes(&[(&ups[0], 1), (&ups[1], 1), (&ups[2], 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    let mut used = HashSet::new();
    for user in 0..20 {
        let mut ports = HashSet::new();
        for _ in 0..4 {
            let r = get(gw.url(&format!("/server_port?user=u{user}")))
                .send()
                .await
                .unwrap();
            assert_status!(gw, r, 200, "chash request for u{user}");
            ports.insert(r.upstream_port());
        }
        gw_assert!(
            gw,
            ports.len() == 1,
            "user u{user} should always reach the same node, reached {ports:?}"
        );
        used.extend(ports);
    }
    gw_assert!(
        gw,
        used.len() >= 2,
        "20 users should spread over several of the 3 nodes, used {used:?}"
    );
}

/// Send `n` requests (`concurrency` at a time) through a `kind` upstream of a
/// fast node and a node slowed by `delay`; returns the gateway and how many
/// requests each node answered (fast, slow).
async fn fast_vs_slow(
    kind: &str,
    delay: Duration,
    n: usize,
    concurrency: usize,
) -> (Gateway, usize, usize) {
    let fast = Upstream::start().await;
    let slow = Upstream::start_with(UpstreamOpts {
        delay,
        ..Default::default()
    })
    .await;
    let route = json!({"uri": "/server_port", "upstream": {"type": kind, "nodes": nodes(&[(&fast, 1), (&slow, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    let url = gw.url("/server_port");
    let resps = fire(&gw, n, concurrency, move |_| get(&url)).await;
    let counts = by_port(&resps);
    let nf = counts.get(&fast.port()).copied().unwrap_or(0);
    let ns = counts.get(&slow.port()).copied().unwrap_or(0);
    (gw, nf, ns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_conn_sends_less_to_the_busy_node() {
    let (gw, nf, ns) = fast_vs_slow("least_conn", Duration::from_millis(300), 60, 8).await;
    gw_assert!(
        gw,
        nf + ns == 60 && ns * 4 < nf,
        "least_conn with 8 concurrent clients: the slow node should get far fewer requests, got fast {nf} / slow {ns}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ewma_prefers_the_fast_node() {
    let (gw, nf, ns) = fast_vs_slow("ewma", Duration::from_millis(100), 40, 1).await;
    gw_assert!(
        gw,
        nf + ns == 40 && nf >= 34,
        "ewma should prefer the fast node once both are measured: fast {nf} / slow {ns} of 40"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_priority_uses_lower_tier_only_when_higher_is_down() {
    let high = Upstream::start().await;
    let low = Upstream::start().await;
    let route = json!({"uri": "/server_port", "upstream": {"type": "roundrobin", "nodes": [
        {"host": "127.0.0.1", "port": high.port(), "weight": 1, "priority": 1},
        {"host": "127.0.0.1", "port": low.port(), "weight": 100, "priority": 0},
    ]}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    let url = gw.url("/server_port");
    let u = url.clone();
    let resps = fire(&gw, 20, 2, move |_| get(&u)).await;
    let counts = by_port(&resps);
    gw_assert!(
        gw,
        counts.get(&high.port()) == Some(&20),
        "with both tiers up every request should go to the priority-1 node {}, got {counts:?}",
        high.port()
    );

    high.stop().await;
    let resps = fire(&gw, 20, 2, move |_| get(&url)).await;
    let counts = by_port(&resps);
    gw_assert!(
        gw,
        resps.iter().all(|r| r.status == 200) && counts.get(&low.port()) == Some(&20),
        "with the priority-1 node down every request should succeed on the lower tier {}, got {counts:?} statuses {:?}",
        low.port(),
        resps.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}
