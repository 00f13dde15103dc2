//! Secret fields of plugin configurations (`encrypt_fields`): encrypted in
//! etcd, shown decrypted by the Admin API (as APISIX, so a read-edit-write
//! round trip keeps them), kept intact by PATCH, and used decrypted by
//! every node given the keyring.

use std::time::Duration;

use serde_json::{json, Value};

use super::body_json;
use crate::common::mock_llm::MockLlm;
use crate::common::{Gateway, GatewayOpts};
use crate::plugins::Env;

const CHAT: &str = r#"{"model": "m", "messages": [{"role": "user", "content": "hello"}]}"#;

/// What etcd holds under `key`, raw.
async fn stored(env: &Env, key: &str) -> String {
    env.etcd
        .get(key)
        .await
        .unwrap_or_else(|| panic!("{key} is not in etcd"))
}

/// The `authorization` header and query of the last request the mock saw.
fn last_credentials(mock: &MockLlm) -> (String, String) {
    let last = mock.received().pop().expect("the provider was called");
    let auth = last
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (auth, last.uri)
}

#[tokio::test]
async fn ai_proxy_auth_is_encrypted_at_rest_and_sent_in_clear() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    let auth = json!({"header": {"Authorization": "Bearer sk-secret-1"},
                      "query": {"api_key": "q-secret-2"}});
    env.put(
        "/routes/1",
        json!({"uri": "/chat", "plugins": {"ai-proxy": {
            "provider": "openai-compatible", "auth": auth,
            "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}}}}),
    )
    .await;

    let raw = stored(&env, "/apisix/routes/1").await;
    assert!(
        !raw.contains("sk-secret-1") && !raw.contains("q-secret-2"),
        "etcd must not hold the credentials in clear: {raw}"
    );
    let raw: Value = serde_json::from_str(&raw).unwrap();
    assert!(
        raw["plugins"]["ai-proxy"]["auth"]["header"]["Authorization"].is_string(),
        "the field keeps its place and type: {raw}"
    );

    let read = body_json(&env.admin.get("/routes/1").await);
    assert_eq!(
        read["value"]["plugins"]["ai-proxy"]["auth"], auth,
        "Admin API read"
    );
    let listed = body_json(&env.admin.get("/routes").await);
    assert_eq!(
        listed["list"][0]["value"]["plugins"]["ai-proxy"]["auth"], auth,
        "Admin API list"
    );

    env.post_until("/chat", CHAT, |r| r.status == 200).await;
    let (header, uri) = last_credentials(&mock);
    assert_eq!(header, "Bearer sk-secret-1");
    assert!(
        uri.contains("api_key=q-secret-2"),
        "query credential: {uri}"
    );

    // PATCH another field: the stored secret is not encrypted twice.
    let r = env
        .admin
        .patch("/routes/1", json!({"desc": "edited"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let read = body_json(&env.admin.get("/routes/1").await);
    assert_eq!(
        read["value"]["plugins"]["ai-proxy"]["auth"], auth,
        "after PATCH"
    );
    assert!(!stored(&env, "/apisix/routes/1")
        .await
        .contains("sk-secret-1"));
    // Once the edit is live, the provider still gets the key.
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.post_until("/chat", CHAT, |r| r.status == 200).await;
    assert_eq!(last_credentials(&mock).0, "Bearer sk-secret-1");

    // A second node given the same keyring reads the secret too.
    let gw2 = Gateway::start(GatewayOpts::etcd(&env.etcd).same_keyring_as(&env.gw)).await;
    gw2.wait_ready().await;
    let r = crate::llm::post_json(gw2.url("/chat"), CHAT.into(), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(last_credentials(&mock).0, "Bearer sk-secret-1");
}

#[tokio::test]
async fn ai_proxy_multi_instance_keys_are_encrypted_each() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    let instance = |name: &str, key: &str| {
        json!({"name": name, "provider": "openai-compatible", "weight": 1,
               "auth": {"header": {"Authorization": format!("Bearer {key}")}},
               "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}})
    };
    env.put(
        "/routes/1",
        json!({"uri": "/chat", "plugins": {"ai-proxy-multi": {"instances": [
            instance("a", "sk-instance-a"), instance("b", "sk-instance-b")]}}}),
    )
    .await;
    let raw = stored(&env, "/apisix/routes/1").await;
    assert!(
        !raw.contains("sk-instance-a") && !raw.contains("sk-instance-b"),
        "{raw}"
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        env.post_until("/chat", CHAT, |r| r.status == 200).await;
        seen.push(last_credentials(&mock).0);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["Bearer sk-instance-a", "Bearer sk-instance-b"]);
}

#[tokio::test]
async fn key_auth_keys_are_encrypted_and_still_unique() {
    let env = Env::start().await;
    env.put(
        "/consumers",
        json!({"username": "jack", "plugins": {"key-auth": {"key": "jack-key-123"}}}),
    )
    .await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"key-auth": {}}, "upstream": env.upstream()}),
    )
    .await;
    let raw = stored(&env, "/apisix/consumers/jack").await;
    assert!(!raw.contains("jack-key-123"), "{raw}");
    let read = body_json(&env.admin.get("/consumers/jack").await);
    assert_eq!(read["value"]["plugins"]["key-auth"]["key"], "jack-key-123");

    env.until("/hello", &[("apikey", "jack-key-123")], 200)
        .await;
    let r = env.get("/hello", &[("apikey", "wrong")]).await;
    assert_eq!(r.status, 401);

    let r = env
        .admin
        .put(
            "/consumers",
            json!({"username": "jill", "plugins": {"key-auth": {"key": "jack-key-123"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("duplicate key of plugin key-auth found with consumer: jack"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_credential_password_is_encrypted_and_checked_in_clear() {
    let env = Env::start().await;
    env.put("/consumers", json!({"username": "ann"})).await;
    env.put(
        "/consumers/ann/credentials/pw",
        json!({"plugins": {"basic-auth": {"username": "ann", "password": "open-sesame-77"}}}),
    )
    .await;
    env.put(
        "/routes/1",
        json!({"uri": "/hello", "plugins": {"basic-auth": {}}, "upstream": env.upstream()}),
    )
    .await;
    let raw = stored(&env, "/apisix/consumers/ann/credentials/pw").await;
    assert!(!raw.contains("open-sesame-77"), "{raw}");
    // "ann:open-sesame-77" and "ann:wrong".
    env.until(
        "/hello",
        &[("authorization", "Basic YW5uOm9wZW4tc2VzYW1lLTc3")],
        200,
    )
    .await;
    let r = env
        .get("/hello", &[("authorization", "Basic YW5uOndyb25n")])
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_patch_that_changes_the_secret_stores_the_new_one_encrypted() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    env.put(
        "/routes/1",
        json!({"uri": "/chat", "plugins": {"ai-proxy": {
            "provider": "openai-compatible",
            "auth": {"header": {"Authorization": "Bearer sk-old"}},
            "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}}}}),
    )
    .await;
    let r = env
        .admin
        .patch(
            "/routes/1/plugins/ai-proxy/auth",
            json!({"header": {"Authorization": "Bearer sk-new"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let raw = stored(&env, "/apisix/routes/1").await;
    assert!(!raw.contains("sk-new") && !raw.contains("sk-old"), "{raw}");
    let read = body_json(&env.admin.get("/routes/1").await);
    assert_eq!(
        read["value"]["plugins"]["ai-proxy"]["auth"],
        json!({"header": {"Authorization": "Bearer sk-new"}})
    );
    env.post_until("/chat", CHAT, |r| {
        r.status == 200 && last_credentials(&mock).0 == "Bearer sk-new"
    })
    .await;
}

#[tokio::test]
async fn a_node_with_another_keyring_refuses_encrypted_items_and_serves_the_rest() {
    let env = Env::start().await;
    let mock = MockLlm::start().await;
    env.put(
        "/routes/secret",
        json!({"uri": "/chat", "plugins": {"ai-proxy": {
            "provider": "openai-compatible",
            "auth": {"header": {"Authorization": "Bearer sk-secret-3"}},
            "override": {"endpoint": format!("{}/v1/chat/completions", mock.base())}}}}),
    )
    .await;
    env.put(
        "/routes/plain",
        json!({"uri": "/hello", "upstream": env.upstream()}),
    )
    .await;
    let before = stored(&env, "/apisix/routes/secret").await;

    // A data-plane node without the keyring, and a second Admin API node
    // that generated a key of its own.
    let data_plane = Gateway::start(GatewayOpts::etcd(&env.etcd)).await;
    let other_admin = Gateway::start(GatewayOpts::etcd(&env.etcd).with_admin()).await;
    for other in [&data_plane, &other_admin] {
        other.wait_ready().await;
        let plain = crate::common::request(http::Method::GET, other.url("/hello"))
            .send()
            .await
            .expect("request");
        assert_eq!(plain.status, 200, "the item without secrets is served");
        let calls = mock.received().len();
        let r = crate::llm::post_json(other.url("/chat"), CHAT.into(), &[]).await;
        gw_assert!(
            other,
            r.status == 404 && mock.received().len() == calls,
            "the encrypted item is refused, never sent with the ciphertext as the key: {} {}",
            r.status,
            r.body
        );
        gw_assert!(
            other,
            other
                .log()
                .contains("ai-proxy.auth.header does not decrypt"),
            "the log names the field"
        );
    }

    // PATCH on a node whose keyring cannot open the secret is refused, not
    // encrypted a second time.
    let r = super::Admin::new(&other_admin)
        .patch("/routes/secret", json!({"desc": "x"}))
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.body.contains("apisix.data_encryption.keyring"),
        "{}",
        r.body
    );
    assert_eq!(stored(&env, "/apisix/routes/secret").await, before);
}
