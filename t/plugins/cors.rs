//! `cors`: preflight answers, headers on normal responses for allowed
//! origins (`*`, lists, regexes), credentials, the Admin API check.

use http::Method;
use serde_json::json;

use super::Env;
use crate::common::request;

#[tokio::test]
async fn cors_preflight_and_response_headers() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(), "plugins": {"cors": {}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "upstream": env.upstream(),
               "plugins": {"cors": {"allow_origins": "http://a.com,http://b.com",
                   "allow_methods": "GET,POST", "allow_headers": "X-Foo", "expose_headers": "X-Bar",
                   "max_age": 100, "allow_credential": true}}}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/server_port", "upstream": env.upstream(),
               "plugins": {"cors": {"allow_origins_by_regex": [".*\\.test\\.com$"], "allow_headers": "**"}}}),
    )
    .await;

    let r = env
        .until("/hello", &[("origin", "http://x.com")], 200)
        .await;
    assert_eq!(r.body, "hello world");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("*"));
    assert_eq!(r.header("access-control-allow-headers"), Some("*"));
    assert_eq!(r.header("access-control-max-age"), Some("5"));
    assert!(r.header("access-control-allow-credentials").is_none());
    assert!(r.header("vary").is_none());

    let r = request(Method::OPTIONS, env.gw.url("/hello"))
        .header("origin", "http://x.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let r = env.until("/echo", &[("origin", "http://b.com")], 200).await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://b.com")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(r.header("access-control-allow-headers"), Some("X-Foo"));
    assert_eq!(r.header("access-control-expose-headers"), Some("X-Bar"));
    assert_eq!(r.header("access-control-max-age"), Some("100"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("vary"), Some("Origin"));
    let r = env.get("/echo", &[("origin", "http://c.com")]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    assert_eq!(r.header("vary"), Some("Origin"));

    let r = env
        .until("/server_port", &[("origin", "http://a.test.com")], 200)
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.test.com")
    );
    let r = request(Method::OPTIONS, env.gw.url("/server_port"))
        .header("origin", "http://a.test.com")
        .header("access-control-request-headers", "X-Custom")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-headers"), Some("X-Custom"));
    let r = env
        .get("/server_port", &[("origin", "http://a.other.com")])
        .await;
    assert!(r.header("access-control-allow-origin").is_none());

    let r = env
        .admin
        .put(
            "/routes/4",
            json!({"uri": "/x", "upstream": env.upstream(), "plugins": {"cors": {"allow_credential": true}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("you can not set '*' for other option when 'allow_credential' is true"),
        "{}",
        r.body
    );
}

/// Wait (up to 5 s) until `GET path` from `origin` gets `expected` as its
/// `Access-Control-Allow-Origin`.
async fn until_allowed(env: &Env, path: &str, origin: &str, expected: Option<&str>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = env.get(path, &[("origin", origin)]).await;
        if r.status == 200 && r.header("access-control-allow-origin") == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{origin}: allow-origin {:?}, expected {expected:?}",
            r.header("access-control-allow-origin")
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn origins_by_metadata_follow_metadata_changes() {
    let env = Env::start().await;
    env.put(
        "/plugin_metadata/cors",
        json!({"allow_origins": {"partners": "http://m.com,http://n.com"}}),
    )
    .await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"cors": {"allow_origins": "http://own.com",
                                    "allow_origins_by_metadata": ["partners"]}}}),
    )
    .await;
    until_allowed(&env, "/hello", "http://n.com", Some("http://n.com")).await;
    until_allowed(&env, "/hello", "http://own.com", Some("http://own.com")).await;
    until_allowed(&env, "/hello", "http://x.com", None).await;

    // The route is untouched; the metadata alone changes who is allowed.
    env.put(
        "/plugin_metadata/cors",
        json!({"allow_origins": {"partners": "http://x.com"}}),
    )
    .await;
    until_allowed(&env, "/hello", "http://x.com", Some("http://x.com")).await;
    until_allowed(&env, "/hello", "http://n.com", None).await;
}
