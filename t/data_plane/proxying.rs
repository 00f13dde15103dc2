//! HTTP semantics through the proxy: keep-alive client connections, request
//! bodies (buffered and streamed), upstream statuses passed through without
//! retries, the request line reaching the upstream unchanged, and many
//! concurrent clients.

use serde_json::json;

use super::{by_port, etcd_gateway, fire, nodes};
use crate::common::client::Connection;
use crate::common::{get, request, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connection_serves_several_requests() {
    let up = Upstream::start().await;
    let route = json!({"uri": "/hello", "upstream": {"nodes": nodes(&[(&up, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    let mut conn = Connection::open(gw.proxy_port).await.unwrap();
    for i in 0..3 {
        let r = conn.get("/hello").await;
        gw_assert!(
            gw,
            matches!(&r, Ok(r) if r.status == 200 && r.body == "hello world"),
            "request {i} on one kept-alive connection: {r:?}"
        );
    }
    let r = conn.get("/nope").await.unwrap();
    assert_status!(gw, r, 404, "a 404 on the same connection");
    let r = conn.get("/hello").await.unwrap();
    assert_status!(gw, r, 200, "the connection stays usable after a 404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_reused() {
    let up = Upstream::start().await;
    let route = json!({"uri": "/*", "upstream": {"nodes": nodes(&[(&up, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    // Fixed-length, empty and chunked (SSE) responses all give the connection back.
    for path in [
        "/hello",
        "/status/204",
        "/hello",
        "/sse",
        "/hello",
        "/echo/x",
    ] {
        for _ in 0..5 {
            let r = get(gw.url(path)).send().await.unwrap();
            gw_assert!(gw, r.status < 300, "GET {path}: {}", r.status);
        }
    }
    gw_assert!(
        gw,
        up.connections() == 1,
        "30 sequential requests should share one upstream keep-alive connection, saw {} connections",
        up.connections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_and_request_line_reach_the_upstream() {
    let up = Upstream::start().await;
    let route = json!({"uri": "/echo*", "upstream": {"nodes": nodes(&[(&up, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;

    let small = "small body";
    let r = request(http::Method::POST, gw.url("/echo/small"))
        .header("content-type", "text/plain")
        .body(small)
        .send()
        .await
        .unwrap();
    assert_status!(gw, r, 200, "POST a small body");
    let seen = r.json();
    gw_assert!(
        gw,
        seen["body"] == small
            && seen["method"] == "POST"
            && seen["headers"]["content-length"] == "10",
        "the upstream should receive the small body intact, saw {seen}"
    );

    // Larger than the retry buffer (64 KiB): streamed to the upstream.
    let big = "x".repeat(256 * 1024);
    let r = request(http::Method::PUT, gw.url("/echo/big"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_status!(gw, r, 200, "PUT a 256 KiB body");
    let seen = r.json();
    let got = seen["body"].as_str().unwrap_or("");
    gw_assert!(
        gw,
        got.len() == big.len() && got == big,
        "the upstream should receive all 256 KiB, got {} bytes",
        got.len()
    );

    let raw = "/echo/a%20b/%2Fc?x=1&y=%2F&z";
    let r = get(gw.url(raw)).send().await.unwrap();
    assert_status!(gw, r, 200, "GET {raw}");
    gw_assert!(
        gw,
        r.json()["uri"] == raw,
        "the upstream should get the request target unchanged ({raw}), saw {}",
        r.json()["uri"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_statuses_pass_through_without_retry() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let route = json!({"uri": "/status/*", "upstream": {"nodes": nodes(&[(&a, 1), (&b, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    for code in [204u16, 301, 418, 503] {
        let r = get(gw.url(&format!("/status/{code}")))
            .send()
            .await
            .unwrap();
        assert_status!(gw, r, code, "GET /status/{code}");
    }
    let url = gw.url("/status/500");
    let resps = fire(&gw, 10, 1, move |_| get(&url)).await;
    let counts = by_port(&resps);
    gw_assert!(
        gw,
        resps.iter().all(|r| r.status == 500)
            && a.count_path("/status/500") + b.count_path("/status/500") == 10,
        "an upstream 500 is the answer (no retry on another node): statuses {:?}, upstream hits {}+{} ({counts:?})",
        resps.iter().map(|r| r.status).collect::<Vec<_>>(),
        a.count_path("/status/500"),
        b.count_path("/status/500")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_all_succeed() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let route = json!({"uri": "/hello", "upstream": {"nodes": nodes(&[(&a, 1), (&b, 1)])}});
    let (_etcd, gw) = etcd_gateway(&[("routes/1", route)]).await;
    let url = gw.url("/hello");
    let resps = fire(&gw, 300, 32, move |_| get(&url)).await;
    let counts = by_port(&resps);
    gw_assert!(
        gw,
        resps.iter().all(|r| r.status == 200 && r.body == "hello world")
            && counts.get(&a.port()) == Some(&150)
            && counts.get(&b.port()) == Some(&150),
        "300 requests from 32 concurrent clients should all succeed, split evenly: {counts:?}, statuses {:?}",
        resps.iter().filter(|r| r.status != 200).map(|r| r.status).collect::<Vec<_>>()
    );
}
