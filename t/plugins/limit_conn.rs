//! `limit-conn`: concurrent requests per key, delayed within the burst,
//! rejected beyond it, released when the response ends.

use std::time::Duration;

use serde_json::json;

use super::Env;

#[tokio::test]
async fn concurrency_is_limited_and_released() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/slow", "plugins": {"limit-conn": {"conn": 1, "burst": 0,
               "default_conn_delay": 0.1, "key": "remote_addr", "rejected_code": 429,
               "rejected_msg": "busy"}},
               "upstream": env.upstream()}),
    )
    .await;
    env.until("/slow?ms=1", &[], 200).await;
    let env = std::sync::Arc::new(env);
    let e = env.clone();
    let first = tokio::spawn(async move { e.get("/slow?ms=800", &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = env.get("/slow?ms=1", &[]).await;
    assert_eq!(r.status, 429, "second concurrent request");
    assert_eq!(r.json(), json!({"error_msg": "busy"}));
    let r = first.await.unwrap();
    assert_eq!(r.status, 200);
    // Released at the end of the first response.
    let r = env.until("/slow?ms=1", &[], 200).await;
    assert_eq!(r.body, "slow");
    for _ in 0..3 {
        let r = env.get("/slow?ms=1", &[]).await;
        assert_eq!(r.status, 200, "sequential requests never overlap");
    }
}

#[tokio::test]
async fn burst_requests_are_delayed() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/slow", "plugins": {"limit-conn": {"conn": 1, "burst": 1,
               "default_conn_delay": 0.5, "key_type": "var_combination", "key": "$remote_addr"}},
               "upstream": env.upstream()}),
    )
    .await;
    env.until("/slow?ms=1", &[], 200).await;
    let env = std::sync::Arc::new(env);
    let e = env.clone();
    let first = tokio::spawn(async move { e.get("/slow?ms=600", &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = env.clone();
    let started = std::time::Instant::now();
    let second = tokio::spawn(async move { e.get("/slow?ms=1", &[]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = env.get("/slow?ms=1", &[]).await;
    assert_eq!(r.status, 503, "beyond conn + burst");
    let r = second.await.unwrap();
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "delayed by default_conn_delay"
    );
    assert_eq!(first.await.unwrap().status, 200);
}
