//! `traffic-split`: weighted choice between a named upstream and the
//! route's own, a matched rule sending to an inline upstream, and a missing
//! `upstream_id`.

use serde_json::json;

use super::Env;
use crate::common::Upstream;

#[tokio::test]
async fn weighted_and_matched_upstreams() {
    let env = Env::start().await;
    let named = Upstream::start().await;
    let inline = Upstream::start().await;
    env.put(
        "/upstreams/1",
        json!({"type": "roundrobin", "nodes": {named.addr(): 1}}),
    )
    .await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"traffic-split": {"rules": [
                  {"match": [{"vars": [["http_x_canary", "==", "1"]]}, {"vars": [["arg_canary", "==", "1"]]}],
                   "weighted_upstreams": [{"upstream": {"type": "roundrobin", "nodes": {inline.addr(): 1}}}]},
                  {"weighted_upstreams": [{"upstream_id": "1", "weight": 2}, {"weight": 1}]}
               ]}},
               "upstream": env.upstream()}),
    )
    .await;
    env.until("/hello", &[("x-canary", "1")], 200).await;
    let r = env.get("/hello", &[("x-canary", "1")]).await;
    assert_eq!(r.upstream_port(), Some(inline.port()));
    let r = env.get("/hello?canary=1", &[]).await;
    assert_eq!(r.upstream_port(), Some(inline.port()), "second match entry");

    let mut named_n = 0;
    let mut route_n = 0;
    for _ in 0..9 {
        let r = env.get("/hello", &[]).await;
        assert_eq!(r.status, 200);
        match r.upstream_port() {
            Some(p) if p == named.port() => named_n += 1,
            Some(p) if p == env.up.port() => route_n += 1,
            other => panic!("unexpected upstream {other:?}"),
        }
    }
    assert_eq!((named_n, route_n), (6, 3), "weights 2:1");
}

#[tokio::test]
async fn missing_upstream_id_is_a_500() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"traffic-split": {"rules": [
                  {"weighted_upstreams": [{"upstream_id": "404", "weight": 1}]}]}},
               "upstream": env.upstream()}),
    )
    .await;
    let r = env.until("/hello", &[], 500).await;
    assert_eq!(r.body, "failed to fetch upstream info by upstream id: 404");
}
