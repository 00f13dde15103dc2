//! What the upstream receives: `X-Forwarded-For` / `X-Real-IP`, the Host
//! header chosen by `pass_host` (pass / node / rewrite), and no hop-by-hop
//! headers, as seen by `/echo`.

use serde_json::{json, Value};

use super::{etcd_gateway, nodes};
use crate::common::{get, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_and_pass_host() {
    let up = Upstream::start().await;
    let upstream = |extra: Value| {
        let mut u = json!({"nodes": nodes(&[(&up, 1)])});
        for (k, v) in extra.as_object().unwrap() {
            u[k] = v.clone();
        }
        u
    };
    let (_etcd, gw) = etcd_gateway(&[
        (
            "routes/pass",
            json!({"uri": "/echo/pass", "upstream": upstream(json!({"pass_host": "pass"}))}),
        ),
        (
            "routes/node",
            json!({"uri": "/echo/node", "upstream": upstream(json!({"pass_host": "node"}))}),
        ),
        (
            "routes/rewrite",
            json!({"uri": "/echo/rewrite", "upstream": upstream(json!({"pass_host": "rewrite", "upstream_host": "rewritten.internal"}))}),
        ),
    ])
    .await;

    let node_host = format!("127.0.0.1:{}", up.port());
    let cases = [
        ("/echo/pass", "client.example.com"),
        ("/echo/node", node_host.as_str()),
        ("/echo/rewrite", "rewritten.internal"),
    ];
    for (path, want_host) in cases {
        let r = get(gw.url(&format!("{path}?q=1")))
            .host("client.example.com")
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await
            .unwrap();
        assert_status!(gw, r, 200, "GET {path}");
        let seen = r.json();
        let h = &seen["headers"];
        gw_assert!(
            gw,
            h["host"] == want_host,
            "{path}: the upstream should see Host {want_host:?}, saw {:?}",
            h["host"]
        );
        gw_assert!(
            gw,
            h["x-forwarded-for"] == "203.0.113.7, 127.0.0.1" && h["x-real-ip"] == "127.0.0.1",
            "{path}: X-Forwarded-For should append the client address and X-Real-IP be it, saw {h}"
        );
        gw_assert!(
            gw,
            seen["uri"] == format!("{path}?q=1") && seen["method"] == "GET",
            "{path}: the upstream should get the original request line, saw {seen}"
        );
    }

    // Hop-by-hop headers (and those named in Connection) stay on the client's hop.
    let r = get(gw.url("/echo/pass"))
        .header("connection", "keep-alive, x-hop-secret")
        .header("x-hop-secret", "1")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-end-to-end", "kept")
        .send()
        .await
        .unwrap();
    let h = &r.json()["headers"];
    gw_assert!(
        gw,
        h.get("x-hop-secret").is_none()
            && h.get("te").is_none()
            && h.get("proxy-authorization").is_none()
            && h["x-end-to-end"] == "kept",
        "hop-by-hop headers must not reach the upstream, end-to-end ones must: saw {h}"
    );

    let r = get(gw.url("/echo/pass")).send().await.unwrap();
    let h = &r.json()["headers"];
    gw_assert!(
        gw,
        h["x-forwarded-for"] == "127.0.0.1" && h["x-forwarded-proto"] == "http",
        "without a client X-Forwarded-For the upstream should see just the client address, saw {h}"
    );
}
