//! `prometheus`: APISIX's metric names and labels on the export listener,
//! recorded for matched and unmatched requests through a global rule, and
//! output that `promtool check metrics` accepts.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use super::Env;
use crate::common::get;

/// The sample line starting with `prefix`, if any.
fn sample<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[tokio::test]
async fn prometheus_exports_apisix_metrics_that_promtool_accepts() {
    let env = Env::start().await;
    env.put("/global_rules/1", json!({"plugins": {"prometheus": {}}}))
        .await;
    env.put(
        "/upstreams/1",
        json!({"nodes": {env.up.addr(): 1},
               "checks": {"active": {"http_path": "/hello", "healthy": {"interval": 1}, "unhealthy": {"interval": 1}}}}),
    )
    .await;
    env.put("/routes/1", json!({"uri": "/hello", "upstream_id": "1"}))
        .await;
    env.until("/hello", &[], 200).await;
    // Requests made while the route was not yet live were counted as
    // unmatched 404s: count from here on.
    let count = |t: &str, prefix: &str| -> u64 {
        sample(t, prefix)
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let ok_prefix = "apisix_http_status{code=\"200\",route=\"1\"";
    let miss_prefix = "apisix_http_status{code=\"404\",route=\"\"";
    crate::common::wait_until(std::time::Duration::from_secs(5), || async {
        let t = get(env.gw.metrics_url()).send().await.unwrap().body;
        count(&t, ok_prefix) == 1
    })
    .await
    .expect("the first 200 is counted");
    let before = get(env.gw.metrics_url()).send().await.unwrap().body;
    let misses_before = count(&before, miss_prefix);
    for _ in 0..2 {
        assert_eq!(env.get("/hello", &[]).await.status, 200);
    }
    assert_eq!(env.get("/nowhere", &[]).await.status, 404);

    // The log phase runs when the response body ends, which may be just
    // after the client has read it: poll until the counts are in.
    let counted = crate::common::wait_until(std::time::Duration::from_secs(5), || async {
        let t = get(env.gw.metrics_url()).send().await.unwrap().body;
        count(&t, ok_prefix) == 3 && count(&t, miss_prefix) == misses_before + 1
    })
    .await;
    assert!(counted.is_some(), "the requests are counted");
    let text = get(env.gw.metrics_url()).send().await.unwrap().body;
    let ok = sample(
        &text,
        "apisix_http_status{code=\"200\",route=\"1\",matched_uri=\"/hello\"",
    );
    assert!(
        ok.is_some_and(|l| l.ends_with(" 3")),
        "three 200s on route 1:\n{text}"
    );
    assert!(
        ok.is_some_and(|l| l.contains("node=\"127.0.0.1\"")),
        "the node label: {ok:?}"
    );
    assert_eq!(
        count(&text, miss_prefix),
        misses_before + 1,
        "the unmatched 404:\n{text}"
    );
    for needle in [
        "apisix_http_latency_count{type=\"request\",route=\"1\"",
        "apisix_http_latency_count{type=\"upstream\",route=\"1\"",
        "apisix_http_latency_count{type=\"apisix\",route=\"1\"",
        "apisix_bandwidth{type=\"egress\",route=\"1\"",
        "apisix_bandwidth{type=\"ingress\",route=\"1\"",
        "apisix_etcd_reachable 1",
        "apisix_node_info{hostname=",
        "apisix_http_requests_total ",
        "apisix_nginx_http_current_connections{state=\"active\"}",
        "apisix_etcd_modify_indexes{key=\"max_modify_index\"}",
        "# TYPE apisix_http_status counter",
        "# TYPE apisix_http_latency histogram",
    ] {
        assert!(text.contains(needle), "{needle} missing in:\n{text}");
    }
    // Health is exported per node (1 healthy, 0 not; under heavy load a
    // probe may time out, so only the series is required here).
    let up_ok = crate::common::wait_until(std::time::Duration::from_secs(5), || async {
        let t = get(env.gw.metrics_url()).send().await.unwrap().body;
        t.contains(&format!(
            "apisix_upstream_status{{name=\"1\",ip=\"127.0.0.1\",port=\"{}\"}} ",
            env.up.port()
        ))
    })
    .await;
    assert!(up_ok.is_some(), "upstream health is exported");

    // promtool (Debian package `prometheus`, installed by `make deps`) parses
    // it. Its only complaint may be the lint that counters end in `_total`:
    // APISIX's own counter names (`apisix_http_status`, `apisix_bandwidth`)
    // do not, and dashboards query those names, so they are kept.
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (make deps installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let allowed = [
        "apisix_http_status counter metrics should have \"_total\" suffix",
        "apisix_bandwidth counter metrics should have \"_total\" suffix",
    ];
    let other: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty() && !allowed.contains(&l.trim()))
        .collect();
    // Exit 3 is promtool's "lint problems" (parsing succeeded); 1 is a parse failure.
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)) && other.is_empty(),
        "promtool check metrics: exit {:?}\n{report}\n--- metrics ---\n{text}",
        out.status.code()
    );
}
