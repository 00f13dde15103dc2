//! Inputs that must not hurt: deep sub-paths, odd ids, huge ttls, paging
//! edges, methods no resource has, several nodes with different keyrings, and
//! items naming a plugin strait cannot run.

use http::Method;
use serde_json::json;

use super::{assert_bad_request, assert_error, body_json, error_msg, list_ids, start, Admin};
use crate::common::{Gateway, GatewayOpts};
use crate::data_plane::is_route_not_found;

#[tokio::test]
async fn odd_ids_paths_and_arguments_are_refused_cleanly() {
    let (_etcd, gw, admin) = start().await;
    let route = json!({"uri": "/a", "upstream": {"nodes": {"127.0.0.1:1980": 1}}});
    assert_eq!(admin.put("/routes/1", route.clone()).await.status, 201);
    // Every change is in the log: method, path, key name, client, status.
    let logged = gw.log().lines().any(|l| {
        l.contains("admin change")
            && l.contains("method=PUT")
            && l.contains("path=\"/apisix/admin/routes/1\"")
            && l.contains("key=admin")
            && l.contains("status=201")
    });
    gw_assert!(gw, logged, "the PUT is in the audit log");

    // A sub-path thousands of segments deep: a clean 400, and the process lives on.
    let deep = "/x".repeat(2000);
    let r = admin.patch(&format!("/routes/1{deep}"), json!(1)).await;
    assert_bad_request(&gw, &r, "invalid sub path", "PATCH with a deep sub-path");
    assert_eq!(
        admin.raw(Method::HEAD, "", "").await.status,
        200,
        "still alive"
    );

    // Ids: APISIX's id schema (string pattern or integer >= 1).
    for id in [json!(-1), json!(1.5), json!(0), json!("a b")] {
        let mut body = route.clone();
        body["id"] = id.clone();
        let r = admin.put("/routes", body).await;
        assert_bad_request(
            &gw,
            &r,
            "property \"id\" validation failed",
            &format!("id {id}"),
        );
    }
    let mut body = route.clone();
    body["id"] = json!(7);
    let r = admin.put("/routes", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        body_json(&r)["value"]["id"],
        "7",
        "ids are stored as strings"
    );
    let r = admin.patch("/routes/1", json!({"id": "2"})).await;
    assert_error(&gw, &r, 400, "wrong route id", "PATCH with another id");

    // ttl beyond a year, HEAD/OPTIONS on a resource.
    let r = admin
        .raw(Method::PUT, "/routes/t?ttl=1e300", route.to_string())
        .await;
    assert_bad_request(&gw, &r, "invalid argument ttl", "ttl=1e300");
    for m in [Method::HEAD, Method::OPTIONS] {
        let r = admin.raw(m.clone(), "/routes/1", "").await;
        assert_eq!(r.status, 404, "{m} /routes/1");
    }

    // Paging edges: page=0 is the first page, page alone uses 10 per page.
    for i in 0..12 {
        let r = admin.put(&format!("/routes/p{i:02}"), route.clone()).await;
        assert_eq!(r.status, 201);
    }
    let first = body_json(&admin.get("/routes?page=1&page_size=10").await);
    let zero = body_json(&admin.get("/routes?page=0").await);
    assert_eq!(list_ids(&zero), list_ids(&first));
    let second = body_json(&admin.get("/routes?page=2").await);
    assert_eq!(second["total"], 14);
    assert_eq!(list_ids(&second).len(), 4);
    let beyond = body_json(&admin.get("/routes?page=99&page_size=10").await);
    assert_eq!(beyond["total"], 14);
    assert_eq!(list_ids(&beyond).len(), 0);
}

#[tokio::test]
async fn ssl_patch_on_a_node_with_another_keyring_is_refused_not_corrupted() {
    let (etcd, gw_a, admin_a) = start().await;
    // A second node on the same etcd, with its own generated encryption key.
    let gw_b = Gateway::start(GatewayOpts::etcd(&etcd).with_admin()).await;
    let admin_b = Admin::new(&gw_b);
    let pair = rcgen::generate_simple_self_signed(vec!["test.com".to_string()]).unwrap();
    let ssl = json!({"cert": pair.cert.pem(), "key": pair.signing_key.serialize_pem(), "snis": ["test.com"]});
    assert_eq!(admin_a.put("/ssls/1", ssl).await.status, 201);
    let before = etcd.get("/apisix/ssls/1").await.unwrap();

    let r = admin_b.patch("/ssls/1", json!({"desc": "x"})).await;
    gw_assert!(
        gw_b,
        r.status == 500 && error_msg(&r).contains("apisix.data_encryption.keyring"),
        "PATCH on the other node: expected 500 naming the keyring, got {} {}",
        r.status,
        r.body
    );
    assert_eq!(
        etcd.get("/apisix/ssls/1").await.unwrap(),
        before,
        "the stored key is untouched"
    );
    // The node that encrypted it can still change it.
    let r = admin_a.patch("/ssls/1", json!({"desc": "x"})).await;
    gw_assert!(gw_a, r.status == 200, "PATCH on the first node: {}", r.body);
}

#[tokio::test]
async fn items_naming_an_unimplemented_plugin_are_not_served() {
    let (etcd, gw, _admin) = start().await;
    gw.wait_ready().await;
    let up = crate::common::Upstream::start().await;
    let nodes = json!({ up.addr(): 1 });
    etcd.put(
        "/apisix/routes/guarded",
        &json!({"uri": "/hello", "plugins": {"ext-plugin-pre-req": {}}, "upstream": {"nodes": nodes}})
            .to_string(),
    )
    .await;
    etcd.put(
        "/apisix/routes/open",
        &json!({"uri": "/server_port", "upstream": {"nodes": nodes}}).to_string(),
    )
    .await;
    let served = crate::common::wait_until(std::time::Duration::from_secs(5), || async {
        crate::common::get(gw.url("/server_port"))
            .send()
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
    gw_assert!(gw, served.is_some(), "the plain route is served");
    let r = crate::common::get(gw.url("/hello")).send().await.unwrap();
    gw_assert!(
        gw,
        is_route_not_found(&r),
        "a route with a plugin strait cannot run must not be served without it: {} {}",
        r.status,
        r.body
    );
    gw_assert!(
        gw,
        gw.log().contains("unknown plugin [ext-plugin-pre-req]"),
        "the skipped route is logged with the reason"
    );
}
