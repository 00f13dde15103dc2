//! Changes made through the Admin API reach the proxy of the same gateway
//! (through etcd and its watch): a new route serves, PATCHes move traffic,
//! a DELETE makes it 404.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::start;
use crate::common::{get, Gateway, Resp, Upstream};

fn node(up: &Upstream) -> Value {
    json!({ up.addr(): 1 })
}

/// Poll `path` on the proxy until `ok` holds (10 s at most); returns that response.
async fn proxy_until(gw: &Gateway, path: &str, what: &str, ok: impl Fn(&Resp) -> bool) -> Resp {
    let url = gw.url(path);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(&url).send().await;
        if let Ok(r) = &r {
            if ok(r) {
                return r.clone();
            }
        }
        gw_assert!(
            gw,
            Instant::now() < deadline,
            "{what}: the proxy did not get there within 10 s; last answer {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_are_served_by_the_proxy() {
    let (up1, up2) = (Upstream::start().await, Upstream::start().await);
    let (_etcd, gw, admin) = start().await;
    gw.wait_ready().await;

    // An inline upstream: PUT, then a sub-path PATCH of its nodes, then DELETE.
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "upstream": {"nodes": node(&up1)}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1");
    let r = proxy_until(&gw, "/hello", "route 1 on up1", |r| {
        r.status == 200 && r.upstream_port() == Some(up1.port())
    })
    .await;
    assert_eq!(r.body, "hello world");
    let r = admin.patch("/routes/1/upstream/nodes", node(&up2)).await;
    assert_status!(gw, r, 200, "PATCH /routes/1/upstream/nodes");
    proxy_until(&gw, "/hello", "route 1 moved to up2", |r| {
        r.status == 200 && r.upstream_port() == Some(up2.port())
    })
    .await;

    // An upstream by id: a merge PATCH that swaps its node moves the route.
    let r = admin
        .put("/upstreams/u1", json!({"nodes": node(&up1)}))
        .await;
    assert_status!(gw, r, 201, "PUT /upstreams/u1");
    let r = admin
        .put(
            "/routes/2",
            json!({"uri": "/server_port", "upstream_id": "u1"}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/2");
    let r = proxy_until(&gw, "/server_port", "route 2 on up1", |r| r.status == 200).await;
    assert_eq!(r.body, up1.port().to_string());
    let r = admin
        .patch(
            "/upstreams/u1",
            json!({"nodes": {up1.addr(): null, up2.addr(): 1}}),
        )
        .await;
    assert_status!(gw, r, 200, "PATCH /upstreams/u1");
    let r = proxy_until(&gw, "/server_port", "route 2 moved to up2", |r| {
        r.status == 200 && r.upstream_port() == Some(up2.port())
    })
    .await;
    assert_eq!(r.body, up2.port().to_string());

    // A disabled route stops matching; DELETE leaves APISIX's 404.
    let r = admin.patch("/routes/2", json!({"status": 0})).await;
    assert_status!(gw, r, 200, "PATCH /routes/2 status 0");
    proxy_until(&gw, "/server_port", "route 2 disabled", |r| r.status == 404).await;
    let r = admin.delete("/routes/1").await;
    assert_status!(gw, r, 200, "DELETE /routes/1");
    let r = proxy_until(&gw, "/hello", "route 1 deleted", |r| r.status == 404).await;
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).ok(),
        Some(json!({"error_msg": "404 Route Not Found"})),
        "body of an unmatched request"
    );
}
