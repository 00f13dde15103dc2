//! Graceful shutdown: on SIGTERM the gateway stops accepting connections,
//! lets the request in flight finish (within `worker_shutdown_timeout`),
//! closes idle connections at once, and exits with status 0.

use std::time::{Duration, Instant};

use super::{etcd_gateway, simple_route};
use crate::common::client::Connection;
use crate::common::{get, wait_until, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_request_and_refuses_new_ones() {
    let up = Upstream::start().await;
    let (_etcd, mut gw) = etcd_gateway(&[("routes/1", simple_route("/slow", &up))]).await;

    let started = Instant::now();
    let inflight = tokio::spawn(get(gw.url("/slow?ms=1500")).send());
    let reached = wait_until(Duration::from_secs(5), || async {
        up.count_path("/slow") == 1
    })
    .await;
    gw_assert!(
        gw,
        reached.is_some(),
        "the slow request never reached the upstream"
    );

    gw.sigterm();
    let signalled = Instant::now();
    let port = gw.proxy_port;
    let refused = wait_until(Duration::from_secs(1), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    })
    .await;
    gw_assert!(
        gw,
        refused.is_some() && !inflight.is_finished(),
        "new connections should be refused soon after SIGTERM, while the slow request is still in flight (refused after {refused:?})"
    );

    let resp = inflight.await.unwrap();
    let took = started.elapsed();
    gw_assert!(
        gw,
        matches!(&resp, Ok(r) if r.status == 200 && r.body == "slow"),
        "the in-flight request should complete normally, got {resp:?}"
    );
    gw_assert!(
        gw,
        took >= Duration::from_millis(1500),
        "the response cannot come before the upstream's 1.5 s, took {took:?}"
    );
    let status = gw.wait_exit(Duration::from_secs(10)).await;
    gw_assert!(
        gw,
        status.code() == Some(0),
        "the gateway should exit with status 0 after SIGTERM, got {status} ({:?} after the signal)",
        signalled.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_skips_idle_connections_and_caps_slow_requests() {
    let up = Upstream::start().await;
    let etcd = crate::common::Etcd::start().await;
    etcd.put("/apisix/routes/1", &simple_route("/slow", &up).to_string())
        .await;
    let opts = crate::common::GatewayOpts::etcd(&etcd).shutdown_timeout("500ms");
    let mut gw = crate::common::Gateway::start(opts).await;
    gw.wait_ready().await;

    // An idle kept-alive connection must not hold the shutdown up...
    let mut idle = Connection::open(gw.proxy_port).await.unwrap();
    let r = idle.get("/slow?ms=1").await.unwrap();
    assert_status!(gw, r, 200, "request on the soon-idle connection");
    // ...and a request longer than worker_shutdown_timeout is cut at its end.
    let inflight = tokio::spawn(get(gw.url("/slow?ms=5000")).send());
    let reached = wait_until(Duration::from_secs(5), || async {
        up.count_path("/slow") == 2
    })
    .await;
    gw_assert!(
        gw,
        reached.is_some(),
        "the long request never reached the upstream"
    );

    let signalled = Instant::now();
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(5)).await;
    let took = signalled.elapsed();
    gw_assert!(
        gw,
        status.code() == Some(0) && took < Duration::from_millis(2500),
        "with a 500 ms grace period the gateway should exit 0 soon after SIGTERM, got {status} after {took:?}"
    );
    let resp = inflight.await.unwrap();
    gw_assert!(
        gw,
        resp.is_err(),
        "the request cut by the end of the grace period cannot complete, got {resp:?}"
    );
}
