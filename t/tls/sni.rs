//! Which certificate a handshake gets: exact SNI before wildcard, one label
//! per wildcard, RSA or ECDSA by what the client can verify, the fallback
//! certificate and `fallback_sni`, per-object TLS versions, and the Admin
//! API's checks (bad PEM and mismatched keys refused, expired accepted and
//! reported).

use rustls::SignatureScheme;
use serde_json::json;

use super::{metric, ssl, wait_served};
use crate::admin::{body_json, error_msg};
use crate::common::tls::{KeyKind, Pki, TlsClient};
use crate::plugins::Env;

async fn route_to_upstream(env: &Env) {
    let r = env
        .admin
        .put(
            "/routes/1",
            json!({"uris": ["/hello", "/echo"], "upstream": {"nodes": {env.up.addr(): 1}}}),
        )
        .await;
    assert_status!(env.gw, r, 201, "PUT /routes/1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_exact_then_wildcard_and_the_key_type_the_client_verifies() {
    let env = Env::start().await;
    let pki = Pki::new("strait test CA");
    let exact = pki.server(&["api.example.com"], KeyKind::Ecdsa);
    let wild_rsa = pki.server(&["*.example.com"], KeyKind::Rsa);
    let wild_ec = pki.server(&["*.example.com"], KeyKind::Ecdsa);
    route_to_upstream(&env).await;
    let r = env
        .admin
        .put("/ssls/1", ssl(&exact, &["api.example.com"]))
        .await;
    assert_status!(env.gw, r, 201, "PUT /ssls/1");
    let both = json!({"cert": wild_rsa.cert, "key": wild_rsa.key,
                      "certs": [wild_ec.cert], "keys": [wild_ec.key], "snis": ["*.example.com"]});
    let r = env.admin.put("/ssls/2", both).await;
    assert_status!(env.gw, r, 201, "PUT /ssls/2");
    wait_served(&env.gw, "api.example.com", &exact).await;
    let gw = &env.gw;

    // A client verifying with the CA gets the exact certificate and a normal proxy answer.
    let verified = TlsClient::new(&pki.ca, &[b"http/1.1"], None);
    let r = verified
        .get(gw.ssl_port, "api.example.com", "/hello")
        .await
        .unwrap_or_else(|e| panic!("GET https://api.example.com/hello: {e}"));
    gw_assert!(gw, r.status == 200 && r.body == "hello world", "{r:?}");
    let r = verified
        .get(gw.ssl_port, "api.example.com", "/echo")
        .await
        .unwrap();
    let echo: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https", "{echo}");
    assert_eq!(
        echo["headers"]["x-forwarded-port"],
        gw.ssl_port.to_string(),
        "{echo}"
    );

    // The wildcard object: ECDSA for a client that verifies only ECDSA, RSA for RSA.
    let ecdsa_only = TlsClient::any_cert_with_schemes(
        &[b"http/1.1"],
        Some(&[SignatureScheme::ECDSA_NISTP256_SHA256]),
    );
    let rsa_only = TlsClient::any_cert_with_schemes(
        &[b"http/1.1"],
        Some(&[
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]),
    );
    let h = ecdsa_only
        .handshake(gw.ssl_port, "www.example.com")
        .await
        .unwrap();
    gw_assert!(
        gw,
        h.peer == wild_ec.der,
        "www.example.com, ECDSA client: wrong certificate"
    );
    let h = rsa_only
        .handshake(gw.ssl_port, "www.example.com")
        .await
        .unwrap();
    gw_assert!(
        gw,
        h.peer == wild_rsa.der,
        "www.example.com, RSA client: wrong certificate"
    );
    // The exact name wins over the wildcard that also covers it.
    let h = rsa_only.handshake(gw.ssl_port, "api.example.com").await;
    gw_assert!(
        gw,
        h.is_err(),
        "api.example.com has only an ECDSA certificate: an RSA-only client cannot verify it"
    );

    // A wildcard covers one label; names nothing covers fail the handshake.
    let any = TlsClient::any_cert(&[b"http/1.1"]);
    for name in ["a.b.example.com", "unknown.test"] {
        let r = any.handshake(gw.ssl_port, name).await;
        gw_assert!(
            gw,
            r.is_err(),
            "{name}: handshake should fail without a certificate"
        );
    }
    let failures = metric(gw, "apisix_ssl_handshake_failures{reason=\"unknown_sni\"}").await;
    gw_assert!(
        gw,
        failures == Some(2.0),
        "unknown SNI failures counted: {failures:?}"
    );
    // The server is still serving after failed handshakes.
    let r = verified.get(gw.ssl_port, "api.example.com", "/hello").await;
    gw_assert!(gw, matches!(r, Ok(ref r) if r.status == 200), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_certificate_and_fallback_sni() {
    let pki = Pki::new("strait test CA");
    let fallback = pki.server(&["fallback.test"], KeyKind::Ecdsa);
    let api = pki.server(&["api.example.com", "127.0.0.1"], KeyKind::Ecdsa);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("fb.crt"), dir.path().join("fb.key"));
    std::fs::write(&cert, &fallback.cert).unwrap();
    std::fs::write(&key, &fallback.key).unwrap();
    let env = Env::start_with(|o| {
        o.ssl_yaml(&format!(
            "    ssl_cert: {}\n    ssl_cert_key: {}\n    fallback_sni: API.example.com\n",
            cert.display(),
            key.display()
        ))
    })
    .await;
    route_to_upstream(&env).await;
    let r = env
        .admin
        .put("/ssls/1", ssl(&api, &["api.example.com"]))
        .await;
    assert_status!(env.gw, r, 201, "PUT /ssls/1");
    wait_served(&env.gw, "api.example.com", &api).await;
    let gw = &env.gw;

    // An unknown name gets the fallback certificate, and is served.
    let any = TlsClient::any_cert(&[b"http/1.1"]);
    let h = any.handshake(gw.ssl_port, "unknown.test").await.unwrap();
    gw_assert!(
        gw,
        h.peer == fallback.der,
        "unknown.test: not the fallback certificate"
    );
    let r = any
        .get(gw.ssl_port, "unknown.test", "/hello")
        .await
        .unwrap();
    gw_assert!(gw, r.status == 200 && r.body == "hello world", "{r:?}");
    // A client sending no SNI (connecting by IP) is served as `fallback_sni`.
    let verified = TlsClient::new(&pki.ca, &[b"http/1.1"], None);
    let h = verified.handshake(gw.ssl_port, "127.0.0.1").await.unwrap();
    gw_assert!(
        gw,
        h.peer == api.der,
        "no SNI: expected the fallback_sni object's certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_protocols_of_an_object_replace_the_listener_defaults() {
    let env = Env::start().await;
    let pki = Pki::new("strait test CA");
    let modern = pki.server(&["modern.test"], KeyKind::Ecdsa);
    let plain = pki.server(&["plain.test"], KeyKind::Ecdsa);
    let mut only13 = ssl(&modern, &["modern.test"]);
    only13["ssl_protocols"] = json!(["TLSv1.3"]);
    assert_status!(
        env.gw,
        env.admin.put("/ssls/1", only13).await,
        201,
        "PUT /ssls/1"
    );
    let r = env.admin.put("/ssls/2", ssl(&plain, &["plain.test"])).await;
    assert_status!(env.gw, r, 201, "PUT /ssls/2");
    wait_served(&env.gw, "modern.test", &modern).await;
    wait_served(&env.gw, "plain.test", &plain).await;
    let gw = &env.gw;

    let tls12 = TlsClient::with_version(&pki.ca, &[b"http/1.1"], &rustls::version::TLS12);
    let tls13 = TlsClient::with_version(&pki.ca, &[b"http/1.1"], &rustls::version::TLS13);
    let r = tls12.handshake(gw.ssl_port, "modern.test").await;
    gw_assert!(
        gw,
        r.is_err(),
        "a TLS 1.2 client must be refused by a TLSv1.3-only object"
    );
    let h = tls13.handshake(gw.ssl_port, "modern.test").await.unwrap();
    assert_eq!(h.version, "Some(TLSv1_3)");
    let h = tls12.handshake(gw.ssl_port, "plain.test").await.unwrap();
    assert_eq!(
        h.version, "Some(TLSv1_2)",
        "the listener default offers TLS 1.2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_refuses_bad_certificates_and_reports_expired_ones() {
    let env = Env::start().await;
    let pki = Pki::new("strait test CA");
    let good = pki.server(&["good.test"], KeyKind::Ecdsa);
    let other = pki.server(&["other.test"], KeyKind::Ecdsa);
    let gw = &env.gw;

    let not_pem = format!("{}{}", "x".repeat(200), "");
    let cases = [
        (
            json!({"cert": not_pem, "key": good.key, "snis": ["good.test"]}),
            "failed to parse cert: no PEM certificate",
        ),
        (
            json!({"cert": good.cert.replace("MII", "MIX"), "key": good.key, "snis": ["good.test"]}),
            "failed to parse cert:",
        ),
        (
            json!({"cert": good.cert, "key": "y".repeat(100), "snis": ["good.test"]}),
            "failed to parse key: no PEM private key",
        ),
        (
            json!({"cert": good.cert, "key": other.key, "snis": ["good.test"]}),
            "the private key does not match the certificate",
        ),
        (
            json!({"cert": good.cert, "key": good.key, "snis": ["good.test"],
                   "certs": [other.cert], "keys": [good.key]}),
            "failed to handle cert-key pair[1]: the private key does not match",
        ),
        (
            json!({"cert": good.cert, "key": good.key, "snis": ["good.test"],
                   "client": {"ca": not_pem}}),
            "failed to validate client_cert: failed to parse cert",
        ),
    ];
    for (i, (body, expected)) in cases.into_iter().enumerate() {
        let r = env.admin.put(&format!("/ssls/bad{i}"), body).await;
        assert_status!(gw, r, 400, "case {i}");
        let msg = error_msg(&r);
        gw_assert!(
            gw,
            msg.starts_with(expected),
            "case {i}: {msg:?} should start with {expected:?}"
        );
    }
    let r = env.admin.get("/ssls").await;
    assert_eq!(body_json(&r)["total"], 0, "nothing was stored: {}", r.body);

    // Expired: accepted (as APISIX), served, logged and shown by the metric.
    let expired = pki.server_with(&["old.test"], KeyKind::Ecdsa, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let r = env
        .admin
        .put("/ssls/old", ssl(&expired, &["old.test"]))
        .await;
    assert_status!(gw, r, 201, "PUT an expired certificate");
    let r = env
        .admin
        .put("/ssls/good", ssl(&good, &["good.test"]))
        .await;
    assert_status!(gw, r, 201, "PUT /ssls/good");
    wait_served(gw, "old.test", &expired).await;
    wait_served(gw, "good.test", &good).await;
    gw_assert!(
        gw,
        gw.log()
            .contains("SSL object old holds an expired certificate"),
        "the expired certificate must be logged"
    );
    let days = metric(
        gw,
        "apisix_ssl_certificate_expiry_days{id=\"old\",snis=\"old.test\"}",
    )
    .await
    .unwrap_or_default() as i64;
    gw_assert!(
        gw,
        days < -1000,
        "days to expiry of the 2021 certificate: {days}"
    );
    let days = metric(
        gw,
        "apisix_ssl_certificate_expiry_days{id=\"good\",snis=\"good.test\"}",
    )
    .await
    .unwrap_or_default() as i64;
    gw_assert!(
        gw,
        days > 365,
        "days to expiry of a fresh certificate: {days}"
    );
}
