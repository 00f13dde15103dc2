//! `http-logger` and `file-logger`: APISIX-shaped entries delivered in
//! batches off the request path; a slow or dead sink neither slows nor fails
//! requests, and what it drops is counted in a metric.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::Env;
use crate::common::{closed_port, get, wait_until};

/// A log server collecting POST bodies; answers after `delay`.
async fn log_server(delay: Duration) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        tokio::time::sleep(delay).await;
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&body).into_owned());
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            bytes::Bytes::from_static(b"ok"),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (port, got)
}

fn entries(bodies: &[String]) -> Vec<Value> {
    bodies
        .iter()
        .flat_map(|b| match serde_json::from_str::<Value>(b) {
            Ok(Value::Array(a)) => a,
            Ok(v) => vec![v],
            Err(_) => vec![],
        })
        .collect()
}

#[tokio::test]
async fn http_logger_batches_entries_and_survives_slow_and_dead_sinks() {
    let env = Env::start().await;
    let (port, got) = log_server(Duration::ZERO).await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"http-logger": {"uri": format!("http://127.0.0.1:{port}/logs"), "batch_max_size": 2}}}),
    )
    .await;
    env.until("/hello", &[], 200).await;
    for _ in 0..3 {
        assert_eq!(
            env.get("/hello?x=1", &[("x-trace", "t1")]).await.status,
            200
        );
    }
    // 4 entries in batches of 2.
    let all = wait_until(Duration::from_secs(10), || async {
        entries(&got.lock().unwrap()).len() >= 4
    })
    .await;
    assert!(all.is_some(), "4 entries arrive: {:?}", got.lock().unwrap());
    let bodies = got.lock().unwrap().clone();
    assert!(bodies.iter().all(|b| b.starts_with('[')), "JSON arrays");
    let e = entries(&bodies).into_iter().last().unwrap();
    assert_eq!(e["request"]["method"], "GET");
    assert_eq!(e["request"]["uri"], "/hello?x=1");
    assert_eq!(e["request"]["querystring"], "x=1");
    assert_eq!(e["request"]["headers"]["x-trace"], "t1");
    assert_eq!(e["response"]["status"], 200);
    assert_eq!(e["route_id"], "1");
    assert_eq!(e["upstream"], env.up.addr());
    assert_eq!(e["client_ip"], "127.0.0.1");
    assert!(e["latency"].as_f64().is_some_and(|l| l >= 0.0));

    // A sink that takes 3 s per batch: requests stay fast.
    let (slow, _) = log_server(Duration::from_secs(3)).await;
    env.put(
        "/routes/2",
        json!({"uri": "/slowlog", "upstream": env.upstream(),
               "plugins": {"http-logger": {"uri": format!("http://127.0.0.1:{slow}/"), "batch_max_size": 1}}}),
    )
    .await;
    // A dead sink: everything it is given is dropped and counted.
    env.put(
        "/routes/3",
        json!({"uri": "/deadlog", "upstream": env.upstream(),
               "plugins": {"http-logger": {"uri": format!("http://127.0.0.1:{}/", closed_port()),
                                            "batch_max_size": 1, "name": "dead-sink"}}}),
    )
    .await;
    env.until("/slowlog", &[], 200).await;
    env.until("/deadlog", &[], 200).await;
    let t = Instant::now();
    for path in ["/slowlog", "/slowlog", "/deadlog", "/deadlog", "/deadlog"] {
        let r = env.get(path, &[]).await;
        assert_eq!(r.status, 200, "{path}");
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "5 requests with slow/dead log sinks took {:?}",
        t.elapsed()
    );
    let counted = wait_until(Duration::from_secs(10), || async {
        get(env.gw.metrics_url()).send().await.is_ok_and(|r| {
            r.body.lines().any(|l| {
                l.starts_with("apisix_batch_process_dropped_entries_total{name=\"dead-sink\"}")
                    && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(3.0)
            })
        })
    })
    .await;
    assert!(counted.is_some(), "dropped entries are counted");
}

#[tokio::test]
async fn file_logger_appends_json_lines() {
    let env = Env::start().await;
    let path = env.gw.dir().join("access.log");
    env.put(
        "/routes/7",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"file-logger": {"path": path.display().to_string(), "inactive_timeout": 1}}}),
    )
    .await;
    env.until("/hello", &[], 200).await;
    env.get("/hello", &[]).await;
    let lines = wait_until(Duration::from_secs(10), || async {
        std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() >= 2)
    })
    .await;
    assert!(lines.is_some(), "two lines are written");
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["route_id"], "7");
        assert_eq!(e["response"]["status"], 200);
    }
}

#[tokio::test]
async fn plugin_metadata_log_format_reaches_the_logger() {
    let env = Env::start().await;
    let path = env.gw.dir().join("formatted.log");
    env.put(
        "/plugin_metadata/file-logger",
        json!({"log_format": {"host": "$host", "client": "$remote_addr", "route": "$route_id", "fixed": 1}}),
    )
    .await;
    env.put(
        "/routes/9",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"file-logger": {"path": path.display().to_string(), "batch_max_size": 1}}}),
    )
    .await;
    env.until("/hello", &[], 200).await;
    let written = wait_until(Duration::from_secs(10), || async {
        std::fs::read_to_string(&path).is_ok_and(|t| !t.is_empty())
    })
    .await;
    assert!(written.is_some(), "a line is written");
    let line = std::fs::read_to_string(&path).unwrap();
    let e: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(
        e,
        json!({"host": "127.0.0.1", "client": "127.0.0.1", "route": "9", "fixed": 1}),
        "the metadata's log_format shapes the entry"
    );
}
