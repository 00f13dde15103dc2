//! `consumer-restriction`: whitelists, blacklists and per-consumer methods
//! on consumer names and route/service ids, with APISIX's bodies.

use http::Method;
use serde_json::json;

use super::Env;
use crate::common::request;

#[tokio::test]
async fn consumer_restriction_by_name_method_and_route() {
    let env = Env::start().await;
    for (user, key) in [("jack", "jack-key"), ("rose", "rose-key")] {
        env.put(
            "/consumers",
            json!({"username": user, "plugins": {"key-auth": {"key": key}}}),
        )
        .await;
    }
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"key-auth": {}, "consumer-restriction": {"whitelist": ["jack"]}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "upstream": env.upstream(),
               "plugins": {"key-auth": {}, "consumer-restriction": {
                   "allowed_by_methods": [{"user": "rose", "methods": ["POST"]}],
                   "rejected_code": 401, "rejected_msg": "no GET for you"}}}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/server_port", "upstream": env.upstream(),
               "plugins": {"consumer-restriction": {"type": "service_id", "whitelist": ["s1"]}}}),
    )
    .await;
    env.put(
        "/routes/4",
        json!({"uri": "/echo/blocked", "upstream": env.upstream(),
               "plugins": {"consumer-restriction": {"type": "route_id", "blacklist": ["4"]}}}),
    )
    .await;

    env.until("/hello", &[("apikey", "jack-key")], 200).await;
    let r = env.get("/hello", &[("apikey", "rose-key")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"message": "The consumer_name is forbidden."})
    );

    let r = env.until("/echo", &[("apikey", "rose-key")], 401).await;
    assert_eq!(r.json(), json!({"message": "no GET for you"}));
    let r = request(Method::POST, env.gw.url("/echo"))
        .header("apikey", "rose-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env.get("/echo", &[("apikey", "jack-key")]).await;
    assert_eq!(r.status, 200, "no rule for jack");

    let r = env.until("/server_port", &[], 401).await;
    assert_eq!(
        r.json(),
        json!({"message": "The request is rejected, please check the service_id for this request"})
    );
    let r = env.until("/echo/blocked", &[], 403).await;
    assert_eq!(r.json(), json!({"message": "The route_id is forbidden."}));

    let r = env
        .admin
        .put(
            "/routes/5",
            json!({"uri": "/x", "upstream": env.upstream(), "plugins": {"consumer-restriction": {}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
