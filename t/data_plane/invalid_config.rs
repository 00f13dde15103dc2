//! Invalid items in etcd never take the node down: each is logged with its
//! key and the reason and skipped, every other route is served, and an
//! update that breaks a valid route keeps its last valid version in service.

use std::time::Duration;

use serde_json::json;

use super::{etcd_gateway, nodes, simple_route};
use crate::common::{get, request, wait_until, Gateway};

/// The log line naming `key`, if any.
fn line_with(gw: &Gateway, key: &str) -> Option<String> {
    gw.log()
        .lines()
        .find(|l| l.contains(key))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_items_are_logged_and_skipped() {
    let up = crate::common::Upstream::start().await;
    let upstream = json!({"nodes": nodes(&[(&up, 1)])});
    // Read by the first full load: one schema error, one valid route.
    let (etcd, gw) = etcd_gateway(&[
        ("routes/bad-uri", json!({"uri": 5, "upstream": upstream})),
        ("routes/good", simple_route("/good", &up)),
        ("routes/1", simple_route("/v", &up)),
    ])
    .await;
    // Arrives through the watch: not even JSON.
    etcd.put("/apisix/routes/bad-json", "{not json at all")
        .await;
    etcd.put(
        "/apisix/routes/late",
        &simple_route("/late", &up).to_string(),
    )
    .await;
    let late = gw.url("/late");
    let seen = wait_until(Duration::from_secs(5), || async {
        matches!(get(&late).send().await, Ok(r) if r.status == 200)
    })
    .await;
    gw_assert!(
        gw,
        seen.is_some(),
        "a valid route written after an invalid one should serve"
    );

    let bad_uri = line_with(&gw, "/apisix/routes/bad-uri");
    gw_assert!(
        gw,
        bad_uri
            .as_deref()
            .is_some_and(|l| l.contains("invalid route") && l.contains("\"uri\"")),
        "the log should name /apisix/routes/bad-uri and the failing property \"uri\", got {bad_uri:?}"
    );
    let bad_json = line_with(&gw, "/apisix/routes/bad-json");
    gw_assert!(
        gw,
        bad_json
            .as_deref()
            .is_some_and(|l| l.contains("invalid route") && l.contains("invalid JSON")),
        "the log should name /apisix/routes/bad-json and the JSON syntax error, got {bad_json:?}"
    );
    for path in ["/good", "/v", "/late"] {
        let r = get(gw.url(path)).send().await.unwrap();
        assert_status!(gw, r, 200, "GET {path} next to invalid routes");
    }

    // Break route 1: the last valid version stays in service.
    etcd.put(
        "/apisix/routes/1",
        &json!({"uri": "/v-broken", "methods": ["FETCH"], "upstream": upstream}).to_string(),
    )
    .await;
    let kept = wait_until(Duration::from_secs(5), || async {
        gw.log().lines().any(|l| {
            l.contains("/apisix/routes/1")
                && l.contains("\"methods\"")
                && l.contains("kept_previous_version=true")
        })
    })
    .await;
    gw_assert!(
        gw,
        kept.is_some(),
        "the invalid update of /apisix/routes/1 should be logged with the reason and kept_previous_version=true"
    );
    let r = request(http::Method::POST, gw.url("/v"))
        .send()
        .await
        .unwrap();
    assert_status!(gw, r, 200, "POST /v (last valid version of route 1)");
    let r = get(gw.url("/v-broken")).send().await.unwrap();
    assert_status!(gw, r, 404, "GET /v-broken (the invalid version)");

    // The watch goes on: a later valid update applies.
    etcd.put("/apisix/routes/1", &simple_route("/v2", &up).to_string())
        .await;
    let v2 = gw.url("/v2");
    let applied = wait_until(Duration::from_secs(5), || async {
        matches!(get(&v2).send().await, Ok(r) if r.status == 200)
    })
    .await;
    gw_assert!(
        gw,
        applied.is_some(),
        "a valid update after an invalid one should apply"
    );
}
