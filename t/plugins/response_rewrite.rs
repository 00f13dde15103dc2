//! `response-rewrite`: status, headers and body replaced, only when `vars`
//! match the response; regex `filters` on the body.

use serde_json::json;

use super::Env;

#[tokio::test]
async fn status_headers_and_body_are_rewritten() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"response-rewrite": {
                  "status_code": 201, "body": "new body\n",
                  "headers": {"add": ["X-A: 1"], "set": {"X-Client": "$remote_addr"},
                              "remove": ["X-Upstream-Port"]}}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/status/*", "plugins": {"response-rewrite": {
                  "vars": [["status", "==", 500]], "body": "{\"code\":\"error\"}",
                  "headers": {"X-Rewritten": "yes"}}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/echo", "plugins": {"response-rewrite": {
                  "filters": [{"regex": "ech(o)", "replace": "ECH$1!", "scope": "global"},
                              {"regex": "GET", "replace": "got"}]}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/4",
        json!({"uri": "/b64", "plugins": {"response-rewrite": {"body": "aGVsbG8=", "body_base64": true}},
               "upstream": env.upstream()}),
    )
    .await;

    let r = env.until("/hello", &[], 201).await;
    assert_eq!(r.body, "new body\n");
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.header("x-client"), Some("127.0.0.1"));
    assert!(r.header("x-upstream-port").is_none());

    let r = env.until("/status/500", &[], 500).await;
    assert_eq!(r.body, "{\"code\":\"error\"}");
    assert_eq!(r.header("x-rewritten"), Some("yes"));
    let r = env.get("/status/404", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.header("x-rewritten").is_none(), "vars did not match");
    assert_ne!(r.body, "{\"code\":\"error\"}");

    let r = env.until("/echo", &[], 200).await;
    assert!(r
        .header("content-length")
        .is_none_or(|l| l == r.body.len().to_string()));
    let seen = r.json();
    assert_eq!(seen["uri"], "/ECHo!");
    assert_eq!(seen["method"], "got");

    let r = env.until("/b64", &[], 200).await;
    assert_eq!(r.body, "hello");
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let env = Env::start().await;
    for (conf, msg) in [
        (
            json!({"body": "x", "filters": [{"regex": "a", "replace": "b"}]}),
            "failed to validate dependent schema",
        ),
        (
            json!({"body": "!!", "body_base64": true}),
            "invalid base64 content",
        ),
        (
            json!({"filters": [{"regex": "(", "replace": "b"}]}),
            "validation failed",
        ),
        (
            json!({"vars": [["status", "~~"]]}),
            "failed to validate the 'vars' expression",
        ),
        (
            json!({"status_code": 599}),
            "expected 599 to be at most 598",
        ),
    ] {
        let r = env
            .admin
            .put(
                "/routes/1",
                json!({"uri": "/x", "plugins": {"response-rewrite": conf}, "upstream": env.upstream()}),
            )
            .await;
        assert_eq!(r.status, 400, "{conf}: {}", r.body);
        assert!(r.body.contains(msg), "{conf}: {}", r.body);
    }
}
