//! Create, read, replace, patch and delete on every resource, with APISIX's
//! v3 envelopes, status codes and id rules; methods a resource does not take;
//! `?ttl=` leases.

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use super::{
    assert_body, assert_error, assert_key_not_found, body_json, error_msg, keys_of, list_ids, start,
};
use crate::common::{request, wait_until};

fn node_upstream() -> Value {
    json!({"nodes": {"127.0.0.1:1980": 1}})
}

/// Whether `s` is a POST id: 20 digits, zero-padded.
fn is_generated_id(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_services_upstreams_envelopes_ids_and_ttl() {
    let (_etcd, gw, admin) = start().await;

    // A lease of one second, checked at the end (etcd expires it within a few seconds).
    let r = admin
        .put(
            "/routes/short?ttl=1",
            json!({"uri": "/ttl", "upstream": node_upstream()}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/short?ttl=1");

    // Liveness without a key; unknown resources.
    let head = request(Method::HEAD, gw.admin_url(""))
        .send()
        .await
        .unwrap();
    assert_status!(gw, head, 200, "HEAD /apisix/admin without a key");
    let r = admin.get("/foo").await;
    assert_error(
        &gw,
        &r,
        404,
        "Unsupported resource type: foo",
        "GET /apisix/admin/foo",
    );

    // Empty collections.
    let r = admin.get("/services").await;
    assert_body(
        &gw,
        &r,
        200,
        &json!({"total": 0, "list": []}),
        "GET /services (empty)",
    );
    gw_assert!(
        gw,
        r.header("x-api-version") == Some("v3"),
        "X-API-VERSION header: {:?}",
        r.headers
    );

    // PUT new: 201 {key, value} with the id, timestamps and schema defaults.
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "upstream": {"nodes": {"127.0.0.1:1980": 1}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1 (new)");
    gw_assert!(
        gw,
        r.header("x-api-version") == Some("v3"),
        "X-API-VERSION on PUT: {:?}",
        r.headers
    );
    let created = body_json(&r);
    assert_eq!(
        keys_of(&created),
        ["key", "value"],
        "PUT envelope: {created}"
    );
    assert_eq!(created["key"], "/apisix/routes/1");
    let v = &created["value"];
    assert_eq!(v["id"], "1", "value.id is a string: {v}");
    assert_eq!(v["uri"], "/hello");
    assert_eq!(v["priority"], 0, "route default priority: {v}");
    assert_eq!(v["status"], 1, "route default status: {v}");
    assert_eq!(
        v["upstream"]["type"], "roundrobin",
        "upstream defaults: {v}"
    );
    assert_eq!(v["upstream"]["scheme"], "http", "upstream defaults: {v}");
    assert_eq!(v["upstream"]["pass_host"], "pass", "upstream defaults: {v}");
    assert_eq!(v["upstream"]["hash_on"], "vars", "upstream defaults: {v}");
    let create_time = v["create_time"]
        .as_i64()
        .expect("create_time is an integer");
    let update_time = v["update_time"]
        .as_i64()
        .expect("update_time is an integer");
    assert!(update_time >= create_time);

    // PUT again: 200, create_time kept.
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/hello2", "upstream": node_upstream()}),
        )
        .await;
    assert_status!(gw, r, 200, "PUT /routes/1 (replace)");
    let replaced = body_json(&r);
    assert_eq!(replaced["value"]["create_time"], create_time);
    assert!(replaced["value"]["update_time"].as_i64().unwrap() >= update_time);
    assert_eq!(replaced["value"]["uri"], "/hello2");

    // GET: {key, value, createdIndex, modifiedIndex}.
    let r = admin.get("/routes/1").await;
    assert_status!(gw, r, 200, "GET /routes/1");
    let got = body_json(&r);
    assert_eq!(
        keys_of(&got),
        ["createdIndex", "key", "modifiedIndex", "value"],
        "GET envelope: {got}"
    );
    assert_eq!(got["key"], "/apisix/routes/1");
    assert_eq!(
        got["value"], replaced["value"],
        "GET returns what PUT stored"
    );
    let (ci, mi) = (
        got["createdIndex"].as_i64().unwrap(),
        got["modifiedIndex"].as_i64().unwrap(),
    );
    assert!(mi > ci, "replaced: modifiedIndex {mi} > createdIndex {ci}");

    // PUT to the collection takes the id from the body; without one it is refused.
    let r = admin
        .put(
            "/routes",
            json!({"id": "7", "uri": "/seven", "upstream": node_upstream()}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes with an id in the body");
    assert_eq!(body_json(&r)["key"], "/apisix/routes/7");
    let r = admin
        .put("/routes", json!({"uri": "/x", "upstream": node_upstream()}))
        .await;
    assert_error(&gw, &r, 400, "missing route id", "PUT /routes without id");

    // Id rules.
    let r = admin
        .put(
            "/routes/1",
            json!({"id": "2", "uri": "/a", "upstream": node_upstream()}),
        )
        .await;
    assert_error(&gw, &r, 400, "wrong route id", "PUT /routes/1 with id 2");
    let r = admin
        .post(
            "/routes",
            json!({"id": "3", "uri": "/a", "upstream": node_upstream()}),
        )
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "wrong route id, do not need it",
        "POST /routes with an id",
    );
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/a", "create_time": 1, "upstream": node_upstream()}),
        )
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "the property is forbidden:  create_time",
        "PUT with create_time",
    );

    // POST: 201 with a generated id.
    let r = admin
        .post(
            "/routes",
            json!({"uri": "/posted", "upstream": node_upstream()}),
        )
        .await;
    assert_status!(gw, r, 201, "POST /routes");
    let posted = body_json(&r);
    let pid = posted["value"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(is_generated_id(&pid), "POST id: {posted}");
    assert_eq!(posted["key"], format!("/apisix/routes/{pid}"));
    assert_status!(
        gw,
        admin.get(&format!("/routes/{pid}")).await,
        200,
        "GET the POSTed route"
    );

    // List: {total, list} of item envelopes (the ttl route may still be there).
    let r = admin.get("/routes").await;
    assert_status!(gw, r, 200, "GET /routes");
    let list = body_json(&r);
    assert_eq!(keys_of(&list), ["list", "total"], "list envelope: {list}");
    let ids = list_ids(&list);
    for id in ["1", "7", pid.as_str()] {
        assert!(ids.iter().any(|i| i == id), "{id} in the list: {list}");
    }
    assert_eq!(list["total"], ids.len(), "total == number of items: {list}");
    for item in list["list"].as_array().unwrap() {
        assert_eq!(
            keys_of(item),
            ["createdIndex", "key", "modifiedIndex", "value"],
            "list item envelope: {item}"
        );
    }

    // DELETE, then every method on the missing key.
    let r = admin.delete("/routes/1").await;
    assert_body(
        &gw,
        &r,
        200,
        &json!({"deleted": "1", "key": "/apisix/routes/1"}),
        "DELETE /routes/1",
    );
    assert_key_not_found(&gw, &admin.get("/routes/1").await, "GET deleted route");
    assert_key_not_found(
        &gw,
        &admin.delete("/routes/1").await,
        "DELETE deleted route",
    );
    assert_key_not_found(
        &gw,
        &admin.patch("/routes/1", json!({"desc": "x"})).await,
        "PATCH deleted route",
    );

    // Every method on services and upstreams.
    for (res, body) in [
        (
            "services",
            json!({"name": "svc", "upstream": node_upstream()}),
        ),
        ("upstreams", node_upstream()),
    ] {
        let r = admin.put(&format!("/{res}/1"), body.clone()).await;
        assert_status!(gw, r, 201, "PUT /{res}/1");
        assert_eq!(body_json(&r)["value"]["id"], "1");
        let r = admin.post(&format!("/{res}"), body.clone()).await;
        assert_status!(gw, r, 201, "POST /{res}");
        let pid = body_json(&r)["value"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(is_generated_id(&pid), "POST /{res} id: {}", r.body);
        let r = admin.get(&format!("/{res}/1")).await;
        assert_status!(gw, r, 200, "GET /{res}/1");
        assert_eq!(body_json(&r)["key"], format!("/apisix/{res}/1"));
        let r = admin
            .patch(&format!("/{res}/1"), json!({"desc": "patched"}))
            .await;
        assert_status!(gw, r, 200, "PATCH /{res}/1");
        assert_eq!(body_json(&r)["value"]["desc"], "patched");
        let r = admin.get(&format!("/{res}")).await;
        assert_status!(gw, r, 200, "GET /{res}");
        assert_eq!(body_json(&r)["total"], 2, "{res} list: {}", r.body);
        for id in ["1", pid.as_str()] {
            let r = admin.delete(&format!("/{res}/{id}")).await;
            assert_body(
                &gw,
                &r,
                200,
                &json!({"deleted": "1", "key": format!("/apisix/{res}/{id}")}),
                &format!("DELETE /{res}/{id}"),
            );
        }
        assert_key_not_found(&gw, &admin.get(&format!("/{res}/1")).await, res);
    }
    let r = admin.get("/upstreams").await;
    assert_body(
        &gw,
        &r,
        200,
        &json!({"total": 0, "list": []}),
        "GET /upstreams after deleting all",
    );

    // The ttl route expires.
    let gone = wait_until(Duration::from_secs(6), || async {
        admin.get("/routes/short").await.status == 404
    })
    .await;
    gw_assert!(gw, gone.is_some(), "the ?ttl=1 route should expire");
    assert_key_not_found(&gw, &admin.get("/routes/short").await, "GET expired route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_credentials_and_plugin_holding_resources() {
    let (etcd, gw, admin) = start().await;

    // Consumers: PUT to the collection with a username, or to /consumers/{username}.
    let r = admin.put("/consumers", json!({"username": "jack"})).await;
    assert_status!(gw, r, 201, "PUT /consumers");
    let v = body_json(&r);
    assert_eq!(v["key"], "/apisix/consumers/jack");
    assert_eq!(v["value"]["username"], "jack");
    assert!(v["value"]["create_time"].is_i64(), "{v}");
    let r = admin
        .put("/consumers/rose", json!({"desc": "second"}))
        .await;
    assert_status!(gw, r, 201, "PUT /consumers/rose");
    assert_eq!(body_json(&r)["value"]["username"], "rose");
    let r = admin.put("/consumers", json!({"username": "jack"})).await;
    assert_status!(gw, r, 200, "PUT /consumers again");
    let r = admin
        .put("/consumers/jack", json!({"username": "rose"}))
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "wrong username",
        "PUT /consumers/jack as rose",
    );
    let r = admin.put("/consumers", json!({"desc": "nameless"})).await;
    assert_error(
        &gw,
        &r,
        400,
        "invalid configuration: property \"username\" is required",
        "PUT /consumers without a username",
    );
    let r = admin.post("/consumers", json!({"username": "tom"})).await;
    assert_error(
        &gw,
        &r,
        405,
        "not supported `POST` method for consumer",
        "POST /consumers",
    );
    let r = admin.patch("/consumers/jack", json!({"desc": "x"})).await;
    assert_error(
        &gw,
        &r,
        405,
        "not supported `PATCH` method for consumer",
        "PATCH /consumers/jack",
    );
    let r = admin.get("/consumers/jack").await;
    assert_status!(gw, r, 200, "GET /consumers/jack");
    assert_eq!(body_json(&r)["value"]["username"], "jack");

    // Credentials live under their consumer.
    let r = admin
        .put("/consumers/jack/credentials/c1", json!({"plugins": {}}))
        .await;
    assert_status!(gw, r, 201, "PUT credential c1");
    assert_eq!(
        body_json(&r)["key"],
        "/apisix/consumers/jack/credentials/c1"
    );
    let r = admin
        .put("/consumers/jack/credentials/c2", json!({"desc": "two"}))
        .await;
    assert_status!(gw, r, 201, "PUT credential c2");
    let r = admin.get("/consumers/jack/credentials/c1").await;
    assert_status!(gw, r, 200, "GET credential c1");
    assert_eq!(
        body_json(&r)["key"],
        "/apisix/consumers/jack/credentials/c1"
    );
    let r = admin.get("/consumers/jack/credentials").await;
    assert_status!(gw, r, 200, "GET credentials of jack");
    assert_eq!(body_json(&r)["total"], 2, "credentials list: {}", r.body);
    let r = admin.get("/consumers").await;
    assert_status!(gw, r, 200, "GET /consumers");
    assert_eq!(
        body_json(&r)["total"],
        2,
        "the consumer list holds consumers, not their credentials: {}",
        r.body
    );
    let r = admin
        .put("/consumers/nobody/credentials/c1", json!({"plugins": {}}))
        .await;
    assert_error(
        &gw,
        &r,
        404,
        "consumer not found",
        "PUT a credential under a missing consumer",
    );
    let r = admin.delete("/consumers/jack/credentials/c1").await;
    assert_body(
        &gw,
        &r,
        200,
        &json!({"deleted": "1", "key": "/apisix/consumers/jack/credentials/c1"}),
        "DELETE credential c1",
    );
    assert_key_not_found(
        &gw,
        &admin.get("/consumers/jack/credentials/c1").await,
        "GET deleted credential",
    );

    // Deleting the consumer removes its credentials.
    let r = admin.delete("/consumers/jack").await;
    assert_body(
        &gw,
        &r,
        200,
        &json!({"deleted": "1", "key": "/apisix/consumers/jack"}),
        "DELETE /consumers/jack",
    );
    assert_key_not_found(
        &gw,
        &admin.get("/consumers/jack/credentials/c2").await,
        "credential of a deleted consumer",
    );
    assert_eq!(
        etcd.get("/apisix/consumers/jack/credentials/c2").await,
        None,
        "the credential is gone from etcd"
    );

    // Consumer groups, plugin configs, global rules: PUT/GET/PATCH/DELETE, no POST.
    // APISIX names them `consumer group`, `plugin config`, `global rule` in the 405.
    for (res, kind, patch) in [
        (
            "consumer_groups",
            "consumer group",
            json!({"desc": "patched"}),
        ),
        (
            "plugin_configs",
            "plugin config",
            json!({"desc": "patched"}),
        ),
        ("global_rules", "global rule", json!({"plugins": {}})),
    ] {
        let r = admin
            .put(&format!("/{res}/1"), json!({"plugins": {}}))
            .await;
        assert_status!(gw, r, 201, "PUT /{res}/1");
        let v = body_json(&r);
        assert_eq!(v["key"], format!("/apisix/{res}/1"));
        assert_eq!(v["value"]["id"], "1");
        assert_eq!(v["value"]["plugins"], json!({}));
        let r = admin.get(&format!("/{res}/1")).await;
        assert_status!(gw, r, 200, "GET /{res}/1");
        let r = admin.patch(&format!("/{res}/1"), patch.clone()).await;
        assert_status!(gw, r, 200, "PATCH /{res}/1");
        for (k, want) in patch.as_object().unwrap() {
            assert_eq!(
                &body_json(&r)["value"][k],
                want,
                "PATCH /{res}/1: {}",
                r.body
            );
        }
        let r = admin.post(&format!("/{res}"), json!({"plugins": {}})).await;
        assert_error(
            &gw,
            &r,
            405,
            &format!("not supported `POST` method for {kind}"),
            &format!("POST /{res}"),
        );
        let r = admin.delete(&format!("/{res}/1")).await;
        assert_body(
            &gw,
            &r,
            200,
            &json!({"deleted": "1", "key": format!("/apisix/{res}/1")}),
            &format!("DELETE /{res}/1"),
        );
        assert_key_not_found(&gw, &admin.get(&format!("/{res}/1")).await, res);
    }

    // Plugin metadata: no plugin is implemented, so every name is unknown.
    let r = admin
        .put(
            "/plugin_metadata/x",
            json!({"log_format": {"host": "$host"}}),
        )
        .await;
    assert_error(
        &gw,
        &r,
        400,
        "invalid plugin name",
        "PUT /plugin_metadata/x",
    );
    let r = admin.patch("/plugin_metadata/x", json!({})).await;
    assert_error(
        &gw,
        &r,
        405,
        "not supported `PATCH` method for plugin_metadata",
        "PATCH /plugin_metadata/x",
    );
    let r = admin.post("/plugin_metadata", json!({})).await;
    assert_error(
        &gw,
        &r,
        405,
        "not supported `POST` method for plugin_metadata",
        "POST /plugin_metadata",
    );
    assert_key_not_found(
        &gw,
        &admin.get("/plugin_metadata/x").await,
        "GET /plugin_metadata/x",
    );
}

#[tokio::test]
async fn etcd_down_answers_503_and_recovers() {
    let (mut etcd, gw, admin) = start().await;
    let r = admin
        .put("/upstreams/1", json!({"nodes": {"127.0.0.1:1980": 1}}))
        .await;
    assert_status!(gw, r, 201, "PUT before the outage");
    etcd.stop();
    let r = admin.get("/upstreams/1").await;
    assert_status!(gw, r, 503, "GET while etcd is down");
    gw_assert!(
        gw,
        !error_msg(&r).is_empty(),
        "a 503 carries the etcd error in error_msg: {}",
        r.body
    );
    let r = admin
        .put("/upstreams/2", json!({"nodes": {"127.0.0.1:1980": 1}}))
        .await;
    assert_status!(gw, r, 503, "PUT while etcd is down");
    etcd.restart().await;
    let back = wait_until(Duration::from_secs(15), || async {
        admin.get("/upstreams/1").await.status == 200
    })
    .await;
    gw_assert!(
        gw,
        back.is_some(),
        "the Admin API works again once etcd is back"
    );
}
