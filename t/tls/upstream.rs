//! TLS towards upstreams: a client certificate given inline
//! (`tls.client_cert`/`client_key`) or by SSL object (`tls.client_cert_id`,
//! `type: client`), the upstream's certificate verified against
//! `apisix.ssl.ssl_trusted_certificate` when `tls.verify` is on, and the
//! Admin API's checks of `client_cert_id`.

use serde_json::{json, Value};

use crate::admin::error_msg;
use crate::common::tls::{self, KeyKind, Pki};
use crate::common::{get, wait_until};
use crate::plugins::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_mtls_inline_and_by_ssl_id_with_verification() {
    let servers = Pki::new("backend CA");
    let clients = Pki::new("gateway client CA");
    let port = tls::upstream(&servers, &["backend.test"], Some(&clients)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("backend-ca.pem");
    std::fs::write(&ca, &servers.ca).unwrap();
    let env = Env::start_with(|o| {
        o.ssl_yaml(&format!("    ssl_trusted_certificate: {}\n", ca.display()))
    })
    .await;
    let gw = &env.gw;
    let alice = clients.client("alice");
    let bob = clients.client("bob");
    let node = json!({format!("127.0.0.1:{port}"): 1});
    let up = |host: &str, tls: Value| {
        json!({"scheme": "https", "nodes": node, "pass_host": "rewrite",
               "upstream_host": host, "tls": tls})
    };
    let bob_ssl = json!({"type": "client", "cert": bob.cert, "key": bob.key});
    assert_status!(
        gw,
        env.admin.put("/ssls/c1", bob_ssl).await,
        201,
        "PUT /ssls/c1"
    );
    let server_cert = servers.server(&["x.test"], KeyKind::Ecdsa);
    let server_ssl = json!({"cert": server_cert.cert, "key": server_cert.key, "snis": ["x.test"]});
    assert_status!(
        gw,
        env.admin.put("/ssls/s1", server_ssl).await,
        201,
        "PUT /ssls/s1"
    );
    let inline = json!({"client_cert": alice.cert, "client_key": alice.key, "verify": true});
    let by_id = up(
        "backend.test",
        json!({"client_cert_id": "c1", "verify": true}),
    );
    assert_status!(
        gw,
        env.admin.put("/upstreams/u2", by_id).await,
        201,
        "PUT /upstreams/u2"
    );
    let routes = [
        (
            "1",
            json!({"uri": "/inline", "upstream": up("backend.test", inline.clone())}),
        ),
        ("2", json!({"uri": "/by-id", "upstream_id": "u2"})),
        (
            "3",
            json!({"uri": "/anonymous", "upstream": up("backend.test", json!({"verify": true}))}),
        ),
        (
            "4",
            json!({"uri": "/wrong-name", "upstream": up("other.test", inline)}),
        ),
    ];
    for (id, body) in routes {
        let r = env.admin.put(&format!("/routes/{id}"), body).await;
        assert_status!(gw, r, 201, "PUT /routes/{id}");
    }
    let ready = wait_until(std::time::Duration::from_secs(10), || async {
        matches!(get(gw.url("/inline")).send().await, Ok(r) if r.status == 200)
    })
    .await;
    gw_assert!(gw, ready.is_some(), "/inline never answered 200");
    let r = get(gw.url("/inline")).send().await.unwrap();
    assert_eq!(
        r.body, "client CN=alice,O=strait tests",
        "inline client certificate"
    );
    let r = get(gw.url("/by-id")).send().await.unwrap();
    assert_status!(gw, r, 200, "/by-id");
    assert_eq!(
        r.body, "client CN=bob,O=strait tests",
        "client certificate from ssls/c1"
    );
    // Without a client certificate the upstream refuses the handshake.
    let r = get(gw.url("/anonymous")).send().await.unwrap();
    assert_status!(gw, r, 502, "/anonymous");
    // verify: the upstream's certificate does not name other.test.
    let r = get(gw.url("/wrong-name")).send().await.unwrap();
    assert_status!(gw, r, 502, "/wrong-name");

    // client_cert_id must name an SSL object of type client.
    let r = env
        .admin
        .put(
            "/upstreams/u3",
            up("backend.test", json!({"client_cert_id": "s1"})),
        )
        .await;
    assert_status!(gw, r, 400, "client_cert_id of a server SSL");
    assert_eq!(
        error_msg(&r),
        "failed to fetch ssl info by ssl id [s1], wrong ssl type"
    );
    let r = env
        .admin
        .put(
            "/upstreams/u3",
            up("backend.test", json!({"client_cert_id": "nope"})),
        )
        .await;
    assert_status!(gw, r, 400, "client_cert_id of a missing SSL");
    assert_eq!(
        error_msg(&r),
        "failed to fetch ssl info by ssl id [nope], response code: 404"
    );
}
