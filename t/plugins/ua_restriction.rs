//! `ua-restriction`: allow and deny lists of `User-Agent` patterns,
//! `bypass_missing`, the configured message.

use serde_json::json;

use super::Env;

#[tokio::test]
async fn ua_restriction_allow_deny_and_missing() {
    let env = Env::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "upstream": env.upstream(),
               "plugins": {"ua-restriction": {"allowlist": ["^curl/", "Chrome/\\d+"]}}}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo", "upstream": env.upstream(),
               "plugins": {"ua-restriction": {"denylist": ["(Twitterbot|Baiduspider)"],
                   "bypass_missing": true, "message": "bots keep out"}}}),
    )
    .await;

    env.until("/hello", &[("user-agent", "curl/8.5.0")], 200)
        .await;
    let r = env
        .get("/hello", &[("user-agent", "Mozilla Chrome/120")])
        .await;
    assert_eq!(r.status, 200);
    let r = env.get("/hello", &[("user-agent", "wget/1.0")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json(), json!({"message": "Not allowed"}));
    let r = env.get("/hello", &[]).await;
    assert_eq!(r.status, 403, "missing User-Agent");
    assert_eq!(r.json(), json!({"message": "Not allowed"}));

    let r = env
        .until("/echo", &[("user-agent", "Twitterbot/1.0")], 403)
        .await;
    assert_eq!(r.json(), json!({"message": "bots keep out"}));
    let r = env.get("/echo", &[("user-agent", "curl/8")]).await;
    assert_eq!(r.status, 200);
    let r = env.get("/echo", &[]).await;
    assert_eq!(r.status, 200, "bypass_missing");

    let r = env
        .admin
        .put(
            "/routes/3",
            json!({"uri": "/x", "upstream": env.upstream(),
                   "plugins": {"ua-restriction": {"denylist": ["(unclosed"]}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
