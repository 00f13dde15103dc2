//! `limit-req`: a leaky bucket that delays requests within the burst,
//! rejects beyond it (`rejected_code`, `rejected_msg`), `nodelay`, and the
//! Redis policy with `allow_degradation`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::redis_server::RedisServer;
use super::Env;

#[tokio::test]
async fn local_bucket_delays_within_burst_and_rejects_beyond() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"limit-req": {"rate": 2, "burst": 1, "key": "remote_addr"}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "plugins": {"limit-req": {"rate": 0.1, "burst": 0, "key": "http_x_user",
               "nodelay": true, "rejected_code": 429, "rejected_msg": "too many"}},
               "upstream": env.upstream()}),
    )
    .await;
    // Let the route appear without spending the bucket: wait on route 2 first.
    env.until("/echo", &[("x-user", "warmup")], 200).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let env = std::sync::Arc::new(env);
    let e = env.clone();
    let started = Instant::now();
    let second = tokio::spawn(async move { e.get("/hello", &[]).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While the second waits its turn, a third is over the burst.
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 503);
    assert!(
        r.body.contains("503 Service Temporarily Unavailable"),
        "{}",
        r.body
    );
    let r = second.await.unwrap();
    assert_eq!(r.status, 200, "within the burst");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "delayed by about 0.5 s: {waited:?}"
    );

    let r = env.get("/echo", &[("x-user", "a")]).await;
    assert_eq!(r.status, 200);
    let r = env.get("/echo", &[("x-user", "a")]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json(), json!({"error_msg": "too many"}));
    let r = env.get("/echo", &[("x-user", "b")]).await;
    assert_eq!(r.status, 200, "another key");
}

#[tokio::test]
async fn redis_bucket_and_degradation() {
    let mut redis = RedisServer::start(None).await;
    let env = Env::start().await;
    let conf = |degrade: bool| {
        json!({"rate": 0.1, "burst": 0, "key": "remote_addr", "nodelay": true, "policy": "redis",
               "redis_host": "127.0.0.1", "redis_port": redis.port, "redis_timeout": 200,
               "allow_degradation": degrade})
    };
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"limit-req": conf(true)}, "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "plugins": {"limit-req": conf(false)}, "upstream": env.upstream()}),
    )
    .await;
    env.until("/hello", &[], 200).await;
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 503, "second request within 10 s");
    env.until("/echo", &[], 200).await;
    redis.stop();
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 200, "degraded");
    let r = env.get("/echo", &[]).await;
    assert_eq!(r.status, 500);
}
