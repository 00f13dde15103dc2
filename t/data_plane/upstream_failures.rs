//! Upstream failures as a client sees them: retries on the next node,
//! 502 when retries are off, passive health checks ejecting a failing node,
//! 504 on a read timeout.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{by_port, etcd_gateway, fire, nodes};
use crate::common::{closed_port, get, request, Upstream, UpstreamOpts};

fn closed_node() -> (String, u16) {
    (format!("127.0.0.1:{}", closed_port()), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failure_retries_next_node_and_retries_0_gives_502() {
    let up = Upstream::start().await;
    let (dead, w) = closed_node();
    let mut both = nodes(&[(&up, 1)]);
    both[dead.as_str()] = json!(w);
    let (_etcd, gw) = etcd_gateway(&[
        (
            "routes/retry",
            json!({"uri": "/retry", "upstream": {"nodes": both.clone()}}),
        ),
        (
            "routes/echo-retry",
            json!({"uri": "/echo-retry", "upstream": {"nodes": both.clone()}}),
        ),
        (
            "routes/noretry",
            json!({"uri": "/noretry", "upstream": {"nodes": both, "retries": 0}}),
        ),
    ])
    .await;

    let url = gw.url("/retry");
    let resps = fire(&gw, 10, 1, move |_| get(&url)).await;
    gw_assert!(
        gw,
        resps
            .iter()
            .all(|r| r.status == 200 && r.upstream_port() == Some(up.port())),
        "with a dead node and default retries every request should succeed on {}: {:?}",
        up.port(),
        resps
            .iter()
            .map(|r| (r.status, r.upstream_port()))
            .collect::<Vec<_>>()
    );

    // A streamed (large) POST body has not been sent when the connect fails,
    // so it goes to the next node too.
    let big = "x".repeat(256 * 1024);
    for i in 0..6 {
        let r = request(http::Method::POST, gw.url("/echo-retry"))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        gw_assert!(
            gw,
            r.status == 200 && r.json()["body"].as_str().map(str::len) == Some(big.len()),
            "streamed POST {i} with a dead node first should reach the live node whole, got {}",
            r.status
        );
    }

    let url = gw.url("/noretry");
    let resps = fire(&gw, 10, 1, move |_| get(&url)).await;
    let failed: Vec<_> = resps.iter().filter(|r| r.status == 502).collect();
    gw_assert!(
        gw,
        failed.len() == 5 && resps.iter().filter(|r| r.status == 200).count() == 5,
        "retries: 0 over a dead and a live node (roundrobin): expected 5 × 502 and 5 × 200, got {:?}",
        resps.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in failed {
        let body = r.json();
        gw_assert!(
            gw,
            body["error_msg"].as_str().is_some_and(|m| !m.is_empty())
                && r.header("content-type") == Some("application/json"),
            "a 502 should carry a JSON {{\"error_msg\": ...}} body, got {:?}",
            r.body
        );
    }
}

/// A healthy upstream and one answering 500 to everything.
async fn good_and_failing() -> (Upstream, Upstream) {
    let good = Upstream::start().await;
    let bad = Upstream::start_with(UpstreamOpts {
        fail_with: Some(500),
        ..Default::default()
    })
    .await;
    (good, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_health_check_ejects_failing_node() {
    let (good, bad) = good_and_failing().await;
    let upstream = json!({
        "type": "roundrobin",
        "nodes": nodes(&[(&good, 1), (&bad, 1)]),
        "retries": 0,
        "checks": {
            // Required by the schema; probes a status no threshold counts, rarely.
            "active": {"http_path": "/status/204",
                       "healthy": {"interval": 100}, "unhealthy": {"interval": 100}},
            "passive": {"unhealthy": {"http_statuses": [500], "http_failures": 2}}
        }
    });
    let (_etcd, gw) =
        etcd_gateway(&[("routes/1", json!({"uri": "/hello", "upstream": upstream}))]).await;
    let url = gw.url("/hello");
    let resps = fire(&gw, 30, 1, move |_| get(&url)).await;
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    let errors = statuses.iter().filter(|s| **s == 500).count();
    gw_assert!(
        gw,
        bad.count_path("/hello") == 2 && errors == 2,
        "the failing node should get exactly 2 requests before ejection; it got {}, client saw {errors} × 500: {statuses:?}",
        bad.count_path("/hello")
    );
    gw_assert!(
        gw,
        resps[10..]
            .iter()
            .all(|r| r.status == 200 && r.upstream_port() == Some(good.port())),
        "after ejection every request should be served by the healthy node: {statuses:?}"
    );
    gw_assert!(
        gw,
        gw.log().contains("marked unhealthy"),
        "the ejection should be logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_health_check_ejects_failing_node_before_traffic() {
    let (good, bad) = good_and_failing().await;
    let upstream = json!({
        "nodes": nodes(&[(&good, 1), (&bad, 1)]),
        "checks": {"active": {"http_path": "/healthz",
                              "healthy": {"interval": 0.1, "successes": 1},
                              "unhealthy": {"interval": 0.1, "http_failures": 2}}}
    });
    let (_etcd, gw) =
        etcd_gateway(&[("routes/1", json!({"uri": "/hello", "upstream": upstream}))]).await;
    // Probes run every 100 ms; two failures eject the bad node.
    let ejected = crate::common::wait_until(Duration::from_secs(5), || async {
        gw.log().contains("marked unhealthy")
    })
    .await;
    gw_assert!(
        gw,
        ejected.is_some(),
        "active probes should eject the node answering 500"
    );
    let url = gw.url("/hello");
    let resps = fire(&gw, 20, 1, move |_| get(&url)).await;
    gw_assert!(
        gw,
        resps
            .iter()
            .all(|r| r.status == 200 && r.upstream_port() == Some(good.port()))
            && bad.count_path("/hello") == 0,
        "after active ejection no request should reach the failing node (it got {})",
        bad.count_path("/hello")
    );
    gw_assert!(
        gw,
        bad.count_path("/healthz") >= 2 && good.count_path("/healthz") >= 2,
        "both nodes should have been probed on /healthz (bad {}, good {})",
        bad.count_path("/healthz"),
        good.count_path("/healthz")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_gives_504() {
    let up = Upstream::start().await;
    let route = json!({
        "uri": "/slow",
        "timeout": {"connect": 1, "send": 1, "read": 0.5},
        "upstream": {"nodes": nodes(&[(&up, 1)])}
    });
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    let started = Instant::now();
    let r = get(gw.url("/slow?ms=2000")).send().await.unwrap();
    let took = started.elapsed();
    assert_status!(gw, r, 504, "GET /slow?ms=2000 with a 0.5 s read timeout");
    gw_assert!(
        gw,
        r.json()["error_msg"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a 504 should carry a JSON error_msg, got {:?}",
        r.body
    );
    gw_assert!(
        gw,
        took >= Duration::from_millis(500) && took < Duration::from_millis(1000),
        "the gateway should give up once the 0.5 s read timeout passes (as nginx), long before the upstream answers (2 s); took {took:?}"
    );
    let counts = by_port(std::slice::from_ref(&r));
    gw_assert!(
        gw,
        counts.get(&0) == Some(&1),
        "a gateway timeout is not an upstream answer: {counts:?}"
    );
}
