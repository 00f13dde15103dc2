//! `fault-injection`: aborts with status, body and headers (variables
//! resolved), `vars` and `percentage` sampling, asynchronous delays.

use std::time::{Duration, Instant};

use serde_json::json;

use super::Env;
use crate::common::get;

#[tokio::test]
async fn fault_injection_aborts_and_delays() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"fault-injection": {"abort": {"http_status": 403,
                   "body": "blocked ${arg_name ?? nobody}\n", "headers": {"X-Fault": "$arg_name", "X-Num": 7}}}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/server_port", "upstream": env.upstream(),
               "plugins": {"fault-injection": {"abort": {"http_status": 500, "body": "boom",
                   "vars": [[["arg_fault", "==", "1"]]]}}}}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/echo", "upstream": env.upstream(),
               "plugins": {"fault-injection": {"abort": {"http_status": 500, "percentage": 0},
                                               "delay": {"duration": 0.5}}}}),
    )
    .await;
    env.put(
        "/routes/4",
        json!({"uri": "/echo/both", "upstream": env.upstream(),
               "plugins": {"fault-injection": {"abort": {"http_status": 418, "body": "teapot"},
                                               "delay": {"duration": 0.3}}}}),
    )
    .await;

    let r = env.until("/hello?name=jack", &[], 403).await;
    assert_eq!(r.body, "blocked jack\n");
    assert_eq!(r.header("x-fault"), Some("jack"));
    assert_eq!(r.header("x-num"), Some("7"));
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.body, "blocked nobody\n");

    env.until("/server_port?fault=1", &[], 500).await;
    let r = env.get("/server_port?fault=1", &[]).await;
    assert_eq!(r.body, "boom");
    let r = env.get("/server_port?fault=2", &[]).await;
    assert_eq!(r.status, 200);

    env.until("/echo", &[], 200).await;
    let start = Instant::now();
    let r = env.get("/echo", &[]).await;
    assert_eq!(r.status, 200, "percentage 0 never aborts");
    assert!(start.elapsed() >= Duration::from_millis(500));

    // Delays do not hold a worker thread: many wait at once.
    let start = Instant::now();
    let all: Vec<_> = (0..16)
        .map(|_| tokio::spawn(get(env.gw.url("/echo")).send()))
        .collect();
    for r in all {
        assert_eq!(r.await.unwrap().unwrap().status, 200);
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "16 delayed requests took {took:?}; blocking would need 4 s on 2 workers"
    );

    let start = Instant::now();
    let r = env.until("/echo/both", &[], 418).await;
    assert_eq!(r.body, "teapot");
    assert!(start.elapsed() >= Duration::from_millis(300));
}
