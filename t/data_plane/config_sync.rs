//! Configuration written to etcd takes effect on the gateway without a
//! restart, and quickly: routes written with the real `etcdctl` as a user
//! would, and changes to the upstreams and services routes refer to.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::{etcd_gateway, is_route_not_found, nodes};
use crate::common::{get, wait_until, Etcd, Gateway, GatewayOpts, Upstream};

fn etcdctl(etcd: &Etcd, args: &[&str]) -> String {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(etcd.endpoint())
        .args(args)
        .output()
        .expect("run etcdctl");
    assert!(
        out.status.success(),
        "etcdctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_put_proxies_and_delete_returns_404() {
    let up = Upstream::start().await;
    let etcd = Etcd::start().await;
    let gw = Gateway::start(GatewayOpts::etcd(&etcd)).await;
    gw.wait_ready().await;

    let before = get(gw.url("/hello")).send().await.unwrap();
    gw_assert!(
        gw,
        is_route_not_found(&before),
        "before any route: expected 404 Route Not Found, got {} {:?}",
        before.status,
        before.body
    );

    let value = format!(
        r#"{{"uri":"/hello","upstream":{{"type":"roundrobin","nodes":{{"127.0.0.1:{}":1}}}}}}"#,
        up.port()
    );
    let out = etcdctl(&etcd, &["put", "/apisix/routes/1", &value]);
    assert_eq!(out.trim(), "OK", "etcdctl put output");
    // The clock starts once `etcdctl put` has returned.
    let url = gw.url("/hello");
    let latency = wait_until(Duration::from_secs(5), || async {
        matches!(get(&url).send().await, Ok(r) if r.status == 200)
    })
    .await;
    eprintln!("etcd write -> effect latency (put): {latency:?}");
    gw_assert!(
        gw,
        latency.is_some_and(|l| l < Duration::from_secs(1)),
        "the route written with etcdctl should serve within 1 s, took {latency:?}"
    );
    let r = get(gw.url("/hello")).send().await.unwrap();
    assert_status!(gw, r, 200, "GET /hello after put");
    gw_assert!(
        gw,
        r.body == "hello world" && r.upstream_port() == Some(up.port()),
        "expected `hello world` from port {}, got {:?} from {:?}",
        up.port(),
        r.body,
        r.upstream_port()
    );

    let out = etcdctl(&etcd, &["del", "/apisix/routes/1"]);
    assert_eq!(out.trim(), "1", "etcdctl del output");
    let latency = wait_until(Duration::from_secs(5), || async {
        matches!(get(&url).send().await, Ok(r) if r.status == 404)
    })
    .await;
    eprintln!("etcd write -> effect latency (delete): {latency:?}");
    gw_assert!(
        gw,
        latency.is_some_and(|l| l < Duration::from_secs(1)),
        "the deleted route should stop serving within 1 s, took {latency:?}"
    );
    let r = get(gw.url("/hello")).send().await.unwrap();
    gw_assert!(
        gw,
        is_route_not_found(&r),
        "after delete: expected APISIX's 404 body, got {} {:?}",
        r.status,
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_and_service_changes_apply_to_their_routes() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let (etcd, gw) = etcd_gateway(&[
        ("upstreams/u1", json!({"nodes": nodes(&[(&a, 1)])})),
        (
            "routes/1",
            json!({"uri": "/server_port", "upstream_id": "u1"}),
        ),
        (
            "services/s1",
            json!({"hosts": ["one.example.com"], "upstream": {"nodes": nodes(&[(&a, 1)])}}),
        ),
        ("routes/2", json!({"uri": "/svc", "service_id": "s1"})),
    ])
    .await;
    let r = get(gw.url("/server_port")).send().await.unwrap();
    gw_assert!(
        gw,
        r.upstream_port() == Some(a.port()),
        "route 1 via upstream u1 should reach {}, got {} from {:?}",
        a.port(),
        r.status,
        r.upstream_port()
    );

    // The upstream's nodes change: the route follows without being rewritten.
    etcd.put(
        "/apisix/upstreams/u1",
        &json!({"nodes": nodes(&[(&b, 1)])}).to_string(),
    )
    .await;
    let url = gw.url("/server_port");
    let moved = wait_until(Duration::from_secs(5), || async {
        matches!(get(&url).send().await, Ok(r) if r.upstream_port() == Some(b.port()))
    })
    .await;
    gw_assert!(
        gw,
        moved.is_some(),
        "route 1 should follow upstream u1 to {}",
        b.port()
    );

    // The service's hosts change: its route is re-bound to the new host.
    let svc = gw.url("/svc");
    let r = get(&svc).host("one.example.com").send().await.unwrap();
    assert_status!(gw, r, 200, "GET /svc with the service's host");
    etcd.put(
        "/apisix/services/s1",
        &json!({"hosts": ["two.example.com"], "upstream": {"nodes": nodes(&[(&a, 1)])}})
            .to_string(),
    )
    .await;
    let rebound = wait_until(Duration::from_secs(5), || async {
        let two = get(&svc).host("two.example.com").send().await;
        let one = get(&svc).host("one.example.com").send().await;
        matches!(two, Ok(r) if r.status == 200) && matches!(one, Ok(r) if is_route_not_found(&r))
    })
    .await;
    gw_assert!(
        gw,
        rebound.is_some(),
        "after the service's hosts changed, /svc should answer for two.example.com only"
    );

    // The upstream disappears: its route answers 502 with a JSON error.
    etcd.delete("/apisix/upstreams/u1").await;
    let gone = wait_until(Duration::from_secs(5), || async {
        matches!(get(&url).send().await, Ok(r) if r.status == 502)
    })
    .await;
    gw_assert!(
        gw,
        gone.is_some(),
        "a route whose upstream was deleted should answer 502"
    );
    let r = get(&url).send().await.unwrap();
    gw_assert!(
        gw,
        r.json()["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("u1")),
        "the 502 should name the missing upstream, got {:?}",
        r.body
    );
}
