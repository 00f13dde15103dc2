//! `redirect`: `uri` templates with variables, `regex_uri`,
//! `http_to_https` (301/308), `append_query_string`, `encode_uri`.

use http::Method;
use serde_json::json;

use super::Env;
use crate::common::request;

#[tokio::test]
async fn redirect_templates_regexes_and_https() {
    let env = Env::start().await;
    let routes = [
        (
            "/r1",
            json!({"uri": "/echo?from=$uri&h=${host}", "ret_code": 301}),
        ),
        ("/old/*", json!({"regex_uri": ["^/old/(a.*)", "/new/$1x"]})),
        ("/r3", json!({"http_to_https": true})),
        (
            "/r4",
            json!({"uri": "/target", "append_query_string": true}),
        ),
        (
            "/r5",
            json!({"uri": "/über space?q=a b", "encode_uri": true}),
        ),
    ];
    for (i, (uri, conf)) in routes.iter().enumerate() {
        env.put(
            &format!("/routes/{}", i + 1),
            json!({"uri": uri, "upstream": env.upstream(), "plugins": {"redirect": conf}}),
        )
        .await;
    }

    let r = env.until("/r1?x=1", &[], 301).await;
    assert_eq!(r.header("location"), Some("/echo?from=/r1&h=127.0.0.1"));
    assert_eq!(r.body, "");

    let r = env.until("/old/abc", &[], 302).await;
    assert_eq!(r.header("location"), Some("/new/abcx"));
    let r = env.get("/old/zzz", &[]).await;
    assert_eq!(r.status, 200, "no match, no redirect");

    let r = env.until("/r3?x=1", &[], 301).await;
    assert_eq!(r.header("location"), Some("https://127.0.0.1/r3?x=1"));
    let r = request(Method::POST, env.gw.url("/r3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, 308);
    let r = env.get("/r3", &[("x-forwarded-proto", "https")]).await;
    assert_eq!(r.status, 200, "already https");

    let r = env.until("/r4?a=1&b=2", &[], 302).await;
    assert_eq!(r.header("location"), Some("/target?a=1&b=2"));
    let r = env.get("/r4", &[]).await;
    assert_eq!(r.header("location"), Some("/target"));

    let r = env.until("/r5", &[], 302).await;
    assert_eq!(r.header("location"), Some("/%C3%BCber%20space?q=a b"));

    let r = env
        .admin
        .put(
            "/routes/9",
            json!({"uri": "/x", "upstream": env.upstream(),
                   "plugins": {"redirect": {"http_to_https": true, "append_query_string": true}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = env
        .admin
        .put(
            "/routes/9",
            json!({"uri": "/x", "upstream": env.upstream(),
                   "plugins": {"redirect": {"regex_uri": ["(", "/x"]}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn http_to_https_uses_plugin_attr_https_port() {
    let env = Env::start_with(|opts| opts.plugin_attr("  redirect:\n    https_port: 8443\n")).await;
    env.put(
        "/routes/1",
        json!({"uri": "/r", "upstream": env.upstream(),
               "plugins": {"redirect": {"http_to_https": true}}}),
    )
    .await;
    let r = env.until("/r?a=1", &[], 301).await;
    assert_eq!(r.header("location"), Some("https://127.0.0.1:8443/r?a=1"));
}
