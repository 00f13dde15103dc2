//! What the dashboard shows of the running node: `overview` (node, etcd,
//! counts, upstream node health), `traffic` (requests and 5xx per sample
//! interval) and `llm` (tokens and cost by consumer, model and instance).

use http::Method;
use serde_json::{json, Value};

use super::{api, api_until, send, start, FakeBuild, SAMPLE_MS};
use crate::admin::Admin;
use crate::common::{closed_port, get, mock_llm::MockLlm, Resp, Upstream};
use crate::plugins::Env;

fn find<'v>(list: &'v Value, id: &str) -> &'v Value {
    list.as_array()
        .and_then(|l| l.iter().find(|u| u["id"] == id))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_overview_counts_etcd_and_node_health() {
    let build = FakeBuild::new();
    let (etcd, gw) = start(&build.root(), "").await;
    let admin = Admin::new(&gw);
    let up = Upstream::start().await;
    let dead = closed_port();
    let checks = json!({"active": {"http_path": "/hello",
        "healthy": {"interval": 0.1, "successes": 1},
        "unhealthy": {"interval": 0.1, "http_failures": 1, "tcp_failures": 1}}});
    for (path, body) in [
        (
            "/upstreams/1",
            json!({"name": "u1", "nodes": [
                {"host": "127.0.0.1", "port": up.port(), "weight": 3},
                {"host": "127.0.0.1", "port": dead, "weight": 1}],
                "checks": checks}),
        ),
        ("/routes/1", json!({"uri": "/hello", "upstream_id": "1"})),
        (
            "/routes/2",
            json!({"uri": "/inline", "name": "inline-route",
                   "upstream": {"nodes": {up.addr(): 1}}}),
        ),
        ("/consumers", json!({"username": "alice"})),
    ] {
        let r = admin.put(path, body).await;
        gw_assert!(
            gw,
            r.status == 200 || r.status == 201,
            "PUT {path}: {} {}",
            r.status,
            r.body
        );
    }

    let o = api_until(
        &gw,
        "/ui/api/overview",
        "the dead node is marked unhealthy",
        |o| {
            find(&o["upstreams"], "1")["nodes"][1]["health"] == "unhealthy"
                && o["config"]["counts"]["consumers"] == 1
        },
    )
    .await;
    let counts = &o["config"]["counts"];
    gw_assert!(
        gw,
        *counts
            == json!({"routes": 2, "services": 0, "upstreams": 1, "consumers": 1,
                      "credentials": 0, "consumer_groups": 0, "plugin_configs": 0,
                      "global_rules": 0, "ssls": 0, "plugin_metadata": 0}),
        "counts: {counts}"
    );
    gw_assert!(
        gw,
        o["etcd"]
            == json!({"reachable": true, "endpoints": [etcd.endpoint()], "prefix": "/apisix"}),
        "etcd: {}",
        o["etcd"]
    );
    let node = &o["node"];
    gw_assert!(
        gw,
        node["version"] == env!("CARGO_PKG_VERSION")
            && node["hostname"].is_string()
            && node["uptime_seconds"].is_u64(),
        "node: {node}"
    );
    gw_assert!(gw, o["config"]["revision"].as_i64() > Some(0), "{o}");
    let named = find(&o["upstreams"], "1");
    gw_assert!(
        gw,
        *named
            == json!({"id": "1", "name": "u1", "nodes": [
                {"host": "127.0.0.1", "port": up.port(), "weight": 3, "health": "healthy"},
                {"host": "127.0.0.1", "port": dead, "weight": 1, "health": "unhealthy"}]}),
        "upstream 1: {named}"
    );
    let inline = find(&o["upstreams"], "route/2");
    gw_assert!(
        gw,
        *inline
            == json!({"id": "route/2", "name": "inline-route", "nodes": [
                {"host": "127.0.0.1", "port": up.port(), "weight": 1, "health": "unchecked"}]}),
        "route 2's inline upstream: {inline}"
    );
    gw_assert!(
        gw,
        o["upstreams_total"] == 2 && o["upstreams"].as_array().map(Vec::len) == Some(2),
        "upstreams: {}",
        o["upstreams"]
    );
    let t = &o["traffic"];
    gw_assert!(
        gw,
        t["window_seconds"].is_number()
            && t["requests_per_second"].is_number()
            && t["error_rate"].is_number(),
        "traffic: {t}"
    );
}

/// `GET path` through the proxy, counted in `sent`; its status.
async fn hit(gw: &crate::common::Gateway, path: &str, sent: &mut u64) -> u16 {
    *sent += 1;
    let r: Resp = get(gw.url(path)).send().await.expect("request");
    r.status
}

fn sum(points: &Value, field: &str) -> u64 {
    points["points"]
        .as_array()
        .map_or(0, |l| l.iter().filter_map(|p| p[field].as_u64()).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_traffic_counts_requests_and_server_errors() {
    let build = FakeBuild::new();
    let (_etcd, gw) = start(&build.root(), "").await;
    let admin = Admin::new(&gw);
    let up = Upstream::start().await;
    let r = admin
        .put(
            "/routes/1",
            json!({"uri": "/*", "upstream": {"nodes": {up.addr(): 1}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT route");
    let v = api(&gw, "/ui/api/traffic").await;
    gw_assert!(gw, v["interval_seconds"] == json!(0.2), "{v}");

    let mut sent = 0u64;
    // Until the route is live (404s are responses too).
    while hit(&gw, "/hello", &mut sent).await != 200 {
        assert!(sent < 500, "route never live");
    }
    for _ in 0..9 {
        assert_eq!(hit(&gw, "/hello", &mut sent).await, 200);
    }
    for code in [500, 502, 503, 404] {
        assert_eq!(hit(&gw, &format!("/status/{code}"), &mut sent).await, code);
    }
    let errors = 3;

    let v = api_until(&gw, "/ui/api/traffic", "every response sampled", |v| {
        sum(v, "requests") >= sent
    })
    .await;
    gw_assert!(
        gw,
        sum(&v, "requests") == sent && sum(&v, "errors") == errors,
        "sent {sent} with {errors} 5xx: {v}"
    );
    let points = v["points"].as_array().expect("points");
    let times: Vec<u64> = points.iter().filter_map(|p| p["time"].as_u64()).collect();
    gw_assert!(
        gw,
        times.len() == points.len() && times.windows(2).all(|w| w[0] <= w[1]),
        "times oldest first: {times:?}"
    );
    let busy = points
        .iter()
        .find(|p| p["errors"].as_u64() > Some(0))
        .expect("a point with errors");
    let (req, err) = (
        busy["requests"].as_f64().unwrap(),
        busy["errors"].as_f64().unwrap(),
    );
    gw_assert!(
        gw,
        (busy["error_rate"].as_f64().unwrap() - err / req).abs() < 1e-5
            && busy["requests_per_second"].as_f64() > Some(0.0),
        "a point: {busy}"
    );
    gw_assert!(
        gw,
        points.iter().all(|p| {
            let mut k: Vec<&String> = p
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            k.sort();
            k == [
                "error_rate",
                "errors",
                "requests",
                "requests_per_second",
                "time",
            ]
        }),
        "point fields: {v}"
    );

    let o = api(&gw, "/ui/api/overview").await;
    let t = &o["traffic"];
    let expected_rate = errors as f64 / sent as f64;
    gw_assert!(
        gw,
        (t["error_rate"].as_f64().unwrap_or(-1.0) - expected_rate).abs() < 1e-5
            && t["requests_per_second"].as_f64() > Some(0.0)
            && t["window_seconds"].as_f64() > Some(0.0)
            && t["window_seconds"].as_f64() <= Some(60.0),
        "overview traffic after {sent} requests, {errors} 5xx: {t}"
    );
    // A window shorter than the history.
    let short = api(&gw, "/ui/api/traffic?seconds=1").await;
    gw_assert!(
        gw,
        short["points"].as_array().map(Vec::len)
            <= Some(2 * 1000 / SAMPLE_MS.parse::<usize>().unwrap() + 2),
        "{short}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_llm_usage_by_consumer_model_and_instance() {
    let prices = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/model_prices.json");
    let env = Env::start_with(|o| {
        o.env("STRAIT_UI_SAMPLE_MS", SAMPLE_MS).extra_yaml(&format!(
            "  llm:\n    price_table: {:?}\n",
            prices.display().to_string()
        ))
    })
    .await;
    let mock = MockLlm::start().await;
    env.put(
        "/consumers",
        json!({"username": "alice", "plugins": {"key-auth": {"key": "alice-key"}}}),
    )
    .await;
    env.put(
        "/routes/ai",
        json!({"uri": "/v1/chat/completions", "plugins": {
            "key-auth": {},
            "prometheus": {},
            "ai-proxy-multi": {"instances": [{
                "name": "openai-a", "provider": "openai-compatible", "weight": 1,
                "auth": {"header": {"Authorization": "Bearer sk-a"}},
                "options": {"model": "gpt-4o-mini"},
                "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}}]}}}),
    )
    .await;
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "four"}]})
        .to_string();
    let ask = || {
        crate::llm::post_json(
            env.gw.url("/v1/chat/completions"),
            chat.clone(),
            &[("apikey", "alice-key")],
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ask().await.status != 200 {
        assert!(std::time::Instant::now() < deadline, "route never live");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ask().await.status, 200);

    // The mock: prompt = characters of "four", completion = words of "echo: four".
    let total = |v: &Value, field: &str| -> f64 {
        v["points"]
            .as_array()
            .map_or(0.0, |l| l.iter().filter_map(|p| p[field].as_f64()).sum())
    };
    let v = api_until(&env.gw, "/ui/api/llm", "both chats sampled", |v| {
        total(v, "prompt_tokens") >= 8.0
    })
    .await;
    gw_assert!(
        env.gw,
        total(&v, "prompt_tokens") == 8.0 && total(&v, "completion_tokens") == 4.0,
        "{v}"
    );
    let points = v["points"].as_array().expect("points");
    gw_assert!(
        env.gw,
        points.iter().all(|p| p["consumer"] == "alice"
            && p["model"] == "gpt-4o-mini-0001"
            && p["instance"] == "openai-a"
            && p["route"] == "ai"
            && p["time"].is_u64()),
        "labels: {v}"
    );
    let cost = total(&v, "cost_usd");
    let expected = 2.0 * (4.0 * 0.15e-6 + 2.0 * 0.6e-6);
    let close = (cost - expected).abs() < 1e-12;
    gw_assert!(env.gw, close, "cost {cost} != {expected}: {v}");
    gw_assert!(env.gw, v["interval_seconds"] == json!(0.2), "{v}");

    // Viewers read it too; nothing else changes it.
    let r = send(
        &env.gw,
        Method::GET,
        "/ui/api/llm?seconds=60",
        Some(crate::common::VIEWER_KEY),
    )
    .await;
    gw_assert!(
        env.gw,
        r.status == 200 && total(&r.json(), "prompt_tokens") == 8.0,
        "{}",
        r.body
    );
}
