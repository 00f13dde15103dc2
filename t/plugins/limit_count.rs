//! `limit-count`: fixed windows per key, APISIX's rejection answers and
//! `X-RateLimit-*` headers, the Redis policy shared by two gateways, and
//! `allow_degradation` when Redis is down.

use serde_json::json;

use super::redis_server::RedisServer;
use super::Env;
use crate::common::{get, Gateway, GatewayOpts};

#[tokio::test]
async fn local_policy_limits_per_key_with_quota_headers() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"limit-count": {"count": 2, "time_window": 60}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "plugins": {"limit-count": {
                  "count": 1, "time_window": 60, "key": "http_x_user", "rejected_code": 429,
                  "rejected_msg": "slow down", "show_limit_quota_header": false}},
               "upstream": env.upstream()}),
    )
    .await;

    let r = env.until("/hello", &[], 200).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(r.header("x-ratelimit-reset"), Some("60"));
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let reset: f64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset > 58.0 && reset <= 60.0, "{reset}");
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 503);
    assert!(
        r.body.contains("503 Service Temporarily Unavailable"),
        "{}",
        r.body
    );
    assert_eq!(r.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));

    // Per header value; rejected_msg; no quota headers.
    let r = env.until("/echo", &[("x-user", "a")], 200).await;
    assert!(r.header("x-ratelimit-limit").is_none());
    let r = env.get("/echo", &[("x-user", "a")]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json(), json!({"error_msg": "slow down"}));
    let r = env.get("/echo", &[("x-user", "b")]).await;
    assert_eq!(r.status, 200, "another key has its own quota");
}

#[tokio::test]
async fn quota_header_names_come_from_plugin_metadata() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"limit-count": {"count": 5, "time_window": 60}},
               "upstream": env.upstream()}),
    )
    .await;
    let r = env.until("/hello", &[], 200).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("5"));

    // Renamed without touching the route.
    env.put(
        "/plugin_metadata/limit-count",
        json!({"limit_header": "X-Quota-Limit", "remaining_header": "X-Quota-Left",
               "reset_header": "X-Quota-Reset"}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let r = loop {
        let r = env.get("/hello", &[]).await;
        if r.header("x-quota-limit").is_some() || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(r.header("x-quota-limit"), Some("5"), "{:?}", r.headers);
    assert!(r.header("x-quota-left").is_some());
    assert!(r.header("x-quota-reset").is_some());
    assert!(r.header("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn schema_errors_are_clear() {
    let env = Env::start().await;
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "plugins": {"limit-count": {"count": 2, "time_window": 60,
                   "policy": "redis"}}, "upstream": env.upstream()}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // APISIX's (api7/jsonschema) wording for a failed `then` branch.
    assert!(r.body.contains("then clause did not match"), "{}", r.body);
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "plugins": {"limit-count": {"count": 2, "time_window": 60,
                   "policy": "redis", "redis_host": "127.0.0.1", "redis_ssl": true}},
                   "upstream": env.upstream()}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("redis_ssl is not supported"), "{}", r.body);
}

#[tokio::test]
async fn redis_policy_is_shared_by_two_gateways() {
    let redis = RedisServer::start(Some("s3cret")).await;
    let env = Env::start().await;
    let gw2 = Gateway::start(GatewayOpts::etcd(&env.etcd).same_keyring_as(&env.gw)).await;
    gw2.wait_ready().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"limit-count": {
                  "count": 3, "time_window": 60, "key_type": "constant", "key": "all",
                  "policy": "redis", "redis_host": "127.0.0.1", "redis_port": redis.port,
                  "redis_password": "s3cret", "redis_database": 1}},
               "upstream": env.upstream()}),
    )
    .await;
    // Wait for both gateways to serve the route (each wait consumes one).
    let r = env.until("/hello", &[], 200).await;
    assert_eq!(
        r.header("x-ratelimit-remaining"),
        Some("2"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("x-ratelimit-reset"), Some("60"));
    let mut r2 = get(gw2.url("/hello")).send().await.unwrap();
    for _ in 0..250 {
        if r2.status != 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        r2 = get(gw2.url("/hello")).send().await.unwrap();
    }
    assert_eq!(r2.status, 200, "{}", r2.body);
    assert_eq!(r2.header("x-ratelimit-remaining"), Some("1"));
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let r2 = get(gw2.url("/hello")).send().await.unwrap();
    assert_eq!(r2.status, 503, "the 4th request across both nodes");
    assert_eq!(r2.header("x-ratelimit-remaining"), Some("0"));
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 503);
}

#[tokio::test]
async fn redis_down_degrades_or_fails() {
    let mut redis = RedisServer::start(None).await;
    let env = Env::start().await;
    let conf = |degrade: bool| {
        json!({"count": 1, "time_window": 60, "policy": "redis", "redis_host": "127.0.0.1",
               "redis_port": redis.port, "redis_timeout": 200, "allow_degradation": degrade})
    };
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"limit-count": conf(true)}, "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "plugins": {"limit-count": conf(false)}, "upstream": env.upstream()}),
    )
    .await;
    env.until("/hello", &[], 200).await;
    env.until("/echo", &[], 200).await;
    redis.stop();
    for _ in 0..2 {
        let r = env.get("/hello", &[]).await;
        assert_eq!(r.status, 200, "degraded: {}", r.body);
        assert!(r.header("x-ratelimit-limit").is_none());
        let r = env.get("/echo", &[]).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.json(), json!({"error_msg": "failed to limit count"}));
    }
}
