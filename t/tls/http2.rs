//! HTTP/2: negotiated by ALPN on the TLS listener and spoken with prior
//! knowledge (h2c) on the plain one. Routing, plugins and streaming behave
//! as on HTTP/1.1; the upstream still gets HTTP/1.1 with the right Host.
//! With `apisix.enable_http2: false` both fall back to HTTP/1.1 only.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

use super::{ssl, wait_served};
use crate::common::tls::{read, HttpConn, KeyKind, Pki, TlsClient};
use crate::plugins::Env;

async fn setup(env: &Env, pki: &Pki) {
    let node = json!({env.up.addr(): 1});
    let routes = [
        (
            "1",
            json!({"uris": ["/hello", "/echo", "/sse"], "upstream": {"nodes": node}}),
        ),
        (
            "2",
            json!({"uri": "/limited", "upstream": {"nodes": node},
                   "plugins": {"limit-count": {"count": 2, "time_window": 60, "rejected_code": 429}}}),
        ),
    ];
    for (id, body) in routes {
        let r = env.admin.put(&format!("/routes/{id}"), body).await;
        assert_status!(env.gw, r, 201, "PUT /routes/{id}");
    }
    let cert = pki.server(&["h2.test"], KeyKind::Ecdsa);
    assert_status!(
        env.gw,
        env.admin.put("/ssls/1", ssl(&cert, &["h2.test"])).await,
        201,
        "PUT"
    );
    wait_served(&env.gw, "h2.test", &cert).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_by_alpn_and_h2c_route_limit_and_stream_like_http1() {
    let env = Env::start().await;
    let pki = Pki::new("strait test CA");
    setup(&env, &pki).await;
    let gw = &env.gw;

    let h2 = TlsClient::new(&pki.ca, &[b"h2", b"http/1.1"], None);
    let hs = h2.handshake(gw.ssl_port, "h2.test").await.unwrap();
    assert_eq!(hs.alpn.as_deref(), Some(&b"h2"[..]), "ALPN must pick h2");
    let mut conn = HttpConn::open(hs).await.unwrap();
    let r = conn.get("h2.test", "/hello").await.unwrap();
    gw_assert!(gw, r.status == 200 && r.body == "hello world", "{r:?}");
    assert_eq!(r.version, http::Version::HTTP_2);
    let r = conn.get("h2.test", "/echo?a=1").await.unwrap();
    let echo: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(echo["uri"], "/echo?a=1", "{echo}");
    assert_eq!(
        echo["headers"]["host"], "h2.test",
        "the :authority goes upstream as Host: {echo}"
    );
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https", "{echo}");
    let r = conn.get("h2.test", "/nothing-here").await.unwrap();
    assert_eq!(r.status, 404, "unmatched over HTTP/2: {r:?}");

    // A plugin keeps its state across streams as across HTTP/1.1 requests.
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(conn.get("h2.test", "/limited").await.unwrap().status);
    }
    assert_eq!(codes, [200, 200, 429], "limit-count over HTTP/2");

    // Streaming: the first event arrives long before the last (5 events, 200 ms apart).
    let req = http::Request::get("/sse")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let started = Instant::now();
    let resp = conn.send("h2.test", req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut arrivals = Vec::new();
    while let Some(frame) = body.frame().await {
        if frame.unwrap().data_ref().is_some_and(|d| !d.is_empty()) {
            arrivals.push(started.elapsed());
        }
    }
    gw_assert!(gw, arrivals.len() >= 5, "events over HTTP/2: {arrivals:?}");
    let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
    gw_assert!(
        gw,
        last - first >= Duration::from_millis(600),
        "SSE over HTTP/2 was buffered: first at {first:?}, last at {last:?}"
    );

    // h2c with prior knowledge on the plain listener.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.proxy_port))
        .await
        .unwrap();
    let (mut send, c) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(c);
    let req = http::Request::get("http://h2.test/hello")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = read(send.send_request(req).await.unwrap()).await.unwrap();
    gw_assert!(gw, r.status == 200 && r.body == "hello world", "h2c: {r:?}");
    assert_eq!(r.version, http::Version::HTTP_2);

    // A client offering only HTTP/1.1 over TLS gets it.
    let h1 = TlsClient::new(&pki.ca, &[b"http/1.1"], None);
    let r = h1.get(gw.ssl_port, "h2.test", "/hello").await.unwrap();
    assert_eq!((r.status, r.version), (200, http::Version::HTTP_11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_off_means_http1_only() {
    let env = Env::start_with(|o| o.apisix_yaml("  enable_http2: false\n")).await;
    let pki = Pki::new("strait test CA");
    setup(&env, &pki).await;
    let gw = &env.gw;
    let client = TlsClient::new(&pki.ca, &[b"h2", b"http/1.1"], None);
    let hs = client.handshake(gw.ssl_port, "h2.test").await.unwrap();
    assert_eq!(
        hs.alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "h2 must not be offered"
    );
    let r = HttpConn::open(hs)
        .await
        .unwrap()
        .get("h2.test", "/hello")
        .await
        .unwrap();
    assert_eq!((r.status, r.version), (200, http::Version::HTTP_11));
    // The HTTP/2 preface on the plain port is not HTTP/1.1: no HTTP/2 answer.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.proxy_port))
        .await
        .unwrap();
    let attempt = async {
        let (mut send, c) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
        tokio::spawn(c);
        let req = http::Request::get("http://h2.test/hello")
            .body(Full::new(Bytes::new()))
            .unwrap();
        send.send_request(req).await
    };
    let r = tokio::time::timeout(Duration::from_secs(5), attempt).await;
    gw_assert!(
        gw,
        matches!(r, Ok(Err(_))),
        "h2c must be refused when HTTP/2 is off"
    );
}
