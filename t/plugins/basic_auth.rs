//! `basic-auth`: consumers found by username, passwords checked, APISIX's
//! 401 bodies and `WWW-Authenticate`, `hide_credentials`, anonymous consumers.

use base64::Engine;
use serde_json::json;

use super::Env;

fn basic(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[tokio::test]
async fn basic_auth_checks_username_and_password() {
    let env = Env::start().await;
    env.put(
        "/consumers",
        json!({"username": "jack", "plugins": {"basic-auth": {"username": "jack", "password": "s3cret"}}}),
    )
    .await;
    env.put("/consumers", json!({"username": "guest"})).await;
    env.put(
        "/routes/1",
        json!({"uri": "/echo", "plugins": {"basic-auth": {}}, "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/2",
        json!({"uri": "/echo/hidden", "plugins": {"basic-auth": {"hide_credentials": true, "realm": "zone"}},
               "upstream": env.upstream()}),
    )
    .await;
    env.put(
        "/routes/3",
        json!({"uri": "/hello", "plugins": {"basic-auth": {"anonymous_consumer": "guest"}},
               "upstream": env.upstream()}),
    )
    .await;

    let good = basic("jack:s3cret");
    let r = env.until("/echo", &[("authorization", &good)], 200).await;
    assert_eq!(r.json()["headers"]["authorization"], good.as_str());

    let r = env.get("/echo", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"message": "Missing authorization in request"})
    );
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"basic\""));

    for bad in [basic("jack:wrong"), basic("nobody:s3cret")] {
        let r = env.get("/echo", &[("authorization", &bad)]).await;
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(r.json(), json!({"message": "Invalid user authorization"}));
    }
    let r = env.get("/echo", &[("authorization", "Basic !!!")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"message": "Invalid authorization in request"})
    );

    let r = env
        .until("/echo/hidden", &[("authorization", &good)], 200)
        .await;
    assert!(
        r.json()["headers"].get("authorization").is_none(),
        "{}",
        r.body
    );
    let r = env.get("/echo/hidden", &[]).await;
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"zone\""));

    env.until("/hello", &[], 200).await;
    let r = env.get("/hello", &[("authorization", &good)]).await;
    assert_eq!(r.status, 200);

    // A consumer without a password is refused by the consumer schema.
    let r = env
        .admin
        .put(
            "/consumers",
            json!({"username": "tom", "plugins": {"basic-auth": {"username": "tom"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
