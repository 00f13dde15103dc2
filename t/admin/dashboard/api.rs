//! `/ui/api/`: the Admin API's keys and 401s, read-only methods, `whoami`,
//! and `revision` catching up with etcd after Admin API writes.

use http::Method;
use serde_json::{json, Value};

use super::{api, api_until, send, start, FakeBuild};
use crate::admin::{assert_body, Admin};
use crate::common::{request, Etcd, Gateway, GatewayOpts, ADMIN_KEY, VIEWER_KEY};

fn token_error(description: &str) -> Value {
    json!({"error_msg": "failed to check token", "description": description})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_api_keys_roles_and_methods() {
    let build = FakeBuild::new();
    let (_etcd, gw) = start(&build.root(), "").await;

    for endpoint in ["whoami", "revision", "overview", "traffic", "llm", "nope"] {
        let path = format!("/ui/api/{endpoint}");
        assert_body(
            &gw,
            &send(&gw, Method::GET, &path, None).await,
            401,
            &token_error("missing apikey"),
            &format!("{path} without a key"),
        );
        assert_body(
            &gw,
            &send(&gw, Method::GET, &path, Some("not-the-key-0123456789")).await,
            401,
            &token_error("wrong apikey"),
            &format!("{path} with a wrong key"),
        );
    }
    let r = send(&gw, Method::GET, "/ui/api/whoami", None).await;
    gw_assert!(
        gw,
        r.header("x-api-version") == Some("v3"),
        "{:?}",
        r.headers
    );
    // The same 401 as the Admin API's.
    let admin = Admin::new(&gw).without_key();
    assert_body(
        &gw,
        &admin.get("/routes").await,
        401,
        &token_error("missing apikey"),
        "Admin API without a key",
    );

    let r = send(&gw, Method::GET, "/ui/api/whoami", Some(ADMIN_KEY)).await;
    assert_body(
        &gw,
        &r,
        200,
        &json!({"name": "admin", "role": "admin"}),
        "whoami (admin)",
    );
    gw_assert!(
        gw,
        r.header("content-type") == Some("application/json"),
        "{:?}",
        r.headers
    );
    assert_body(
        &gw,
        &send(&gw, Method::GET, "/ui/api/whoami", Some(VIEWER_KEY)).await,
        200,
        &json!({"name": "viewer", "role": "viewer"}),
        "whoami (viewer)",
    );
    // The key may come as the query argument or the cookie, as for the Admin API.
    let r = request(
        Method::GET,
        super::url(&gw, &format!("/ui/api/whoami?api_key={VIEWER_KEY}")),
    )
    .send()
    .await
    .expect("whoami");
    assert_body(
        &gw,
        &r,
        200,
        &json!({"name": "viewer", "role": "viewer"}),
        "key in the query",
    );
    let r = request(Method::GET, super::url(&gw, "/ui/api/whoami"))
        .header("cookie", &format!("x_api_key={ADMIN_KEY}"))
        .send()
        .await
        .expect("whoami");
    assert_body(
        &gw,
        &r,
        200,
        &json!({"name": "admin", "role": "admin"}),
        "key in a cookie",
    );

    for key in [ADMIN_KEY, VIEWER_KEY] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let r = send(&gw, method.clone(), "/ui/api/overview", Some(key)).await;
            gw_assert!(
                gw,
                r.status == 405 && r.json()["error_msg"].is_string(),
                "{method} /ui/api/overview: {} {}",
                r.status,
                r.body
            );
        }
    }
    for path in ["/ui/api/nope", "/ui/api", "/ui/api/", "/ui/api/whoami/x"] {
        assert_body(
            &gw,
            &send(&gw, Method::GET, path, Some(VIEWER_KEY)).await,
            404,
            &json!({"error_msg": "not found"}),
            path,
        );
    }
    let r = send(
        &gw,
        Method::GET,
        "/ui/api/traffic?seconds=soon",
        Some(ADMIN_KEY),
    )
    .await;
    assert_status!(gw, r, 400, "seconds=soon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_whoami_without_required_keys() {
    let etcd = Etcd::start().await;
    let gw = Gateway::start(GatewayOpts::etcd(&etcd).with_admin_section(
        "    admin_key_required: false\n    admin_listen:\n      ip: 127.0.0.1\n      port: {admin_port}\n",
    ))
    .await;
    assert_body(
        &gw,
        &send(&gw, Method::GET, "/ui/api/whoami", None).await,
        200,
        &json!({"name": "-", "role": "admin"}),
        "whoami without keys",
    );
}

/// The `modifiedIndex` of the item at `path`.
async fn modified_index(admin: &Admin, path: &str) -> i64 {
    admin.get(path).await.json()["modifiedIndex"]
        .as_i64()
        .expect("modifiedIndex")
}

fn caught_up(v: &Value, at_least: i64) -> bool {
    let (applied, etcd) = (v["applied"].as_i64(), v["etcd"].as_i64());
    matches!((applied, etcd), (Some(a), Some(e)) if e >= at_least && a >= e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_revision_catches_up_after_admin_writes() {
    let build = FakeBuild::new();
    let (etcd, gw) = start(&build.root(), "").await;
    let admin = Admin::new(&gw);
    let v = api(&gw, "/ui/api/revision").await;
    gw_assert!(
        gw,
        v["applied"].is_i64()
            && v["etcd"].is_i64()
            && crate::admin::keys_of(&v) == ["applied", "etcd"],
        "{v}"
    );

    let r = admin
        .put("/upstreams/1", json!({"nodes": {"127.0.0.1:1980": 1}}))
        .await;
    assert_status!(gw, r, 201, "PUT upstream");
    let written = modified_index(&admin, "/upstreams/1").await;
    api_until(
        &gw,
        "/ui/api/revision",
        "applied >= etcd after a PUT",
        |v| caught_up(v, written),
    )
    .await;

    // POST writes the gen_id key too; the node still catches up.
    let r = admin
        .post("/routes", json!({"uri": "/x", "upstream_id": "1"}))
        .await;
    assert_status!(gw, r, 201, "POST route");
    let id = r.json()["key"]
        .as_str()
        .and_then(|k| k.rsplit('/').next())
        .expect("key")
        .to_string();
    let written = modified_index(&admin, &format!("/routes/{id}")).await;
    api_until(
        &gw,
        "/ui/api/revision",
        "applied >= etcd after a POST",
        |v| caught_up(v, written),
    )
    .await;
    let o = api(&gw, "/ui/api/overview").await;
    gw_assert!(gw, o["config"]["counts"]["routes"] == 1, "{o}");

    // A delete leaves no key behind; its revision is still waited for.
    assert_status!(
        gw,
        admin.delete(&format!("/routes/{id}")).await,
        200,
        "DELETE route"
    );
    let v = api(&gw, "/ui/api/revision").await;
    gw_assert!(
        gw,
        v["etcd"].as_i64() > Some(written),
        "etcd after DELETE: {v}"
    );
    api_until(
        &gw,
        "/ui/api/revision",
        "applied >= etcd after a DELETE",
        |v| caught_up(v, written + 1),
    )
    .await;
    let o = api(&gw, "/ui/api/overview").await;
    gw_assert!(
        gw,
        o["config"]["counts"]["routes"] == 0 && o["config"]["revision"].as_i64() > Some(written),
        "the delete is live once caught up: {o}"
    );

    // A key under the prefix that is no resource changes nothing served,
    // and a write to another prefix is no change here at all: both leave
    // the node caught up.
    let other = etcd.put("/apisix/unrelated/x", "1").await;
    api_until(
        &gw,
        "/ui/api/revision",
        "caught up after a key that is no resource",
        |v| caught_up(v, other),
    )
    .await;
    let elsewhere = etcd.put("/elsewhere/x", "1").await;
    let v = api_until(
        &gw,
        "/ui/api/revision",
        "caught up after a write elsewhere",
        |v| caught_up(v, other),
    )
    .await;
    gw_assert!(gw, v["applied"].as_i64() < Some(elsewhere), "{v}");
}
