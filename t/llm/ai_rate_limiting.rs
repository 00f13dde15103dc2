//! `ai-rate-limiting` through a running gateway: token limits per
//! instance (with APISIX's headers), per consumer (`rules`), a burst that
//! cannot overshoot (reservations), `ai-proxy-multi` skipping an instance
//! whose quota is used up, two gateways sharing one Redis, and a stream
//! cut by its client still counted (with strait's tokenizer).
//!
//! The mock provider reports `prompt_tokens` = characters of the last
//! user text and `completion_tokens` = words of `echo: <text>`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::common::mock_llm::MockLlm;
use crate::common::{Gateway, GatewayOpts, Resp};
use crate::plugins::redis_server::RedisServer;
use crate::plugins::Env;

const PATH: &str = "/v1/chat/completions";
const INSTANCE: &str = "ai-proxy-openai-compatible";

fn ai_proxy(mock: &MockLlm) -> Value {
    json!({"provider": "openai-compatible", "auth": {},
           "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}})
}

/// "hello": prompt 5, completion 2 ("echo: hello"), total 7.
fn hello(max_tokens: Option<u64>) -> String {
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]});
    if let Some(n) = max_tokens {
        body["max_tokens"] = json!(n);
    }
    body.to_string()
}

async fn route(env: &Env, plugins: Value) {
    env.put(
        "/routes/limited",
        json!({"uri": PATH, "methods": ["POST"], "plugins": plugins}),
    )
    .await;
    env.post_until(PATH, "{}", |r| r.status != 404).await;
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.header(name)
}

#[tokio::test]
async fn an_instance_limit_counts_real_usage_and_rejects_with_quota_headers() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        json!({"ai-proxy": ai_proxy(&mock),
               "ai-rate-limiting": {"instances": [{"name": INSTANCE, "limit": 30, "time_window": 60}],
                                    "rejected_code": 429, "rejected_msg": "token quota used up"}}),
    )
    .await;
    let limit = format!("x-ai-ratelimit-limit-{INSTANCE}");
    let remaining = format!("x-ai-ratelimit-remaining-{INSTANCE}");
    let reset = format!("x-ai-ratelimit-reset-{INSTANCE}");
    let mut statuses = Vec::new();
    let mut remainings = Vec::new();
    for _ in 0..6 {
        let r = env.post_json(PATH, &hello(Some(2))).await;
        statuses.push(r.status);
        remainings.push(header(&r, &remaining).unwrap_or("-").to_string());
        assert_eq!(header(&r, &limit), Some("30"), "{:?}", r.headers);
        let secs: f64 = header(&r, &reset)
            .and_then(|v| v.parse().ok())
            .expect("reset");
        assert!((0.0..=60.0).contains(&secs), "{secs}");
        if r.status == 429 {
            assert_eq!(r.json()["error_msg"], "token quota used up");
        }
    }
    // Each request reserves its estimate (7: "hello" ≈ 5 prompt tokens
    // plus max_tokens 2) and settles with the 7 it used.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    assert_eq!(remainings, ["23", "16", "9", "2", "0", "0"]);
    assert_eq!(
        mock.received().len(),
        5,
        "the refused request never reached the provider"
    );
}

#[tokio::test]
async fn a_burst_cannot_overshoot_by_more_than_one_request() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        json!({"ai-proxy": ai_proxy(&mock),
               "ai-rate-limiting": {"limit": 30, "time_window": 60}}),
    )
    .await;
    let url = env.gw.url(PATH);
    let answers = futures_util::future::join_all((0..20).map(|_| {
        let url = url.clone();
        async move { super::post_json(url, hello(Some(2)), &[]).await.status }
    }))
    .await;
    let admitted = answers.iter().filter(|s| **s == 200).count();
    assert_eq!(
        answers.iter().filter(|s| **s == 503).count(),
        20 - admitted,
        "{answers:?}"
    );
    // 7 tokens each: at most 5 fit under 30 (the fifth crossing it).
    assert!((4..=5).contains(&admitted), "{answers:?}");
    assert_eq!(mock.received().len(), admitted);
}

#[tokio::test]
async fn a_huge_max_tokens_reserves_at_most_the_window() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        json!({"ai-proxy": ai_proxy(&mock),
               "ai-rate-limiting": {"limit": 30, "time_window": 60}}),
    )
    .await;
    let remaining = format!("x-ai-ratelimit-remaining-{INSTANCE}");
    let r = env.post_json(PATH, &hello(Some(u64::MAX))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header(&remaining), Some("0"), "the whole window, no more");
    // Settled with the 7 it used: the window is open again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = env.post_json(PATH, &hello(Some(2))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header(&remaining), Some("16"));
}

#[tokio::test]
async fn rules_limit_each_consumer_separately() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    for user in ["alice", "bob"] {
        env.put(
            &format!("/consumers/{user}"),
            json!({"username": user, "plugins": {"key-auth": {"key": format!("{user}-key")}}}),
        )
        .await;
    }
    route(
        &env,
        json!({"key-auth": {}, "ai-proxy": ai_proxy(&mock),
               "ai-rate-limiting": {"rules": [{"count": 10, "time_window": 60, "key": "$consumer_name"}]}}),
    )
    .await;
    let ask = |key: &'static str| {
        let url = env.gw.url(PATH);
        async move { super::post_json(url, hello(None), &[("apikey", key)]).await }
    };
    let first = ask("alice-key").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-ai-1-ratelimit-limit"), Some("10"));
    assert_eq!(ask("alice-key").await.status, 200, "7 of 10 used");
    let third = ask("alice-key").await;
    assert_eq!(third.status, 503, "14 of 10 used");
    assert_eq!(third.header("x-ai-1-ratelimit-remaining"), Some("0"));
    let bob = ask("bob-key").await;
    assert_eq!(bob.status, 200, "bob has his own quota");
    assert_eq!(
        bob.header("x-ai-1-ratelimit-remaining"),
        Some("5"),
        "10 less the 5 reserved"
    );
}

#[tokio::test]
async fn ai_proxy_multi_skips_an_instance_whose_quota_is_used_up() {
    let env = Env::start().await;
    let (a, b) = (MockLlm::start().await, MockLlm::start().await);
    let inst = |name: &str, mock: &MockLlm, priority: i64| {
        json!({"name": name, "provider": "openai-compatible", "priority": priority, "weight": 1,
               "auth": {}, "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}})
    };
    route(
        &env,
        json!({"ai-proxy-multi": {"fallback_strategy": ["rate_limiting"],
                                  "instances": [inst("primary", &a, 1), inst("backup", &b, 0)]},
               "ai-rate-limiting": {"instances": [{"name": "primary", "limit": 10, "time_window": 60}]}}),
    )
    .await;
    for _ in 0..5 {
        let r = env.post_json(PATH, &hello(None)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        (a.received().len(), b.received().len()),
        (2, 3),
        "the primary takes 7 + 7 of its 10 tokens, then the backup takes over"
    );
}

#[tokio::test]
async fn two_gateways_share_a_limit_through_redis() {
    let redis = RedisServer::start(None).await;
    let env = Env::start().await;
    let gw2 = Gateway::start(GatewayOpts::etcd(&env.etcd).same_keyring_as(&env.gw)).await;
    gw2.wait_ready().await;
    let mock = MockLlm::start().await;
    route(
        &env,
        json!({"ai-proxy": ai_proxy(&mock),
               "ai-rate-limiting": {"limit": 20, "time_window": 60, "policy": "redis",
                                    "redis_host": "127.0.0.1", "redis_port": redis.port}}),
    )
    .await;
    let on = |gw: &Gateway| super::post_json(gw.url(PATH), hello(Some(2)), &[]);
    // Wait until the second gateway serves the route.
    crate::common::wait_until(Duration::from_secs(5), || async {
        super::post_json(gw2.url(PATH), "{}".into(), &[])
            .await
            .status
            != 404
    })
    .await
    .expect("gateway 2 serves the route");
    let mut statuses = Vec::new();
    for gw in [&env.gw, &gw2, &env.gw, &gw2] {
        let r = on(gw).await;
        statuses.push(r.status);
        // Settling happens in the log phase, after the answer: wait for it.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 503],
        "7 + 7 + 7 > 20 across both nodes"
    );
}

#[tokio::test]
async fn a_stream_cut_by_its_client_is_counted_with_the_tokenizer() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("llm.log");
    route(
        &env,
        json!({"ai-proxy": ai_proxy(&mock),
               "ai-rate-limiting": {"limit": 1000, "time_window": 60},
               "file-logger": {"path": log.display().to_string(), "batch_max_size": 1, "log_format": {
                   "estimated": "$llm_usage_estimated", "prompt": "$llm_prompt_tokens",
                   "completion": "$llm_completion_tokens"}}}),
    )
    .await;
    let words: Vec<String> = (0..40).map(|i| format!("word{i}")).collect();
    let body = json!({"model": "m", "stream": true,
                      "messages": [{"role": "user", "content": words.join(" ")}]});
    let (frames, connection) = first_chunks(&env, &body).await;
    drop(frames);
    connection.abort();
    let read = || {
        std::fs::read_to_string(&log).ok().and_then(|s| {
            s.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["estimated"] == "true")
        })
    };
    crate::common::wait_until(Duration::from_secs(5), || async { read().is_some() })
        .await
        .expect("a log line for the cut stream");
    let entry = read().expect("entry");
    let prompt: u64 = entry["prompt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("prompt");
    let completion: u64 = entry["completion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("completion");
    // o200k_base: 40 "wordN" tokens of 2-3 tokens each, plus the message overhead.
    assert!((80..=130).contains(&prompt), "{entry}");
    assert!((1..60).contains(&completion), "only what streamed: {entry}");
    // The limiter settled the same figure.
    let r = env.post_json(PATH, &hello(None)).await;
    let left: u64 = r
        .header(&format!("x-ai-ratelimit-remaining-{INSTANCE}"))
        .and_then(|v| v.parse().ok())
        .expect("remaining");
    assert_eq!(left, 1000 - (prompt + completion) - 5, "{entry}");
}

/// Send `body` and read the stream until its first text; the body is
/// returned still open, with its connection (dropping both cuts it).
async fn first_chunks(env: &Env, body: &Value) -> (impl Sized, tokio::task::JoinHandle<()>) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", env.gw.proxy_port))
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::post(PATH)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), 200);
    let mut frames = http_body_util::BodyStream::new(resp.into_body());
    loop {
        let frame = frames.next().await.expect("a frame").expect("data");
        if frame
            .into_data()
            .is_ok_and(|d| String::from_utf8_lossy(&d).contains("echo"))
        {
            break;
        }
    }
    drop(sender);
    (frames, task)
}
