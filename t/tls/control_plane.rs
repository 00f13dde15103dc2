//! TLS on the control side: the gateway reads and writes etcd over TLS with
//! a client certificate (`deployment.etcd.tls`), and serves the Admin API
//! over HTTPS, requiring client certificates when `admin_ssl_ca_cert` is set.

use std::time::Duration;

use serde_json::json;

use crate::common::tls::{Pki, TlsClient};
use crate::common::{get, wait_until, Etcd, Gateway, GatewayOpts, Upstream, ADMIN_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_over_tls_with_a_client_certificate() {
    let pki = Pki::new("etcd CA");
    let etcd = Etcd::start_tls(&pki, true).await;
    let files = etcd.tls().unwrap();
    let gw = Gateway::start(
        GatewayOpts::etcd(&etcd)
            .with_admin()
            .ssl_yaml(&format!(
                "    ssl_trusted_certificate: {}\n",
                files.ca.display()
            ))
            .etcd_yaml(&format!(
                "    tls:\n      cert: {}\n      key: {}\n      sni: etcd.test\n",
                files.client_cert.display(),
                files.client_key.display()
            )),
    )
    .await;
    gw.wait_ready().await;
    let up = Upstream::start().await;
    // A route written by the harness straight into etcd, and one through the
    // Admin API (which writes over TLS too): both served.
    let route = json!({"uri": "/hello", "upstream": {"nodes": {up.addr(): 1}}});
    etcd.put("/apisix/routes/1", &route.to_string()).await;
    let admin = crate::admin::Admin::new(&gw);
    let r = admin
        .put(
            "/routes/2",
            json!({"uri": "/echo", "upstream": {"nodes": {up.addr(): 1}}}),
        )
        .await;
    assert_status!(gw, r, 201, "PUT /routes/2 through the Admin API");
    for path in ["/hello", "/echo"] {
        let ok = wait_until(Duration::from_secs(10), || async {
            matches!(get(gw.url(path)).send().await, Ok(r) if r.status == 200)
        })
        .await;
        gw_assert!(
            gw,
            ok.is_some(),
            "{path} was never served from the TLS etcd"
        );
    }

    // Without a client certificate etcd refuses the gateway: it never gets ready.
    let anonymous = Gateway::start(
        GatewayOpts::etcd(&etcd)
            .ssl_yaml(&format!(
                "    ssl_trusted_certificate: {}\n",
                files.ca.display()
            ))
            .etcd_yaml("    tls:\n      sni: etcd.test\n"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = get(anonymous.status_url("/status/ready"))
        .send()
        .await
        .unwrap();
    gw_assert!(
        anonymous,
        r.status == 503,
        "ready without etcd's consent: {}",
        r.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_over_https_with_client_certificates() {
    let pki = Pki::new("admin CA");
    let server = pki.server(&["admin.test"], crate::common::tls::KeyKind::Ecdsa);
    let operator = pki.client("operator");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert, key, ca) = (
        write("admin.crt", &server.cert),
        write("admin.key", &server.key),
        write("ca.pem", &pki.ca),
    );
    let etcd = Etcd::start().await;
    let section = format!(
        "    admin_listen:\n      ip: 127.0.0.1\n      port: {{admin_port}}\n    admin_key:\n      - name: admin\n        key: {ADMIN_KEY}\n        role: admin\n    https_admin: true\n    admin_api_mtls:\n      admin_ssl_cert: {cert}\n      admin_ssl_cert_key: {key}\n      admin_ssl_ca_cert: {ca}\n"
    );
    let gw = Gateway::start(GatewayOpts::etcd(&etcd).with_admin_section(&section)).await;
    gw.wait_ready().await;

    let as_operator = TlsClient::new(&pki.ca, &[b"http/1.1"], Some(&operator));
    let hs = as_operator
        .handshake(gw.admin_port, "admin.test")
        .await
        .unwrap();
    let mut conn = crate::common::tls::HttpConn::open(hs).await.unwrap();
    let req = http::Request::get("/apisix/admin/routes")
        .header("X-API-KEY", ADMIN_KEY)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = crate::common::tls::read(conn.send("admin.test", req).await.unwrap())
        .await
        .unwrap();
    gw_assert!(
        gw,
        r.status == 200,
        "GET /apisix/admin/routes over HTTPS: {r:?}"
    );
    let list: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(list["total"], 0, "{list}");

    // No client certificate: refused. Plain HTTP: no answer.
    let anonymous = TlsClient::new(&pki.ca, &[b"http/1.1"], None);
    let r = anonymous
        .get(gw.admin_port, "admin.test", "/apisix/admin/routes")
        .await;
    gw_assert!(
        gw,
        r.is_err(),
        "no client certificate must be refused: {r:?}"
    );
    let r = get(format!(
        "http://127.0.0.1:{}/apisix/admin/routes",
        gw.admin_port
    ))
    .timeout(Duration::from_secs(3))
    .send()
    .await;
    gw_assert!(
        gw,
        !matches!(r, Ok(ref r) if r.status == 200),
        "plain HTTP must not be served: {r:?}"
    );
}
