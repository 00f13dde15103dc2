//! The plugin runtime through a real gateway: global rules also run for
//! unmatched requests, `_meta` (`filter`, `disable`, `error_response`), and
//! merge precedence Consumer > Consumer Group > Route > Plugin Config >
//! Service (observed through which file a `file-logger` writes to).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::Env;
use crate::common::wait_until;

#[tokio::test]
async fn global_rules_run_for_unmatched_requests_and_meta_applies() {
    let env = Env::start().await;
    env.put(
        "/consumers",
        json!({"username": "jack", "plugins": {"key-auth": {"key": "k"}}}),
    )
    .await;
    env.put(
        "/global_rules/1",
        json!({"plugins": {"key-auth": {"_meta": {
            "filter": [["uri", "~~", "^/private"]],
            "error_response": {"message": "go away"}
        }}}}),
    )
    .await;
    env.put(
        "/routes/1",
        json!({"uri": "/private/x", "upstream": env.upstream()}),
    )
    .await;
    // Unmatched and filtered in: the global rule answers before the 404.
    let r = env.until("/private/nothing", &[], 401).await;
    assert_eq!(
        r.json(),
        json!({"message": "go away"}),
        "error_response replaces the body"
    );
    // Unmatched and filtered out: APISIX's 404.
    let r = env.get("/public", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"error_msg": "404 Route Not Found"}));
    // Matched: the global rule authenticates, the route proxies.
    assert_eq!(env.get("/private/x", &[("apikey", "k")]).await.status, 200);
    assert_eq!(env.get("/private/x", &[]).await.status, 401);
    // Unmatched with a valid key: authenticated, then 404.
    assert_eq!(
        env.get("/private/nothing", &[("apikey", "k")]).await.status,
        404
    );

    // `_meta.disable` turns the plugin off.
    env.put(
        "/global_rules/1",
        json!({"plugins": {"key-auth": {"_meta": {"disable": true}}}}),
    )
    .await;
    env.until("/private/x", &[], 200).await;
}

async fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Send requests until the log at `path` grows; fails after 10 s.
async fn logged_to(env: &Env, path: &Path, headers: &[(&str, &str)]) -> bool {
    let before = lines(path).await;
    wait_until(Duration::from_secs(10), || async {
        let r = env.get("/hello", headers).await;
        r.status == 200 && lines(path).await > before
    })
    .await
    .is_some()
}

fn logger(path: &Path) -> Value {
    json!({"file-logger": {"path": path.display().to_string(), "batch_max_size": 1}})
}

#[tokio::test]
async fn plugin_configuration_precedence() {
    let env = Env::start().await;
    let dir = env.gw.dir().to_path_buf();
    let (svc, pc, route, group, consumer) = (
        dir.join("service.log"),
        dir.join("plugin_config.log"),
        dir.join("route.log"),
        dir.join("group.log"),
        dir.join("consumer.log"),
    );
    env.put(
        "/services/1",
        json!({"plugins": logger(&svc), "upstream": env.upstream()}),
    )
    .await;
    env.put("/routes/1", json!({"uri": "/hello", "service_id": "1"}))
        .await;
    assert!(logged_to(&env, &svc, &[]).await, "service's plugin");

    env.put("/plugin_configs/1", json!({"plugins": logger(&pc)}))
        .await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "service_id": "1", "plugin_config_id": "1"}),
    )
    .await;
    assert!(
        logged_to(&env, &pc, &[]).await,
        "plugin config beats service"
    );

    let mut plugins = logger(&route);
    plugins["key-auth"] = json!({});
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "service_id": "1", "plugin_config_id": "1", "plugins": plugins}),
    )
    .await;
    env.put("/consumer_groups/g", json!({"plugins": logger(&group)}))
        .await;
    env.put(
        "/consumers",
        json!({"username": "ann", "plugins": {"key-auth": {"key": "ann"}}}),
    )
    .await;
    assert!(
        logged_to(&env, &route, &[("apikey", "ann")]).await,
        "route beats plugin config"
    );

    env.put(
        "/consumers",
        json!({"username": "ann", "group_id": "g", "plugins": {"key-auth": {"key": "ann"}}}),
    )
    .await;
    assert!(
        logged_to(&env, &group, &[("apikey", "ann")]).await,
        "consumer group beats route"
    );

    let mut own = logger(&consumer);
    own["key-auth"] = json!({"key": "ann"});
    env.put(
        "/consumers",
        json!({"username": "ann", "group_id": "g", "plugins": own}),
    )
    .await;
    assert!(
        logged_to(&env, &consumer, &[("apikey", "ann")]).await,
        "consumer beats its group"
    );
}

#[tokio::test]
async fn only_plugins_listed_in_config_are_enabled() {
    let etcd = crate::common::Etcd::start().await;
    let gw = crate::common::Gateway::start(
        crate::common::GatewayOpts::etcd(&etcd)
            .with_admin()
            .extra_yaml("plugins:\n  - key-auth\n  - prometheus\n"),
    )
    .await;
    gw.wait_ready().await;
    let admin = crate::admin::Admin::new(&gw);
    let r = admin.get("/plugins/list").await;
    assert_eq!(r.json(), json!(["key-auth", "prometheus"]));
    let up = crate::common::Upstream::start().await;
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "plugins": {"limit-count": {"count": 1, "time_window": 60}},
                   "upstream": {"nodes": {up.addr(): 1}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("unknown plugin [limit-count]"),
        "{}",
        r.body
    );
    // Written around the Admin API, the data plane serves the route without
    // the plugin (as APISIX's data plane skips plugins it has not enabled).
    etcd.put(
        "/apisix/routes/1",
        &json!({"uri": "/hello", "plugins": {"limit-count": {"count": 1, "time_window": 60}},
                "upstream": {"nodes": {up.addr(): 1}}})
        .to_string(),
    )
    .await;
    let served = wait_until(Duration::from_secs(5), || async {
        let r = crate::common::get(gw.url("/hello")).send().await.unwrap();
        r.status == 200
    })
    .await;
    assert!(served.is_some(), "the route is served");
    let r = crate::common::get(gw.url("/hello")).send().await.unwrap();
    assert!(r.header("x-ratelimit-limit").is_none());
    assert!(gw
        .log()
        .contains("plugin not enabled in config.yaml: skipped"));
    for _ in 0..3 {
        let r = crate::common::get(gw.url("/hello")).send().await.unwrap();
        assert_eq!(r.status, 200, "not limited: limit-count is not enabled");
    }

    // Enabled by a reload: the existing route is recompiled and now limited.
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    let config = config.replace("  - prometheus\n", "  - prometheus\n  - limit-count\n");
    std::fs::write(gw.config_path(), config).unwrap();
    let r = admin.raw(http::Method::PUT, "/plugins/reload", "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "done"));
    let limited = wait_until(Duration::from_secs(5), || async {
        let r = crate::common::get(gw.url("/hello")).send().await.unwrap();
        r.status == 503
    })
    .await;
    assert!(limited.is_some(), "limited after the reload");
    let r = crate::common::get(gw.url("/hello")).send().await.unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-ratelimit-limit"), Some("1"));
    let r = admin.get("/plugins/list").await;
    assert_eq!(r.json(), json!(["key-auth", "limit-count", "prometheus"]));
}

#[tokio::test]
async fn meta_priority_reorders_plugins_within_a_phase() {
    let env = Env::start().await;
    // basic-auth (2520) runs before key-auth (2500): its 401 answers first.
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"basic-auth": {}, "key-auth": {}}}),
    )
    .await;
    let r = env.until("/hello", &[], 401).await;
    assert_eq!(
        r.json(),
        json!({"message": "Missing authorization in request"})
    );
    // `_meta.priority` moves key-auth in front.
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"basic-auth": {}, "key-auth": {"_meta": {"priority": 3000}}}}),
    )
    .await;
    let moved = wait_until(Duration::from_secs(5), || async {
        env.get("/hello", &[])
            .await
            .body
            .contains("Missing API key in request")
    })
    .await;
    assert!(
        moved.is_some(),
        "key-auth answers first once its priority is higher"
    );
}
