//! A resource still referenced cannot be deleted unless `?force=true`
//! (exactly `true`), with APISIX's messages naming the referrer.

use serde_json::json;

use super::{assert_body, assert_error, assert_key_not_found, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_resources_are_kept_unless_forced() {
    let (etcd, gw, admin) = start().await;
    let nodes = json!({"127.0.0.1:1980": 1});

    // Upstream used by a route.
    assert_status!(
        gw,
        admin.put("/upstreams/1", json!({"nodes": nodes})).await,
        201,
        "PUT /upstreams/1"
    );
    assert_status!(
        gw,
        admin
            .put("/routes/1", json!({"uri": "/a", "upstream_id": "1"}))
            .await,
        201,
        "PUT /routes/1 -> upstream 1"
    );
    let refusal = "can not delete this upstream, route [1] is still using it now";
    assert_error(
        &gw,
        &admin.delete("/upstreams/1").await,
        400,
        refusal,
        "DELETE a used upstream",
    );
    assert_error(
        &gw,
        &admin.delete("/upstreams/1?force=anyvalue").await,
        400,
        refusal,
        "DELETE a used upstream with force=anyvalue",
    );
    assert_status!(
        gw,
        admin.get("/upstreams/1").await,
        200,
        "the upstream is still there"
    );
    assert_body(
        &gw,
        &admin.delete("/upstreams/1?force=true").await,
        200,
        &json!({"deleted": "1", "key": "/apisix/upstreams/1"}),
        "DELETE a used upstream with force=true",
    );
    assert_key_not_found(&gw, &admin.get("/upstreams/1").await, "forced delete");
    assert_key_not_found(
        &gw,
        &admin.delete("/upstreams/1?force=true").await,
        "forced delete of a missing upstream",
    );

    // Upstream used by a service.
    assert_status!(
        gw,
        admin.put("/upstreams/2", json!({"nodes": nodes})).await,
        201,
        "PUT /upstreams/2"
    );
    assert_status!(
        gw,
        admin.put("/services/1", json!({"upstream_id": "2"})).await,
        201,
        "PUT /services/1 -> upstream 2"
    );
    assert_error(
        &gw,
        &admin.delete("/upstreams/2").await,
        400,
        "can not delete this upstream, service [1] is still using it now",
        "DELETE an upstream used by a service",
    );

    // Service used by a route.
    assert_status!(
        gw,
        admin
            .put("/routes/1", json!({"uri": "/a", "service_id": "1"}))
            .await,
        200,
        "PUT /routes/1 -> service 1"
    );
    assert_error(
        &gw,
        &admin.delete("/services/1").await,
        400,
        "can not delete this service directly, route [1] is still using it now",
        "DELETE a used service",
    );

    // Plugin config used by a route.
    assert_status!(
        gw,
        admin.put("/plugin_configs/1", json!({"plugins": {}})).await,
        201,
        "PUT /plugin_configs/1"
    );
    assert_status!(
        gw,
        admin
            .put(
                "/routes/1",
                json!({"uri": "/a", "plugin_config_id": "1", "upstream": {"nodes": nodes}}),
            )
            .await,
        200,
        "PUT /routes/1 -> plugin config 1"
    );
    assert_error(
        &gw,
        &admin.delete("/plugin_configs/1").await,
        400,
        "can not delete this plugin config, route [1] is still using it now",
        "DELETE a used plugin config",
    );

    // Consumer group used by a consumer.
    assert_status!(
        gw,
        admin
            .put("/consumer_groups/g1", json!({"plugins": {}}))
            .await,
        201,
        "PUT /consumer_groups/g1"
    );
    assert_status!(
        gw,
        admin
            .put("/consumers", json!({"username": "jack", "group_id": "g1"}))
            .await,
        201,
        "PUT consumer jack in group g1"
    );
    assert_error(
        &gw,
        &admin.delete("/consumer_groups/g1").await,
        400,
        "can not delete this consumer group, consumer [jack] is still using it now",
        "DELETE a used consumer group",
    );

    // An upstream named by a traffic-split rule inside a route's plugins
    // (written straight to etcd: strait has no traffic-split plugin yet).
    assert_status!(
        gw,
        admin.put("/upstreams/3", json!({"nodes": nodes})).await,
        201,
        "PUT /upstreams/3"
    );
    let split = json!({
        "id": "5",
        "uri": "/split",
        "plugins": {"traffic-split": {"rules": [
            {"weighted_upstreams": [{"upstream_id": "3", "weight": 1}, {"weight": 1}]}
        ]}},
        "upstream": {"nodes": nodes}
    });
    etcd.put("/apisix/routes/5", &split.to_string()).await;
    assert_error(
        &gw,
        &admin.delete("/upstreams/3").await,
        400,
        "can not delete this upstream, plugin in route [5] is still using it now",
        "DELETE an upstream named by traffic-split",
    );
    etcd.delete("/apisix/routes/5").await;
    assert_status!(
        gw,
        admin.delete("/upstreams/3").await,
        200,
        "DELETE /upstreams/3 once unused"
    );

    // Once nothing refers to them, they go without force.
    assert_status!(gw, admin.delete("/routes/1").await, 200, "DELETE /routes/1");
    assert_status!(
        gw,
        admin.delete("/consumers/jack").await,
        200,
        "DELETE jack"
    );
    for path in [
        "/plugin_configs/1",
        "/services/1",
        "/upstreams/2",
        "/consumer_groups/g1",
    ] {
        assert_status!(
            gw,
            admin.delete(path).await,
            200,
            "DELETE {path} once unused"
        );
    }
}
