//! Client certificates per SSL object: required (the handshake fails without
//! one, or with one from another CA), optional by URI with
//! `skip_mtls_uri_regex` (other URIs answer 400), limited by `depth`, and
//! the verified subject available as `$ssl_client_s_dn` to plugins and to
//! route `vars`.

use serde_json::{json, Value};

use super::{ssl, wait_served};
use crate::common::tls::{KeyKind, Pki, TlsClient};
use crate::plugins::Env;

fn with_client(mut ssl: Value, client: Value) -> Value {
    ssl["client"] = client;
    ssl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_certificate_is_verified_and_exposed() {
    let env = Env::start().await;
    let gw = &env.gw;
    let servers = Pki::new("server CA");
    let clients = Pki::new("client CA");
    let alice = clients.client("alice");
    let bob = clients.client("bob");
    let mallory = Pki::new("another CA").client("mallory");
    let node = json!({env.up.addr(): 1});
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uri": "/echo", "upstream": {"nodes": node},
                   "plugins": {"proxy-rewrite": {"headers": {"set": {
                       "X-Client-DN": "$ssl_client_s_dn",
                       "X-Client-Verify": "$ssl_client_verify",
                       "X-Client-Serial": "$ssl_client_serial",
                       "X-SNI": "$ssl_server_name"}}}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1");
    let r = env
        .admin
        .put(
            "/routes/2",
            json!({"uri": "/alice-only", "upstream": {"nodes": node},
                   "vars": [["ssl_client_s_dn", "==", "CN=alice,O=strait tests"]]}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/2");
    let cert = servers.server(&["mtls.test"], KeyKind::Ecdsa);
    let body = with_client(ssl(&cert, &["mtls.test"]), json!({"ca": clients.ca}));
    assert_status!(gw, env.admin.put("/ssls/1", body).await, 201, "PUT /ssls/1");

    let as_alice = TlsClient::new(&servers.ca, &[b"http/1.1"], Some(&alice));
    let ready = crate::common::wait_until(std::time::Duration::from_secs(10), || {
        let c = as_alice.clone();
        let port = gw.ssl_port;
        async move { matches!(c.get(port, "mtls.test", "/echo").await, Ok(r) if r.status == 200) }
    })
    .await;
    gw_assert!(gw, ready.is_some(), "alice never got through");
    let r = as_alice
        .get(gw.ssl_port, "mtls.test", "/echo")
        .await
        .unwrap();
    let echo: Value = serde_json::from_str(&r.body).unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-client-dn"], "CN=alice,O=strait tests", "{echo}");
    assert_eq!(h["x-client-verify"], "SUCCESS", "{echo}");
    assert_eq!(h["x-sni"], "mtls.test", "{echo}");
    let serial = h["x-client-serial"].as_str().unwrap_or_default();
    assert!(
        !serial.is_empty() && serial.chars().all(|c| c.is_ascii_hexdigit()),
        "serial in hex: {echo}"
    );

    // Route `vars` see the subject.
    let r = as_alice
        .get(gw.ssl_port, "mtls.test", "/alice-only")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let as_bob = TlsClient::new(&servers.ca, &[b"http/1.1"], Some(&bob));
    let r = as_bob
        .get(gw.ssl_port, "mtls.test", "/alice-only")
        .await
        .unwrap();
    assert_eq!(r.status, 404, "bob does not match the route's vars: {r:?}");

    // No certificate, or one from another CA: refused in the handshake.
    let anonymous = TlsClient::new(&servers.ca, &[b"http/1.1"], None);
    let as_mallory = TlsClient::new(&servers.ca, &[b"http/1.1"], Some(&mallory));
    for (who, client) in [("no certificate", &anonymous), ("another CA", &as_mallory)] {
        let r = client.get(gw.ssl_port, "mtls.test", "/echo").await;
        gw_assert!(gw, r.is_err(), "{who}: must be refused, got {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_mtls_uri_regex_makes_the_certificate_optional_for_those_uris() {
    let env = Env::start().await;
    let gw = &env.gw;
    let servers = Pki::new("server CA");
    let clients = Pki::new("client CA");
    let alice = clients.client("alice");
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uri": "/*", "upstream": {"nodes": {env.up.addr(): 1}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1");
    let cert = servers.server(&["opt.test"], KeyKind::Ecdsa);
    let body = with_client(
        ssl(&cert, &["opt.test"]),
        json!({"ca": clients.ca, "skip_mtls_uri_regex": ["^/public/.*"]}),
    );
    assert_status!(gw, env.admin.put("/ssls/1", body).await, 201, "PUT /ssls/1");
    wait_served(gw, "opt.test", &cert).await;

    let anonymous = TlsClient::new(&servers.ca, &[b"http/1.1"], None);
    let r = anonymous
        .get(gw.ssl_port, "opt.test", "/public/a")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "a skipped URI without a certificate: {r:?}");
    let r = anonymous
        .get(gw.ssl_port, "opt.test", "/private/a")
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
    assert_eq!(
        body["error_msg"], "client certificate was not present",
        "{}",
        r.body
    );
    let as_alice = TlsClient::new(&servers.ca, &[b"http/1.1"], Some(&alice));
    let r = as_alice
        .get(gw.ssl_port, "opt.test", "/private/a")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "with a certificate: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_limits_the_client_chain() {
    let env = Env::start().await;
    let gw = &env.gw;
    let servers = Pki::new("server CA");
    let root = Pki::new("client root");
    let carol = root.intermediate("client intermediate").client("carol");
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uri": "/hello", "upstream": {"nodes": {env.up.addr(): 1}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/1");
    let shallow = servers.server(&["shallow.test"], KeyKind::Ecdsa);
    let deep = servers.server(&["deep.test"], KeyKind::Ecdsa);
    for (id, cert, name, depth) in [
        ("1", &shallow, "shallow.test", 1),
        ("2", &deep, "deep.test", 2),
    ] {
        let body = with_client(ssl(cert, &[name]), json!({"ca": root.ca, "depth": depth}));
        assert_status!(
            gw,
            env.admin.put(&format!("/ssls/{id}"), body).await,
            201,
            "PUT"
        );
    }
    let as_carol = TlsClient::new(&servers.ca, &[b"http/1.1"], Some(&carol));
    let ready = crate::common::wait_until(std::time::Duration::from_secs(10), || {
        let c = as_carol.clone();
        let port = gw.ssl_port;
        async move { matches!(c.get(port, "deep.test", "/hello").await, Ok(r) if r.status == 200) }
    })
    .await;
    gw_assert!(
        gw,
        ready.is_some(),
        "depth 2 accepts a certificate under an intermediate"
    );
    let r = as_carol.get(gw.ssl_port, "shallow.test", "/hello").await;
    gw_assert!(
        gw,
        r.is_err(),
        "depth 1 refuses a certificate under an intermediate: {r:?}"
    );
}
