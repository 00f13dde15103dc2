//! `key-auth`: consumers and credentials found by key in a header or the
//! query, APISIX's 401 bodies, `hide_credentials`, anonymous consumers.

use serde_json::json;

use super::Env;

#[tokio::test]
async fn key_auth_identifies_consumers_by_header_query_and_credential() {
    let env = Env::start().await;
    env.put(
        "/consumers",
        json!({"username": "jack", "plugins": {"key-auth": {"key": "jack-key"}}}),
    )
    .await;
    env.put("/consumers", json!({"username": "rose"})).await;
    env.put(
        "/consumers/rose/credentials/c1",
        json!({"plugins": {"key-auth": {"key": "rose-key"}}}),
    )
    .await;
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "plugins": {"key-auth": {}}, "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo/hidden", "plugins": {"key-auth": {"hide_credentials": true, "header": "X-Key"}},
               "upstream": env.upstream()}),
    )
    .await;

    let r = env.until("/echo", &[("apikey", "jack-key")], 200).await;
    assert_eq!(
        r.json()["headers"]["apikey"],
        "jack-key",
        "forwarded by default"
    );
    let r = env.get("/echo", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"message": "Missing API key in request"}));
    assert_eq!(r.header("www-authenticate"), Some("apikey realm=\"key\""));
    let r = env.get("/echo", &[("apikey", "nope")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"message": "Invalid API key in request"}));
    let r = env.get("/echo?apikey=jack-key", &[]).await;
    assert_eq!(r.status, 200, "key in the query: {}", r.body);
    let r = env.get("/echo", &[("apikey", "rose-key")]).await;
    assert_eq!(r.status, 200, "a credential's key: {}", r.body);

    let r = env
        .until("/echo/hidden?apikey=x&a=1", &[("x-key", "jack-key")], 200)
        .await;
    let seen = r.json();
    assert!(
        seen["headers"].get("x-key").is_none(),
        "hidden header: {seen}"
    );
    assert_eq!(
        seen["uri"], "/echo/hidden?apikey=x&a=1",
        "only the configured header is hidden"
    );
    // Without the header, the key is read from the query, and hidden there.
    let r = env.get("/echo/hidden?apikey=jack-key&a=1", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["uri"], "/echo/hidden?a=1");
}

#[tokio::test]
async fn duplicate_and_anonymous_consumers() {
    let env = Env::start().await;
    env.put(
        "/consumers",
        json!({"username": "jack", "plugins": {"key-auth": {"key": "k1"}}}),
    )
    .await;
    let r = env
        .admin
        .put(
            "/consumers",
            json!({"username": "tom", "plugins": {"key-auth": {"key": "k1"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("duplicate key of plugin key-auth found with consumer: jack"),
        "{}",
        r.body
    );
    env.put("/consumers", json!({"username": "guest"})).await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"key-auth": {"anonymous_consumer": "guest"}}, "upstream": env.upstream()}),
    )
    .await;
    env.until("/hello", &[], 200).await;
}
